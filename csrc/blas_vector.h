#ifndef DARKNET_SOFTMAX_BLAS_VECTOR_H
#define DARKNET_SOFTMAX_BLAS_VECTOR_H

/* Internal: the vector path of blas.c's kernels. Each splits its work over
   the pool's threads (above a size threshold) and runs the vector kernels of
   the instruction set in use; the arguments are blas.c's, already checked. */

#include <stddef.h>

#include "vector_kernels.h"

/* How many parts (threads) a job of this many floats is worth. */
size_t parts_for(size_t elements);

/* The kernels that take softmax_cpu's group arguments. */
/* OP_BACKWARD adds softmax_backward's product to dx, OP_BACKWARD_SET writes it. */
enum group_op { OP_SOFTMAX, OP_LOG_SOFTMAX, OP_BACKWARD, OP_BACKWARD_SET, OP_X_ENT_EXACT };

/* op over every group, b < batch and g < groups at b*batch_offset +
   g*group_offset: input and output are the kernel's first input and output
   (y and dx for softmax_backward, pred and delta for the exact loss), other
   its second input (dy, truth), error the exact loss's second output. The
   scalar kernels in Darknet's order unless vector is set (and the groups are
   disjoint); else the vector kernels, split over the pool. */
void grouped_cpu(enum group_op op, const float *input, const float *other, float *output,
                 float *error, size_t n, size_t batch, size_t batch_offset, size_t groups,
                 size_t group_offset, size_t stride, float temp, int vector);
/* op (OP_BACKWARD or OP_X_ENT_EXACT) over every tree group of every row:
   group g of row b has group_size[g] values from b*inputs + group_offset[g].
   Darknet's order on the scalar path, else split over the pool by rows. */
void tree_groups_cpu(enum group_op op, const float *input, const float *other, float *output,
                     float *error, size_t batch, size_t inputs, const size_t *group_size,
                     const size_t *group_offset, size_t groups, float temp, int vector);
void softmax_tree_vector(const float *input, size_t batch, size_t inputs, const size_t *group_size,
                         const size_t *group_offset, size_t groups, float temp, float *output);
/* softmax_tree_vector, then tree_groups_cpu's exact loss on its output, in
   one pass: returns 0, having written nothing, unless the groups tile their
   columns (and the scratch could be had). */
int softmax_tree_x_ent_exact_vector(const float *input, const float *truth, size_t batch,
                                    size_t inputs, const size_t *group_size,
                                    const size_t *group_offset, size_t groups, float temp,
                                    float *output, float *delta, float *error);
void softmax_x_ent_vector(size_t n, const float *pred, const float *truth, float *delta,
                          float *error);
/* Y += ALPHA*X over N contiguous floats. */
void axpy_vector(size_t N, float ALPHA, const float *X, float *Y);
float sum_array_vector(const float *a, size_t n);
/* The fused loss with integer labels (checked), its sum into *total: DS_OK,
   or DS_ERR_NOMEM before anything is written. */
int softmax_cross_entropy_vector(const struct cross_entropy *c, double *total);

#endif
