#ifndef DARKNET_SOFTMAX_GEMM_BLOCKS_H
#define DARKNET_SOFTMAX_GEMM_BLOCKS_H

/* Internal (not part of the cffi cdef): gemm with hooks for the
   convolutional layer. op(A) may come packed already: the layer packs its
   weights once for all its items' products. op(B) may be packed from
   wherever it lies: the layer packs each block of its im2col matrix straight
   from the image, where writing the whole matrix and packing it again would
   take the memory twice. And a function may run on each block of C once it
   holds its final values, by the thread that computed it and while the block
   is still in its cache: the layer adds its biases and applies its
   activation there, where passes of their own would read and write the whole
   output again on one thread. */

#include <stddef.h>

/* The block at c (row stride ldc): rows [row, row + rows) of C, `cols`
   columns wide. */
typedef void gemm_finish(void *context, float *c, size_t ldc, size_t row, size_t rows, size_t cols);

/* Rows [k0, k0 + kc) and columns [j0, j0 + nc) of op(B), packed as gemm
   packs them: panels of `width` columns, each holding its kc rows of width
   floats one after another, zeros past column j0 + nc in the last. */
typedef void gemm_pack_b(const void *context, size_t k0, size_t kc, size_t j0, size_t nc,
                         size_t width, float *out);

typedef struct gemm_hooks {
    const float *packed_a; /* op(A) as gemm_pack_a packs it, A and TA unread; or NULL */
    gemm_pack_b *pack_b;   /* op(B) from this, B and TB unread; or NULL */
    const void *b_context;
    gemm_finish *finish; /* run on every block of C, each once; or NULL */
    void *finish_context;
    int serial; /* 1: on the calling thread alone (its caller runs products side by side) */
} gemm_hooks;

/* gemm (gemm.h) with hooks. packed_a and pack_b are taken only where gemm
   packs (the vector kernels, gemm_packs()); the scalar kernel reads A and B. */
int gemm_with(int TA, int TB, size_t M, size_t N, size_t K, float ALPHA, const float *A, size_t lda,
              const float *B, size_t ldb, float BETA, float *C, size_t ldc,
              const gemm_hooks *hooks);

/* Whether gemm packs its operands (the vector kernels) rather than running
   Darknet's loops. */
int gemm_packs(void);

/* op(A), M x K, packed whole into out (gemm_packed_a_floats(M, K) floats),
   for gemm_with's packed_a: the products of a convolution's items share
   their weights, which each would otherwise pack again. */
void gemm_pack_a(int TA, size_t M, size_t K, const float *A, size_t lda, float *out);
size_t gemm_packed_a_floats(size_t M, size_t K);

#endif
