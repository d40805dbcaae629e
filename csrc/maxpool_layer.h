#ifndef DARKNET_SOFTMAX_MAXPOOL_LAYER_H
#define DARKNET_SOFTMAX_MAXPOOL_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "layer.h"
#include "network.h"
#include "status.h"

/* Darknet's maxpool layer (src/maxpool_layer.c) over batch items of c x h x w
   floats, channel-major. padding is the TOTAL padding (Darknet's cfg
   default is size - 1), so the output is (h + padding - size)/stride + 1 by
   (w + padding - size)/stride + 1 by c, the division C's, truncating toward
   zero, and the window of output (i, j) starts at (-padding/2 + i*stride,
   -padding/2 + j*stride). output and delta hold batch*outputs floats; delta
   is the NEGATIVE gradient. indexes holds, for each output, the index into
   the batch's input of the value that won, or -1 where none did (see
   forward). All buffers share one allocation with the struct. */
typedef struct maxpool_layer {
    layer_shape shape;
    size_t size;
    size_t stride;
    size_t padding;
    float *output;
    float *delta;
    int64_t *indexes;
} maxpool_layer;

/* DS_ERR_ARG for a zero batch, h, w, c, size or stride, an h, w, size,
   stride or padding above INT32_MAX, Darknet's int, or an output below 1 x 1. */
DS_API int make_maxpool_layer(size_t batch, size_t h, size_t w, size_t c, size_t size,
                              size_t stride, size_t padding, maxpool_layer **out);
/* Each output is the largest value of its size x size window, compared with
   Darknet's `val > max` from max = -FLT_MAX: positions outside the input
   count as -FLT_MAX, the first of equal values wins, NaN never wins, and a
   window with nothing above -FLT_MAX gives -FLT_MAX and index -1. */
DS_API int forward_maxpool_layer(maxpool_layer *l, const network *net);
/* net->delta[indexes[i]] += delta[i] for each output i that has a winner,
   when net->delta is set. DS_ERR_ARG, before any write, for an index that
   is neither -1 nor inside the batch's input. */
DS_API int backward_maxpool_layer(const maxpool_layer *l, const network *net);

#endif
