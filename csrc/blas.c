#include <float.h>
#include <math.h>

#include "blas.h"
#include "blas_vector.h"
#include "runtime.h"
#include "tree.h"

/* The kernels below run Darknet's scalar loops, or, with the vector kernel
   selected (the default; see runtime.h), the vector path of blas_vector.c. */
static int vector_path(void)
{
    return ds_get_kernel() == DS_KERNEL_VECTOR;
}

/* One softmax over n values at input[i*stride]: the scalar path, Darknet's
   loop around double-precision exp. Unlike Darknet, the shift is taken before
   the division by temp, both in double (where x - largest is exact), and the
   sum is kept in double: the results are Darknet's, the rounding is not
   (SPEC section 2). */
void softmax(const float *input, size_t n, float temp, size_t stride, float *output)
{
    float largest = -INFINITY;
    for (size_t i = 0; i < n; ++i) {
        if (input[i * stride] > largest) largest = input[i * stride];
    }
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
        double e = exp(((double)input[i * stride] - largest) / temp);
        /* An exp below float's smallest normal number is 0, as on the vector
           path (and in Darknet built with -Ofast): every path then gives the
           same zeros, and -log of one the same inf. */
        if (e < FLT_MIN) e = 0;
        sum += e;
        output[i * stride] = (float)e;
    }
    float scale = (float)(1.0 / sum);
    for (size_t i = 0; i < n; ++i) output[i * stride] *= scale;
}

void softmax_cpu(const float *input, size_t n, size_t batch, size_t batch_offset, size_t groups,
                 size_t group_offset, size_t stride, float temp, float *output)
{
    grouped_cpu(OP_SOFTMAX, input, NULL, output, NULL, n, batch, batch_offset, groups, group_offset,
                stride, temp, vector_path());
}

void softmax_tree_cpu(const float *input, size_t batch, size_t inputs, const size_t *group_size,
                      const size_t *group_offset, size_t groups, float temp, float *output)
{
    if (vector_path()) {
        softmax_tree_vector(input, batch, inputs, group_size, group_offset, groups, temp, output);
        return;
    }
    for (size_t g = 0; g < groups; ++g) {
        softmax_cpu(input + group_offset[g], group_size[g], batch, inputs, 1, 0, 1, temp,
                    output + group_offset[g]);
    }
}

/* error is -log(pred) wherever truth is non-zero, whatever its size (Darknet's
   quirk); delta = truth - pred is the negative gradient of the fused loss. */
void softmax_x_ent_cpu(size_t n, const float *pred, const float *truth, float *delta, float *error)
{
    if (vector_path()) {
        softmax_x_ent_vector(n, pred, truth, delta, error);
        return;
    }
    for (size_t i = 0; i < n; ++i) {
        float t = truth[i];
        float p = pred[i];
        error[i] = t ? -logf(p) : 0;
        delta[i] = t - p;
    }
}

void axpy_cpu(size_t N, float ALPHA, const float *X, size_t INCX, float *Y, size_t INCY)
{
    if (vector_path() && INCX == 1 && INCY == 1) {
        axpy_vector(N, ALPHA, X, Y);
        return;
    }
    for (size_t i = 0; i < N; ++i) Y[i * INCY] += ALPHA * X[i * INCX];
}

float sum_array(const float *a, size_t n)
{
    if (vector_path()) return sum_array_vector(a, n);
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += a[i];
    return (float)sum;
}

/* The exact kernels (SPEC section 4): each takes a group as softmax does, and
   each *_cpu driver takes softmax_cpu's group arguments. */

static float largest_value(const float *input, size_t n, size_t stride)
{
    float largest = -INFINITY;
    for (size_t i = 0; i < n; ++i) {
        if (input[i * stride] > largest) largest = input[i * stride];
    }
    return largest;
}

/* log(softmax) without taking the log of a rounded probability:
   (x - largest)/temp - log(sum of exp), the sum in double. */
void log_softmax(const float *input, size_t n, float temp, size_t stride, float *output)
{
    float largest = largest_value(input, n, stride);
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += expf((input[i * stride] - largest) / temp);
    double log_sum = log(sum);
    for (size_t i = 0; i < n; ++i) {
        output[i * stride] = (float)((input[i * stride] - largest) / temp - log_sum);
    }
}

void log_softmax_cpu(const float *input, size_t n, size_t batch, size_t batch_offset, size_t groups,
                     size_t group_offset, size_t stride, float temp, float *output)
{
    grouped_cpu(OP_LOG_SOFTMAX, input, NULL, output, NULL, n, batch, batch_offset, groups,
                group_offset, stride, temp, vector_path());
}

