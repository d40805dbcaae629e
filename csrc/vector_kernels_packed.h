/* Internal: the packed kernels (softmax, log_softmax and softmax_backward
   over groups of n <= 32 values lying end to end) at sixteen lanes, for
   AVX-512 only. A block of sixteen groups is n whole vectors as they lie in
   memory; for n <= 8 two-source permutes (vpermt2ps, which AVX2 lacks)
   make them n columns, column j holding value j of each group, and put
   columns back; longer groups load a row from each group's start and
   transpose sixteen rows by sixteen. AVX2's tiles (vector_kernels_impl.h),
   for n <= 8, load a row a group and transpose eight rows by eight: three
   times the shuffles a float of the permutes, and vectors half as wide.
   Each lane is computed as those tiles compute it, so that a group of 8 or
   fewer has the same bits on either. Groups of 9 to 15, gathered eight at
   a time into AVX2's lanes, and of 16 to 32, a row at a time through the
   row kernels, took three to four times as long (alternated calls over
   (16384, 10) and (16384, 16)), and twice as long at 20; softmax_backward
   of 20 and more takes as long either way, its exact dot ruling.
   vector_kernels_avx512.c includes this after vector_kernels_rows.h, whose
   helpers it takes. */

_Static_assert(LANES == 16, "the packed kernels' permutes are AVX-512's");

/* Up to PERMUTED_MAX values a group, the block's floats are permuted into
   columns; longer groups, up to PACKED_MAX, take sixteen rows, row l the
   floats from group l on, through a 16 x 16 transpose for each sixteen
   values: 4/n shuffles a float (for n <= 16), where the permutes take
   about n/16. */
enum { PERMUTED_MAX = 8, PERMUTED_PAIRS = PERMUTED_MAX / 2, PACKED_MAX = 2 * LANES };

/* Where a block's floats go. Column j takes lane g from float n*g + j, the
   float at column_at[j]'s lane g (vpermt2ps reads its low five bits) in the
   pair of vectors 2s and 2s + 1 whose lanes column_mask[j][s] names.
   Vector k takes lane l from float 16k + l, of group (16k + l)/n (lane
   group_at[k][l] of a column), value (16k + l) % n: lane natural_at[k][l]
   of the pair of columns 2t and 2t + 1 whose lanes natural_mask[k][t]
   names. */
typedef struct {
    size_t n, pairs;
    __m512i column_at[PERMUTED_MAX], natural_at[PERMUTED_MAX], group_at[PERMUTED_MAX];
    __mmask16 column_mask[PERMUTED_MAX][PERMUTED_PAIRS], natural_mask[PERMUTED_MAX][PERMUTED_PAIRS];
} packing;

static ALWAYS_INLINE packing VK(packing_for)(size_t n)
{
    packing p = {.n = n, .pairs = (n + 1) / 2};
    /* Column j and vector j, for each j < n. */
    for (size_t j = 0; j < n && n <= PERMUTED_MAX; ++j) {
        int32_t at[LANES], natural[LANES], group[LANES];
        for (size_t s = 0; s < p.pairs; ++s) p.column_mask[j][s] = p.natural_mask[j][s] = 0;
        for (size_t l = 0; l < LANES; ++l) {
            size_t from = n * l + j, to = LANES * j + l, value = to % n;
            at[l] = (int32_t)from;
            p.column_mask[j][from / (2 * LANES)] |= (__mmask16)(1u << l);
            group[l] = (int32_t)(to / n);
            natural[l] = (int32_t)(to / n + LANES * (value % 2));
            p.natural_mask[j][value / 2] |= (__mmask16)(1u << l);
        }
        p.column_at[j] = _mm512_loadu_si512(at);
        p.natural_at[j] = _mm512_loadu_si512(natural);
        p.group_at[j] = _mm512_loadu_si512(group);
    }
    return p;
}

/* Pair s of v's n vectors (the second the first again past the last). */
static ALWAYS_INLINE vf VK(pick)(const vf *v, size_t n, size_t s, __m512i at)
{
    return _mm512_permutex2var_ps(v[2 * s], at, v[2 * s + 1 < n ? 2 * s + 1 : 2 * s]);
}

/* out[i], for i < n: lane l from lane at[i][l] of a pair of v's n vectors,
   pair 0 or the last pair s whose mask[i][s] has lane l. */
