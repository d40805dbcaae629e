#include "gemm.h"
#include "runtime.h"
#include "threadpool.h"

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

/* Rows begin to end of C, as gemm computes them all. */
static void gemm_rows(int TA, int TB, size_t begin, size_t end, size_t N, size_t K, float ALPHA,
                      const float *A, size_t lda, const float *B, size_t ldb, float BETA, float *C,
                      size_t ldc)
{
    /* BETA = 0 means C is not read, as in BLAS (Darknet multiplies, so a NaN
       already in C would survive). */
    for (size_t i = begin; i < end; ++i) {
        for (size_t j = 0; j < N; ++j) C[i * ldc + j] = BETA ? BETA * C[i * ldc + j] : 0;
    }
    size_t M = end - begin;
    const float *a = TA ? A + begin : A + begin * lda;
    float *c = C + begin * ldc;
    if (!TB) gemm_b_rows(M, N, K, ALPHA, a, TA ? 1 : lda, TA ? lda : 1, B, ldb, c, ldc);
    else gemm_b_cols(M, N, K, ALPHA, a, TA ? 1 : lda, TA ? lda : 1, B, ldb, c, ldc);
}

struct gemm_work {
    int TA, TB;
    size_t M, N, K;
    float ALPHA, BETA;
    const float *A, *B;
    size_t lda, ldb, ldc;
    float *C;
};

static void gemm_part(void *context, size_t part, size_t parts)
{
    const struct gemm_work *w = context;
    gemm_rows(w->TA, w->TB, w->M * part / parts, w->M * (part + 1) / parts, w->N, w->K, w->ALPHA,
              w->A, w->lda, w->B, w->ldb, w->BETA, w->C, w->ldc);
}

/* Products of a million multiply-adds and up are split by rows of C over the
   thread pool with the vector kernels (Darknet's loop runs on one thread). */
enum { GEMM_THREADED_WORK = 1 << 20 };

void gemm(int TA, int TB, size_t M, size_t N, size_t K, float ALPHA, const float *A, size_t lda,
          const float *B, size_t ldb, float BETA, float *C, size_t ldc)
{
    size_t threads = ds_get_kernel() == DS_KERNEL_VECTOR ? pool_threads() : 1;
    if (threads < 2 || M < 2 || M * N * K < GEMM_THREADED_WORK) {
        gemm_rows(TA, TB, 0, M, N, K, ALPHA, A, lda, B, ldb, BETA, C, ldc);
        return;
    }
    struct gemm_work work = {.TA = TA,
                             .TB = TB,
                             .M = M,
                             .N = N,
                             .K = K,
                             .ALPHA = ALPHA,
                             .BETA = BETA,
                             .A = A,
                             .B = B,
                             .lda = lda,
                             .ldb = ldb,
                             .ldc = ldc,
                             .C = C};
    pool_run(gemm_part, &work, M < threads ? M : threads);
}
