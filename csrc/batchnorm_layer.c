#include <float.h>
#include <math.h>
#include <string.h>

#include "batchnorm_layer.h"

/* The sums over batch*spatial values run in double: Darknet's numbers, with
   less rounding than its float sums. */

/* A double as float, infinite beyond float's range as Darknet's float sums
   would be (a plain cast of such a value is undefined behaviour). */
static float to_float(double value)
{
    if (value > FLT_MAX) return INFINITY;
    if (value < -FLT_MAX) return -INFINITY;
    return (float)value;
}

/* The terms a row's sums add up. */
enum term { VALUE, PRODUCT, SQUARED_DIFFERENCE, CENTRED_PRODUCT };

static inline double term(enum term kind, const float *a, const float *b, double mean, size_t k)
{
    switch (kind) {
    case VALUE: return a[k];
    case PRODUCT: return (double)a[k] * b[k];
    case SQUARED_DIFFERENCE: return ((double)a[k] - mean) * ((double)a[k] - mean);
    case CENTRED_PRODUCT: return (double)b[k] * ((double)a[k] - mean);
    }
    return 0;
}

/* The sum of a row's n terms in eight partial sums, which the compiler
   vectorises (one chain of double adds waits for each add: 0.7 ms of a 3x3
   64->128 convolution's backward at 56x56 went to its bias sums). */
enum { PARTIAL_SUMS = 8 };

static inline double row_sum(enum term kind, const float *a, const float *b, double mean, size_t n)
{
    double partial[PARTIAL_SUMS] = {0}, sum = 0;
    size_t k = 0;
    for (; k + PARTIAL_SUMS <= n; k += PARTIAL_SUMS) {
        for (size_t l = 0; l < PARTIAL_SUMS; ++l) partial[l] += term(kind, a, b, mean, k + l);
    }
    for (; k < n; ++k) sum += term(kind, a, b, mean, k);
    for (size_t l = 0; l < PARTIAL_SUMS; ++l) sum += partial[l];
    return sum;
}

/* The sum over filter f's rows of the batch (spatial values each) of their
   terms, a from x and b from y (per value, as the kind reads them). */
static inline double filter_sum(enum term kind, const float *x, const float *y, double mean,
                                size_t batch, size_t filters, size_t spatial, size_t f)
{
    double sum = 0;
    for (size_t j = 0; j < batch; ++j) {
        size_t start = (j * filters + f) * spatial;
        sum += row_sum(kind, x + start, y ? y + start : NULL, mean, spatial);
    }
    return sum;
}

void mean_cpu(const float *x, size_t batch, size_t filters, size_t spatial, float *mean)
{
    double scale = 1. / ((double)batch * spatial);
    for (size_t f = 0; f < filters; ++f)
        mean[f] = to_float(filter_sum(VALUE, x, NULL, 0, batch, filters, spatial, f) * scale);
}

void variance_cpu(const float *x, const float *mean, size_t batch, size_t filters, size_t spatial,
                  float *variance)
{
    /* Darknet's 1./(batch*spatial - 1): infinite for one value, which makes
       the variance NaN (0 times inf), as in Darknet. */
    double scale = 1. / ((double)batch * spatial - 1);
    for (size_t f = 0; f < filters; ++f) {
        double sum = filter_sum(SQUARED_DIFFERENCE, x, NULL, mean[f], batch, filters, spatial, f);
        variance[f] = to_float(sum * scale);
    }
}

void normalize_cpu(float *x, const float *mean, const float *variance, size_t batch, size_t filters,
                   size_t spatial)
{
    for (size_t b = 0; b < batch; ++b) {
        for (size_t f = 0; f < filters; ++f) {
            float *row = x + (b * filters + f) * spatial;
            float divisor = sqrtf(variance[f]) + .000001f;
            for (size_t k = 0; k < spatial; ++k) row[k] = (row[k] - mean[f]) / divisor;
        }
    }
}

