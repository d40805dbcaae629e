/* Internal: the kernels over contiguous values (and over positions side by
   side: a strided axis's blocks and tiles, a tree's rows), written once
   against vector.h and compiled once per instruction set, at its widest
   vectors (LANES floats). The including file defines VK(name), which gives
   each function its instruction set's suffix, and includes vector.h first;
   it gets the table VK(row_kernels). No include guard: each
   vector_kernels_*.c includes it, once. */

#include "tree.h"
#include "vector_kernels.h"

_Static_assert(LANES <= MAX_LANES && LANES % LANES_PER_VECTOR == 0,
               "blas_vector.c holds a vector's lanes of rows in MAX_LANES, and splits "
               "a block of them into the lane kernels' blocks");

/* exp((x - largest)/temp). The quotient's rounding would add up to 5e-6 to
   the relative error of the smallest probabilities, so its exact remainder
   goes into the exponent too (dropped for a subnormal temp, whose inverse
   overflows). Temperature 1 needs none of it. */
typedef struct {
    int divide;
    vf temp, inverse;
} scaling;

static inline scaling VK(scaling_for)(float temp)
{
    float inverse = 1.0f / temp;
    return (scaling){.divide = temp != 1.0f,
                     .temp = vf_set1(temp),
                     .inverse = vf_set1(inverse <= 3.0e38f ? inverse : 0)};
}

static ALWAYS_INLINE vf VK(exp_of)(vf x, vf largest, const scaling *s)
{
    vf d = vf_sub(x, largest);
    if (!s->divide) return vf_exp_nonpositive(d);
    vf q = vf_div(d, s->temp);
    vf correction = vf_mul(vf_remainder(d, q, s->temp), s->inverse);
    return vf_exp_nonpositive_corrected(q, correction);
}