static ALWAYS_INLINE void VK(regroup)(const packing *p, const vf *v, const __m512i *at,
                                      const __mmask16 (*mask)[PERMUTED_PAIRS], vf *out)
{
    for (size_t i = 0; i < p->n; ++i) {
        out[i] = VK(pick)(v, p->n, 0, at[i]);
        for (size_t s = 1; s < p->pairs; ++s)
            out[i] = _mm512_mask_mov_ps(out[i], mask[i][s], VK(pick)(v, p->n, s, at[i]));
    }
}

static ALWAYS_INLINE void VK(to_columns)(const packing *p, const vf *v, vf *column)
{
    VK(regroup)(p, v, p->column_at, p->column_mask, column);
}

static ALWAYS_INLINE void VK(from_columns)(const packing *p, const vf *column, vf *v)
{
    VK(regroup)(p, column, p->natural_at, p->natural_mask, v);
}

/* Each group's value of a column vector, in vector k's lanes of that group. */
static ALWAYS_INLINE vf VK(spread)(const packing *p, vf per_group, size_t k)
{
    return _mm512_permutexvar_ps(p->group_at[k], per_group);
}

/* The n vectors of a block holding `floats` (at most 16n) from x, zeros past them. */
static ALWAYS_INLINE void VK(packed_load)(const packing *p, const float *x, size_t floats, vf *v)
{
    for (size_t k = 0; k < p->n; ++k) {
        size_t at = k * LANES, left = floats > at ? floats - at : 0;
        v[k] = left >= LANES ? vf_load(x + at) : vf_load_first(x + at, left);
    }
}

static ALWAYS_INLINE void VK(packed_store)(const packing *p, float *y, size_t floats, const vf *v)
{
    for (size_t k = 0; k < p->n && k * LANES < floats; ++k) {
        size_t left = floats - k * LANES;
        if (left >= LANES) vf_store(y + k * LANES, v[k]);
        else vf_store_part(y + k * LANES, v[k], left);
    }
}

/* Row l, half h: the sixteen floats from value 16h of group l, whole where
   the floats from x that may be read (readable) hold them, else the
   group's alone; rows past the block's floats are zeros. */
static ALWAYS_INLINE void VK(rows_to_columns)(const packing *p, const float *x, size_t floats,
                                              size_t readable, vf *column)
{
    size_t n = p->n;
    for (size_t h = 0; h * LANES < n; ++h) {
        size_t values = n - h * LANES < LANES ? n - h * LANES : LANES;
        vf r[LANES];
        for (size_t l = 0; l < LANES; ++l) {
            size_t at = l * n + h * LANES;
            if (l * n >= floats) r[l] = vf_set1(0);
            else r[l] = at + LANES <= readable ? vf_load(x + at) : vf_load_first(x + at, values);
        }
        vf_transpose(r);
        for (size_t j = 0; j < values; ++j) column[h * LANES + j] = r[j];
    }
}

/* A group of fewer than sixteen stores its row whole, running into the
   next group, whose own store, later, puts it right (but none runs past
   the block's floats); the second half of a longer one stores its values
   alone, the next group's first half being stored already. */
static ALWAYS_INLINE void VK(columns_to_rows)(const packing *p, const vf *column, size_t floats,
                                              float *x)
{
    size_t n = p->n;
    for (size_t h = 0; h * LANES < n; ++h) {
        size_t values = n - h * LANES < LANES ? n - h * LANES : LANES;
        vf r[LANES];
        for (size_t j = 0; j < LANES; ++j) r[j] = j < values ? column[h * LANES + j] : vf_set1(0);
        vf_transpose(r);
        for (size_t l = 0; l < LANES && l * n < floats; ++l) {
            size_t at = l * n + h * LANES;
            int whole = values == LANES || (n < LANES && at + LANES <= floats);
            if (whole) vf_store(x + at, r[l]);
            else vf_store_part(x + at, r[l], values);
        }
    }
}

/* A block's columns from x; up to PERMUTED_MAX values a group, the vectors
   they came from too. */
static ALWAYS_INLINE void VK(block_in)(const packing *p, const float *x, size_t floats,
                                       size_t readable, vf *v, vf *column)
{
    if (p->n > PERMUTED_MAX) {
        VK(rows_to_columns)(p, x, floats, readable, column);
        return;
    }
    VK(packed_load)(p, x, floats, v);
    VK(to_columns)(p, v, column);
}

static ALWAYS_INLINE void VK(block_out)(const packing *p, const vf *column, size_t floats, float *y)
{
    if (p->n > PERMUTED_MAX) {
        VK(columns_to_rows)(p, column, floats, y);
        return;
    }
    vf v[PACKED_MAX];
    VK(from_columns)(p, column, v);
    VK(packed_store)(p, y, floats, v);
}

