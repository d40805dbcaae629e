#ifndef DARKNET_SOFTMAX_BLAS_H
#define DARKNET_SOFTMAX_BLAS_H

#include <stddef.h>

#include "status.h"

/* Darknet's kernels (src/blas.c), with Darknet's names and argument order.
   Sizes are size_t; callers check bounds, so none of these can fail. */

DS_API void softmax(const float *input, size_t n, float temp, size_t stride, float *output);
DS_API void softmax_cpu(const float *input, size_t n, size_t batch, size_t batch_offset,
                        size_t groups, size_t group_offset, size_t stride, float temp,
                        float *output);
/* Every tree group over the whole batch: for each b < batch and each group
   g, one softmax over group_size[g] values from b*inputs + group_offset[g].
   Darknet's layer calls softmax_cpu once per group instead. */
DS_API void softmax_tree_cpu(const float *input, size_t batch, size_t inputs,
                             const size_t *group_size, const size_t *group_offset, size_t groups,
                             float temp, float *output);
DS_API void softmax_x_ent_cpu(size_t n, const float *pred, const float *truth, float *delta,
                              float *error);
DS_API void axpy_cpu(size_t N, float ALPHA, const float *X, size_t INCX, float *Y, size_t INCY);
DS_API float sum_array(const float *a, size_t n);

/* The exact kernels (SPEC section 4). Each group function takes one group as
   softmax does; each *_cpu driver takes softmax_cpu's group arguments. */
DS_API void log_softmax(const float *input, size_t n, float temp, size_t stride, float *output);
DS_API void log_softmax_cpu(const float *input, size_t n, size_t batch, size_t batch_offset,
                            size_t groups, size_t group_offset, size_t stride, float temp,
                            float *output);
/* Adds the softmax Jacobian times dy to dx, keeping dy's sign convention. */
DS_API void softmax_backward(const float *y, const float *dy, size_t n, float temp, size_t stride,
                             float *dx);
DS_API void softmax_backward_cpu(const float *y, const float *dy, size_t n, size_t batch,
                                 size_t batch_offset, size_t groups, size_t group_offset,
                                 size_t stride, float temp, float *dx);
/* The soft-label cross-entropy and its exact delta, group by group, with
   SECRET_NUM truths masked: their delta and error are 0. */
DS_API void softmax_x_ent_exact(const float *pred, const float *truth, size_t n, float temp,
                                size_t stride, float *delta, float *error);
DS_API void softmax_x_ent_exact_cpu(const float *pred, const float *truth, size_t n, size_t batch,
                                    size_t batch_offset, size_t groups, size_t group_offset,
                                    size_t stride, float temp, float *delta, float *error);

#endif
