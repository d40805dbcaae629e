#ifndef DARKNET_SOFTMAX_GEMM_H
#define DARKNET_SOFTMAX_GEMM_H

#include <stddef.h>

#include "status.h"

/* Darknet's gemm (src/gemm.c): C = ALPHA * op(A) op(B) + BETA * C, row-major,
   where op(X) is X or, when its flag is set, X transposed. op(A) is M x K,
   op(B) is K x N, C is M x N; lda, ldb and ldc are the row strides of the
   arrays as stored; M, N and K are at least 1. BETA = 0 ignores what C held.
   Callers check bounds. Returns DS_OK, or DS_ERR_NOMEM when the packing
   buffers cannot be had (C is then untouched). */
DS_API int gemm(int TA, int TB, size_t M, size_t N, size_t K, float ALPHA, const float *A,
                size_t lda, const float *B, size_t ldb, float BETA, float *C, size_t ldc);

#endif
