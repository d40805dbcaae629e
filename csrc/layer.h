#ifndef DARKNET_SOFTMAX_LAYER_H
#define DARKNET_SOFTMAX_LAYER_H

#include <stddef.h>

/* The sizes of Darknet's struct layer (src/layer.h) that every layer shares,
   built by make_layer_shape (layer_block.h): batch items of c x h x w floats
   in, inputs = h*w*c each, and of out_c x out_h x out_w floats out, outputs =
   out_h*out_w*out_c each, channel-major. A layer whose items have no image
   shape is 1 x 1 x inputs in and 1 x 1 x outputs out. */
typedef struct layer_shape {
    size_t batch;
    size_t h, w, c;
    size_t out_h, out_w, out_c;
    size_t inputs;
    size_t outputs;
} layer_shape;

#endif
