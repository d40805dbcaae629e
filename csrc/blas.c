#include <math.h>

#include "blas.h"

/* One softmax over n values at input[i*stride]. Unlike Darknet, the shift is
   taken before the division by temp and the sum is kept in double: the results
   are Darknet's, the rounding is not (SPEC section 2). */
void softmax(const float *input, size_t n, float temp, size_t stride, float *output)
{
    float largest = -INFINITY;
    for (size_t i = 0; i < n; ++i) {
        if (input[i*stride] > largest) largest = input[i*stride];
    }
    double sum = 0;
    for (size_t i = 0; i < n; ++i) {
        float e = expf((input[i*stride] - largest) / temp);
        sum += e;
        output[i*stride] = e;
    }
    float scale = (float)(1.0 / sum);
    for (size_t i = 0; i < n; ++i) output[i*stride] *= scale;
}

void softmax_cpu(const float *input, size_t n, size_t batch, size_t batch_offset,
                 size_t groups, size_t group_offset, size_t stride, float temp,
                 float *output)
{
    for (size_t b = 0; b < batch; ++b) {
        for (size_t g = 0; g < groups; ++g) {
            size_t offset = b*batch_offset + g*group_offset;
            softmax(input + offset, n, temp, stride, output + offset);
        }
    }
}

/* error is -log(pred) wherever truth is non-zero, whatever its size (Darknet's
   quirk); delta = truth - pred is the negative gradient of the fused loss. */
void softmax_x_ent_cpu(size_t n, const float *pred, const float *truth,
                       float *delta, float *error)
{
    for (size_t i = 0; i < n; ++i) {
        float t = truth[i];
        float p = pred[i];
        error[i] = t ? -logf(p) : 0;
        delta[i] = t - p;
    }
}

void axpy_cpu(size_t N, float ALPHA, const float *X, size_t INCX, float *Y, size_t INCY)
{
    for (size_t i = 0; i < N; ++i) Y[i*INCY] += ALPHA*X[i*INCX];
}

float sum_array(const float *a, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += a[i];
    return (float)sum;
}
