#include <stdlib.h>

#include "gemm.h"
#include "gemm_blocks.h"
#include "gemm_kernel.h"
#include "runtime.h"
#include "threadpool.h"

/* The scalar kernel runs Darknet's loops. Their orders are Darknet's: the innermost loop walks contiguous memory
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

/* Darknet's gemm, on one thread. */
static void gemm_loops(int TA, int TB, size_t M, size_t N, size_t K, float ALPHA, const float *A,
                       size_t lda, const float *B, size_t ldb, float BETA, float *C, size_t ldc)
{
    /* BETA = 0 means C is not read, as in BLAS (Darknet multiplies, so a NaN
       already in C would survive). */
    for (size_t i = 0; i < M; ++i) {
        for (size_t j = 0; j < N; ++j) C[i * ldc + j] = BETA ? BETA * C[i * ldc + j] : 0;
    }
    if (!TB) gemm_b_rows(M, N, K, ALPHA, A, TA ? 1 : lda, TA ? lda : 1, B, ldb, C, ldc);
    else gemm_b_cols(M, N, K, ALPHA, A, TA ? 1 : lda, TA ? lda : 1, B, ldb, C, ldc);
}

/* The vector kernel packs op(A) and op(B) into panels and runs a microkernel
   over them (the BLIS scheme): a KC x NC block of op(B) (512 KB) and an MC x
   KC block of op(A) stay in the L2 cache, and the microkernel's NR-wide row
   of op(B) in L1. Where op(A) has few rows (64 x 3136 x 576), each block of
   op(B) serves one block of op(A), so op(B) is packed as often as it is
   read: an NC of 512, not 2048, keeps what is packed in L2 for the kernel
   (that product 7 to 22% faster, the others no slower). */
enum { GEMM_KC = 256, GEMM_MC = 144, GEMM_NC = 512 };

static size_t smaller(size_t a, size_t b)
{
    return a < b ? a : b;
}

static size_t round_up(size_t n, size_t step)
{
    return (n + step - 1) / step * step;
}

/* The size of the blocks (at most `most`, a multiple of `step`) that split
   `size` into as few as can be, all alike but the last: a plain split can
   leave a sliver last (K = 576 in blocks of 256 leaves 64), which costs a
   whole block's overheads for a few steps. */
static size_t block_size(size_t size, size_t most, size_t step)
{
    size_t blocks = (size + most - 1) / most;
    return smaller(most, round_up((size + blocks - 1) / blocks, step));
}

/* The depth of the blocks K is split into, which gemm_region packs op(A) in
   and gemm_pack_a must pack it in too. */
static size_t gemm_kc(size_t K)
{
    return block_size(K, GEMM_KC, 1);
}

/* Packs rows [0, rows) and columns [0, cols) of a matrix whose value (i, k)
   is x[i*row + k*col] into panels of `width` rows: panel p holds, for each
   column k, rows p*width to p*width + width - 1, with zeros past the last
   row. op(A) is packed by rows and op(B) by columns, so the microkernel
   reads both in one order, whatever the transpositions. The whole panels
   run a loop of constant length, which the compiler unrolls. */
static inline void pack_strided(const float *x, size_t row, size_t col, size_t rows, size_t cols,
                                size_t width, float *out)
{
    size_t whole = rows / width * width;
    for (size_t p = 0; p < whole; p += width) {
        for (size_t k = 0; k < cols; ++k, out += width) {
            for (size_t r = 0; r < width; ++r) out[r] = x[(p + r) * row + k * col];
        }
    }
    if (whole == rows) return;
    for (size_t k = 0; k < cols; ++k, out += width) {
        for (size_t r = 0; r < width; ++r)
            out[r] = whole + r < rows ? x[(whole + r) * row + k * col] : 0;
    }
}

/* Columns k packed PACK_CHUNK at a time across all the whole panels (x's
   rows contiguous): the reads follow PACK_CHUNK rows of x from start to
   end, streams the hardware prefetchers follow, where a panel at a time
   would step a whole row of x, a new page, at every k (A^T's packing: 5 to
   17% faster products). */
enum { PACK_CHUNK = 16 };

static inline void pack_rows(const float *x, size_t col, size_t rows, size_t cols, size_t width,
                             float *out)
{
    size_t whole = rows / width * width;
    for (size_t k0 = 0; k0 < cols; k0 += PACK_CHUNK) {
        size_t k1 = smaller(cols, k0 + PACK_CHUNK);
        for (size_t p = 0; p < whole; p += width) {
            for (size_t k = k0; k < k1; ++k) {
                for (size_t r = 0; r < width; ++r)
                    out[p * cols + k * width + r] = x[p + r + k * col];
            }
        }
    }
    pack_strided(x + whole, 1, col, rows - whole, cols, width, out + whole * cols);
}

