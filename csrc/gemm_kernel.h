#ifndef DARKNET_SOFTMAX_GEMM_KERNEL_H
#define DARKNET_SOFTMAX_GEMM_KERNEL_H

/* Internal: gemm's microkernels, one per instruction set, on the panels
   gemm.c packs. A tile is MR rows by NR columns of C: 12 AVX2 registers of
   sums, with two for a row of B and one for a value of A. */

#include <stddef.h>

#include "vector_kernels.h"

enum { GEMM_MR = 6, GEMM_NR = 16 };

/* The tile c (row stride ldc) = alpha * sum over k steps of a column of A
   (MR floats at a) times a row of B (NR floats at b), plus beta * c; beta = 0
   ignores what c held. a and b step by MR and NR floats. rows (1 to MR) are
   the rows wanted: a kernel may compute and write more of the MR (into a
   scratch tile, which gemm.c gives where rows < MR). The _half kernels
   compute and write only the tile's first NR/2 columns, for the last tile of
   a row when no more are left: half the work of a whole tile. */
typedef void gemm_kernel(size_t k, const float *a, const float *b, float alpha, float beta,
                         float *c, size_t ldc, size_t rows);

/* The tile's first `rows` rows and first `cols` columns (1 to NR/4), for
   the last columns of C: the rest of the tile is neither computed nor
   written. With panels (a power of two up to gemm_narrow_panels(cols)) above
   1, as many tiles one below the other, from as many panels of A, MR*k
   floats apart; all but the last whole. */
typedef void gemm_narrow_kernel(size_t k, const float *a, const float *b, float alpha, float beta,
                                float *c, size_t ldc, size_t rows, size_t cols, size_t panels);

/* The most tiles the narrow kernel takes at once for cols columns: enough
   for eight vectors of sums, which hide the multiply-add's latency. */
static inline size_t gemm_narrow_panels(size_t cols)
{
    return cols == 1 ? 8 : cols == 2 ? 4 : 2;
}

/* Two tiles side by side, whole across: the one of b and the one of the
   next panel of B, b_step floats on (rows 0 to rows-1, up to MR, columns 0
   to 2*NR-1 of c). */
typedef void gemm_pair_kernel(size_t k, const float *a, const float *b, size_t b_step, float alpha,
                              float beta, float *c, size_t ldc, size_t rows);

/* One whole panel of gemm.c's pack from rows `row` floats apart whose
   columns are contiguous: `width` (MR or NR) rows of `cols` floats, row r at
   x + r*row, written column by column (width floats each) to out. Vectors
   transpose it 8 x 8 where the plain copy moves one float at a time. */
typedef void gemm_pack_panel(const float *x, size_t row, size_t cols, size_t width, float *out);

gemm_kernel gemm_kernel_portable, gemm_kernel_portable_half;
#if defined(DS_BUILD_AVX2)
gemm_kernel gemm_kernel_avx2, gemm_kernel_avx2_half;
gemm_narrow_kernel gemm_kernel_avx2_narrow;
gemm_pack_panel gemm_pack_panel_avx2;
#endif
#if defined(DS_BUILD_AVX512)
gemm_kernel gemm_kernel_avx512;
gemm_pair_kernel gemm_kernel_avx512_pair;
#endif

#endif
