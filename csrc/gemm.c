#include "gemm.h"

/* The loop orders are Darknet's: the innermost loop walks contiguous memory
   in C and B when B is not transposed (nn, tn), or in A and B when it is
   (nt), so the compiler vectorises it. op(A) value (i, k) is read at
   A[i*a_row + k*a_col], which covers A and A^T; gemm passes constant steps,
   which the compiler specialises, so each case runs as Darknet's own loop
   (as fast as the four separate functions, measured). */

/* op(B) = B: C row i += op(A)(i, k) times B row k. */
static void gemm_b_rows(size_t M, size_t N, size_t K, float ALPHA, const float *A, size_t a_row,
                        size_t a_col, const float *B, size_t ldb, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; ++i) {
        for (size_t k = 0; k < K; ++k) {
            float a = ALPHA * A[i * a_row + k * a_col];
            for (size_t j = 0; j < N; ++j) C[i * ldc + j] += a * B[k * ldb + j];
        }
    }
}

/* op(B) = B^T: C(i, j) += op(A) row i dot B row j. The dot product keeps
   eight partial sums, so the compiler vectorises it without reordering a
   single float sum (which it may not do on its own). */
enum { PARTIAL_SUMS = 8 };

static void gemm_b_cols(size_t M, size_t N, size_t K, float ALPHA, const float *A, size_t a_row,
                        size_t a_col, const float *B, size_t ldb, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; ++i) {
        for (size_t j = 0; j < N; ++j) {
            const float *a = A + i * a_row, *b = B + j * ldb;
            float partial[PARTIAL_SUMS] = {0};
            size_t k = 0;
            for (; k + PARTIAL_SUMS <= K; k += PARTIAL_SUMS) {
                for (size_t l = 0; l < PARTIAL_SUMS; ++l)
                    partial[l] += a[(k + l) * a_col] * b[k + l];
            }
            float sum = 0;
            for (; k < K; ++k) sum += a[k * a_col] * b[k];
            for (size_t l = 0; l < PARTIAL_SUMS; ++l) sum += partial[l];
            C[i * ldc + j] += ALPHA * sum;
        }
    }
}

void gemm(int TA, int TB, size_t M, size_t N, size_t K, float ALPHA, const float *A, size_t lda,
          const float *B, size_t ldb, float BETA, float *C, size_t ldc)
{
    /* BETA = 0 means C is not read, as in BLAS (Darknet multiplies, so a NaN
       already in C would survive). */
    for (size_t i = 0; i < M; ++i) {
        for (size_t j = 0; j < N; ++j) C[i * ldc + j] = BETA ? BETA * C[i * ldc + j] : 0;
    }
    if (!TA && !TB) gemm_b_rows(M, N, K, ALPHA, A, lda, 1, B, ldb, C, ldc);
    else if (TA && !TB) gemm_b_rows(M, N, K, ALPHA, A, 1, lda, B, ldb, C, ldc);
    else if (!TA && TB) gemm_b_cols(M, N, K, ALPHA, A, lda, 1, B, ldb, C, ldc);
    else gemm_b_cols(M, N, K, ALPHA, A, 1, lda, B, ldb, C, ldc);
}
