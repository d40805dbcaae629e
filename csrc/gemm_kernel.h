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
   ignores what c held. a and b step by MR and NR floats. The _half kernels
   compute and write only the tile's first NR/2 columns, for the last tile of
   a row when no more are left: half the work of a whole tile. */
typedef void gemm_kernel(size_t k, const float *a, const float *b, float alpha, float beta,
                         float *c, size_t ldc);

gemm_kernel gemm_kernel_portable, gemm_kernel_portable_half;
#if defined(DS_BUILD_AVX2)
gemm_kernel gemm_kernel_avx2, gemm_kernel_avx2_half;
#endif

#endif