static float VK(row_max)(const float *x, size_t n)
{
    vf m0 = vf_set1(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
    size_t i = 0;
    for (; i + 4 * LANES <= n; i += 4 * LANES) {
        m0 = vf_max(m0, vf_load(x + i));
        m1 = vf_max(m1, vf_load(x + i + LANES));
        m2 = vf_max(m2, vf_load(x + i + 2 * LANES));
        m3 = vf_max(m3, vf_load(x + i + 3 * LANES));
    }
    for (; i + LANES <= n; i += LANES) m0 = vf_max(m0, vf_load(x + i));
    if (i < n) m1 = vf_max(m1, vf_load_part(x + i, n - i, -INFINITY));
    return vf_hmax(vf_max(vf_max(m0, m1), vf_max(m2, m3)));
}

/* The floats of a 4-byte aligned output before its first `boundary`-byte
   boundary (a power of 2), at most n: where streaming stores can start. */
static inline size_t floats_before(const float *output, size_t n, uintptr_t boundary)
{
    size_t i = (size_t)((boundary - ((uintptr_t)output & (boundary - 1))) & (boundary - 1))
               / sizeof(float);
    return i < n ? i : n;
}

/* The part of a row that goes around the cache: whole vectors [head, end)
   from its first STREAM_ALIGNMENT boundary, at how far its stores have
   come; the floats before head and from end are stored as usual. */
typedef struct streamed {
    size_t head, at, end;
} streamed;

static inline streamed VK(streamed_part)(const float *output, size_t n)
{
    size_t head = floats_before(output, n, STREAM_ALIGNMENT);
    return (streamed){head, head, head + (n - head) / LANES * LANES};
}

/* Where the next `count` floats (a whole number of vectors) of s stop. */
static inline size_t streamed_stop(const streamed *s, size_t count)
{
    return s->at + count < s->end ? s->at + count : s->end;
}

/* A row whose output goes around the cache while the next row's exps are
   computed: its exps times scale. */
typedef struct scaled_row {
    const float *exps;
    float *output;
    float scale;
    streamed part;
} scaled_row;

/* The next `count` floats (a whole number of vectors) of p's streamed part. */
static ALWAYS_INLINE void VK(scaled_stream)(scaled_row *p, size_t count)
{
    vf s = vf_set1(p->scale);
    size_t *at = &p->part.at;
    for (size_t stop = streamed_stop(&p->part, count); *at < stop; *at += LANES)
        vf_stream(p->output + *at, vf_mul(vf_load(p->exps + *at), s));
}

/* Four vectors of row_exps from x + i, while the same stretch of the next
   row comes into cache; returns their float sum. */
static ALWAYS_INLINE vf VK(exps4)(const float *x, size_t i, vf m, const scaling *s, float *exps,
                                  const float *next)
{
    /* Each 64-byte line of the stretch. */
    for (size_t k = 0; next && k < 4 * LANES; k += 16) prefetch(next + i + k);
    vf e0 = VK(exp_of)(vf_load(x + i), m, s);
    vf e1 = VK(exp_of)(vf_load(x + i + LANES), m, s);
    vf e2 = VK(exp_of)(vf_load(x + i + 2 * LANES), m, s);
    vf e3 = VK(exp_of)(vf_load(x + i + 3 * LANES), m, s);
    vf_store(exps + i, e0);
    vf_store(exps + i + LANES, e1);
    vf_store(exps + i + 2 * LANES, e2);
    vf_store(exps + i + 3 * LANES, e3);
    return vf_add(vf_add(e0, e1), vf_add(e2, e3));
}

/* exps[i] = exp((x[i] - largest)/temp); returns their sum, kept in double
   (each run of eight vectors is added in float first, pairwise: at most 3
   roundings, 2e-7). With next, the row there comes into cache meanwhile,
   so that fetching it overlaps the arithmetic of this one; with pending
   (or NULL), eight vectors of its streamed part go beside each eight of
   exps, so that those stores overlap it too. */
static double VK(row_exps)(const float *x, size_t n, float largest, float temp, float *exps,
                           const float *next, scaled_row *pending)
{
    scaling s = VK(scaling_for)(temp);
    vf m = vf_set1(largest);
    vsum sum = vsum_zero();
    size_t i = 0;
    for (; i + 8 * LANES <= n; i += 8 * LANES) {
        if (pending) VK(scaled_stream)(pending, 8 * LANES);
        vf low = VK(exps4)(x, i, m, &s, exps, next);
        vf high = VK(exps4)(x, i + 4 * LANES, m, &s, exps, next);
        sum = vsum_add(sum, vf_add(low, high));
    }
    if (i + 4 * LANES <= n) {
        sum = vsum_add(sum, VK(exps4)(x, i, m, &s, exps, next));
        i += 4 * LANES;
    }
    for (; i + LANES <= n; i += LANES) {
        vf e = VK(exp_of)(vf_load(x + i), m, &s);
        vf_store(exps + i, e);
        sum = vsum_add(sum, e);
    }
    if (i < n) {
        vf e = vf_keep(VK(exp_of)(vf_load_part(x + i, n - i, largest), m, &s), n - i);
        vf_store_part(exps + i, e, n - i);
        sum = vsum_add(sum, e);
    }
    return vsum_total(sum);
}

static void VK(row_scale)(const float *exps, size_t n, float scale, float *output)
{
    vf s = vf_set1(scale);
    size_t i = 0;
    for (; i + LANES <= n; i += LANES) vf_store(output + i, vf_mul(vf_load(exps + i), s));
    if (i < n) vf_store_part(output + i, vf_mul(vf_load_part(exps + i, n - i, 0), s), n - i);
}

static void VK(softmax_row)(const float *input, size_t n, float temp, float *output)
{
    float largest = VK(row_max)(input, n);
    float scale = (float)(1.0 / VK(row_exps)(input, n, largest, temp, output, NULL, NULL));
    VK(row_scale)(output, n, scale, output);
}

/* The row at output (n floats), its exps times scale, as a scaled_row. */
static inline scaled_row VK(scaled_start)(const float *exps, size_t n, float scale, float *output)
{
    return (scaled_row){exps, output, scale, VK(streamed_part)(output, n)};
}

/* The rest of p's row: its streamed part, and the floats around it. */
static void VK(scaled_finish)(scaled_row *p, size_t n)
{
    size_t end = p->part.end;
    VK(row_scale)(p->exps, p->part.head, p->scale, p->output);
    VK(scaled_stream)(p, n);
    VK(row_scale)(p->exps + end, n - end, p->scale, p->output + end);
}

/* Rows far larger than the cache: the max of row r (fetched into cache while
   row r-1 computed), then its exps into one half of scratch while row r+1
   is fetched and row r-1's output (its exps in the other half) goes around
   the cache; the last row's output after. scratch holds 2n floats; the
   output is 4-byte aligned. */
static void VK(softmax_rows_stream)(const float *input, const size_t *offset, size_t count,
                                    size_t n, float temp, float *output, float *scratch)
{
    scaled_row pending;
    for (size_t r = 0; r < count; ++r) {
        const float *x = input + offset[r];
        const float *next = r + 1 < count ? input + offset[r + 1] : NULL;
        float *exps = scratch + r % 2 * n, largest = VK(row_max)(x, n);
        double sum = VK(row_exps)(x, n, largest, temp, exps, next, r ? &pending : NULL);
        if (r) VK(scaled_finish)(&pending, n);
        pending = VK(scaled_start)(exps, n, (float)(1.0 / sum), output + offset[r]);
    }
    if (count) VK(scaled_finish)(&pending, n);
    stream_fence();
}

/* --- log_softmax: (x - largest)/temp - log(sum(exp)), the sum in double --- */

/* (x - m)/temp, exactly as the scaling's exp sees it at temperature 1. */
static inline vf VK(shifted)(vf x, vf m, const scaling *s)
{
    vf d = vf_sub(x, m);
    return s->divide ? vf_div(d, s->temp) : d;
}

/* The coarse exp (vf_exp_coarse, within 3.2e-6) of x shifted: for a sum
   whose log alone is kept (log_lanes_scaled gives the bound). */
static ALWAYS_INLINE vf VK(exp_coarse_of)(vf x, vf m, const scaling *s)
{
    return vf_exp_coarse(VK(shifted)(x, m, s));
}

/* A row whose output goes around the cache while the next row's sum is
   computed: (x - largest)/temp - log_sum. */
typedef struct log_row {
    const float *x;
    float *y;
    float largest, log_sum;
    vf m, l; /* largest and log_sum in every lane */
    streamed part;
} log_row;

/* The next `count` floats (a whole number of vectors) of p's streamed part. */
static ALWAYS_INLINE void VK(log_stream)(log_row *p, size_t count, const scaling *s)
{
    size_t *at = &p->part.at;
    for (size_t stop = streamed_stop(&p->part, count); *at < stop; *at += LANES)
        vf_stream(p->y + *at, vf_sub(VK(shifted)(vf_load(p->x + *at), p->m, s), p->l));
}

/* log(sum(exp((x - largest)/temp))) over a row, while next (or NULL), the
   row after it, comes into cache, and pending's streamed output (or NULL)
   goes beside the exps, a vector of one for each of the other. The exps
   are coarse, as the lanes' and the blocks' (log_lanes_scaled gives the
   bound): the exact exp made W1's log_softmax about 9% slower. Each run
   of eight vectors is added in float first, pairwise, where a double add
   a vector (two conversions and two adds) made W1's and W2's log_softmax
   9 to 14% slower; those sums leave out the exps of the largest value
   (exactly 1: a lane with one would round away what is added to it), and
   count them instead. So the float sums hold only sum - (count of the
   largest), a part of it each: 3 roundings, within 1.8e-7 of that part,
   and the output nearest 0, -log(sum), keeps its relative error. */
static float VK(row_log_sum)(const float *x, size_t n, float largest, const scaling *s,
                             const float *next, log_row *pending)
{
    vf m = vf_set1(largest), one = vf_set1(1);
    vsum sum = vsum_zero();
    vf others = vf_set1(0);
    /* A lane counts in float up to 2^24 exactly: longer rows add their
       exps a vector at a time past that. */
    size_t runs_end = n < ((size_t)LANES << 24) ? n : (size_t)LANES << 24;
    size_t i = 0;
    for (; i + 8 * LANES <= runs_end; i += 8 * LANES) {
        for (size_t k = 0; next && k < 8 * LANES; k += 16) prefetch(next + i + k);
        if (pending) VK(log_stream)(pending, 8 * LANES, s);
        vf e[8]; /* each exp, but 0 where it is that of the largest value */
        for (size_t k = 0; k < 8; ++k) {
            vf d = VK(shifted)(vf_load(x + i + k * LANES), m, s);
            e[k] = vf_where_nonzero(d, vf_exp_coarse(d));
            others = vf_add(others, vf_where_nonzero(d, one));
        }
        vf low = vf_add(vf_add(e[0], e[1]), vf_add(e[2], e[3]));
        vf high = vf_add(vf_add(e[4], e[5]), vf_add(e[6], e[7]));
        sum = vsum_add(sum, vf_add(low, high));
    }
    /* exp(0) = 1 for each largest value the runs left out. */
    double largest_exps = (double)i - vsum_total(vsum_add(vsum_zero(), others));
    for (; i + LANES <= n; i += LANES) {
        if (next) prefetch(next + i);
        if (pending) VK(log_stream)(pending, LANES, s);
        sum = vsum_add(sum, VK(exp_coarse_of)(vf_load(x + i), m, s));
    }
    if (i < n) {
        vf e = VK(exp_coarse_of)(vf_load_part(x + i, n - i, largest), m, s);
        sum = vsum_add(sum, vf_keep(e, n - i));
    }
    return (float)log(vsum_total(sum) + largest_exps);
}

/* output = (x - largest)/temp - log_sum over n values. */
static ALWAYS_INLINE void VK(log_row_out)(const float *x, size_t n, float largest, float log_sum,
                                          const scaling *s, float *output)
{
    vf m = vf_set1(largest), l = vf_set1(log_sum);
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        vf_store(output + i, vf_sub(VK(shifted)(vf_load(x + i), m, s), l));
    if (i < n) {
        vf v = vf_sub(VK(shifted)(vf_load_part(x + i, n - i, largest), m, s), l);
        vf_store_part(output + i, v, n - i);
    }
}

static void VK(log_softmax_row)(const float *input, size_t n, float temp, float *output)
{
    scaling s = VK(scaling_for)(temp);
    float largest = VK(row_max)(input, n);
    float log_sum = VK(row_log_sum)(input, n, largest, &s, NULL, NULL);
    VK(log_row_out)(input, n, largest, log_sum, &s, output);
}

/* The row at x, its output at y, as a log_row. */
static inline log_row VK(log_start)(const float *x, float *y, size_t n, float largest,
                                    float log_sum)
{
    return (log_row){
        x, y, largest, log_sum, vf_set1(largest), vf_set1(log_sum), VK(streamed_part)(y, n)};
}

/* The rest of p's row: its streamed part, and the floats around it. */
static void VK(log_finish)(log_row *p, size_t n, const scaling *s)
{
    size_t end = p->part.end;
    VK(log_row_out)(p->x, p->part.head, p->largest, p->log_sum, s, p->y);
    VK(log_stream)(p, n, s);
    VK(log_row_out)(p->x + end, n - end, p->largest, p->log_sum, s, p->y + end);
}

/* log_softmax_row over count rows, row r from offset[r], for an output far
   larger than the cache (and not the input): row r's sum while row r+1
   comes into cache and row r-1's output goes around the cache (so that
   those stores overlap the sum's arithmetic); the last row's output after. */
static void VK(log_softmax_rows_stream)(const float *input, const size_t *offset, size_t count,
                                        size_t n, float temp, float *output)
{
    scaling s = VK(scaling_for)(temp);
    log_row pending;
    for (size_t r = 0; r < count; ++r) {
        const float *x = input + offset[r], *next = r + 1 < count ? input + offset[r + 1] : NULL;
        float largest = VK(row_max)(x, n);
        float log_sum = VK(row_log_sum)(x, n, largest, &s, next, r ? &pending : NULL);
        if (r) VK(log_finish)(&pending, n, &s);
        pending = VK(log_start)(x, output + offset[r], n, largest, log_sum);
    }
    if (count) VK(log_finish)(&pending, n, &s);
    stream_fence();
}

/* Each lane's log of its sum: log(high) + low/high, high the sum rounded to
   float and low the remainder. */
static inline vf VK(log_of)(vsum sum)
{
    vf low, high = vsum_split(sum, &low);
    return vf_add(vf_log(high), vf_div(low, high));
}

/* --- positions side by side, each with its classes stride apart: vector v
   of a row holds positions [v*LANES, (v+1)*LANES) --- */

static inline size_t VK(tile_vectors)(size_t count)
{
    return (count + LANES - 1) / LANES;
}

/* Vector v of count positions from row: whole, or its first lanes (0 past count). */
static inline vf VK(tile_load)(const float *row, size_t v, size_t count)
{
    size_t left = count - v * LANES;
    return left >= LANES ? vf_load(row + v * LANES) : vf_load_first(row + v * LANES, left);
}

static inline void VK(tile_store)(float *row, size_t v, size_t count, vf value)
{
    size_t left = count - v * LANES;
    if (left >= LANES) vf_store(row + v * LANES, value);
    else vf_store_part(row + v * LANES, value, left);
}

/* --- blocks: up to BLOCK_POSITIONS positions side by side, each with n
   classes stride apart, walked row by row: a row's stretch of the block is
   one contiguous run, so the hardware prefetchers follow one stream, not n
   (rows a multiple of 4 KB apart, n at once, defeat them and the TLB), and
   the block stays in cache from one pass to the next. --- */

enum { BLOCK_VECTORS = BLOCK_POSITIONS / LANES };

/* count floats from p into cache. */
static inline void VK(prefetch_run)(const float *p, size_t count)
{
    for (size_t f = 0; f < count; f += 64 / sizeof(float)) prefetch(p + f); /* a cache line */
}

/* count (up to LANES) values of the pending block's output, from position
   i of its row x: with log, each lane as log_lanes_scaled, else the exact
   exp times the reciprocal of the sum, as the lane kernels' softmax. */
static ALWAYS_INLINE vf VK(pending_values)(const struct pending_block *p, const float *x, size_t i,
                                           size_t count, const scaling *s, int log)
{
    vf value, largest, term;
    if (count == LANES) {
        value = vf_load(x + i), largest = vf_load(p->largest + i), term = vf_load(p->term + i);
    } else {
        value = vf_load_first(x + i, count), largest = vf_load_first(p->largest + i, count);
        term = vf_load_first(p->term + i, count);
    }
    if (log) return vf_sub(VK(shifted)(value, largest, s), term);
    return vf_mul(VK(exp_of)(value, largest, s), term);
}

/* Positions [from, to) of the pending block's row x, to y. */
static ALWAYS_INLINE void VK(pending_store)(const struct pending_block *p, const float *x, float *y,
                                            size_t from, size_t to, const scaling *s, int log)
{
    for (size_t i = from; i < to; i += LANES) {
        size_t left = to - i < LANES ? to - i : LANES;
        if (left == LANES) vf_store(y + i, VK(pending_values)(p, x, i, LANES, s, log));
        else vf_store_part(y + i, VK(pending_values)(p, x, i, left, s, log), left);
    }
}

/* Row k of the pending block's output. With stream, its whole cache lines
   go around the cache; the lines it shares with the blocks beside it (its
   stretch of a row starts anywhere) are stored as usual, since streaming
   part of a line costs a read of the line in memory. */
static ALWAYS_INLINE void VK(pending_row)(const struct pending_block *p, size_t k, size_t stride,
                                          const scaling *s, int stream, int log)
{
    const float *x = p->input + k * stride;
    float *y = p->output + k * stride;
    enum { LINE = 64 / sizeof(float) };
    size_t head = stream ? floats_before(y, p->count, 64) : 0;
    size_t lines = stream ? head + (p->count - head) / LINE * LINE : 0;
    VK(pending_store)(p, x, y, 0, head, s, log);
    for (size_t i = head; i < lines; i += LANES)
        vf_stream(y + i, VK(pending_values)(p, x, i, LANES, s, log));
    VK(pending_store)(p, x, y, lines, p->count, s, log);
}

/* softmax (log_softmax with log) of count (0 to BLOCK_POSITIONS)
   positions, a call behind: the max pass, then the sum pass, which writes
   the pending block's output row by row beside its exps (the stores, to
   memory, would otherwise wait in a pass of their own) and fetches the
   next block's input, its row's vector beside each vector of exps (asked
   for a row at a time, the lines queued behind the few that a core fetches
   at once: 7 to 9% slower on the SSD head's shape), and its output unless
   streamed. The softmax computes its exact exps twice, for the sum and for
   the output, where keeping them would take a block of scratch in cache. */
static ALWAYS_INLINE void VK(block)(const float *input, size_t n, size_t stride, size_t count,
                                    float temp, float *output, const float *next, int stream,
                                    struct pending_block *pending, int log)
{
    scaling s = VK(scaling_for)(temp);
    size_t vectors = VK(tile_vectors)(count);
    const float *next_out = next && !stream ? output + (next - input) : NULL;
    vf largest[BLOCK_VECTORS];
    vsum sums[BLOCK_VECTORS];
    for (size_t v = 0; v < vectors; ++v) largest[v] = vf_set1(-INFINITY), sums[v] = vsum_zero();
    for (size_t k = 0; k < n && count; ++k) {
        const float *x = input + k * stride;
        for (size_t v = 0; v < vectors; ++v)
            largest[v] = vf_max(largest[v], VK(tile_load)(x, v, count));
    }
    for (size_t k = 0; k < n; ++k) {
        if (next_out) VK(prefetch_run)(next_out + k * stride, count);
        if (pending->count) VK(pending_row)(pending, k, stride, &s, stream, log);
        for (size_t v = 0; v < vectors; ++v) {
            if (next) prefetch(next + k * stride + v * LANES);
            vf x = VK(tile_load)(input + k * stride, v, count);
            vf e = log ? VK(exp_coarse_of)(x, largest[v], &s) : VK(exp_of)(x, largest[v], &s);
            sums[v] = vsum_add(sums[v], e);
        }
    }
    for (size_t v = 0; v < vectors; ++v) {
        vf_store(pending->largest + v * LANES, largest[v]);
        vf term = log ? VK(log_of)(sums[v]) : vsum_reciprocal(sums[v]);
        vf_store(pending->term + v * LANES, term);
    }
    pending->input = input, pending->output = output, pending->count = count;
    if (stream) stream_fence();
}

static void VK(softmax_block)(const float *input, size_t n, size_t stride, size_t count, float temp,
                              float *output, const float *next, int stream,
                              struct pending_block *pending)
{
    VK(block)(input, n, stride, count, temp, output, next, stream, pending, 0);
}

static void VK(log_softmax_block)(const float *input, size_t n, size_t stride, size_t count,
                                  float temp, float *output, const float *next, int stream,
                                  struct pending_block *pending)
{
    VK(block)(input, n, stride, count, temp, output, next, stream, pending, 1);
}

/* -log(p) where t is not 0, else 0. A vector of truths that are all 0
   (most of them, where the truth is one-hot) takes no log. */
static ALWAYS_INLINE vf VK(x_ent_error)(vf p, vf t)
{
    if (vf_all_zero(t)) return vf_set1(0);
    return vf_where_nonzero(t, vf_sub(vf_set1(-0.0f), vf_log(p)));
}

static void VK(softmax_x_ent)(size_t n, const float *pred, const float *truth, float *delta,
                              float *error)
{
    size_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        vf p = vf_load(pred + i), t = vf_load(truth + i);
        vf_store(delta + i, vf_sub(t, p));
        vf_store(error + i, VK(x_ent_error)(p, t));
    }
    if (i < n) {
        vf p = vf_load_part(pred + i, n - i, 1), t = vf_load_part(truth + i, n - i, 0);
        vf_store_part(delta + i, vf_sub(t, p), n - i);
        vf_store_part(error + i, VK(x_ent_error)(p, t), n - i);
    }
}