/* As softmax_tiled: every load before any store, so y may be x. */
static ALWAYS_INLINE void VK(softmax_packed_block)(const packing *p, const float *x, size_t floats,
                                                   size_t readable, const scaling *s, float *y)
{
    vf v[PACKED_MAX], c[PACKED_MAX];
    VK(block_in)(p, x, floats, readable, v, c);
    vf largest = c[0];
    for (size_t j = 1; j < p->n; ++j) largest = vf_max(largest, c[j]);
    vf sum = vf_set1(0);
    for (size_t j = 0; j < p->n; ++j) {
        c[j] = VK(exp_of)(c[j], largest, s);
        sum = vf_add(sum, c[j]);
    }
    /* At most 32 terms: the float sum is within 1.9e-6. */
    vf scale = vf_div(vf_set1(1), sum);
    for (size_t j = 0; j < p->n; ++j) c[j] = vf_mul(c[j], scale);
    VK(block_out)(p, c, floats, y);
}

/* As log_lanes_scaled; up to PERMUTED_MAX values a group, each output
   computed where it lies, from its group's largest value and log sum. */
static ALWAYS_INLINE void VK(log_softmax_packed_block)(const packing *p, const float *x,
                                                       size_t floats, size_t readable,
                                                       const scaling *s, float *y)
{
    vf v[PACKED_MAX], c[PACKED_MAX];
    VK(block_in)(p, x, floats, readable, v, c);
    vf largest = vf_set1(-INFINITY);
    for (size_t j = 0; j < p->n; ++j) largest = vf_max(largest, c[j]);
    vsum sum = vsum_zero();
    for (size_t j = 0; j < p->n; ++j) sum = vsum_add(sum, VK(exp_coarse_of)(c[j], largest, s));
    vf log_sum = VK(log_of)(sum);
    if (p->n > PERMUTED_MAX) {
        for (size_t j = 0; j < p->n; ++j) c[j] = vf_sub(VK(shifted)(c[j], largest, s), log_sum);
        VK(block_out)(p, c, floats, y);
        return;
    }
    for (size_t k = 0; k < p->n; ++k) {
        vf shifted = VK(shifted)(v[k], VK(spread)(p, largest, k), s);
        v[k] = vf_sub(shifted, VK(spread)(p, log_sum, k));
    }
    VK(packed_store)(p, y, floats, v);
}

/* As backward_tiled; up to PERMUTED_MAX values a group, dx computed where
   it lies, from its group's dot. */
static ALWAYS_INLINE void VK(backward_packed_block)(const packing *p, const float *y,
                                                    const float *dy, size_t floats, size_t readable,
                                                    float temp, int add, float *dx)
{
    vf vy[PACKED_MAX], vdy[PACKED_MAX], cy[PACKED_MAX], cdy[PACKED_MAX], out[PACKED_MAX];
    VK(block_in)(p, y, floats, readable, vy, cy);
    VK(block_in)(p, dy, floats, readable, vdy, cdy);
    vsum dot = vsum_zero();
    vf errors = vf_set1(0);
    for (size_t j = 0; j < p->n; ++j) VK(dot_add)(cy[j], cdy[j], &dot, &errors);
    vf low, high = vsum_split(VK(dot_exact)(dot, errors), &low);
    if (p->n > PERMUTED_MAX) {
        vf unused[PACKED_MAX];
        if (add) VK(block_in)(p, dx, floats, floats, unused, out);
        for (size_t j = 0; j < p->n; ++j)
            out[j] = VK(backward_value)(cy[j], cdy[j], high, low, temp, add, add ? out[j] : high);
        VK(block_out)(p, out, floats, dx);
        return;
    }
    if (add) VK(packed_load)(p, dx, floats, out);
    for (size_t k = 0; k < p->n; ++k) {
        vf h = VK(spread)(p, high, k), l = VK(spread)(p, low, k);
        out[k] = VK(backward_value)(vy[k], vdy[k], h, l, temp, add, add ? out[k] : h);
    }
    VK(packed_store)(p, dx, floats, out);
}

enum packed_op { PACKED_SOFTMAX, PACKED_LOG_SOFTMAX, PACKED_BACKWARD_SET, PACKED_BACKWARD_ADD };

/* A block of `floats` from x (y for the backward, other its dy) into
   output (dx); `readable` floats from x (and other) may be read. */
