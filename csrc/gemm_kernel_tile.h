/* Internal: gemm's register tile, written once over vector.h's vf for
   gemm_kernel_avx2.c (eight lanes: a tile is two vectors wide) and
   gemm_kernel_avx512.c (sixteen: a tile is one vector, and two tiles side
   by side are two). The including file includes vector.h first, compiled
   for its instruction set. No include guard: each includes it once. */

#include "gemm_kernel.h"

/* c = scale*sum + keep*c, or scale*sum when beta is 0 (c is then not read). */
static ALWAYS_INLINE void tile_store(float *c, vf sum, vf scale, vf keep, float beta)
{
    vf product = vf_mul(scale, sum);
    if (beta) product = vf_fmadd(keep, vf_load(c), product);
    vf_store(c, product);
}

/* The twelve sums are named, not an array: GCC keeps an array of vectors in
   memory and stores it back at every step. With one vector a row, or fewer
   rows, the other sums, loads and stores are dead code the compiler drops. */
#define STEP(r)                                               \
    if (r < computed) {                                       \
        x = vf_set1(a[r]);                                    \
        s##r##0 = vf_fmadd(x, b0, s##r##0);                   \
        if (vectors == 2) s##r##1 = vf_fmadd(x, b1, s##r##1); \
    }

#define STORE(r)                                                                       \
    if (r < rows) {                                                                    \
        tile_store(c + r * ldc, s##r##0, scale, keep, beta);                           \
        if (vectors == 2) tile_store(c + r * ldc + LANES, s##r##1, scale, keep, beta); \
    }

_Static_assert(GEMM_MR == 6, "the tile has six rows of sums");

/* The first `rows` rows of C at c, one vector (LANES columns) or two wide,
   from the panels a and b: the second vector's values of B are `second`
   floats after the first's. The first `computed` rows (rows or more, up to
   MR) are computed, of which `rows` are written; computed and vectors are
   constants at each call. */
static ALWAYS_INLINE void tile(size_t k, const float *a, const float *b, size_t second, float alpha,
                               float beta, float *c, size_t ldc, size_t computed, size_t rows,
                               int vectors)
{
    /* The tile of C that beta reads at the end comes into cache meanwhile:
       a C larger than the cache (a convolution's weight gradient, 4.7 MB
       for 3x3 256->512) would be waited for there, tile by tile (C2B 7 to
       15% faster at one thread; the others alike). Its first and last
       floats a row. */
    for (size_t r = 0; beta && r < rows; ++r) {
        prefetch(c + r * ldc);
        prefetch(c + r * ldc + vectors * LANES - 1);
    }
    vf s00 = vf_set1(0), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00;
    vf s30 = s00, s31 = s00, s40 = s00, s41 = s00, s50 = s00, s51 = s00, x;
    /* Four steps a loop: the pointer steps and the loop's test come once
       for 48 multiply-adds, where GCC leaves one step a loop (AVX-512, one
       thread, alternated: G1NN and G3NN 5%, G2NN 11%, C2F and C2B 2%; AVX2
       alike, C1F 6%). */
#pragma GCC unroll 4
    for (size_t p = 0; p < k; ++p, a += GEMM_MR, b += GEMM_NR) {
        vf b0 = vf_load(b), b1 = b0;
        if (vectors == 2) b1 = vf_load(b + second);
        STEP(0);
        STEP(1);
        STEP(2);
        STEP(3);
        STEP(4);
        STEP(5);
    }
    vf scale = vf_set1(alpha), keep = vf_set1(beta);
    STORE(0);
    STORE(1);
    STORE(2);
    STORE(3);
    STORE(4);
    STORE(5);
}

#undef STEP
#undef STORE

/* A panel's rows, computed as 2, 4 or 6: a partial panel's tile does a
   third or two thirds of a whole tile's multiply-adds; its own rows are
   written. */
static ALWAYS_INLINE void tile_rows(size_t k, const float *a, const float *b, size_t second,
                                    float alpha, float beta, float *c, size_t ldc, size_t rows,
                                    int vectors)
{
    if (rows <= 2) tile(k, a, b, second, alpha, beta, c, ldc, 2, rows, vectors);
    else if (rows <= 4) tile(k, a, b, second, alpha, beta, c, ldc, 4, rows, vectors);
    else tile(k, a, b, second, alpha, beta, c, ldc, GEMM_MR, rows, vectors);
}