/* --- softmax_backward and the exact loss, each written once for two
   layouts: a row of n contiguous values (vector j holds values LANES*j on),
   or up to LANES groups side by side (vector j holds value j of each, stride
   apart; lane l at index[l], or at l when index is NULL). --- */

typedef struct {
    int row;
    size_t vectors, tail; /* a row: its vectors, and the values of the last */
    size_t stride, count; /* side by side: the step, and how many lanes hold a group */
    const int32_t *index;
} layout;

static inline layout VK(row_layout)(size_t n)
{
    return (layout){.row = 1, .vectors = (n + LANES - 1) / LANES, .tail = (n - 1) % LANES + 1};
}

static inline layout VK(lanes_layout)(const int32_t *index, size_t count, size_t n, size_t stride)
{
    return (layout){.vectors = n, .stride = stride, .count = count, .index = index};
}

/* Vector j of the group at p; lanes that hold no value are fill (or, gathered,
   a copy of lane 0). */
static ALWAYS_INLINE vf VK(get)(const layout *a, const float *p, size_t j, float fill)
{
    if (a->row) {
        p += j * LANES;
        return j + 1 < a->vectors || a->tail == LANES ? vf_load(p) : vf_load_part(p, a->tail, fill);
    }
    p += j * a->stride;
    if (a->index) return vf_gather(p, a->index);
    return a->count == LANES ? vf_load(p) : vf_load_part(p, a->count, fill);
}

