#ifndef DARKNET_SOFTMAX_VECTOR_KERNELS_H
#define DARKNET_SOFTMAX_VECTOR_KERNELS_H

/* Internal: the vector kernels of one instruction set, as two tables that
   blas_vector.c picks from at run time. Each kernel works on one thread's
   share. */

#include <stddef.h>
#include <stdint.h>

#include "blas.h"

/* The lanes of the lane kernels; the row kernels' vectors may be wider, up
   to MAX_LANES. */
enum { LANES_PER_VECTOR = 8, MAX_LANES = 16, TILE_POSITIONS = 64, BLOCK_POSITIONS = 1024 };

/* struct cross_entropy (blas.h) reaches the kernels checked: position
   (o, i) of outer x inner has its classes at logits + o*classes*inner + i,
   inner floats apart. */

/* A block of softmax_block or log_softmax_block whose output is still to be
   written: each group's largest value and the reciprocal of its sum (the
   log of its sum for log_softmax). */
struct pending_block {
    const float *input;
    float *output;
    size_t count;
    float largest[BLOCK_POSITIONS], term[BLOCK_POSITIONS];
};

/* A block kernel: row_kernels' softmax_block and log_softmax_block. */
typedef void block_kernel(const float *input, size_t n, size_t stride, size_t count, float temp,
                          float *output, const float *next, int stream,
                          struct pending_block *pending);

/* The kernels that any vector width serves, each instruction set at its
   widest (vector_kernels_rows.h): over contiguous values, over a strided
   axis's blocks and tiles of positions, and over the tree's batch rows side
   by side, `lanes` at a time. */
struct row_kernels {
    /* One softmax over n contiguous values. */
    void (*softmax_row)(const float *input, size_t n, float temp, float *output);
    /* count such softmaxes, row r from offset[r], for outputs far larger than
       the cache: written around it, with the next row's fetch overlapping
       the arithmetic, and each row's stores overlapping the next row's.
       scratch holds 2n floats; output is 4-byte aligned. */
    void (*softmax_rows_stream)(const float *input, const size_t *offset, size_t count, size_t n,
                                float temp, float *output, float *scratch);
    /* log_softmax over n contiguous values (output may be input). */
    void (*log_softmax_row)(const float *input, size_t n, float temp, float *output);
    /* count such log_softmaxes, row r from offset[r], for outputs far larger
       than the cache (and not the input): written around it, as
       softmax_rows_stream's. */
    void (*log_softmax_rows_stream)(const float *input, const size_t *offset, size_t count,
                                    size_t n, float temp, float *output);
    /* log_softmax over count (0 to BLOCK_POSITIONS) groups one apart, values
       stride apart (output may be input), a call behind: it takes the
       block's largest values and sums, and writes the output of the block
       `pending` holds (if any) meanwhile, so that its stores run beside the
       sums' arithmetic; then `pending` holds this block. A call with count 0
       writes the last one. next (or NULL) is the input of the next call,
       fetched meanwhile. With stream, each row's stretch of the output
       goes around the cache, its whole 64-byte lines. */
    block_kernel *log_softmax_block;
    /* The same for softmax. */
    block_kernel *softmax_block;
    void (*softmax_x_ent)(size_t n, const float *pred, const float *truth, float *delta,
                          float *error);
    /* blas.c's softmax_backward over n contiguous values. The product is
       added to dx where add is set, else written (dx is not read). */
    void (*softmax_backward_row)(const float *y, const float *dy, size_t n, float temp, int add,
                                 float *dx);
    /* softmax_backward_row setting dx, over count rows: row r at offset[r]
       in y, dy and dx, dx written around the cache (dx 4-byte aligned). */
    void (*softmax_backward_rows_stream)(const float *y, const float *dy, const size_t *offset,
                                         size_t count, size_t n, float temp, float *dx);
    /* blas.c's softmax_x_ent_exact over n contiguous values. */
    void (*softmax_x_ent_exact_row)(const float *pred, const float *truth, size_t n, float temp,
                                    float *delta, float *error);
    /* The floats of a vector: the rows the tree kernels take at once. */
    size_t lanes;
    /* Tree groups that tile columns [0, columns) of `lanes` rows, row l at
       row[l] (lanes past count repeat row 0), by way of scratch
       (lanes*window floats; window a multiple of lanes, at least the
       largest group + 2*lanes). */
    void (*softmax_tree_rows)(const float *input, const size_t *row, size_t count, size_t columns,
                              size_t window, const size_t *group_size, size_t groups, float temp,
                              float *output, float *scratch);
    /* The exact loss over tree groups that tile columns [0, columns) of
       `lanes` rows, as softmax_tree_rows lays them out (scratch: twice its). */
    void (*softmax_x_ent_exact_tree_rows)(const float *pred, const float *truth, const size_t *row,
                                          size_t count, size_t columns, size_t window,
                                          const size_t *group_size, size_t groups, float temp,
                                          float *delta, float *error, float *scratch);
    /* softmax_tree_rows, then the exact loss on its output, in one pass
       (scratch: three times softmax_tree_rows'). */
    void (*softmax_tree_x_ent_exact_rows)(const float *input, const float *truth, const size_t *row,
                                          size_t count, size_t columns, size_t window,
                                          const size_t *group_size, size_t groups, float temp,
                                          float *output, float *delta, float *error,
                                          float *scratch);
    /* The fused loss of rows [begin, end) (inner is 1, labels given):
       returns the sum of their losses, in double. */
    double (*cross_entropy_rows)(const struct cross_entropy *c, size_t begin, size_t end);
    /* The fused loss of count (1 to TILE_POSITIONS) positions from (o, i),
       their classes inner floats apart, by way of tile
       (classes*TILE_POSITIONS floats of scratch): the sum of their losses. */
    double (*cross_entropy_tile)(const struct cross_entropy *c, size_t o, size_t i, size_t count,
                                 float *tile);
    /* y += alpha*x over n contiguous values. */
    void (*axpy)(size_t n, float alpha, const float *x, float *y);
    /* The sum of n floats, in double. */
    double (*sum)(const float *a, size_t n);
};

