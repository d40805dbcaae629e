/* gemm's microkernel for AVX-512 (F): two tiles side by side. Only this file
   is compiled for AVX-512; gemm.c calls it only on a CPU that has it. */
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

/* Named sums, as in the AVX2 kernel: GCC keeps an array of vectors in memory. */
#define STEP(r)                                \
    x = _mm512_set1_ps(a[r]);                  \
    s##r##0 = _mm512_fmadd_ps(x, b0, s##r##0); \
    s##r##1 = _mm512_fmadd_ps(x, b1, s##r##1);

#define STORE(r)                                    \
    store(c + r * ldc, s##r##0, scale, keep, beta); \
    store(c + r * ldc + GEMM_NR, s##r##1, scale, keep, beta);

_Static_assert(GEMM_MR == 6 && GEMM_NR == 16, "the AVX-512 microkernel is 6 x (2 x 16)");

/* Twelve registers of sums, each sixteen columns of a row: the two FMA
   units' latency hidden, where one tile of six rows has six. Each product
   and each sum is the AVX2 kernel's, in its order. */
TARGET void gemm_kernel_avx512_pair(size_t k, const float *a, const float *b, size_t b_step,
                                    float alpha, float beta, float *c, size_t ldc)
{
    __m512 s00 = _mm512_setzero_ps(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00;
    __m512 s30 = s00, s31 = s00, s40 = s00, s41 = s00, s50 = s00, s51 = s00, x;
    for (size_t p = 0; p < k; ++p, a += GEMM_MR, b += GEMM_NR) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + b_step);
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

#endif
