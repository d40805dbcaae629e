#ifndef DARKNET_SOFTMAX_BATCHNORM_LAYER_H
#define DARKNET_SOFTMAX_BATCHNORM_LAYER_H

#include <stddef.h>

#include "status.h"

/* Darknet's batch normalisation inside a convolutional or connected layer
   (src/batchnorm_layer.c and its kernels in src/blas.c), with explicit
   arguments in place of Darknet's layer struct. Every array x is laid out
   (batch, filters, spatial): item b, filter (channel) f, position k at
   x[(b*filters + f)*spatial + k]; a connected layer has spatial 1. Statistics
   are over batch*spatial values per filter. Sizes are checked by the callers,
   so none of these can fail. */

/* mean[f] = the mean of filter f's values. */
DS_API void mean_cpu(const float *x, size_t batch, size_t filters, size_t spatial, float *mean);
/* variance[f] = the sum of (x - mean[f])^2 over filter f, divided by
   batch*spatial - 1 as Darknet divides (NaN when that is 0, as in Darknet). */
DS_API void variance_cpu(const float *x, const float *mean, size_t batch, size_t filters,
                         size_t spatial, float *variance);
/* x = (x - mean[f])/(sqrt(variance[f]) + .000001), in place. */
DS_API void normalize_cpu(float *x, const float *mean, const float *variance, size_t batch,
                          size_t filters, size_t spatial);
/* output *= scales[f], in place. */
DS_API void scale_bias(float *output, const float *scales, size_t batch, size_t n, size_t size);
/* output += biases[f], in place. */
DS_API void add_bias(float *output, const float *biases, size_t batch, size_t n, size_t size);
/* bias_updates[f] += the sum of delta over filter f. */
DS_API void backward_bias(float *bias_updates, const float *delta, size_t batch, size_t n,
                          size_t size);
/* scale_updates[f] += the sum of delta*x_norm over filter f. */
DS_API void backward_scale_cpu(const float *x_norm, const float *delta, size_t batch, size_t n,
                               size_t size, float *scale_updates);

/* Darknet's backward kernels. They use variance + .00001 inside the square
   roots and the power where the forward pass divides by sqrt(variance) +
   .000001, and divide by batch*spatial where the variance divided by
   batch*spatial - 1: Darknet's numbers, not the exact gradient.
   mean_delta[f] = sum(delta) * -1/sqrt(variance[f] + .00001). */
DS_API void mean_delta_cpu(const float *delta, const float *variance, size_t batch, size_t filters,
                           size_t spatial, float *mean_delta);
/* variance_delta[f] = sum(delta*(x - mean)) * -.5*(variance[f] + .00001)^(-3/2). */
DS_API void variance_delta_cpu(const float *x, const float *delta, const float *mean,
                               const float *variance, size_t batch, size_t filters, size_t spatial,
                               float *variance_delta);
/* delta = delta/sqrt(variance + .00001) + variance_delta*2*(x - mean)/N +
   mean_delta/N, N = batch*spatial, in place. */
DS_API void normalize_delta_cpu(const float *x, const float *mean, const float *variance,
                                const float *mean_delta, const float *variance_delta, size_t batch,
                                size_t filters, size_t spatial, float *delta);

/* The exact gradient of the forward pass (normalize_cpu over mean_cpu and
   variance_cpu), with d = sqrt(variance) + .000001 and N = batch*spatial.
   mean_delta[f] = -sum(delta)/d. */
DS_API void mean_delta_exact_cpu(const float *delta, const float *variance, size_t batch,
                                 size_t filters, size_t spatial, float *mean_delta);
/* variance_delta[f] = -sum(delta*(x - mean))/(2*sqrt(variance)*d^2), the
   derivative through d; 0 where the variance is 0, which is its limit there
   since x - mean is then 0 too. */
DS_API void variance_delta_exact_cpu(const float *x, const float *delta, const float *mean,
                                     const float *variance, size_t batch, size_t filters,
                                     size_t spatial, float *variance_delta);
/* delta = delta/d + variance_delta*2*(x - mean)/(N - 1) + mean_delta/N, in place. */
DS_API void normalize_delta_exact_cpu(const float *x, const float *mean, const float *variance,
                                      const float *mean_delta, const float *variance_delta,
                                      size_t batch, size_t filters, size_t spatial, float *delta);

/* Darknet's forward_batchnorm_layer on output (the layer's sums, in place):
   x gets a copy of them; in training, mean and variance are the batch's, the
   rolling statistics become .99*rolling + .01*batch value and x_norm gets the
   normalised values; outside training the rolling statistics normalise
   (and, when exact, x_norm gets the normalised values too, which the exact
   scale updates need; Darknet leaves x_norm as the last training pass left
   it). Then output = scales*normalised + biases. */
DS_API void forward_batchnorm_layer(float *output, size_t batch, size_t filters, size_t spatial,
                                    int train, int exact, const float *scales, const float *biases,
                                    float *mean, float *variance, float *rolling_mean,
                                    float *rolling_variance, float *x, float *x_norm);
/* Darknet's backward_batchnorm_layer on delta (in place, the activation's
   derivative already applied): bias_updates += sum(delta), scale_updates +=
   sum(delta*x_norm), then delta becomes the delta of the layer's sums, through
   the batch's statistics in training and the rolling ones outside it.
   Darknet's kernels by default; exact: the true gradient of the forward pass
   (outside training, delta*scales/(sqrt(rolling_variance) + .000001)). */
DS_API void backward_batchnorm_layer(float *delta, size_t batch, size_t filters, size_t spatial,
                                     int train, int exact, const float *scales, const float *x,
                                     const float *x_norm, const float *mean, const float *variance,
                                     const float *rolling_mean, const float *rolling_variance,
                                     float *mean_delta, float *variance_delta, float *bias_updates,
                                     float *scale_updates);

#endif
