/* Internal: the packed kernels (softmax, log_softmax and softmax_backward
   over groups of n <= 32 values lying end to end) at sixteen lanes, for
   AVX-512 only. A block of sixteen groups of up to 8 values is n whole
   vectors as they lie in memory; two-source permutes (vpermt2ps, which
   AVX2 lacks) make them n columns, column j holding value j of each group,
   and put columns back. AVX2's tiles (vector_kernels_impl.h) load a row a
   group and transpose eight rows by eight: three times the shuffles a
   float, and vectors half as wide. Each lane is computed as those tiles
   compute it, so that a group has the same bits on either. Longer groups
   go through vector_kernels_columns.h's transposes, sixteen rows by
   sixteen. vector_kernels_avx512.c includes this after
   vector_kernels_rows.h and vector_kernels_columns.h, whose helpers it
   takes. */

_Static_assert(LANES == 16, "the packed kernels' permutes are AVX-512's");

/* Up to PERMUTED_MAX values a group the permutes take about n/16 shuffles
   a float, fewer than the transposes' 4/n. */
enum { PERMUTED_MAX = 8, PERMUTED_PAIRS = PERMUTED_MAX / 2 };

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
    for (size_t j = 0; j < n; ++j) {
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

/* As softmax_tiled: every load before any store, so y may be x. */
static ALWAYS_INLINE void VK(softmax_packed_block)(const packing *p, const float *x, size_t floats,
                                                   const scaling *s, float *y)
{
    vf v[PERMUTED_MAX], c[PERMUTED_MAX];
    VK(packed_load)(p, x, floats, v);
    VK(to_columns)(p, v, c);
    VK(softmax_columns)(c, p->n, s);
    VK(from_columns)(p, c, v);
    VK(packed_store)(p, y, floats, v);
}

/* As log_lanes_scaled; each output computed where it lies, from its
   group's largest value and log sum. */
static ALWAYS_INLINE void VK(log_softmax_packed_block)(const packing *p, const float *x,
                                                       size_t floats, const scaling *s, float *y)
{
    vf v[PERMUTED_MAX], c[PERMUTED_MAX];
    VK(packed_load)(p, x, floats, v);
    VK(to_columns)(p, v, c);
    vf largest, log_sum = VK(log_terms)(c, p->n, s, &largest);
    for (size_t k = 0; k < p->n; ++k) {
        vf shifted = VK(shifted)(v[k], VK(spread)(p, largest, k), s);
        v[k] = vf_sub(shifted, VK(spread)(p, log_sum, k));
    }
    VK(packed_store)(p, y, floats, v);
}

/* As backward_tiled; dx computed where it lies, from its group's dot. */
static ALWAYS_INLINE void VK(backward_packed_block)(const packing *p, const float *y,
                                                    const float *dy, size_t floats, float temp,
                                                    int add, float *dx)
{
    vf vy[PERMUTED_MAX], vdy[PERMUTED_MAX], cy[PERMUTED_MAX], cdy[PERMUTED_MAX], out[PERMUTED_MAX];
    VK(packed_load)(p, y, floats, vy);
    VK(packed_load)(p, dy, floats, vdy);
    VK(to_columns)(p, vy, cy);
    VK(to_columns)(p, vdy, cdy);
    vf low, high = VK(backward_dot)(cy, cdy, p->n, &low);
    if (add) VK(packed_load)(p, dx, floats, out);
    for (size_t k = 0; k < p->n; ++k) {
        vf h = VK(spread)(p, high, k), l = VK(spread)(p, low, k);
        out[k] = VK(backward_value)(vy[k], vdy[k], h, l, temp, add, add ? out[k] : h);
    }
    VK(packed_store)(p, dx, floats, out);
}

/* A block of `floats` from x (y for the backward, other its dy) into
   output (dx). */
static ALWAYS_INLINE void VK(packed_block)(enum column_op op, const packing *p, const float *x,
                                           const float *other, size_t floats, const scaling *s,
                                           float temp, float *output)
{
    switch (op) {
    case COLUMN_SOFTMAX: VK(softmax_packed_block)(p, x, floats, s, output); break;
    case COLUMN_LOG_SOFTMAX: VK(log_softmax_packed_block)(p, x, floats, s, output); break;
    case COLUMN_BACKWARD_SET:
        VK(backward_packed_block)(p, x, other, floats, temp, 0, output);
        break;
    case COLUMN_BACKWARD_ADD:
        VK(backward_packed_block)(p, x, other, floats, temp, 1, output);
        break;
    }
}

/* count groups of n values, sixteen at a time; n a constant in each copy,
   and whole blocks a copy of their own, so that the loops unroll, the
   vectors stay in registers and the tests of a block's end fold away. */
static ALWAYS_INLINE void VK(short_n)(enum column_op op, const float *x, const float *other,
                                      size_t count, const size_t n, float temp, float *output)
{
    packing p = VK(packing_for)(n);
    scaling s = VK(scaling_for)(temp);
    size_t g = 0;
    for (; g + LANES <= count; g += LANES)
        VK(packed_block)(op, &p, x + g * n, other ? other + g * n : NULL, LANES * n, &s, temp,
                         output + g * n);
    if (g < count)
        VK(packed_block)(op, &p, x + g * n, other ? other + g * n : NULL, (count - g) * n, &s, temp,
                         output + g * n);
}
