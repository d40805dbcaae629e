#ifndef DARKNET_SOFTMAX_CONVOLUTIONAL_LAYER_H
#define DARKNET_SOFTMAX_CONVOLUTIONAL_LAYER_H

#include <stddef.h>

#include "activations.h"
#include "layer.h"
#include "network.h"
#include "status.h"

/* Darknet's convolutional layer (src/convolutional_layer.c). An item of input
   is c x h x w floats and of output filters x out_h x out_w, channel-major,
   with out_h = (h + 2*padding - size)/stride + 1 (out_w likewise). With
   groups, the channels and the filters split into groups equal parts, part j
   of the filters seeing only part j of the channels. weights is filters x
   (c/groups) x size x size; delta is the NEGATIVE gradient; the updates
   accumulate between update calls and carry the momentum.

   With batch_normalize, the per-filter scales, mean, variance, their deltas
   and the rolling statistics, and x and x_norm (batch*outputs each) hold
   Darknet's batch normalisation (batchnorm_layer.h); without, they are NULL.
   workspace holds one item-group's im2col matrix, (c/groups*size*size) x
   (out_h*out_w); it is NULL for a 1x1 convolution with stride 1 and no
   padding, which reads its input directly, as Darknet does.

   exact selects the true gradient where Darknet's is wrong: batch
   normalisation's backward, and the 1x1 convolution's input delta, which
   Darknet's backward WRITES over net->delta (its gemm with BETA = 0) instead
   of adding to it. All buffers share one allocation with the struct. */
typedef struct convolutional_layer {
    layer_shape shape; /* out_c is filters */
    size_t filters;
    size_t size;
    size_t stride;
    size_t padding;
    size_t groups;
    size_t nweights;
    size_t workspace_size;
    int batch_normalize;
    int exact;
    ACTIVATION activation;
    float *output;
    float *delta;
    float *weights;
    float *weight_updates;
    float *biases;
    float *bias_updates;
    /* the buffers of batch_normalize, under Darknet's names */
    float *scales, *scale_updates, *mean, *variance, *mean_delta, *variance_delta;
    float *rolling_mean, *rolling_variance, *x, *x_norm;
    float *workspace;
} convolutional_layer;

/* DS_ERR_ARG for a zero size, channels or filters that groups does not
   divide, an output below 1 x 1, or an unknown activation; DS_ERR_NOMEM when
   out of memory or a size overflows. The weights and biases start at 0 and
   the scales at 1: the caller draws the weights. */
DS_API int make_convolutional_layer(size_t batch, size_t h, size_t w, size_t c, size_t filters,
                                    size_t groups, size_t size, size_t stride, size_t padding,
                                    ACTIVATION activation, int batch_normalize, int exact,
                                    convolutional_layer **out);
/* output = the activation of (weights convolved with input, then batch
   normalised or plus biases). */
DS_API int forward_convolutional_layer(convolutional_layer *l, const network *net);
/* delta is multiplied by the activation's derivative; then the bias updates
   (or batch normalisation's backward, which also turns delta into the delta
   of the convolution's sums), weight_updates += delta times the im2col of the
   input, and, when net->delta is set, the input's delta ADDED into it
   (overwritten for a direct 1x1 convolution unless exact, as Darknet does). */
DS_API int backward_convolutional_layer(convolutional_layer *l, const network *net);
/* Darknet's SGD step (update_convolutional_layer), batch being the number of
   items the updates summed: biases, then scales when batch_normalize, then
   the weights with decay; every update buffer is multiplied by momentum. */
DS_API int update_convolutional_layer(convolutional_layer *l, size_t batch, float learning_rate,
                                      float momentum, float decay);

#endif