/* Contiguous rows are the common case (op(B) = B, op(A) = A^T), copied as
   blocks. Otherwise the columns are contiguous (one of the two steps is 1),
   and the instruction set's transposing copy, where it has one, packs the
   whole panels. */
static void pack(gemm_pack_panel *pack_panel, const float *x, size_t row, size_t col, size_t rows,
                 size_t cols, size_t width, float *out)
{
    if (row == 1) {
        pack_rows(x, col, rows, cols, width, out);
        return;
    }
    size_t whole = pack_panel ? rows / width * width : 0;
    for (size_t p = 0; p < whole; p += width, out += width * cols)
        pack_panel(x + p * row, row, cols, width, out);
    pack_strided(x + whole * row, row, col, rows - whole, cols, width, out);
}

/* How a product is shared out: parts of whole tiles along the rows of C or
   along its columns, and each part's packing buffers. */
struct gemm_plan {
    int split_rows; /* the parts split the rows of C, else its columns */
    size_t parts;
    float *panels; /* panel_floats a part: a_floats of op(A), then op(B)'s */
    size_t panel_floats, a_floats;
};

struct gemm_work {
    size_t M, N, K;
    float ALPHA, BETA;
    const float *A, *B;
    size_t a_row, a_col, b_row, b_col; /* op(A)(i, k) at A[i*a_row + k*a_col]; B's for (j, k) */
    float *C;
    size_t ldc;
    gemm_kernel *whole, *half;   /* the microkernels for whole tiles and half ones */
    gemm_narrow_kernel *narrow;  /* the one for the last NR/4 columns or fewer, or NULL */
    gemm_pair_kernel *pair;      /* the one for two whole tiles side by side, or NULL */
    gemm_pack_panel *pack_panel; /* the transposing pack, or NULL */
    gemm_hooks hooks;
    struct gemm_plan plan;
};

/* One tile of C from panels a and b, cols (1 to NR) columns wide and rows
   (1 to MR) high; a partial tile is computed whole (or its first half, when
   that holds it) into a scratch tile and only its part is written. */
static void gemm_tile(const struct gemm_work *w, size_t kc, const float *a, const float *b,
                      size_t rows, size_t cols, float beta, float *tile)
{
    int half = cols <= GEMM_NR / 2;
    gemm_kernel *kernel = half ? w->half : w->whole;
    if (rows == GEMM_MR && cols == (half ? GEMM_NR / 2 : GEMM_NR)) {
        kernel(kc, a, b, w->ALPHA, beta, tile, w->ldc, GEMM_MR);
        return;
    }
    float scratch[GEMM_MR * GEMM_NR];
    kernel(kc, a, b, 1, 0, scratch, GEMM_NR, rows);
    for (size_t r = 0; r < rows; ++r) {
        for (size_t s = 0; s < cols; ++s) {
            float product = w->ALPHA * scratch[r * GEMM_NR + s], *out = tile + r * w->ldc + s;
            *out = beta ? product + beta * *out : product;
        }
    }
}

/* The last cols (1 to NR/4) columns of the tiles from a and b down, of
   rows_left rows: as many tiles at once as the narrow kernel takes (a power
   of two), the last of them maybe partial. Returns the rows done. */
static size_t gemm_narrow_tiles(const struct gemm_work *w, size_t kc, size_t rows_left,
                                const float *a, const float *b, size_t cols, float beta,
                                float *tile)
{
    size_t tiles = (rows_left + GEMM_MR - 1) / GEMM_MR, take = 1;
    while (take * 2 <= smaller(tiles, gemm_narrow_panels(cols))) take *= 2;
    size_t last = smaller(GEMM_MR, rows_left - (take - 1) * GEMM_MR);
    w->narrow(kc, a, b, w->ALPHA, beta, tile, w->ldc, last, cols, take);
    return take * GEMM_MR;
}

/* C's tiles in an mc x nc block from packed a and b: two whole tiles side
   by side at a time where the instruction set has a kernel for them. */
