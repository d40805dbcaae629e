#ifndef DARKNET_SOFTMAX_LAYER_BLOCK_H
#define DARKNET_SOFTMAX_LAYER_BLOCK_H

#include <stddef.h>

/* Internal (not part of the cffi cdef). One zeroed allocation holding a layer
   struct followed by its float buffers, each on its own cache line, so that a
   NumPy view which keeps the struct alive keeps every buffer alive, and one
   free() releases everything.

   layer points at a filled-in struct of struct_bytes; buffers[i] points at one
   of its float * fields, which gets the address of a buffer of counts[i]
   floats. The struct is then copied to the start of the block, which is
   returned: NULL when out of memory or a size overflows. */
void *make_layer_block(const void *layer, size_t struct_bytes, size_t n, const size_t *counts,
                       float **buffers[]);

/* Bytes from the start of a block's struct to end, the end of its last buffer. */
size_t layer_block_bytes(const void *layer, const float *end);

#endif