static ALWAYS_INLINE void VK(put)(const layout *a, float *p, size_t j, vf v)
{
    size_t count = a->row ? (j + 1 < a->vectors ? LANES : a->tail) : a->count;
    p += a->row ? j * LANES : j * a->stride;
    if (!a->index) {
        if (count == LANES) vf_store(p, v);
        else vf_store_part(p, v, count);
        return;
    }
    float values[LANES];
    vf_store(values, v);
    for (size_t l = 0; l < count; ++l) p[a->index[l]] = values[l];
}

/* Each group's sum, in every lane of its group (all lanes of a row), as a
   float plus the float remainder (*low) that the rounding dropped. */
static ALWAYS_INLINE vf VK(group_total)(const layout *a, vsum s, vf *low)
{
    if (!a->row) return vsum_split(s, low);
    double total = vsum_total(s);
    float high = (float)total;
    *low = vf_set1((float)(total - high));
    return vf_set1(high);
}

/* dx += y*(dy - dot)/temp with dot = sum(dy*y) (blas.c's softmax_backward;
   dx = ... without add, when dx is not read). dot is exact but for its
   double sum: each product's rounding error, which an FMA gives exactly
   (vf_remainder), is summed beside it. It is subtracted as a float plus the
   remainder, so that dy - dot loses nothing where the two are close, as in
   the scalar path's double. */
static ALWAYS_INLINE void VK(dot_add)(vf u, vf v, vsum *dot, vf *errors)
{
    vf product = vf_mul(u, v);
    *dot = vsum_add(*dot, product);
    *errors = vf_add(*errors, vf_remainder(product, u, v));
}

/* The dot's sums with the errors taken out. */
static inline vsum VK(dot_exact)(vsum dot, vf errors)
{
    return vsum_add(dot, vf_sub(vf_set1(0), errors));
}

/* One vector of the result, from y, dy and the dot as a float (high) plus
   its remainder (low); dx is read only with add. */
static ALWAYS_INLINE vf VK(backward_value)(vf y, vf dy, vf high, vf low, float temp, int add, vf dx)
{
    vf v = vf_mul(y, vf_sub(vf_sub(dy, high), low));
    if (temp != 1.0f) v = vf_div(v, vf_set1(temp));
    return add ? vf_add(dx, v) : v;
}

/* A row whose dx goes around the cache while the next row's dot is
   computed: dx = backward_value. */
typedef struct backward_row {
    const float *y, *dy;
    float *dx;
    vf high, low;
    float temp;
    streamed part;
} backward_row;

/* The next `count` floats (a whole number of vectors) of p's streamed part. */
static ALWAYS_INLINE void VK(backward_stream)(backward_row *p, size_t count)
{
    size_t *at = &p->part.at;
    for (size_t stop = streamed_stop(&p->part, count); *at < stop; *at += LANES) {
        vf y = vf_load(p->y + *at), dy = vf_load(p->dy + *at);
        vf_stream(p->dx + *at, VK(backward_value)(y, dy, p->high, p->low, p->temp, 0, p->high));
    }
}

/* A row's dot in two chains of sums, so that their adds overlap. With
   pending (or NULL), two vectors of its streamed dx go beside each two of
   the dot; with next (0: none), the row that far on comes into cache
   meanwhile. */
static double VK(row_dot)(const float *y, const float *dy, size_t n, backward_row *pending,
                          ptrdiff_t next)
{
    vsum dot0 = vsum_zero(), dot1 = dot0;
    vf errors0 = vf_set1(0), errors1 = errors0;
    size_t i = 0;
    for (; i + 2 * LANES <= n; i += 2 * LANES) {
        if (pending) VK(backward_stream)(pending, 2 * LANES);
        for (size_t k = 0; next && k < 2 * LANES; k += 16) { /* each 64-byte line */
            prefetch(y + next + i + k);
            prefetch(dy + next + i + k);
        }
        VK(dot_add)(vf_load(y + i), vf_load(dy + i), &dot0, &errors0);
        VK(dot_add)(vf_load(y + i + LANES), vf_load(dy + i + LANES), &dot1, &errors1);
    }
    if (i + LANES <= n) {
        VK(dot_add)(vf_load(y + i), vf_load(dy + i), &dot0, &errors0);
        i += LANES;
    }
    if (i < n)
        VK(dot_add)(vf_load_part(y + i, n - i, 0), vf_load_part(dy + i, n - i, 0), &dot1, &errors1);
    return vsum_total(VK(dot_exact)(dot0, errors0)) + vsum_total(VK(dot_exact)(dot1, errors1));
}

/* The row's output pass, one copy for each of add and temp 1, so that
   neither is tested a vector. */
static ALWAYS_INLINE void VK(row_backward_out)(const float *y, const float *dy, size_t n, vf high,
                                               vf low, float temp, int add, float *dx)
{
    size_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        vf d = add ? vf_load(dx + i) : high;
        vf_store(dx + i,
                 VK(backward_value)(vf_load(y + i), vf_load(dy + i), high, low, temp, add, d));
    }
    if (i < n) {
        vf d = add ? vf_load_part(dx + i, n - i, 0) : high;
        vf v = VK(backward_value)(vf_load_part(y + i, n - i, 0), vf_load_part(dy + i, n - i, 0),
                                  high, low, temp, add, d);
        vf_store_part(dx + i, v, n - i);
    }
}

/* A row's dot as a float (high) plus its remainder (low), in every lane. */
static inline void VK(row_dot_split)(const float *y, const float *dy, size_t n, vf *high, vf *low,
                                     backward_row *pending, ptrdiff_t next)
{
    double dot = VK(row_dot)(y, dy, n, pending, next);
    float h = (float)dot;
    *high = vf_set1(h);
    *low = vf_set1((float)(dot - h));
}

