/* Internal: the vector kernels, written once against vector.h and compiled
   once per instruction set, eight lanes wide (LANES): the row kernels of
   vector_kernels_rows.h, and the kernels over groups side by side, one a
   lane, which it shares its helpers with. The including file defines
   VK(name), which gives each function its instruction set's suffix, and
   includes vector.h first; it gets the tables VK(row_kernels),
   VK(packed_kernels) and VK(lane_kernels). No include guard: each
   vector_kernels_*.c includes it, once. */

#include "vector_kernels_rows.h"
/* The longest groups end to end the packed kernels take through
   vector_kernels_columns.h's transposes. AVX2 takes groups of 9 to 16
   there, where it gathered them into lanes or took the row kernel
   (alternated calls over (16384, n): softmax 1.6x faster at 10 values,
   2.3x at 16); longer ones it takes a row at a time, since the transposes'
   copy for any n lost there (softmax_backward of 20 values 18% slower).
   The portable transpose goes through memory: it takes none (10 values 18
   to 25% slower), and compiles none (its copies for each n took minutes). */
#if defined(DS_VECTOR_AVX2)
#define COLUMNS_TRANSPOSED 16
#endif
/* After the rows: it takes their helpers. */
#include "vector_kernels_columns.h"

_Static_assert(LANES == LANES_PER_VECTOR, "the lane kernels are eight lanes wide");

/* Up to eight groups anywhere: gathered loads, scalar stores. Small groups
   keep their values on the stack; larger ones gather them twice. */
enum { LANE_SCRATCH = 64 };

static void VK(lanes_gathered)(const float *x, const int32_t *index, size_t count, size_t n,
                               size_t stride, float temp, float *output)
{
    scaling s = VK(scaling_for)(temp);
    float kept[LANE_SCRATCH * LANES];
    float y[LANES];
    int keep = n <= LANE_SCRATCH;
    vf largest = vf_set1(-INFINITY);
    for (size_t j = 0; j < n; ++j) {
        vf v = vf_gather(x + j * stride, index);
        if (keep) vf_store(kept + j * LANES, v);
        largest = vf_max(largest, v);
    }
    vsum sum = vsum_zero();
    for (size_t j = 0; j < n; ++j) {
        vf v = keep ? vf_load(kept + j * LANES) : vf_gather(x + j * stride, index);
        vf e = VK(exp_of)(v, largest, &s);
        if (keep) vf_store(kept + j * LANES, e);
        sum = vsum_add(sum, e);
    }
    vf scale = vsum_reciprocal(sum);
    for (size_t j = 0; j < n; ++j) {
        vf e = keep ? vf_load(kept + j * LANES)
                    : VK(exp_of)(vf_gather(x + j * stride, index), largest, &s);
        vf_store(y, vf_mul(e, scale));
        for (size_t l = 0; l < count; ++l) output[index[l] + j * stride] = y[l];
    }
}

/* log_softmax of eight groups side by side, values stride apart. The sum is
   of coarse exps (within 3.2e-6, but exp(0) = 1 exactly), so its log is
   within 3.2e-6*(1 - 1/sum) of log(sum), plus the double sum's roundings
   (2^-53 of the sum a term): a third of the tolerance (1e-6 +
   1e-5*|y|) of the output nearest 0, y = -log(sum), and 3.2e-6 of it. The
   log is taken of the sum as a float plus its remainder, so that a sum
   near 1 keeps its small log. The blocks compute each lane the same way,
   so that a group's result does not depend on which of the two it took. */
static ALWAYS_INLINE void VK(log_lanes_scaled)(const float *x, size_t n, size_t stride,
                                               const scaling *s, float *output)
{
    vf largest = vf_set1(-INFINITY);
    for (size_t j = 0; j < n; ++j) largest = vf_max(largest, vf_load(x + j * stride));
    vf log_sum = VK(log_of)(VK(column_sum)(x, n, stride, largest, s, NULL));
    for (size_t j = 0; j < n; ++j) {
        vf v = VK(shifted)(vf_load(x + j * stride), largest, s);
        vf_store(output + j * stride, vf_sub(v, log_sum));
    }
}

static void VK(log_softmax_lanes)(const float *input, size_t n, size_t stride, float temp,
                                  float *output)
{
    scaling s = VK(scaling_for)(temp);
    VK(log_lanes_scaled)(input, n, stride, &s, output);
}

