/* gemm's microkernels for AVX-512 (F): one tile, or two side by side. Only
   this file is compiled for AVX-512; gemm.c calls them only on a CPU that
   has it. */
#include "gemm_kernel.h"

#if defined(DS_BUILD_AVX512)

#include <immintrin.h>

#define TARGET __attribute__((target("avx512f")))

/* c = scale*sum + keep*c, or scale*sum when beta is 0 (c is then not read). */
static inline TARGET void store(float *c, __m512 sum, __m512 scale, __m512 keep, float beta)
{
    __m512 product = _mm512_mul_ps(scale, sum);
    if (beta) product = _mm512_fmadd_ps(keep, _mm512_loadu_ps(c), product);
    _mm512_storeu_ps(c, product);
}

/* Named sums, as in the AVX2 kernel: GCC keeps an array of vectors in
   memory. With one tile, or fewer rows, the other sums are dead code. */
#define STEP(r)                                                    \
    if (r < rows) {                                                \
        x = _mm512_set1_ps(a[r]);                                  \
        s##r##0 = _mm512_fmadd_ps(x, b0, s##r##0);                 \
        if (tiles == 2) s##r##1 = _mm512_fmadd_ps(x, b1, s##r##1); \
    }

#define STORE(r)                                                                  \
    if (r < rows) {                                                               \
        store(c + r * ldc, s##r##0, scale, keep, beta);                           \
        if (tiles == 2) store(c + r * ldc + GEMM_NR, s##r##1, scale, keep, beta); \
    }

_Static_assert(GEMM_MR == 6 && GEMM_NR == 16, "the AVX-512 microkernel is 6 x 16, once or twice");

/* The first `rows` rows of one tile, or of two side by side (the second
   from the panel of B b_step floats on): twelve registers of sums, which
   hide the two FMA units' latency, where one tile has six. Each product and
   each sum is the AVX2 kernel's, in its order. rows and tiles are
   constants at each call. */
static inline TARGET __attribute__((always_inline)) void tile(size_t k, const float *a,
                                                              const float *b, size_t b_step,
                                                              float alpha, float beta, float *c,
                                                              size_t ldc, size_t rows, int tiles)
{
    __m512 s00 = _mm512_setzero_ps(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00;
    __m512 s30 = s00, s31 = s00, s40 = s00, s41 = s00, s50 = s00, s51 = s00, x;
    for (size_t p = 0; p < k; ++p, a += GEMM_MR, b += GEMM_NR) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = b0;
        if (tiles == 2) b1 = _mm512_loadu_ps(b + b_step);
        STEP(0);
        STEP(1);
        STEP(2);
        STEP(3);
        STEP(4);
        STEP(5);
    }
    __m512 scale = _mm512_set1_ps(alpha), keep = _mm512_set1_ps(beta);
    STORE(0);
    STORE(1);
    STORE(2);
    STORE(3);
    STORE(4);
    STORE(5);
}

/* A partial panel's rows rounded up to 2 or 4, as the AVX2 kernel's. */
TARGET void gemm_kernel_avx512(size_t k, const float *a, const float *b, float alpha, float beta,
                               float *c, size_t ldc, size_t rows)
{
    if (rows <= 2) tile(k, a, b, 0, alpha, beta, c, ldc, 2, 1);
    else if (rows <= 4) tile(k, a, b, 0, alpha, beta, c, ldc, 4, 1);
    else tile(k, a, b, 0, alpha, beta, c, ldc, GEMM_MR, 1);
}

TARGET void gemm_kernel_avx512_pair(size_t k, const float *a, const float *b, size_t b_step,
                                    float alpha, float beta, float *c, size_t ldc)
{
    tile(k, a, b, b_step, alpha, beta, c, ldc, GEMM_MR, 2);
}

#endif