static void VK(softmax_backward_row)(const float *y, const float *dy, size_t n, float temp, int add,
                                     float *dx)
{
    vf h, low;
    VK(row_dot_split)(y, dy, n, &h, &low, NULL, 0);
    if (temp == 1.0f) {
        if (add) VK(row_backward_out)(y, dy, n, h, low, 1.0f, 1, dx);
        else VK(row_backward_out)(y, dy, n, h, low, 1.0f, 0, dx);
    } else if (add) {
        VK(row_backward_out)(y, dy, n, h, low, temp, 1, dx);
    } else {
        VK(row_backward_out)(y, dy, n, h, low, temp, 0, dx);
    }
}

/* The row of y, dy and dx as a backward_row, given its dot split. */
static inline backward_row VK(backward_start)(const float *y, const float *dy, float *dx, size_t n,
                                              vf high, vf low, float temp)
{
    return (backward_row){y, dy, dx, high, low, temp, VK(streamed_part)(dx, n)};
}

/* The rest of p's row: its streamed part, and the floats around it. */
static void VK(backward_finish)(backward_row *p, size_t n)
{
    size_t end = p->part.end;
    VK(row_backward_out)(p->y, p->dy, p->part.head, p->high, p->low, p->temp, 0, p->dx);
    VK(backward_stream)(p, n);
    VK(row_backward_out)(p->y + end, p->dy + end, n - end, p->high, p->low, p->temp, 0,
                         p->dx + end);
}

/* Rows this long fetch the next row's y and dy while they compute theirs
   (W4's rows of 10000: 7 to 15% faster in A/B runs; W2's rows of 256 no
   faster). */
enum { BACKWARD_PREFETCH_ROW = 1024 };

/* softmax_backward_row's set over count rows, row r from offset[r] in y,
   dy and dx: row r's dot while row r-1's dx goes around the cache (so that
   those stores overlap the dot's arithmetic) and row r+1 comes into cache;
   the last row's dx after. */
static void VK(softmax_backward_rows_stream)(const float *y, const float *dy, const size_t *offset,
                                             size_t count, size_t n, float temp, float *dx)
{
    backward_row pending;
    for (size_t r = 0; r < count; ++r) {
        size_t at = offset[r];
        int fetch = r + 1 < count && n >= BACKWARD_PREFETCH_ROW;
        ptrdiff_t next = fetch ? (ptrdiff_t)offset[r + 1] - (ptrdiff_t)at : 0;
        vf h, low;
        VK(row_dot_split)(y + at, dy + at, n, &h, &low, r ? &pending : NULL, next);
        if (r) VK(backward_finish)(&pending, n);
        pending = VK(backward_start)(y + at, dy + at, dx + at, n, h, low, temp);
    }
    if (count) VK(backward_finish)(&pending, n);
    stream_fence();
}

/* The exact loss (blas.c's softmax_x_ent_exact): labels = the sum of the
   unmasked truths; delta = (t - p*labels)/temp and error = -t*log(p) where t
   is not SECRET_NUM (t - SECRET_NUM is 0 exactly where t is), 0 elsewhere.
   Each vector is read before it is written, so delta may be pred and error
   truth. */
/* Vector j of the exact loss, given each value's group sum of labels as a
   float (sum) plus its remainder (low). */
static ALWAYS_INLINE void VK(x_ent_exact_vector)(const layout *a, size_t j, const float *pred,
                                                 const float *truth, vf sum, vf low, float temp,
                                                 float *delta, float *error)
{
    vf p = VK(get)(a, pred, j, 1), t = VK(get)(a, truth, j, 0);
    vf kept = vf_sub(t, vf_set1((float)SECRET_NUM)), product = vf_mul(p, sum);
    /* t - p*labels as the scalar path's double gives it: t - product is
       exact where the two are close, and the product's rounding error and p
       times the sum's remainder go back in. */
    vf d = vf_sub(vf_add(vf_sub(t, product), vf_remainder(product, p, sum)), vf_mul(p, low));
    if (temp != 1.0f) d = vf_div(d, vf_set1(temp));
    VK(put)(a, delta, j, vf_where_nonzero(kept, d));
    if (vf_all_zero(t)) { /* no label here, so no log (see x_ent_error) */
        VK(put)(a, error, j, vf_set1(0));
        return;
    }
    vf e = vf_sub(vf_set1(-0.0f), vf_mul(t, vf_log(p)));
    VK(put)(a, error, j, vf_where_nonzero(t, vf_where_nonzero(kept, e)));
}

static ALWAYS_INLINE void VK(x_ent_exact_group)(const layout *a, const float *pred,
                                                const float *truth, float temp, float *delta,
                                                float *error)
{
    vf secret = vf_set1((float)SECRET_NUM);
    vsum labels = vsum_zero();
    for (size_t j = 0; j < a->vectors; ++j) {
        vf t = VK(get)(a, truth, j, 0);
        if (!vf_all_zero(t)) labels = vsum_add(labels, vf_where_nonzero(vf_sub(t, secret), t));
    }
    vf low, sum = VK(group_total)(a, labels, &low);
    for (size_t j = 0; j < a->vectors; ++j) {
        VK(x_ent_exact_vector)(a, j, pred, truth, sum, low, temp, delta, error);
    }
}

static void VK(softmax_x_ent_exact_row)(const float *pred, const float *truth, size_t n, float temp,
                                        float *delta, float *error)
{
    layout a = VK(row_layout)(n);
    VK(x_ent_exact_group)(&a, pred, truth, temp, delta, error);
}

/* --- tree groups: LANES rows side by side, one a lane, each row's groups
   tiling its columns --- */

/* LANES groups whose element j sits at x[l + j*stride] for lane l: every
   load and store is a whole vector. Inlined, so that the tree's walk, which
   calls it on groups of every size, has its stride as a constant. */
enum { FLOAT_SUM_MAX = 32 };

static ALWAYS_INLINE void VK(lanes_contiguous)(const float *x, size_t n, size_t stride,
                                               const scaling *s, float *output)
{
    vf largest = vf_load(x);
    for (size_t j = 1; j < n; ++j) largest = vf_max(largest, vf_load(x + j * stride));
    /* Up to FLOAT_SUM_MAX terms the float sum is within 2e-6 (31 roundings),
       well inside the probabilities' 1e-5: no double needed. */
    int in_float = n <= FLOAT_SUM_MAX;
    vsum sum = vsum_zero();
    vf float_sum = vf_set1(0);
    for (size_t j = 0; j < n; ++j) {
        vf e = VK(exp_of)(vf_load(x + j * stride), largest, s);
        vf_store(output + j * stride, e);
        if (in_float) float_sum = vf_add(float_sum, e);
        else sum = vsum_add(sum, e);
    }
    vf scale = in_float ? vf_div(vf_set1(1), float_sum) : vsum_reciprocal(sum);
    for (size_t j = 0; j < n; ++j) {
        vf_store(output + j * stride, vf_mul(vf_load(output + j * stride), scale));
    }
}

/* n rows of width floats (a multiple of LANES), from rows `from` apart to rows
   `to` apart. */
static void VK(copy_rows)(const float *x, size_t from, size_t n, size_t width, float *y, size_t to)
{
    for (size_t j = 0; j < n; ++j) {
        for (size_t i = 0; i < width; i += LANES)
            vf_store(y + j * to + i, vf_load(x + j * from + i));
    }
}

/* Columns [c, c + LANES) of the rows (fewer at the end) into scratch (at
   column c), transposed. LANES rows (twice as many, with the truth) are
   more streams than the hardware prefetcher follows: each row asks for its
   values this far ahead. */
enum { TREE_PREFETCH = 128 };

