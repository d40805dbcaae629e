#ifndef DARKNET_SOFTMAX_CROP_LAYER_H
#define DARKNET_SOFTMAX_CROP_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "layer.h"
#include "network.h"
#include "status.h"

/* Darknet's crop layer (src/crop_layer.c): an out_h x out_w window of each
   channel of a w x h x c input, each value times 2 minus 1 (times 1 plus 0
   with noadjust). Outside training the window is the centre one; in training
   one random offset (and, with flip, a coin toss for a left-right mirror) is
   drawn per forward for the whole batch, from the layer's own generator
   (state). dh, dw and flipped record the last forward's window. The layer
   has no delta: as in Darknet, nothing flows back through a crop. output
   shares one allocation with the struct. */
typedef struct crop_layer {
    layer_shape shape;
    int flip;
    int noadjust;
    size_t dh, dw;
    int flipped;
    uint64_t state;
    float *output;
} crop_layer;

/* 1 <= crop_height <= h and 1 <= crop_width <= w: Darknet reads out of range
   otherwise. */
DS_API int make_crop_layer(size_t batch, size_t h, size_t w, size_t c, size_t crop_height,
                           size_t crop_width, int flip, int noadjust, uint64_t seed,
                           crop_layer **out);
DS_API int forward_crop_layer(crop_layer *l, const network *net);
/* Nothing, as Darknet's backward_crop_layer. */
DS_API int backward_crop_layer(const crop_layer *l, const network *net);

#endif
