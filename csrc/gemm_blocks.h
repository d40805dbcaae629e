#ifndef DARKNET_SOFTMAX_GEMM_BLOCKS_H
#define DARKNET_SOFTMAX_GEMM_BLOCKS_H

/* Internal (not part of the cffi cdef): gemm with a function run on each
   block of C once it holds its final values, by the thread that computed it
   and while the block is still in its cache. The convolutional layer adds
   its biases and applies its activation there, where passes of their own
   would read and write the whole output again on one thread. */

#include <stddef.h>

/* The block at c (row stride ldc): rows [row, row + rows) of C, `cols`
   columns wide. */
typedef void gemm_finish(void *context, float *c, size_t ldc, size_t row, size_t rows, size_t cols);

/* gemm (gemm.h), then finish on every block of C, each once; finish may be
   NULL. */
int gemm_then(int TA, int TB, size_t M, size_t N, size_t K, float ALPHA, const float *A, size_t lda,
              const float *B, size_t ldb, float BETA, float *C, size_t ldc, gemm_finish *finish,
              void *context);

#endif