/* The block's rows, transposed, to scratch: whole or the first width
   columns. Inlined with width a constant (LANES) for whole blocks, so that
   r stays in registers: with a variable width GCC keeps r in memory and
   copies it out with rep movsq (the exact layer's forward over the 9k tree,
   batch 64: fastest call 2.3 to 2.8 ms against 2.8 to 3.4, in alternated
   runs). */
static ALWAYS_INLINE void VK(columns_in)(const float *input, const size_t *row, size_t c,
                                         size_t width, float *scratch)
{
    vf r[LANES];
    for (size_t l = 0; l < LANES; ++l) {
        const float *x = input + row[l] + c;
        prefetch(x + TREE_PREFETCH);
        r[l] = width == LANES ? vf_load(x) : vf_load_first(x, width);
    }
    vf_transpose(r);
    for (size_t j = 0; j < width; ++j) vf_store(scratch + j * LANES, r[j]);
}

static void VK(tree_columns_in)(const float *input, const size_t *row, size_t columns, size_t c,
                                float *scratch)
{
    if (columns - c >= LANES) VK(columns_in)(input, row, c, LANES, scratch);
    else VK(columns_in)(input, row, c, columns - c, scratch);
}

/* And back out, to the first count rows, as columns_in, each row asking
   for its lines that far ahead: a store must read its line first, and
   without the prefetch each store to LANES rows (three times as many, with
   the exact loss) waited on that read. The exact layer's forward over the
   9k tree, batch 64, took about three times as long (medians of calls
   alternated in one process); a prefetch for writing (PREFETCHW) measured
   no faster than this one. */
static ALWAYS_INLINE void VK(columns_out)(const float *scratch, const size_t *row, size_t count,
                                          size_t c, size_t width, float *output)
{
    vf r[LANES];
    for (size_t j = 0; j < LANES; ++j) r[j] = vf_load(scratch + (j < width ? j : 0) * LANES);
    vf_transpose(r);
    for (size_t l = 0; l < count; ++l) {
        prefetch(output + row[l] + c + TREE_PREFETCH);
        if (width == LANES) vf_store(output + row[l] + c, r[l]);
        else vf_store_part(output + row[l] + c, r[l], width);
    }
}

static void VK(tree_columns_out)(const float *scratch, const size_t *row, size_t count,
                                 size_t columns, size_t c, float *output)
{
    if (columns - c >= LANES && count == LANES)
        VK(columns_out)(scratch, row, LANES, c, LANES, output);
    else if (columns - c >= LANES) VK(columns_out)(scratch, row, count, c, LANES, output);
    else VK(columns_out)(scratch, row, count, c, columns - c, output);
}

/* LANES groups of n values side by side, one vector a value (the tree's
   transposed rows). */
static inline layout VK(tile_layout)(size_t n)
{
    return VK(lanes_layout)(NULL, LANES, n, LANES);
}

/* What runs on LANES rows' transposed columns: the softmax, the exact
   loss on a softmax's output, or both. Array k of in comes into area k of
   scratch, and out[k] goes out of area k: the softmax has its input and
   output in area 0; the loss its pred and delta in area 0, its truth and
   error in area 1; both put the delta in area 2. */
typedef struct {
    const float *in[2];
    float *out[3];
    size_t ins, outs;
    int softmax, loss;
    float temp;
} tree_pass;

/* One group of n values at x in each lane, in place, each area area floats
   further on. */
static ALWAYS_INLINE void VK(tree_group)(const tree_pass *p, float *x, size_t n, size_t area,
                                         const scaling *s)
{
    if (p->softmax) VK(lanes_contiguous)(x, n, LANES, s, x);
    if (p->loss) {
        layout a = VK(tile_layout)(n);
        float *delta = p->outs == 3 ? x + 2 * area : x;
        VK(x_ent_exact_group)(&a, x, x + area, p->temp, delta, x + area);
    }
}

/* LANES rows (lanes past count repeat row 0) of groups that tile columns
   [0, columns) one after another. The rows go through scratch transposed,
   LANES columns at a time: a group runs on whole vectors, whatever its
   size, once its last column is in, and columns go back out once every
   group they hold is done. Each column goes out only after it came in, so
   an output may be an input. Scratch holds an area of window*LANES floats
   per array (window a multiple of LANES, at least the largest group +
   2*LANES, so that it stays in cache): a window of columns from base,
   which moves up, the columns not yet out taken along, when the next LANES
   do not fit. */
static ALWAYS_INLINE void VK(tree_rows)(const tree_pass *p, const size_t *row, size_t count,
                                        size_t columns, size_t window, const size_t *group_size,
                                        size_t groups, float *scratch)
{
    scaling s = VK(scaling_for)(p->temp);
    size_t area = window * LANES, areas = p->ins > p->outs ? p->ins : p->outs;
    size_t g = 0, start = 0, out = 0, base = 0;
    for (size_t in = 0; in < columns; in += LANES) {
        if (in + LANES > base + window) {
            for (size_t k = 0; k < areas; ++k)
                VK(copy_rows)(scratch + k * area + (out - base) * LANES, LANES, in - out, LANES,
                              scratch + k * area, LANES);
            base = out;
        }
        for (size_t k = 0; k < p->ins; ++k)
            VK(tree_columns_in)(p->in[k], row, columns, in,
                                scratch + k * area + (in - base) * LANES);
        size_t ready = in + LANES < columns ? in + LANES : columns;
        for (; g < groups && start + group_size[g] <= ready; start += group_size[g++]) {
            float *x = scratch + (start - base) * LANES;
            if (group_size[g]) VK(tree_group)(p, x, group_size[g], area, &s);
        }
        for (; out < columns && (out + LANES <= start || start == columns); out += LANES) {
            for (size_t k = 0; k < p->outs; ++k)
                VK(tree_columns_out)(scratch + k * area + (out - base) * LANES, row, count, columns,
                                     out, p->out[k]);
        }
    }
}

static void VK(softmax_tree_rows)(const float *input, const size_t *row, size_t count,
                                  size_t columns, size_t window, const size_t *group_size,
                                  size_t groups, float temp, float *output, float *scratch)
{
    tree_pass p = {.in = {input}, .out = {output}, .ins = 1, .outs = 1, .softmax = 1, .temp = temp};
    VK(tree_rows)(&p, row, count, columns, window, group_size, groups, scratch);
}

static void VK(softmax_x_ent_exact_tree_rows)(const float *pred, const float *truth,
                                              const size_t *row, size_t count, size_t columns,
                                              size_t window, const size_t *group_size,
                                              size_t groups, float temp, float *delta, float *error,
                                              float *scratch)
{
    tree_pass p = {
        .in = {pred, truth}, .out = {delta, error}, .ins = 2, .outs = 2, .loss = 1, .temp = temp};
    VK(tree_rows)(&p, row, count, columns, window, group_size, groups, scratch);
}

static void VK(softmax_tree_x_ent_exact_rows)(const float *input, const float *truth,
                                              const size_t *row, size_t count, size_t columns,
                                              size_t window, const size_t *group_size,
                                              size_t groups, float temp, float *output,
                                              float *delta, float *error, float *scratch)
{
    tree_pass p = {.in = {input, truth},
                   .out = {output, error, delta},
                   .ins = 2,
                   .outs = 3,
                   .softmax = 1,
                   .loss = 1,
                   .temp = temp};
    VK(tree_rows)(&p, row, count, columns, window, group_size, groups, scratch);
}

/* --- the fused softmax cross-entropy (blas.c has the scalar version and
   the formulas): the logits are read for the max, then for the sum, then
   for the gradient, which is written once. --- */

/* The weights of classes [k, k + count) (count up to LANES; 1 without weights,
   0 past count). */
static inline vf VK(class_weights)(const struct cross_entropy *c, size_t k, size_t count)
{
    if (!c->weight) return vf_keep(vf_set1(1), count);
    return count == LANES ? vf_load(c->weight + k) : vf_load_part(c->weight + k, count, 0);
}