void scale_bias(float *output, const float *scales, size_t batch, size_t n, size_t size)
{
    for (size_t b = 0; b < batch; ++b) {
        for (size_t f = 0; f < n; ++f) {
            float *row = output + (b * n + f) * size;
            for (size_t k = 0; k < size; ++k) row[k] *= scales[f];
        }
    }
}

void add_bias(float *output, const float *biases, size_t batch, size_t n, size_t size)
{
    for (size_t b = 0; b < batch; ++b) {
        for (size_t f = 0; f < n; ++f) {
            float *row = output + (b * n + f) * size;
            for (size_t k = 0; k < size; ++k) row[k] += biases[f];
        }
    }
}

void backward_bias(float *bias_updates, const float *delta, size_t batch, size_t n, size_t size)
{
    for (size_t f = 0; f < n; ++f)
        bias_updates[f] += to_float(filter_sum(VALUE, delta, NULL, 0, batch, n, size, f));
}

void backward_scale_cpu(const float *x_norm, const float *delta, size_t batch, size_t n,
                        size_t size, float *scale_updates)
{
    for (size_t f = 0; f < n; ++f) {
        scale_updates[f] += to_float(filter_sum(PRODUCT, delta, x_norm, 0, batch, n, size, f));
    }
}

void mean_delta_cpu(const float *delta, const float *variance, size_t batch, size_t filters,
                    size_t spatial, float *mean_delta)
{
    for (size_t f = 0; f < filters; ++f) {
        double sum = filter_sum(VALUE, delta, NULL, 0, batch, filters, spatial, f);
        mean_delta[f] = to_float(sum * (-1. / sqrt(variance[f] + .00001f)));
    }
}

void variance_delta_cpu(const float *x, const float *delta, const float *mean,
                        const float *variance, size_t batch, size_t filters, size_t spatial,
                        float *variance_delta)
{
    for (size_t f = 0; f < filters; ++f) {
        double sum = filter_sum(CENTRED_PRODUCT, x, delta, mean[f], batch, filters, spatial, f);
        variance_delta[f] = to_float(sum * -.5 * pow(variance[f] + .00001f, -1.5));
    }
}

/* The forward pass's divisor, sqrt(variance) + .000001, in double. */
static double forward_divisor(float variance)
{
    return sqrt((double)variance) + .000001f;
}

/* normalize_delta_cpu and its exact form, which differ in the divisors: the
   exact one takes the forward pass's and the sample variance's N - 1. */
static void normalize_delta(const float *x, const float *mean, const float *variance,
                            const float *mean_delta, const float *variance_delta, size_t batch,
                            size_t filters, size_t spatial, int exact, float *delta)
{
    double n = (double)batch * spatial;
    for (size_t j = 0; j < batch; ++j) {
        for (size_t f = 0; f < filters; ++f) {
            size_t start = (j * filters + f) * spatial;
            double divisor = exact ? forward_divisor(variance[f]) : sqrt(variance[f] + .00001f);
            for (size_t k = 0; k < spatial; ++k) {
                size_t i = start + k;
                double centred = (double)x[i] - mean[f];
                double through_variance;
                /* Outside training variance_delta is 0, and N - 1 may be 0
                   (one item of a connected layer): no term, not 0/0. */
                if (exact)
                    through_variance =
                        variance_delta[f] ? variance_delta[f] * 2. * centred / (n - 1) : 0;
                else through_variance = variance_delta[f] * 2. * centred / n;
                delta[i] = to_float(delta[i] / divisor + through_variance + mean_delta[f] / n);
            }
        }
    }
}

void normalize_delta_cpu(const float *x, const float *mean, const float *variance,
                         const float *mean_delta, const float *variance_delta, size_t batch,
                         size_t filters, size_t spatial, float *delta)
{
    normalize_delta(x, mean, variance, mean_delta, variance_delta, batch, filters, spatial, 0,
                    delta);
}

void mean_delta_exact_cpu(const float *delta, const float *variance, size_t batch, size_t filters,
                          size_t spatial, float *mean_delta)
{
    for (size_t f = 0; f < filters; ++f) {
        double sum = filter_sum(VALUE, delta, NULL, 0, batch, filters, spatial, f);
        mean_delta[f] = to_float(-sum / forward_divisor(variance[f]));
    }
}