/* Up to eight groups of n <= 8 contiguous values, group l at p + index[l],
   through a tile of eight vectors (vector j holds value j of each group):
   eight row loads and a transpose in place of n gathers. Lanes past count
   repeat group 0. */
typedef struct {
    const int32_t *index; /* unread where packed */
    size_t count, n;
    int packed; /* the groups lie end to end, group l at l*n */
    int more;   /* packed, and a whole vector from the last group on may be read */
} tiling;

static inline tiling VK(tiling_for)(const int32_t *index, size_t count, size_t n)
{
    tiling t = {.index = index, .count = count, .n = n, .packed = 1};
    for (size_t l = 0; l < count; ++l) t.packed &= index[l] == (int32_t)(l * n);
    return t;
}

static inline size_t VK(tiling_at)(const tiling *t, size_t l)
{
    return t->packed ? l * t->n : (size_t)t->index[l];
}

/* Packed groups load whole vectors where those stay within the groups (or
   where more says they may run past them). */
static ALWAYS_INLINE void VK(tiling_rows_in)(const tiling *t, const float *p, vf *r)
{
    for (size_t l = 0; l < LANES; ++l) {
        size_t at = VK(tiling_at)(t, l < t->count ? l : 0);
        int whole = t->packed && (t->more || at + LANES <= t->count * t->n);
        r[l] = whole ? vf_load(p + at) : vf_load_first(p + at, t->n);
    }
    vf_transpose(r);
}

/* Packed groups store whole vectors that run into the groups after them
   (whose own stores, later, put those right), except past the last. */
static ALWAYS_INLINE void VK(tiling_rows_out)(const tiling *t, vf *r, float *p)
{
    vf_transpose(r);
    for (size_t l = 0; l < t->count; ++l) {
        size_t at = VK(tiling_at)(t, l);
        if (t->packed && at + LANES <= t->count * t->n) vf_store(p + at, r[l]);
        else vf_store_part(p + at, r[l], t->n);
    }
}

static ALWAYS_INLINE void VK(tiling_in)(const tiling *t, const float *p, float *tile)
{
    vf r[LANES];
    VK(tiling_rows_in)(t, p, r);
    for (size_t j = 0; j < LANES; ++j) vf_store(tile + j * LANES, r[j]);
}

static ALWAYS_INLINE void VK(tiling_out)(const tiling *t, const float *tile, float *p)
{
    vf r[LANES];
    for (size_t j = 0; j < LANES; ++j) r[j] = j < t->n ? vf_load(tile + j * LANES) : vf_set1(0);
    VK(tiling_rows_out)(t, r, p);
}

static ALWAYS_INLINE void VK(backward_group)(const layout *a, const float *y, const float *dy,
                                             float temp, int add, float *dx)
{
    vsum dot = vsum_zero();
    vf errors = vf_set1(0);
    for (size_t j = 0; j < a->vectors; ++j) {
        VK(dot_add)(VK(get)(a, y, j, 0), VK(get)(a, dy, j, 0), &dot, &errors);
    }
    vf low, high = VK(group_total)(a, VK(dot_exact)(dot, errors), &low);
    for (size_t j = 0; j < a->vectors; ++j) {
        vf d = add ? VK(get)(a, dx, j, 0) : high;
        vf v =
            VK(backward_value)(VK(get)(a, y, j, 0), VK(get)(a, dy, j, 0), high, low, temp, add, d);
        VK(put)(a, dx, j, v);
    }
}

/* --- groups of n <= 8 contiguous values, eight at a time through a tiling --- */

/* The softmax (or, with log, log_softmax) of a tiling's groups, in
   registers (n a constant, so that they stay there). Every load comes
   before any store, so the output may be the input. */
static ALWAYS_INLINE void VK(softmax_tiled)(const tiling *t, const float *input, const scaling *s,
                                            int log, float *output)
{
    vf r[LANES];
    VK(tiling_rows_in)(t, input, r);
    if (log) VK(log_softmax_columns)(r, t->n, s);
    else VK(softmax_columns)(r, t->n, s);
    /* Zeros past the groups' values: a constant the compiler folds into the
       transpose back. */
    for (size_t j = t->n; j < LANES; ++j) r[j] = vf_set1(0);
    VK(tiling_rows_out)(t, r, output);
}