static ALWAYS_INLINE void VK(packed_block)(enum packed_op op, const packing *p, const float *x,
                                           const float *other, size_t floats, size_t readable,
                                           const scaling *s, float temp, float *output)
{
    switch (op) {
    case PACKED_SOFTMAX: VK(softmax_packed_block)(p, x, floats, readable, s, output); break;
    case PACKED_LOG_SOFTMAX: VK(log_softmax_packed_block)(p, x, floats, readable, s, output); break;
    case PACKED_BACKWARD_SET:
        VK(backward_packed_block)(p, x, other, floats, readable, temp, 0, output);
        break;
    case PACKED_BACKWARD_ADD:
        VK(backward_packed_block)(p, x, other, floats, readable, temp, 1, output);
        break;
    }
}

/* count groups of n values, sixteen at a time; n a constant in each copy,
   and whole blocks a copy of their own, so that the loops unroll, the
   vectors stay in registers and the tests of a block's end fold away. */
static ALWAYS_INLINE void VK(packed_n)(enum packed_op op, const float *x, const float *other,
                                       size_t count, const size_t n, float temp, float *output)
{
    packing p = VK(packing_for)(n);
    scaling s = VK(scaling_for)(temp);
    size_t g = 0;
    for (; g + LANES <= count; g += LANES)
        VK(packed_block)(op, &p, x + g * n, other ? other + g * n : NULL, LANES * n,
                         (count - g) * n, &s, temp, output + g * n);
    if (g < count)
        VK(packed_block)(op, &p, x + g * n, other ? other + g * n : NULL, (count - g) * n,
                         (count - g) * n, &s, temp, output + g * n);
}

/* Groups longer than 16, in one copy for any n: they spill their columns
   to the stack whatever it does. */
static void VK(packed_long)(enum packed_op op, const float *x, const float *other, size_t count,
                            size_t n, float temp, float *output)
{
    VK(packed_n)(op, x, other, count, n, temp, output);
}

static void VK(packed)(enum packed_op op, const float *x, const float *other, size_t count,
                       size_t n, float temp, float *output)
{
    switch (n) {
    case 1: VK(packed_n)(op, x, other, count, 1, temp, output); break;
    case 2: VK(packed_n)(op, x, other, count, 2, temp, output); break;
    case 3: VK(packed_n)(op, x, other, count, 3, temp, output); break;
    case 4: VK(packed_n)(op, x, other, count, 4, temp, output); break;
    case 5: VK(packed_n)(op, x, other, count, 5, temp, output); break;
    case 6: VK(packed_n)(op, x, other, count, 6, temp, output); break;
    case 7: VK(packed_n)(op, x, other, count, 7, temp, output); break;
    case 8: VK(packed_n)(op, x, other, count, 8, temp, output); break;
    case 9: VK(packed_n)(op, x, other, count, 9, temp, output); break;
    case 10: VK(packed_n)(op, x, other, count, 10, temp, output); break;
    case 11: VK(packed_n)(op, x, other, count, 11, temp, output); break;
    case 12: VK(packed_n)(op, x, other, count, 12, temp, output); break;
    case 13: VK(packed_n)(op, x, other, count, 13, temp, output); break;
    case 14: VK(packed_n)(op, x, other, count, 14, temp, output); break;
    case 15: VK(packed_n)(op, x, other, count, 15, temp, output); break;
    case 16: VK(packed_n)(op, x, other, count, 16, temp, output); break;
    default: VK(packed_long)(op, x, other, count, n, temp, output); break;
    }
}

static void VK(softmax_packed)(const float *input, size_t count, size_t n, float temp,
                               float *output)
{
    VK(packed)(PACKED_SOFTMAX, input, NULL, count, n, temp, output);
}

static void VK(log_softmax_packed)(const float *input, size_t count, size_t n, float temp,
                                   float *output)
{
    VK(packed)(PACKED_LOG_SOFTMAX, input, NULL, count, n, temp, output);
}

static void VK(softmax_backward_packed)(const float *y, const float *dy, size_t count, size_t n,
                                        float temp, int add, float *dx)
{
    VK(packed)(add ? PACKED_BACKWARD_ADD : PACKED_BACKWARD_SET, y, dy, count, n, temp, dx);
}

const struct packed_kernels VK(packed_kernels) = {
    .longest = PACKED_MAX,
    .softmax_packed = VK(softmax_packed),
    .log_softmax_packed = VK(log_softmax_packed),
    .softmax_backward_packed = VK(softmax_backward_packed),
};
