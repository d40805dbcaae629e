#include "gemm.h"

/* The four loop orders are Darknet's: the innermost loop walks contiguous
   memory in C and B (nn, tn) or in A and B (nt), so the compiler vectorises it. */

static void gemm_nn(size_t M, size_t N, size_t K, float ALPHA, const float *A, size_t lda,
                    const float *B, size_t ldb, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; ++i) {
        for (size_t k = 0; k < K; ++k) {
            float a = ALPHA * A[i*lda + k];
            for (size_t j = 0; j < N; ++j) C[i*ldc + j] += a * B[k*ldb + j];
        }
    }
}

static void gemm_nt(size_t M, size_t N, size_t K, float ALPHA, const float *A, size_t lda,
                    const float *B, size_t ldb, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; ++i) {
        for (size_t j = 0; j < N; ++j) {
            float sum = 0;
            for (size_t k = 0; k < K; ++k) sum += A[i*lda + k] * B[j*ldb + k];
            C[i*ldc + j] += ALPHA * sum;
        }
    }
}

static void gemm_tn(size_t M, size_t N, size_t K, float ALPHA, const float *A, size_t lda,
                    const float *B, size_t ldb, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; ++i) {
        for (size_t k = 0; k < K; ++k) {
            float a = ALPHA * A[k*lda + i];
            for (size_t j = 0; j < N; ++j) C[i*ldc + j] += a * B[k*ldb + j];
        }
    }
}

static void gemm_tt(size_t M, size_t N, size_t K, float ALPHA, const float *A, size_t lda,
                    const float *B, size_t ldb, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; ++i) {
        for (size_t j = 0; j < N; ++j) {
            float sum = 0;
            for (size_t k = 0; k < K; ++k) sum += A[i + k*lda] * B[k + j*ldb];
            C[i*ldc + j] += ALPHA * sum;
        }
    }
}

void gemm(int TA, int TB, size_t M, size_t N, size_t K, float ALPHA,
          const float *A, size_t lda, const float *B, size_t ldb,
          float BETA, float *C, size_t ldc)
{
    /* BETA = 0 means C is not read, as in BLAS (Darknet multiplies, so a NaN
       already in C would survive). */
    for (size_t i = 0; i < M; ++i) {
        for (size_t j = 0; j < N; ++j) C[i*ldc + j] = BETA ? BETA * C[i*ldc + j] : 0;
    }
    if (!TA && !TB) gemm_nn(M, N, K, ALPHA, A, lda, B, ldb, C, ldc);
    else if (TA && !TB) gemm_tn(M, N, K, ALPHA, A, lda, B, ldb, C, ldc);
    else if (!TA && TB) gemm_nt(M, N, K, ALPHA, A, lda, B, ldb, C, ldc);
    else gemm_tt(M, N, K, ALPHA, A, lda, B, ldb, C, ldc);
}