static void gemm_block(const struct gemm_work *w, size_t kc, size_t mc, size_t nc, const float *a,
                       const float *b, float beta, float *c)
{
    for (size_t j = 0; j < nc; j += GEMM_NR) {
        size_t cols = smaller(GEMM_NR, nc - j);
        int pair = w->pair && nc - j >= 2 * GEMM_NR;
        int narrow = w->narrow && cols <= GEMM_NR / 4;
        for (size_t i = 0; i < mc;) {
            const float *a_panel = a + i * kc, *b_panel = b + j * kc;
            float *tile = c + i * w->ldc + j;
            size_t rows = smaller(GEMM_MR, mc - i);
            if (narrow) {
                i += gemm_narrow_tiles(w, kc, mc - i, a_panel, b_panel, cols, beta, tile);
                continue;
            }
            i += GEMM_MR;
            if (pair) {
                w->pair(kc, a_panel, b_panel, GEMM_NR * kc, w->ALPHA, beta, tile, w->ldc, rows);
                continue;
            }
            gemm_tile(w, kc, a_panel, b_panel, rows, cols, beta, tile);
        }
        if (pair) j += GEMM_NR;
    }
}

/* Rows [m0, m1) by columns [n0, n1) of C, with one part's packing buffers. */
static void gemm_region(const struct gemm_work *w, size_t m0, size_t m1, size_t n0, size_t n1,
                        float *a, float *b)
{
    size_t nc_step = block_size(n1 - n0, GEMM_NC, GEMM_NR), kc_step = gemm_kc(w->K);
    for (size_t j = n0; j < n1; j += nc_step) {
        size_t nc = smaller(nc_step, n1 - j);
        for (size_t p = 0; p < w->K; p += kc_step) {
            size_t kc = smaller(kc_step, w->K - p);
            float beta = p ? 1 : w->BETA; /* the later blocks add to the first */
            if (w->hooks.pack_b) w->hooks.pack_b(w->hooks.b_context, p, kc, j, nc, GEMM_NR, b);
            else
                pack(w->pack_panel, w->B + j * w->b_row + p * w->b_col, w->b_row, w->b_col, nc, kc,
                     GEMM_NR, b);
            for (size_t i = m0; i < m1; i += GEMM_MC) {
                size_t mc = smaller(GEMM_MC, m1 - i);
                const float *a_block = a;
                if (w->hooks.packed_a)
                    a_block = w->hooks.packed_a + p * round_up(w->M, GEMM_MR) + i * kc;
                else
                    pack(w->pack_panel, w->A + i * w->a_row + p * w->a_col, w->a_row, w->a_col, mc,
                         kc, GEMM_MR, a);
                float *c = w->C + i * w->ldc + j;
                gemm_block(w, kc, mc, nc, a_block, b, beta, c);
                if (w->hooks.finish && p + kc == w->K)
                    w->hooks.finish(w->hooks.finish_context, c, w->ldc, i, mc, nc);
            }
        }
    }
}

/* Part `part` of `parts` takes an equal share of whole tiles along the split
   dimension. */
static void gemm_part(void *context, size_t part, size_t parts)
{
    const struct gemm_work *w = context;
    int split_rows = w->plan.split_rows;
    size_t size = split_rows ? w->M : w->N, step = split_rows ? GEMM_MR : GEMM_NR;
    size_t first, last;
    pool_share(round_up(size, step) / step, part, parts, &first, &last);
    size_t begin = smaller(size, first * step), end = smaller(size, last * step);
    if (begin == end) return;
    float *a = w->plan.panels + part * w->plan.panel_floats, *b = a + w->plan.a_floats;
    if (split_rows) gemm_region(w, begin, end, 0, w->N, a, b);
    else gemm_region(w, 0, w->M, begin, end, a, b);
}

/* The instruction set's transposing pack, or NULL. AVX-512 runs AVX2's. */
static gemm_pack_panel *transposing_pack(void)
{
#if defined(DS_BUILD_AVX2)
    if (ds_get_isa() != DS_ISA_PORTABLE) return gemm_pack_panel_avx2;
#endif
    return NULL;
}

static void choose_kernels(struct gemm_work *w)
{
    w->whole = gemm_kernel_portable;
    w->half = gemm_kernel_portable_half;
    w->narrow = NULL;
    w->pair = NULL;
    w->pack_panel = transposing_pack();
#if defined(DS_BUILD_AVX2)
    int isa = ds_get_isa();
    /* AVX-512 runs AVX2's kernels for half and narrow tiles. */
    if (isa != DS_ISA_PORTABLE) {
        w->whole = gemm_kernel_avx2;
        w->half = gemm_kernel_avx2_half;
        w->narrow = gemm_kernel_avx2_narrow;
    }
#if defined(DS_BUILD_AVX512)
    if (isa == DS_ISA_AVX512) {
        w->whole = gemm_kernel_avx512;
        w->pair = gemm_kernel_avx512_pair;
    }
#endif
#endif
}

/* Products of a million multiply-adds and up are split over the threads,
   and whole packs of op(A) of a million floats. */