/* The softmax backward of a tiling's groups, in registers as softmax_tiled. */
static ALWAYS_INLINE void VK(backward_tiled)(const tiling *t, const float *y, const float *dy,
                                             float temp, int add, float *dx)
{
    size_t n = t->n;
    vf ry[LANES], rdy[LANES], rdx[LANES];
    VK(tiling_rows_in)(t, y, ry);
    VK(tiling_rows_in)(t, dy, rdy);
    if (add) VK(tiling_rows_in)(t, dx, rdx);
    vf low, high = VK(backward_dot)(ry, rdy, n, &low);
    for (size_t j = 0; j < LANES; ++j) {
        if (j >= n) rdx[j] = vf_set1(0);
        else rdx[j] = VK(backward_value)(ry[j], rdy[j], high, low, temp, add, add ? rdx[j] : high);
    }
    VK(tiling_rows_out)(t, rdx, dx);
}

/* One block of up to eight groups from x (y for the backward, other its dy)
   into output (dx). */
static ALWAYS_INLINE void VK(tiled_block)(enum column_op op, const tiling *t, const float *x,
                                          const float *other, const scaling *s, float temp,
                                          float *output)
{
    switch (op) {
    case COLUMN_SOFTMAX: VK(softmax_tiled)(t, x, s, 0, output); break;
    case COLUMN_LOG_SOFTMAX: VK(softmax_tiled)(t, x, s, 1, output); break;
    case COLUMN_BACKWARD_SET: VK(backward_tiled)(t, x, other, temp, 0, output); break;
    case COLUMN_BACKWARD_ADD: VK(backward_tiled)(t, x, other, temp, 1, output); break;
    }
}

/* count groups of n values: with index, count (1 to 8) groups at index[l]
   from each pointer; without, any count end to end, in blocks of eight,
   each row loaded whole wherever the groups go on past it. Such whole
   blocks take a constant tiling, so that their loops unroll and their
   tests fold away. */
static ALWAYS_INLINE void VK(tiled_n)(enum column_op op, const int32_t *index, const float *x,
                                      const float *other, size_t count, const size_t n, float temp,
                                      float *output)
{
    scaling s = VK(scaling_for)(temp);
    const tiling whole = {.count = LANES, .n = n, .packed = 1, .more = 1};
    for (size_t k = 0; k < count; k += LANES) {
        size_t left = count - k;
        tiling t = {.count = left < LANES ? left : LANES,
                    .n = n,
                    .packed = 1,
                    .more = (LANES - 1) * n + LANES <= left * n};
        if (index) t = VK(tiling_for)(index, count, n);
        const float *dy = other ? other + k * n : NULL;
        if (!index && t.more) VK(tiled_block)(op, &whole, x + k * n, dy, &s, temp, output + k * n);
        else VK(tiled_block)(op, &t, x + k * n, dy, &s, temp, output + k * n);
    }
}

/* One copy of the above for each n (1 to 8). */
static void VK(tiled)(enum column_op op, const int32_t *index, const float *x, const float *other,
                      size_t count, size_t n, float temp, float *output)
{
#define TILED_N(k) VK(tiled_n)(op, index, x, other, count, k, temp, output)
    switch (n) {
        CASES_OF_8(TILED_N, 1)
    }
#undef TILED_N
}

static void VK(softmax_backward_lanes)(const float *y, const float *dy, const int32_t *index,
                                       size_t count, size_t n, size_t stride, float temp, int add,
                                       float *dx)
{
    if (index && stride == 1 && n <= LANES) {
        VK(tiled)(add ? COLUMN_BACKWARD_ADD : COLUMN_BACKWARD_SET, index, y, dy, count, n, temp,
                  dx);
        return;
    }
    layout a = VK(lanes_layout)(index, count, n, stride);
    VK(backward_group)(&a, y, dy, temp, add, dx);
}

static void VK(softmax_x_ent_exact_lanes)(const float *pred, const float *truth,
                                          const int32_t *index, size_t count, size_t n,
                                          size_t stride, float temp, float *delta, float *error)
{
    if (index && stride == 1 && n <= LANES) {
        tiling t = VK(tiling_for)(index, count, n);
        layout a = VK(tile_layout)(n);
        float tp[LANES * LANES], tt[LANES * LANES];
        VK(tiling_in)(&t, pred, tp);
        VK(tiling_in)(&t, truth, tt);
        VK(x_ent_exact_group)(&a, tp, tt, temp, tp, tt);
        VK(tiling_out)(&t, tp, delta);
        VK(tiling_out)(&t, tt, error);
        return;
    }
    layout a = VK(lanes_layout)(index, count, n, stride);
    VK(x_ent_exact_group)(&a, pred, truth, temp, delta, error);
}