void variance_delta_exact_cpu(const float *x, const float *delta, const float *mean,
                              const float *variance, size_t batch, size_t filters, size_t spatial,
                              float *variance_delta)
{
    for (size_t f = 0; f < filters; ++f) {
        double root = sqrt((double)variance[f]);
        if (root == 0) {
            variance_delta[f] = 0;
            continue;
        }
        double divisor = root + .000001f;
        double sum = filter_sum(CENTRED_PRODUCT, x, delta, mean[f], batch, filters, spatial, f);
        variance_delta[f] = to_float(-sum / (2 * root * divisor * divisor));
    }
}

void normalize_delta_exact_cpu(const float *x, const float *mean, const float *variance,
                               const float *mean_delta, const float *variance_delta, size_t batch,
                               size_t filters, size_t spatial, float *delta)
{
    normalize_delta(x, mean, variance, mean_delta, variance_delta, batch, filters, spatial, 1,
                    delta);
}

void forward_batchnorm_layer(float *output, size_t batch, size_t filters, size_t spatial, int train,
                             int exact, const float *scales, const float *biases, float *mean,
                             float *variance, float *rolling_mean, float *rolling_variance,
                             float *x, float *x_norm)
{
    size_t n = batch * filters * spatial;
    memcpy(x, output, n * sizeof *x);
    if (train) {
        mean_cpu(output, batch, filters, spatial, mean);
        variance_cpu(output, mean, batch, filters, spatial, variance);
        for (size_t f = 0; f < filters; ++f) {
            rolling_mean[f] = .99f * rolling_mean[f] + .01f * mean[f];
            rolling_variance[f] = .99f * rolling_variance[f] + .01f * variance[f];
        }
        normalize_cpu(output, mean, variance, batch, filters, spatial);
        memcpy(x_norm, output, n * sizeof *x_norm);
    } else {
        normalize_cpu(output, rolling_mean, rolling_variance, batch, filters, spatial);
        if (exact) memcpy(x_norm, output, n * sizeof *x_norm);
    }
    scale_bias(output, scales, batch, filters, spatial);
    add_bias(output, biases, batch, filters, spatial);
}

void backward_batchnorm_layer(float *delta, size_t batch, size_t filters, size_t spatial, int train,
                              int exact, const float *scales, const float *x, const float *x_norm,
                              const float *mean, const float *variance, const float *rolling_mean,
                              const float *rolling_variance, float *mean_delta,
                              float *variance_delta, float *bias_updates, float *scale_updates)
{
    /* Outside training the forward pass normalised with the rolling
       statistics, and Darknet's backward reads them in place of the batch's. */
    if (!train) {
        mean = rolling_mean;
        variance = rolling_variance;
    }
    backward_bias(bias_updates, delta, batch, filters, spatial);
    backward_scale_cpu(x_norm, delta, batch, filters, spatial, scale_updates);
    scale_bias(delta, scales, batch, filters, spatial);
    if (!exact) {
        mean_delta_cpu(delta, variance, batch, filters, spatial, mean_delta);
        variance_delta_cpu(x, delta, mean, variance, batch, filters, spatial, variance_delta);
        normalize_delta_cpu(x, mean, variance, mean_delta, variance_delta, batch, filters, spatial,
                            delta);
        return;
    }
    if (train) {
        mean_delta_exact_cpu(delta, variance, batch, filters, spatial, mean_delta);
        variance_delta_exact_cpu(x, delta, mean, variance, batch, filters, spatial, variance_delta);
    } else {
        /* The rolling statistics are constants of the forward pass. */
        memset(mean_delta, 0, filters * sizeof *mean_delta);
        memset(variance_delta, 0, filters * sizeof *variance_delta);
    }
    normalize_delta_exact_cpu(x, mean, variance, mean_delta, variance_delta, batch, filters,
                              spatial, delta);
}
