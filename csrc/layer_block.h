#ifndef DARKNET_SOFTMAX_LAYER_BLOCK_H
#define DARKNET_SOFTMAX_LAYER_BLOCK_H

#include <stddef.h>

#include "layer.h"

/* Internal (not part of the cffi cdef): what every make_X_layer shares. */

/* *out = a*b; 0 when that overflows. */
int product(size_t a, size_t b, size_t *out);

/* The sizes of a layer whose items are c x h x w floats: DS_ERR_ARG when one
   is 0, DS_ERR_NOMEM when batch items overflow a size_t; else DS_OK with
   *item = h*w*c. */
int item_size(size_t batch, size_t h, size_t w, size_t c, size_t *item);

/* *shape for batch items of c x h x w floats in and out_c x out_h x out_w
   out, as item_size checks each side, the input first: DS_ERR_ARG or
   DS_ERR_NOMEM, and *shape untouched, where a side fails. */
int make_layer_shape(size_t batch, size_t h, size_t w, size_t c, size_t out_h, size_t out_w,
                     size_t out_c, layer_shape *shape);

/* One zeroed allocation holding a layer struct followed by its float buffers,
   each on its own cache line, so that a NumPy view which keeps the struct
   alive keeps every buffer alive, and one free() releases everything.

   layer points at a filled-in struct of struct_bytes; buffers[i] points at one
   of its float * fields, which gets the address of a buffer of counts[i]
   floats (NULL for 0). The struct, which starts with its layer_shape, is then
   copied to the start of the block, with the block's size in its shape's
   bytes, and the block is returned: NULL when out of memory or a size overflows. */
void *make_layer_block(const void *layer, size_t struct_bytes, size_t n, const size_t *counts,
                       float **buffers[]);

/* make_layer_block as make_X_layer returns it: out is the address of the
   caller's layer pointer, which gets the block; DS_ERR_NOMEM when there is
   none, else DS_OK. */
int alloc_layer(void *out, const void *layer, size_t struct_bytes, size_t n, const size_t *counts,
                float **buffers[]);

/* alloc_layer for a layer whose buffers are n floats each: output and delta,
   or output alone (delta NULL). */
int alloc_io_layer(void *out, const void *layer, size_t struct_bytes, size_t n, float **output,
                   float **delta);

/* The per-output buffers of a connected or convolutional layer l after its
   biases, in the order of one buffer of n floats each from biases on:
   bias_updates, then batch normalisation's eight (batchnorm_layer.h). */
#define PER_OUTPUT_BUFFERS(l)                                                          \
    &(l)->bias_updates, &(l)->scales, &(l)->scale_updates, &(l)->mean, &(l)->variance, \
        &(l)->mean_delta, &(l)->variance_delta, &(l)->rolling_mean, &(l)->rolling_variance

/* Points *buffers[i] at biases + (i + 1)*n for the first 1 of them, or all 9
   with batch_normalize, whose scales (the second) start at 1. */
void split_per_output(float *biases, size_t n, int batch_normalize, float **buffers[]);

#endif