/* The softmax Jacobian-vector product over one group, ADDED to dx:
   dx += y * (dy - sum(dy*y)) / temp, where y is the softmax output. It is
   linear in dy, so dx keeps dy's sign: Darknet's deltas (negative gradients)
   in, a delta out. */
void softmax_backward(const float *y, const float *dy, size_t n, float temp, size_t stride,
                      float *dx)
{
    double dot = 0;
    for (size_t i = 0; i < n; ++i) dot += (double)dy[i * stride] * y[i * stride];
    for (size_t i = 0; i < n; ++i) {
        dx[i * stride] += (float)(y[i * stride] * (dy[i * stride] - dot) / temp);
    }
}

void softmax_backward_cpu(const float *y, const float *dy, size_t n, size_t batch,
                          size_t batch_offset, size_t groups, size_t group_offset, size_t stride,
                          float temp, float *dx)
{
    grouped_cpu(OP_BACKWARD, y, dy, dx, NULL, n, batch, batch_offset, groups, group_offset, stride,
                temp, vector_path());
}

void softmax_backward_set_cpu(const float *y, const float *dy, size_t n, size_t batch,
                              size_t batch_offset, size_t groups, size_t group_offset,
                              size_t stride, float temp, float *dx)
{
    grouped_cpu(OP_BACKWARD_SET, y, dy, dx, NULL, n, batch, batch_offset, groups, group_offset,
                stride, temp, vector_path());
}

void softmax_backward_tree_cpu(const float *y, const float *dy, size_t batch, size_t inputs,
                               const size_t *group_size, const size_t *group_offset, size_t groups,
                               float temp, float *dx)
{
    tree_groups_cpu(OP_BACKWARD, y, dy, dx, NULL, batch, inputs, group_size, group_offset, groups,
                    temp, vector_path());
}

/* The soft-label cross-entropy over one group: error = -truth*log(pred) and
   delta = (truth - pred*sum(truth)) / temp, the negative gradient with respect
   to the softmax's input. That is (truth - pred)/temp when the labels sum to 1,
   and 0 for a group with no label. A truth of SECRET_NUM means "no label": it
   is left out of the sum and its delta and error are 0. */
void softmax_x_ent_exact(const float *pred, const float *truth, size_t n, float temp, size_t stride,
                         float *delta, float *error)
{
    double labels = 0;
    for (size_t i = 0; i < n; ++i) {
        if (truth[i * stride] != SECRET_NUM) labels += truth[i * stride];
    }
    for (size_t i = 0; i < n; ++i) {
        float t = truth[i * stride];
        float p = pred[i * stride];
        int masked = t == SECRET_NUM;
        error[i * stride] = (t && !masked) ? -t * logf(p) : 0;
        delta[i * stride] = masked ? 0 : (float)((t - p * labels) / temp);
    }
}

void softmax_x_ent_exact_cpu(const float *pred, const float *truth, size_t n, size_t batch,
                             size_t batch_offset, size_t groups, size_t group_offset, size_t stride,
                             float temp, float *delta, float *error)
{
    grouped_cpu(OP_X_ENT_EXACT, pred, truth, delta, error, n, batch, batch_offset, groups,
                group_offset, stride, temp, vector_path());
}

void softmax_x_ent_exact_tree_cpu(const float *pred, const float *truth, size_t batch,
                                  size_t inputs, const size_t *group_size,
                                  const size_t *group_offset, size_t groups, float temp,
                                  float *delta, float *error)
{
    tree_groups_cpu(OP_X_ENT_EXACT, pred, truth, delta, error, batch, inputs, group_size,
                    group_offset, groups, temp, vector_path());
}

void softmax_tree_x_ent_exact_cpu(const float *input, const float *truth, size_t batch,
                                  size_t inputs, const size_t *group_size,
                                  const size_t *group_offset, size_t groups, float temp,
                                  float *output, float *delta, float *error)
{
    if (vector_path()
        && softmax_tree_x_ent_exact_vector(input, truth, batch, inputs, group_size, group_offset,
                                           groups, temp, output, delta, error))
        return;
    softmax_tree_cpu(input, batch, inputs, group_size, group_offset, groups, temp, output);
    softmax_x_ent_exact_tree_cpu(output, truth, batch, inputs, group_size, group_offset, groups,
                                 temp, delta, error);
}

/* --- the fused softmax cross-entropy --- */

