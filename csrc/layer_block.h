#ifndef DARKNET_SOFTMAX_LAYER_BLOCK_H
#define DARKNET_SOFTMAX_LAYER_BLOCK_H

#include <stddef.h>

/* Internal (not part of the cffi cdef). One zeroed allocation holding a layer
   struct followed by its float buffers, each on its own cache line, so that a
   NumPy view which keeps the struct alive keeps every buffer alive, and one
   free() releases everything. Buffer i holds counts[i] floats and its address
   goes to *buffers[i]. Returns NULL when out of memory or a size overflows. */
void *make_layer_block(size_t struct_bytes, size_t n, const size_t *counts, float **buffers[]);

#endif
