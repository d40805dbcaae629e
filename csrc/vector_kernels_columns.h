/* Internal: softmax, log_softmax and softmax_backward over groups of n
   values (up to COLUMNS_MAX) lying end to end, LANES groups at a time, in
   columns: column j holds value j of each group. The arithmetic of a
   block's columns is written here once; the groups of 9 and more come into
   columns by transposes (a row from each group's start, LANES floats of
   it at a time), the shorter ones by the including file's own way (the
   tiles of vector_kernels_impl.h, the permutes of vector_kernels_packed.h).
   Each lane is computed as vector_kernels_impl.h's tiles compute it.
   Included after vector_kernels_rows.h, whose helpers it takes; the
   including file gets the table VK(packed_kernels). */

/* The including file defines COLUMNS_TRANSPOSED, the longest groups it
   takes through the transposes (at most COLUMNS_MAX), and may define
   COLUMNS_SOFTMAX, fewer for softmax; or takes groups of up to 8 values
   alone. */
enum { COLUMNS_MAX = 64 };
#if defined(COLUMNS_TRANSPOSED)
enum { PACKED_LONGEST = COLUMNS_TRANSPOSED };
#else
enum { PACKED_LONGEST = 8 };
#endif
/* The longest groups softmax takes here, where the including file says
   (COLUMNS_SOFTMAX): its output goes back through the transposes, which
   past some length cost more than the row kernel. */
#if defined(COLUMNS_SOFTMAX)
enum { SOFTMAX_LONGEST = COLUMNS_SOFTMAX };
#else
enum { SOFTMAX_LONGEST = PACKED_LONGEST };
#endif

/* The cases of a switch on n from k to k + 7, case n calling way(n): a
   copy of a function for each n, n a constant in each, so that its loops
   unroll and its vectors stay in registers. */
#define CASE_OF(way, k) \
    case k: way(k); break;
#define CASES_OF_2(way, k) CASE_OF(way, k) CASE_OF(way, (k) + 1)
#define CASES_OF_4(way, k) CASES_OF_2(way, k) CASES_OF_2(way, (k) + 2)
#define CASES_OF_8(way, k) CASES_OF_4(way, k) CASES_OF_4(way, (k) + 4)

enum column_op { COLUMN_SOFTMAX, COLUMN_LOG_SOFTMAX, COLUMN_BACKWARD_SET, COLUMN_BACKWARD_ADD };

/* softmax of n columns, in place. */
static ALWAYS_INLINE void VK(softmax_columns)(vf *c, size_t n, const scaling *s)
{
    vf largest = c[0];
    for (size_t j = 1; j < n; ++j) largest = vf_max(largest, c[j]);
    vf sum = vf_set1(0);
    for (size_t j = 0; j < n; ++j) {
        c[j] = VK(exp_of)(c[j], largest, s);
        sum = vf_add(sum, c[j]);
    }
    /* At most SOFTMAX_LONGEST (56) terms, the largest 1: the float sum is
       within 56 roundings of it, 3.4e-6. */
    vf scale = vf_div(vf_set1(1), sum);
    for (size_t j = 0; j < n; ++j) c[j] = vf_mul(c[j], scale);
}

/* Each group's log sum, and its largest value (as log_lanes_scaled). */
static ALWAYS_INLINE vf VK(log_terms)(const vf *c, size_t n, const scaling *s, vf *largest)
{
    *largest = vf_set1(-INFINITY);
    for (size_t j = 0; j < n; ++j) *largest = vf_max(*largest, c[j]);
    vsum sum = vsum_zero();
    for (size_t j = 0; j < n; ++j) sum = vsum_add(sum, VK(exp_coarse_of)(c[j], *largest, s));
    return VK(log_of)(sum);
}

/* log_softmax of n columns, in place (each lane as log_lanes_scaled). */
static ALWAYS_INLINE void VK(log_softmax_columns)(vf *c, size_t n, const scaling *s)
{
    vf largest, log_sum = VK(log_terms)(c, n, s, &largest);
    for (size_t j = 0; j < n; ++j) c[j] = vf_sub(VK(shifted)(c[j], largest, s), log_sum);
}

/* Each group's dot of y and dy, as a float (returned) and its remainder. */
static ALWAYS_INLINE vf VK(backward_dot)(const vf *y, const vf *dy, size_t n, vf *low)
{
    vsum dot = vsum_zero();
    vf errors = vf_set1(0);
    for (size_t j = 0; j < n; ++j) VK(dot_add)(y[j], dy[j], &dot, &errors);
    return vsum_split(VK(dot_exact)(dot, errors), low);
}

#if defined(COLUMNS_TRANSPOSED)
/* Part h of row l: the LANES floats from value h*LANES of group l, whole
   where the floats from x that may be read (readable) hold them, else the
   group's alone; rows past the block's floats are zeros. */