static int label_ignored(const struct cross_entropy *c, int64_t label)
{
    return c->has_ignore && label == c->ignore_index;
}

/* The target a_k of class k at one position: keep*w_y*[k == y] + smooth*w_k
   for label y, or w_k*(keep*t_k + smooth) for probabilities t (w_k is 1
   without weights). The loss is sum_k a_k * -log_softmax_k. */
static double class_target(const struct cross_entropy *c, const float *t, size_t stride,
                           int64_t label, size_t k)
{
    double w = c->weight ? c->weight[k] : 1.0;
    if (t) return w * (c->keep * t[k * stride] + c->smooth);
    return ((int64_t)k == label ? c->keep * w : 0) + c->smooth * w;
}

/* One position, on the scalar path: with s_k = (z_k - largest)/temp, the
   loss is sum(a)*log(sum(exp(s))) - sum(a_k*s_k) (terms with a_k = 0 left
   out, so a class of target 0 and logit -inf adds nothing), and its
   gradient (p_k*sum(a) - a_k)/temp, both times scale. Returns the loss. */
static double cross_entropy_position(const struct cross_entropy *c, size_t o, size_t i)
{
    size_t n = c->classes, stride = c->inner, offset = o * n * stride + i;
    size_t position = o * stride + i;
    const float *z = c->logits + offset;
    const float *t = c->probs ? c->probs + offset : NULL;
    float *g = c->grad + offset;
    int64_t label = c->labels ? c->labels[position] : -1;
    if (c->labels && label_ignored(c, label)) {
        for (size_t k = 0; k < n; ++k) g[k * stride] = 0;
        if (c->losses) c->losses[position] = 0;
        return 0;
    }
    float largest = largest_value(z, n, stride);
    double sum = 0, target_sum = 0, dot = 0;
    for (size_t k = 0; k < n; ++k) {
        double s = ((double)z[k * stride] - largest) / c->temp;
        double e = exp(s);
        if (e < FLT_MIN) e = 0;
        sum += e;
        double a = class_target(c, t, stride, label, k);
        if (a != 0) {
            target_sum += a;
            dot += a * s;
        }
    }
    double loss = c->scale * (target_sum * log(sum) - dot);
    double factor = c->scale / c->temp;
    for (size_t k = 0; k < n; ++k) {
        double e = exp(((double)z[k * stride] - largest) / c->temp);
        if (e < FLT_MIN) e = 0;
        double a = class_target(c, t, stride, label, k);
        g[k * stride] = (float)(factor * (e / sum * target_sum - a));
    }
    if (c->losses) c->losses[position] = (float)loss;
    return loss;
}

int softmax_cross_entropy_cpu(const struct cross_entropy *call, double *total, size_t *bad_label)
{
    struct cross_entropy c = *call;
    size_t outer = c.outer, classes = c.classes, inner = c.inner;
    const float *weight = c.weight;
    c.keep = 1.0 - (double)c.label_smoothing;
    c.smooth = classes ? (double)c.label_smoothing / classes : 0;
    c.weight_sum = 0;
    for (size_t k = 0; k < classes; ++k) c.weight_sum += weight ? weight[k] : 1.0;
    /* The labels first, before anything is written: each in range or
       ignored, and the mean's divisor, the sum of their weights. */
    double valid = 0;
    size_t counted = 0; /* without weights: a count, no chain of double adds */
    if (c.labels) {
        for (size_t p = 0; p < outer * inner; ++p) {
            int64_t label = c.labels[p];
            if (label_ignored(&c, label)) continue;
            if (label < 0 || (uint64_t)label >= classes) {
                *bad_label = p;
                return DS_ERR_ARG;
            }
            if (weight) valid += weight[label];
            else ++counted;
        }
    }
    if (!weight) valid = (double)counted;
    if (c.mean_over_valid) c.scale /= valid;
    int status = DS_OK;
    /* The vector path compares labels as floats: exact up to 2^24 classes. */
    if (vector_path() && c.labels && classes && (inner == 1 || classes <= (1u << 24))) {
        status = softmax_cross_entropy_vector(&c, total);
    } else {
        double sum = 0;
        for (size_t o = 0; o < outer; ++o) {
            for (size_t i = 0; i < inner; ++i) sum += cross_entropy_position(&c, o, i);
        }
        *total = sum;
    }
    /* PyTorch's mean over no valid label (or none at all) is 0/0. */
    if (status == DS_OK && c.mean_over_valid && valid == 0) *total = NAN;
    return status;
}