/* The smoothing term's sum(w_k*(z_k - largest)) over one vector (terms of
   weight 0 left out, as the scalar path leaves them out). */
static inline vf VK(weighted_shift)(const struct cross_entropy *c, vf x, vf m, vf w)
{
    vf d = vf_sub(x, m);
    return c->weight ? vf_where_nonzero(w, vf_mul(d, w)) : d;
}

static double VK(cross_entropy_row)(const struct cross_entropy *c, size_t r, const float *next)
{
    size_t n = c->classes;
    const float *z = c->logits + r * n;
    float *g = c->grad + r * n;
    int64_t label = c->labels[r];
    if (c->has_ignore && label == c->ignore_index) {
        size_t i = 0;
        for (; i + LANES <= n; i += LANES) vf_store(g + i, vf_set1(0));
        if (i < n) vf_store_part(g + i, vf_set1(0), n - i);
        if (c->losses) c->losses[r] = 0;
        return 0;
    }
    scaling s = VK(scaling_for)(c->temp);
    int smoothing = c->smooth != 0;
    float largest = VK(row_max)(z, n);
    vf m = vf_set1(largest);
    vsum sum = vsum_zero(), dot = vsum_zero();
    size_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        if (next) prefetch(next + i);
        vf x = vf_load(z + i);
        sum = vsum_add(sum, VK(exp_of)(x, m, &s));
        if (smoothing)
            dot = vsum_add(dot, VK(weighted_shift)(c, x, m, VK(class_weights)(c, i, LANES)));
    }
    if (i < n) {
        vf x = vf_load_part(z + i, n - i, largest);
        sum = vsum_add(sum, vf_keep(VK(exp_of)(x, m, &s), n - i));
        if (smoothing)
            dot = vsum_add(dot, VK(weighted_shift)(c, x, m, VK(class_weights)(c, i, n - i)));
    }
    double total = vsum_total(sum);
    double w_label = c->weight ? c->weight[label] : 1.0;
    double s_label = ((double)z[label] - largest) / c->temp;
    double target_sum = c->keep * w_label + c->smooth * c->weight_sum;
    double dot_total = c->keep * w_label * s_label;
    if (smoothing) dot_total += c->smooth * vsum_total(dot) / c->temp;
    double loss = c->scale * (target_sum * log(total) - dot_total);
    if (c->losses) c->losses[r] = (float)loss;
    double factor = c->scale / c->temp;
    vf coef_p = vf_set1((float)(factor * target_sum / total));
    vf coef_w = vf_set1((float)(factor * c->smooth));
    /* The label's own term, subtracted from its lane only. */
    float pick[LANES] = {0};
    size_t label_block = (size_t)label / LANES * LANES;
    pick[(size_t)label - label_block] = (float)(factor * c->keep * w_label);
    int stream = c->stream && ((uintptr_t)g & (STREAM_ALIGNMENT - 1)) == 0;
    for (i = 0; i + LANES <= n; i += LANES) {
        vf v = vf_mul(VK(exp_of)(vf_load(z + i), m, &s), coef_p);
        if (smoothing) v = vf_sub(v, vf_mul(coef_w, VK(class_weights)(c, i, LANES)));
        if (i == label_block) v = vf_sub(v, vf_load(pick));
        if (stream) vf_stream(g + i, v);
        else vf_store(g + i, v);
    }
    if (i < n) {
        vf v = vf_mul(VK(exp_of)(vf_load_part(z + i, n - i, largest), m, &s), coef_p);
        if (smoothing) v = vf_sub(v, vf_mul(coef_w, VK(class_weights)(c, i, n - i)));
        if (i == label_block) v = vf_sub(v, vf_load(pick));
        vf_store_part(g + i, v, n - i);
    }
    return loss;
}

static double VK(cross_entropy_rows)(const struct cross_entropy *c, size_t begin, size_t end)
{
    double total = 0;
    for (size_t r = begin; r < end; ++r) {
        const float *next = r + 1 < end ? c->logits + (r + 1) * c->classes : NULL;
        total += VK(cross_entropy_row)(c, r, next);
    }
    if (c->stream) stream_fence();
    return total;
}

/* exp of the value at p less largest: with kept, exact and stored there;
   without, coarse (exp_coarse_of). */
static ALWAYS_INLINE vf VK(exp_at)(const float *p, vf largest, const scaling *s, float *kept)
{
    if (!kept) return VK(exp_coarse_of)(vf_load(p), largest, s);
    vf e = VK(exp_of)(vf_load(p), largest, s);
    vf_store(kept, e);
    return e;
}

/* Each lane's sum of exp_at, in double, over n values stride apart from p
   (kept, or NULL, likewise). */
static ALWAYS_INLINE vsum VK(column_sum)(const float *p, size_t n, size_t stride, vf largest,
                                         const scaling *s, float *kept)
{
    vsum sum = vsum_zero();
    for (size_t k = 0; k < n; ++k, p += stride, kept = kept ? kept + stride : NULL)
        sum = vsum_add(sum, VK(exp_at)(p, largest, s, kept));
    return sum;
}

/* --- the fused loss over a strided class axis, by tiles: up to
   TILE_POSITIONS positions side by side, each with n classes stride apart.
   Rows a multiple of 4 KB apart share a few cache sets and evict each other
   between passes, so each row's stretch is read once, into a contiguous
   tile (n rows of whole vectors), while the same stretch of the next tile
   comes into cache; every pass after runs on the tile. --- */

enum { TILE_VECTORS = TILE_POSITIONS / LANES };

/* count positions from x into tile, and each lane's largest class. next
   (or NULL) is where the next tile starts, in the same rows, and next_out
   where its output goes: both come into cache meanwhile, so that neither
   its loads nor its stores wait on memory. Written for any count, and
   copied for whole tiles, whose loops unroll and whose maxima stay in
   registers. */
static ALWAYS_INLINE void VK(tile_in_n)(const float *x, size_t n, size_t stride, size_t count,
                                        const float *next, const float *next_out, float *tile,
                                        vf *largest)
{
    size_t vectors = VK(tile_vectors)(count), width = vectors * LANES;
    vf m[TILE_VECTORS];
    for (size_t v = 0; v < vectors; ++v) m[v] = vf_set1(-INFINITY);
    for (size_t k = 0; k < n; ++k) {
        for (size_t f = 0; next && f < width; f += 64 / sizeof(float)) { /* a cache line */
            prefetch(next + k * stride + f);
            prefetch(next_out + k * stride + f);
        }
        for (size_t v = 0; v < vectors; ++v) {
            vf value = VK(tile_load)(x + k * stride, v, count);
            vf_store(tile + k * width + v * LANES, value);
            m[v] = vf_max(m[v], value);
        }
    }
    for (size_t v = 0; v < vectors; ++v) largest[v] = m[v];
}

static void VK(tile_in)(const float *x, size_t n, size_t stride, size_t count, const float *next,
                        const float *next_out, float *tile, vf *largest)
{
    if (count == TILE_POSITIONS)
        VK(tile_in_n)(x, n, stride, TILE_POSITIONS, next, next_out, tile, largest);
    else VK(tile_in_n)(x, n, stride, count, next, next_out, tile, largest);
}

/* Each lane's sum of exps over the classes, one column of the tile at a
   time, the exps exact and in place of the tile's values. */
static ALWAYS_INLINE void VK(tile_sums)(float *tile, size_t n, size_t vectors, const vf *largest,
                                        const scaling *s, vsum *sums)
{
    size_t width = vectors * LANES;
    for (size_t v = 0; v < vectors; ++v) {
        float *column = tile + v * LANES;
        sums[v] = VK(column_sum)(column, n, width, largest[v], s, column);
    }
}

/* Class k's weight in every lane (1 without weights). */
static inline vf VK(class_weight)(const struct cross_entropy *c, size_t k)
{
    return vf_set1(c->weight ? c->weight[k] : 1.0f);
}