static ALWAYS_INLINE void VK(rows_to_columns)(const float *x, size_t n, size_t floats,
                                              size_t readable, vf *column)
{
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

/* A part of fewer than LANES values stores its row whole, running into
   the next group, whose own store, later, puts it right (but none runs
   past the block's floats), unless the group goes on past it: then the
   next group's first part is stored already, and it stores its values
   alone. */
static ALWAYS_INLINE void VK(columns_to_rows)(const vf *column, size_t n, size_t floats, float *x)
{
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

/* A block of `floats` from x (y for the backward, other its dy) into
   output (dx); `readable` floats from x (and other) may be read. softmax
   transposes its columns back; log_softmax and the backward write each
   group where it lies, from its values and its log sum or dot (lane l of
   the columns' result, in every lane), with no transpose back, each
   group's loads and stores within it. Every load of a group comes before
   its stores, so output may be x. */
static ALWAYS_INLINE void VK(transposed_block)(enum column_op op, size_t n, const float *x,
                                               const float *other, size_t floats, size_t readable,
                                               const scaling *s, float temp, float *output)
{
    vf c[COLUMNS_MAX], d[COLUMNS_MAX];
    VK(rows_to_columns)(x, n, floats, readable, c);
    if (op == COLUMN_SOFTMAX) {
        VK(softmax_columns)(c, n, s);
        VK(columns_to_rows)(c, n, floats, output);
        return;
    }
    if (op == COLUMN_LOG_SOFTMAX) {
        vf largest, log_sum = VK(log_terms)(c, n, s, &largest);
        float largests[LANES], log_sums[LANES];
        vf_store(largests, largest);
        vf_store(log_sums, log_sum);
        for (size_t l = 0; l < LANES && l * n < floats; ++l)
            VK(log_row_out)(x + l * n, n, largests[l], log_sums[l], s, output + l * n);
        return;
    }
    VK(rows_to_columns)(other, n, floats, readable, d);
    vf low, high = VK(backward_dot)(c, d, n, &low);
    float highs[LANES], lows[LANES];
    vf_store(highs, high);
    vf_store(lows, low);
    for (size_t l = 0; l < LANES && l * n < floats; ++l) {
        VK(row_backward_out)(x + l * n, other + l * n, n, vf_set1(highs[l]), vf_set1(lows[l]), temp,
                             op == COLUMN_BACKWARD_ADD, output + l * n);
    }
}

/* count groups of n values, LANES at a time; whole blocks a copy of their
   own, so that the tests of a block's end fold away. */
static ALWAYS_INLINE void VK(transposed_n)(enum column_op op, const float *x, const float *other,
                                           size_t count, const size_t n, float temp, float *output)
{
    scaling s = VK(scaling_for)(temp);
    size_t g = 0;
    for (; g + LANES <= count; g += LANES)
        VK(transposed_block)(op, n, x + g * n, other ? other + g * n : NULL, LANES * n,
                             (count - g) * n, &s, temp, output + g * n);
    if (g < count)
        VK(transposed_block)(op, n, x + g * n, other ? other + g * n : NULL, (count - g) * n,
                             (count - g) * n, &s, temp, output + g * n);
}

#if COLUMNS_TRANSPOSED > 16
/* Groups longer than 16, in one copy for any n: they spill their columns
   to the stack whatever it does. */
static void VK(transposed_long)(enum column_op op, const float *x, const float *other, size_t count,
                                size_t n, float temp, float *output)
{
    VK(transposed_n)(op, x, other, count, n, temp, output);
}
#endif

#endif

/* The including file's way with groups of up to 8 values (its tiles, or
   its permutes), n a constant. */
static ALWAYS_INLINE void VK(short_n)(enum column_op op, const float *x, const float *other,
                                      size_t count, size_t n, float temp, float *output);

/* Groups of up to COLUMNS_MAX values end to end; up to 16, n a constant in
   each copy. */
static void VK(packed)(enum column_op op, const float *x, const float *other, size_t count,
                       size_t n, float temp, float *output)
{
#define SHORT_N(k) VK(short_n)(op, x, other, count, k, temp, output)
#define TRANSPOSED_N(k) VK(transposed_n)(op, x, other, count, k, temp, output)
    switch (n) {
        CASES_OF_8(SHORT_N, 1)
#if defined(COLUMNS_TRANSPOSED)
        CASES_OF_8(TRANSPOSED_N, 9)
#if COLUMNS_TRANSPOSED > 16
    default: VK(transposed_long)(op, x, other, count, n, temp, output); break;
#endif
#endif
    }
#undef SHORT_N
#undef TRANSPOSED_N
}

/* The packed kernels' entry points. */
static void VK(softmax_packed)(const float *input, size_t count, size_t n, float temp,
                               float *output)
{
    VK(packed)(COLUMN_SOFTMAX, input, NULL, count, n, temp, output);
}

static void VK(log_softmax_packed)(const float *input, size_t count, size_t n, float temp,
                                   float *output)
{
    VK(packed)(COLUMN_LOG_SOFTMAX, input, NULL, count, n, temp, output);
}

static void VK(softmax_backward_packed)(const float *y, const float *dy, size_t count, size_t n,
                                        float temp, int add, float *dx)
{
    VK(packed)(add ? COLUMN_BACKWARD_ADD : COLUMN_BACKWARD_SET, y, dy, count, n, temp, dx);
}

const struct packed_kernels VK(packed_kernels) = {
    .longest = PACKED_LONGEST,
    .softmax_longest = SOFTMAX_LONGEST,
    .softmax_packed = VK(softmax_packed),
    .log_softmax_packed = VK(log_softmax_packed),
    .softmax_backward_packed = VK(softmax_backward_packed),
};