enum { GEMM_THREADED_WORK = 1 << 20, GEMM_THREADED_PACK = 1 << 20 };

static int plan_gemm(size_t M, size_t N, size_t K, int serial, struct gemm_plan *plan)
{
    int split_rows = M / GEMM_MR > N / GEMM_NR;
    size_t tiles = split_rows ? round_up(M, GEMM_MR) / GEMM_MR : round_up(N, GEMM_NR) / GEMM_NR;
    size_t parts = serial || M * N * K < GEMM_THREADED_WORK ? 1 : smaller(pool_threads(), tiles);
    size_t kc = gemm_kc(K);
    size_t a_floats = round_up(smaller(GEMM_MC, M), GEMM_MR) * kc;
    size_t panel_floats = a_floats + round_up(smaller(GEMM_NC, N), GEMM_NR) * kc;
    *plan = (struct gemm_plan){.split_rows = split_rows,
                               .parts = parts,
                               .panels = malloc(parts * panel_floats * sizeof(float)),
                               .panel_floats = panel_floats,
                               .a_floats = a_floats};
    return plan->panels ? DS_OK : DS_ERR_NOMEM;
}

size_t gemm_packed_a_floats(size_t M, size_t K)
{
    return round_up(M, GEMM_MR) * K;
}

struct whole_pack {
    gemm_pack_panel *pack_panel;
    const float *A;
    size_t a_row, a_col, M, K;
    float *out;
};

/* Part `part` of the panels, in each block of columns: gemm's
   blocks of op(A), one after another, as gemm_region would pack them. */
static void pack_part(void *context, size_t part, size_t parts)
{
    const struct whole_pack *w = context;
    size_t first, last, rows = round_up(w->M, GEMM_MR);
    pool_share(rows / GEMM_MR, part, parts, &first, &last);
    size_t begin = first * GEMM_MR, end = smaller(w->M, last * GEMM_MR);
    size_t kc_step = gemm_kc(w->K);
    for (size_t p = 0; begin < end && p < w->K; p += kc_step) {
        size_t kc = smaller(kc_step, w->K - p);
        pack(w->pack_panel, w->A + begin * w->a_row + p * w->a_col, w->a_row, w->a_col, end - begin,
             kc, GEMM_MR, w->out + p * rows + begin * kc);
    }
}

void gemm_pack_a(int TA, size_t M, size_t K, const float *A, size_t lda, float *out)
{
    struct whole_pack w = {transposing_pack(), A, TA ? 1 : lda, TA ? lda : 1, M, K, out};
    size_t panels = round_up(M, GEMM_MR) / GEMM_MR;
    size_t parts = M * K < GEMM_THREADED_PACK ? 1 : smaller(pool_threads(), panels);
    pool_run(pack_part, &w, parts);
}

int gemm_packs(void)
{
    return ds_get_kernel() != DS_KERNEL_SCALAR;
}

int gemm_with(int TA, int TB, size_t M, size_t N, size_t K, float ALPHA, const float *A, size_t lda,
              const float *B, size_t ldb, float BETA, float *C, size_t ldc, const gemm_hooks *hooks)
{
    if (!gemm_packs()) {
        gemm_loops(TA, TB, M, N, K, ALPHA, A, lda, B, ldb, BETA, C, ldc);
        if (hooks->finish) hooks->finish(hooks->finish_context, C, ldc, 0, M, N);
        return DS_OK;
    }
    struct gemm_plan plan;
    if (plan_gemm(M, N, K, hooks->serial, &plan) != DS_OK) return DS_ERR_NOMEM;
    struct gemm_work work = {.M = M,
                             .N = N,
                             .K = K,
                             .ALPHA = ALPHA,
                             .BETA = BETA,
                             .A = A,
                             .B = B,
                             .a_row = TA ? 1 : lda,
                             .a_col = TA ? lda : 1,
                             .b_row = TB ? ldb : 1,
                             .b_col = TB ? 1 : ldb,
                             .C = C,
                             .ldc = ldc,
                             .hooks = *hooks,
                             .plan = plan};
    choose_kernels(&work);
    pool_run(gemm_part, &work, plan.parts);
    free(plan.panels);
    return DS_OK;
}

int gemm(int TA, int TB, size_t M, size_t N, size_t K, float ALPHA, const float *A, size_t lda,
         const float *B, size_t ldb, float BETA, float *C, size_t ldc)
{
    gemm_hooks none = {0};
    return gemm_with(TA, TB, M, N, K, ALPHA, A, lda, B, ldb, BETA, C, ldc, &none);
}