/* log_softmax over up to eight groups anywhere: gathered (or, short and
   contiguous, tiled) into scratch (n*8 floats, at least 64) side by side,
   computed there by the lanes kernel, scattered back. */
static void VK(log_softmax_gathered)(const float *input, const int32_t *index, size_t count,
                                     size_t n, size_t stride, float temp, float *output,
                                     float *scratch)
{
    if (index && stride == 1 && n <= LANES) {
        VK(tiled)(COLUMN_LOG_SOFTMAX, index, input, NULL, count, n, temp, output);
        return;
    }
    scaling s = VK(scaling_for)(temp);
    layout a = VK(lanes_layout)(index, count, n, stride);
    for (size_t j = 0; j < n; ++j) vf_store(scratch + j * LANES, VK(get)(&a, input, j, 0));
    VK(log_lanes_scaled)(scratch, n, LANES, &s, scratch);
    for (size_t j = 0; j < n; ++j) VK(put)(&a, output, j, vf_load(scratch + j * LANES));
}

/* count (1 to 8) groups of n values, group l from offset[l], step stride.
   The caller makes sure offset[l] - min(offset) fits in int32_t. */
static void VK(softmax_lanes)(const float *input, const size_t *offset, size_t count, size_t n,
                              size_t stride, float temp, float *output)
{
    size_t low = offset[0];
    int contiguous = count == LANES;
    for (size_t l = 1; l < count; ++l) {
        contiguous &= offset[l] == offset[0] + l;
        if (offset[l] < low) low = offset[l];
    }
    scaling s = VK(scaling_for)(temp);
    if (contiguous) {
        VK(lanes_contiguous)(input + low, n, stride, &s, output + low);
        return;
    }
    int32_t index[LANES];
    for (size_t l = 0; l < LANES; ++l) index[l] = (int32_t)(offset[l < count ? l : 0] - low);
    if (stride == 1 && n <= LANES) {
        VK(tiled)(COLUMN_SOFTMAX, index, input + low, NULL, count, n, temp, output + low);
        return;
    }
    VK(lanes_gathered)(input + low, index, count, n, stride, temp, output + low);
}

/* Groups end to end of up to eight values take the tiles, through the
   copies for each n that the groups at an index take too. */
static ALWAYS_INLINE void VK(short_n)(enum column_op op, const float *x, const float *other,
                                      size_t count, const size_t n, float temp, float *output)
{
    VK(tiled)(op, NULL, x, other, count, n, temp, output);
}

/* count positions side by side, one a lane: the class axis runs down
   through memory, inner floats a step, so every load is a whole vector. */
static double VK(cross_entropy_lanes)(const struct cross_entropy *c, size_t o, size_t i,
                                      size_t count)
{
    size_t n = c->classes, stride = c->inner;
    const float *z = c->logits + o * n * stride + i;
    float *g = c->grad + o * n * stride + i;
    scaling s = VK(scaling_for)(c->temp);
    vf largest = vf_set1(-INFINITY);
    for (size_t k = 0; k < n; ++k)
        largest = vf_max(largest, VK(tile_load)(z + k * stride, 0, count));
    vsum sum = vsum_zero(), dot = vsum_zero();
    for (size_t k = 0; k < n; ++k) {
        vf v = VK(tile_load)(z + k * stride, 0, count);
        sum = vsum_add(sum, VK(exp_of)(v, largest, &s));
        if (c->smooth != 0)
            dot = vsum_add(dot, VK(weighted_shift)(c, v, largest, VK(class_weight)(c, k)));
    }
    lane_terms t;
    double total = VK(lane_losses)(c, o * stride + i, count, z, stride, largest, sum, dot, &t);
    for (size_t k = 0; k < n; ++k) {
        vf e = VK(exp_of)(VK(tile_load)(z + k * stride, 0, count), largest, &s);
        VK(tile_store)(g + k * stride, 0, count, VK(lane_grad)(c, &t, e, k));
    }
    return total;
}

const struct lane_kernels VK(lane_kernels) = {
    .softmax_lanes = VK(softmax_lanes),
    .log_softmax_lanes = VK(log_softmax_lanes),
    .log_softmax_gathered = VK(log_softmax_gathered),
    .softmax_backward_lanes = VK(softmax_backward_lanes),
    .softmax_x_ent_exact_lanes = VK(softmax_x_ent_exact_lanes),
    .cross_entropy_lanes = VK(cross_entropy_lanes),
};
