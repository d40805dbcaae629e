/* gemm's microkernel in plain C, for every CPU and compiler. */
#include "gemm_kernel.h"

void gemm_kernel_portable(size_t k, const float *a, const float *b, float alpha, float beta,
                          float *c, size_t ldc)
{
    float sum[GEMM_MR][GEMM_NR] = {{0}};
    for (size_t p = 0; p < k; ++p, a += GEMM_MR, b += GEMM_NR) {
        for (size_t r = 0; r < GEMM_MR; ++r) {
            for (size_t j = 0; j < GEMM_NR; ++j) sum[r][j] += a[r] * b[j];
        }
    }
    for (size_t r = 0; r < GEMM_MR; ++r) {
        for (size_t j = 0; j < GEMM_NR; ++j) {
            float product = alpha * sum[r][j];
            c[r * ldc + j] = beta ? product + beta * c[r * ldc + j] : product;
        }
    }
}
