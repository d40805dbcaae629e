#ifndef DARKNET_SOFTMAX_LAYER_H
#define DARKNET_SOFTMAX_LAYER_H

#include <stddef.h>

#include "status.h"

/* The sizes of Darknet's struct layer (src/layer.h) that every layer shares,
   built by make_layer_shape (layer_block.h): batch items of c x h x w floats
   in, inputs = h*w*c each, and of out_c x out_h x out_w floats out, outputs =
   out_h*out_w*out_c each, channel-major. A layer whose items have no image
   shape is 1 x 1 x inputs in and 1 x 1 x outputs out. Every layer struct
   starts with its shape, so that one free_layer and one layer_bytes serve
   them all, as Darknet's free_layer serves its struct layer. */
typedef struct layer_shape {
    size_t batch;
    size_t h, w, c;
    size_t out_h, out_w, out_c;
    size_t inputs;
    size_t outputs;
    size_t bytes; /* the layer's block, its struct to the end of its last buffer */
} layer_shape;

/* Frees a layer made by make_X_layer: its struct and buffers at once. */
DS_API void free_layer(void *l);
/* The bytes of a layer's block, from its struct to the end of its last buffer. */
DS_API size_t layer_bytes(const void *l);

#endif
