/* gemm's microkernels for AVX-512 (F, and DQ for vector.h): one tile, or
   two side by side, gemm_kernel_tile.h at sixteen lanes. Only this file is
   compiled for AVX-512; gemm.c calls them only on a CPU that has it. */
#include "gemm_kernel.h"
#include "target.h"

#if defined(DS_BUILD_AVX512)

TARGET_BEGIN("avx512f,avx512dq,avx2,fma")

#define DS_VECTOR_AVX512 1
#include "vector.h"

#include "gemm_kernel_tile.h"

/* Each product and each sum is the AVX2 kernel's, in its order. */
_Static_assert(GEMM_NR == LANES, "an AVX-512 tile is one vector wide");

/* A partial panel's rows rounded up as the AVX2 kernel's. */
void gemm_kernel_avx512(size_t k, const float *a, const float *b, float alpha, float beta, float *c,
                        size_t ldc, size_t rows)
{
    tile_rows(k, a, b, 0, alpha, beta, c, ldc, rows, 1);
}

/* Two tiles side by side: twelve registers of sums, which hide the two FMA
   units' latency, where one tile has six; a partial panel too (eight sums
   for 3 or 4 rows, where a single tile has four). */
void gemm_kernel_avx512_pair(size_t k, const float *a, const float *b, size_t b_step, float alpha,
                             float beta, float *c, size_t ldc, size_t rows)
{
    tile_rows(k, a, b, b_step, alpha, beta, c, ldc, rows, 2);
}

TARGET_END

#endif