/* The kernels over groups side by side, one a lane, eight lanes
   (LANES_PER_VECTOR) on every instruction set (vector_kernels_impl.h). */
struct lane_kernels {
    /* count (1 to 8) softmax groups of n values side by side in the lanes:
       group l starts at offset[l] and steps by stride. */
    void (*softmax_lanes)(const float *input, const size_t *offset, size_t count, size_t n,
                          size_t stride, float temp, float *output);
    /* log_softmax over eight groups one apart, values stride apart (output
       may be input). */
    void (*log_softmax_lanes)(const float *input, size_t n, size_t stride, float temp,
                              float *output);
    /* log_softmax over count (1 to 8) groups anywhere, group l at
       input + index[l], values stride apart, by way of scratch (n*8 floats,
       at least 64). */
    void (*log_softmax_gathered)(const float *input, const int32_t *index, size_t count, size_t n,
                                 size_t stride, float temp, float *output, float *scratch);
    /* softmax_backward_row over count (1 to 8) groups side by side, values
       stride apart: group l at index[l] from each pointer, or at l when
       index is NULL. */
    void (*softmax_backward_lanes)(const float *y, const float *dy, const int32_t *index,
                                   size_t count, size_t n, size_t stride, float temp, int add,
                                   float *dx);
    /* softmax_x_ent_exact_row over groups laid out as softmax_backward_lanes'. */
    void (*softmax_x_ent_exact_lanes)(const float *pred, const float *truth, const int32_t *index,
                                      size_t count, size_t n, size_t stride, float temp,
                                      float *delta, float *error);
    /* The fused loss of count (1 to 8) positions side by side, from (o, i)
       (inner above 1, labels given): returns the sum of their losses. */
    double (*cross_entropy_lanes)(const struct cross_entropy *c, size_t o, size_t i, size_t count);
};

/* The kernels over count groups of n (1 to longest; softmax's to
   softmax_longest) values end to end (group g at g*n): softmax,
   log_softmax (output may be input) and softmax_backward (dx added to
   with add, else set), LANES groups at a time in columns
   (vector_kernels_columns.h): up to 8 values through a transposed tile
   (vector_kernels_impl.h) or, on AVX-512, permutes
   (vector_kernels_packed.h); longer groups through transposes, up to 16
   on AVX2 and 64 on AVX-512 (softmax's to 56). */
struct packed_kernels {
    size_t longest, softmax_longest;
    void (*softmax_packed)(const float *input, size_t count, size_t n, float temp, float *output);
    void (*log_softmax_packed)(const float *input, size_t count, size_t n, float temp,
                               float *output);
    void (*softmax_backward_packed)(const float *y, const float *dy, size_t count, size_t n,
                                    float temp, int add, float *dx);
};

/* What one instruction set runs: its row kernels, and lane kernels that may
   be another's (AVX-512 runs AVX2's, whose eight lanes the lane code is
   written for). */
struct vector_kernels {
    const struct row_kernels *rows;
    const struct lane_kernels *lanes;
    const struct packed_kernels *packed;
};

/* Plain C, for every CPU and compiler. */
extern const struct row_kernels row_kernels_portable;
extern const struct lane_kernels lane_kernels_portable;
extern const struct packed_kernels packed_kernels_portable;

/* AVX2 + FMA, and AVX-512 (F and DQ) rows, built where GCC or Clang targets
   x86-64 and used only where the CPU has them. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define DS_BUILD_AVX2 1
#define DS_BUILD_AVX512 1
extern const struct row_kernels row_kernels_avx2, row_kernels_avx512;
extern const struct lane_kernels lane_kernels_avx2;
extern const struct packed_kernels packed_kernels_avx2, packed_kernels_avx512;
#endif

/* The table of the instruction set in use (runtime.c). */
const struct vector_kernels *vector_kernels_in_use(void);

#endif