/* One vector of positions' terms of the gradient, lane by lane. */
typedef struct {
    vf coef, pick, valid, label;
} lane_terms;

/* The losses of count (1 to LANES) positions side by side from position, whose
   classes start at x, step apart, from each lane's largest, sum of exps and
   (with smoothing) sum of weighted shifts; returns their sum and sets t. */
static double VK(lane_losses)(const struct cross_entropy *c, size_t position, size_t count,
                              const float *x, size_t step, vf largest, vsum sum, vsum dot,
                              lane_terms *t)
{
    const int64_t *labels = c->labels + position;
    float at_label[LANES], weight[LANES], valid[LANES], label_lane[LANES];
    for (size_t l = 0; l < LANES; ++l) {
        int kept = l < count && !(c->has_ignore && labels[l] == c->ignore_index);
        size_t label = kept ? (size_t)labels[l] : 0;
        valid[l] = (float)kept;
        label_lane[l] = kept ? (float)label : -1;
        weight[l] = kept && c->weight ? c->weight[label] : 1;
        at_label[l] = kept ? x[label * step + l] : 0;
    }
    /* The rest a vector at a time, in float: a scalar log and division a
       position took a third of the loss's time where the classes are few
       (21, a segmentation head's). */
    vf temp = vf_set1(c->temp), keep = vf_set1((float)c->keep);
    vf scale = vf_set1((float)c->scale), factor = vf_set1((float)(c->scale / c->temp));
    vf keep_w = vf_mul(keep, vf_load(weight));
    vf target = vf_add(keep_w, vf_set1((float)(c->smooth * c->weight_sum)));
    vf s_label = vf_div(vf_sub(vf_load(at_label), largest), temp);
    vf dot_total = vf_mul(keep_w, s_label);
    if (c->smooth != 0)
        dot_total =
            vf_add(dot_total, vf_div(vf_mul(vf_set1((float)c->smooth), vsum_floats(dot)), temp));
    vf ok = vf_load(valid);
    vf loss =
        vf_where_nonzero(ok, vf_mul(scale, vf_sub(vf_mul(target, VK(log_of)(sum)), dot_total)));
    if (c->losses) vf_store_part(c->losses + position, loss, count);
    *t = (lane_terms){
        .coef = vf_where_nonzero(ok, vf_mul(vf_mul(factor, target), vsum_reciprocal(sum))),
        .pick = vf_where_nonzero(ok, vf_mul(factor, keep_w)),
        .valid = ok,
        .label = vf_load(label_lane)};
    return vsum_total(vsum_add(vsum_zero(), loss));
}

/* The gradient of class k for one vector of positions, from their exps. */
static inline vf VK(lane_grad)(const struct cross_entropy *c, const lane_terms *t, vf e, size_t k)
{
    vf v = vf_mul(e, t->coef);
    if (c->smooth != 0) {
        vf coef_w = vf_set1((float)(c->scale / c->temp * c->smooth));
        v = vf_sub(v, vf_mul(coef_w, VK(class_weight)(c, k)));
    }
    /* pick where this class is the lane's label, 0 elsewhere */
    vf at_label = vf_sub(t->pick, vf_where_nonzero(vf_sub(t->label, vf_set1((float)k)), t->pick));
    return vf_where_nonzero(t->valid, vf_sub(v, at_label));
}

/* count (1 to TILE_POSITIONS) positions side by side, one a lane, by way
   of a tile (classes*TILE_POSITIONS floats of scratch): the logits are read
   once, the exps kept in the tile for the gradient. */
static double VK(cross_entropy_tile)(const struct cross_entropy *c, size_t o, size_t i,
                                     size_t count, float *tile)
{
    size_t n = c->classes, stride = c->inner;
    size_t vectors = VK(tile_vectors)(count), width = vectors * LANES;
    const float *z = c->logits + o * n * stride + i;
    float *g = c->grad + o * n * stride + i;
    int more = i + 2 * count <= stride;
    vf largest[TILE_VECTORS];
    vsum sums[TILE_VECTORS], dots[TILE_VECTORS];
    VK(tile_in)(z, n, stride, count, more ? z + count : NULL, more ? g + count : NULL, tile,
                largest);
    for (size_t v = 0; v < vectors; ++v) {
        dots[v] = vsum_zero();
        for (size_t k = 0; c->smooth != 0 && k < n; ++k) {
            vf x = vf_load(tile + k * width + v * LANES);
            dots[v] =
                vsum_add(dots[v], VK(weighted_shift)(c, x, largest[v], VK(class_weight)(c, k)));
        }
    }
    scaling s = VK(scaling_for)(c->temp);
    VK(tile_sums)(tile, n, vectors, largest, &s, sums);
    lane_terms t[TILE_VECTORS];
    double total = 0;
    for (size_t v = 0; v < vectors; ++v) {
        size_t lanes = count - v * LANES < LANES ? count - v * LANES : LANES;
        total += VK(lane_losses)(c, o * stride + i + v * LANES, lanes, z + v * LANES, stride,
                                 largest[v], sums[v], dots[v], &t[v]);
    }
    for (size_t k = 0; k < n; ++k) {
        for (size_t v = 0; v < vectors; ++v) {
            vf e = vf_load(tile + k * width + v * LANES);
            VK(tile_store)(g + k * stride, v, count, VK(lane_grad)(c, &t[v], e, k));
        }
    }
    return total;
}

/* y += alpha*x with the product rounded to float first, as Darknet's loop and
   the scalar path compute it: a product that overflows is inf on every path. */
static void VK(axpy)(size_t n, float alpha, const float *x, float *y)
{
    vf a = vf_set1(alpha);
    size_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        vf_store(y + i, vf_add(vf_mul(a, vf_load(x + i)), vf_load(y + i)));
    }
    if (i < n) {
        vf v = vf_add(vf_mul(a, vf_load_part(x + i, n - i, 0)), vf_load_part(y + i, n - i, 0));
        vf_store_part(y + i, v, n - i);
    }
}

static double VK(sum)(const float *a, size_t n)
{
    vsum s0 = vsum_zero(), s1 = vsum_zero();
    size_t i = 0;
    for (; i + 2 * LANES <= n; i += 2 * LANES) {
        s0 = vsum_add(s0, vf_load(a + i));
        s1 = vsum_add(s1, vf_load(a + i + LANES));
    }
    for (; i + LANES <= n; i += LANES) s0 = vsum_add(s0, vf_load(a + i));
    if (i < n) s1 = vsum_add(s1, vf_load_part(a + i, n - i, 0));
    return vsum_total(s0) + vsum_total(s1);
}

const struct row_kernels VK(row_kernels) = {
    .softmax_row = VK(softmax_row),
    .softmax_rows_stream = VK(softmax_rows_stream),
    .log_softmax_row = VK(log_softmax_row),
    .log_softmax_rows_stream = VK(log_softmax_rows_stream),
    .softmax_block = VK(softmax_block),
    .log_softmax_block = VK(log_softmax_block),
    .softmax_x_ent = VK(softmax_x_ent),
    .softmax_backward_row = VK(softmax_backward_row),
    .softmax_backward_rows_stream = VK(softmax_backward_rows_stream),
    .softmax_x_ent_exact_row = VK(softmax_x_ent_exact_row),
    .lanes = LANES,
    .softmax_tree_rows = VK(softmax_tree_rows),
    .softmax_x_ent_exact_tree_rows = VK(softmax_x_ent_exact_tree_rows),
    .softmax_tree_x_ent_exact_rows = VK(softmax_tree_x_ent_exact_rows),
    .cross_entropy_rows = VK(cross_entropy_rows),
    .cross_entropy_tile = VK(cross_entropy_tile),
    .axpy = VK(axpy),
    .sum = VK(sum),
};
