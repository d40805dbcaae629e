#ifndef DARKNET_SOFTMAX_CONNECTED_LAYER_H
#define DARKNET_SOFTMAX_CONNECTED_LAYER_H

#include <stddef.h>

#include "activations.h"
#include "layer.h"
#include "network.h"
#include "status.h"

/* Darknet's connected layer (src/connected_layer.c). weights is outputs x
   inputs, row-major: row o holds the weights into output o, as in Darknet's
   files. output and delta hold batch*outputs floats; delta is the NEGATIVE
   gradient. weight_updates and bias_updates accumulate delta-weighted sums
   between updates and carry the momentum. With batch_normalize, Darknet's
   batch normalisation over the batch (batchnorm_layer.h, spatial 1) takes the
   place of the biases' plain addition: the per-output scales (starting at
   1), mean, variance, their deltas and the rolling statistics, and x and
   x_norm (batch*outputs each) hold it; without, they are NULL. exact selects
   its true gradient in place of Darknet's. All buffers share one allocation
   with the struct. */
typedef struct connected_layer {
    layer_shape shape;
    ACTIVATION activation;
    float *output;
    float *delta;
    float *weights;
    float *biases;
    float *weight_updates;
    float *bias_updates;
    int batch_normalize;
    int exact;
    /* the buffers of batch_normalize, under Darknet's names */
    float *scales, *scale_updates, *mean, *variance, *mean_delta, *variance_delta;
    float *rolling_mean, *rolling_variance, *x, *x_norm;
} connected_layer;

DS_API int make_connected_layer(size_t batch, size_t inputs, size_t outputs, ACTIVATION activation,
                                int batch_normalize, int exact, connected_layer **out);
/* output = the activation of input times weights^T, then plus biases or
   batch normalised. */
DS_API int forward_connected_layer(connected_layer *l, const network *net);
/* delta is multiplied by the activation's derivative; then bias_updates +=
   the sum of delta over the batch (with batch_normalize, batch
   normalisation's backward, which also updates the scales and turns delta
   into the delta of the sums), weight_updates += delta^T input, and, when
   net->delta is set, net->delta += delta weights. */
DS_API int backward_connected_layer(connected_layer *l, const network *net);
/* Darknet's SGD step, batch being the number of items the updates summed;
   the scales move as the biases do. */
DS_API int update_connected_layer(connected_layer *l, size_t batch, float learning_rate,
                                  float momentum, float decay);

#endif
