#ifndef DARKNET_SOFTMAX_BLAS_H
#define DARKNET_SOFTMAX_BLAS_H

#include <stddef.h>
#include <stdint.h>

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
/* softmax_backward_cpu writing the product into dx (never read) instead of
   adding it: a fresh result. */
DS_API void softmax_backward_set_cpu(const float *y, const float *dy, size_t n, size_t batch,
                                     size_t batch_offset, size_t groups, size_t group_offset,
                                     size_t stride, float temp, float *dx);
/* softmax_backward_cpu over tree groups, as softmax_tree_cpu takes them. */
DS_API void softmax_backward_tree_cpu(const float *y, const float *dy, size_t batch, size_t inputs,
                                      const size_t *group_size, const size_t *group_offset,
                                      size_t groups, float temp, float *dx);
/* The soft-label cross-entropy and its exact delta, group by group, with
   SECRET_NUM truths masked: their delta and error are 0. */
DS_API void softmax_x_ent_exact(const float *pred, const float *truth, size_t n, float temp,
                                size_t stride, float *delta, float *error);
DS_API void softmax_x_ent_exact_cpu(const float *pred, const float *truth, size_t n, size_t batch,
                                    size_t batch_offset, size_t groups, size_t group_offset,
                                    size_t stride, float temp, float *delta, float *error);
/* softmax_x_ent_exact_cpu over tree groups, as softmax_tree_cpu takes them. */
DS_API void softmax_x_ent_exact_tree_cpu(const float *pred, const float *truth, size_t batch,
                                         size_t inputs, const size_t *group_size,
                                         const size_t *group_offset, size_t groups, float temp,
                                         float *delta, float *error);
/* softmax_tree_cpu, then softmax_x_ent_exact_tree_cpu on its output: one
   pass over the rows where the groups tile them. */
DS_API void softmax_tree_x_ent_exact_cpu(const float *input, const float *truth, size_t batch,
                                         size_t inputs, const size_t *group_size,
                                         const size_t *group_offset, size_t groups, float temp,
                                         float *output, float *delta, float *error);

/* The fused softmax cross-entropy: over positions laid out as
   outer x classes x inner (the class axis `inner` floats apart), one pass
   that reads each position's logits for the max and the sum, and writes its
   gradient once. The caller fills the fields down to losses:
   - either labels (outer*inner class indices, a label equal to ignore_index
     ignored where has_ignore) or probs (the logits' layout, class
     probabilities), the other NULL; weight (classes floats) or NULL;
   - each position's loss is PyTorch's cross_entropy with label_smoothing over
     the logits divided by temp, times scale, and, where mean_over_valid,
     divided by the sum of the weights of the valid labels (their count
     without weight);
   - it goes into losses[position] where losses is not NULL, and their sum
     into *total; grad gets the gradient of *total with respect to the logits
     (0 at an ignored position).
   The fields after losses are the call's own. */
struct cross_entropy {
    const float *logits, *probs, *weight;
    const int64_t *labels;
    size_t outer, classes, inner;
    int has_ignore;
    int64_t ignore_index;
    float label_smoothing;
    float temp;
    double scale;
    int mean_over_valid;
    float *grad, *losses;
    double keep;       /* 1 - label_smoothing */
    double smooth;     /* label_smoothing / classes */
    double weight_sum; /* the sum of weight (classes without it) */
    int stream;        /* the gradient goes around the cache (the vector path sets it) */
};

/* A label outside [0, classes) that is not ignored makes it return
   DS_ERR_ARG with its position in *bad_label, before anything is written;
   DS_ERR_NOMEM when its block sums cannot be allocated. */
DS_API int softmax_cross_entropy_cpu(const struct cross_entropy *call, double *total,
                                     size_t *bad_label);

#endif
