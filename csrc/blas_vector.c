#include <stdint.h>
#include <stdlib.h>

#include "blas.h"
#include "blas_vector.h"
#include "status.h"
#include "threadpool.h"
#include "tree.h"
#include "vector_kernels.h"

enum {
    /* A thread is worth waking for this many floats or more. */
    PART_ELEMENTS = 16384,
    PARTS_PER_THREAD = 4,
    /* Contiguous groups this long take the row kernel, unless they lie end
       to end and the packed kernels take them; shorter ones sit eight to a
       vector, one group a lane. */
    ROW_MIN = 16,
    /* Outputs this large go around the cache: softmax's rows (if the row
       fits in scratch), log_softmax's rows (up to as long; not in place)
       and its blocks. */
    STREAM_BYTES = 64 << 20,
    STREAM_ROW_MAX = 32768,
    /* softmax_backward's dx this large goes around the cache: y, dy and dx
       together (three times as many bytes) then fill a last-level cache of
       8 MB, and a store that does not first read dx saves a quarter of the
       traffic (measured on an 8 MB cache: 164 MB of dx 12-15% faster, 2 to
       16 MB up to 30%, never slower; below 2 MB no faster). */
    BACKWARD_STREAM_BYTES = 2 << 20,
    /* Tree rows go through scratch (a vector's lanes of rows transposed) up
       to this many floats: 32 MB, a million columns of eight rows. */
    TREE_SCRATCH_MAX = 8 << 20,
    /* Columns of tree scratch beyond the largest group's (see tree_window). */
    TREE_WINDOW = 256,
    /* sum_array adds blocks of this many floats, in order, whatever the
       thread count, so that its result does not depend on it. */
    SUM_BLOCK = 65536
};

/* A few parts a thread, claimed as threads come free, so that a thread the
   OS holds back leaves its share to the others. */
size_t parts_for(size_t elements)
{
    size_t threads = pool_threads();
    if (threads == 1) return 1;
    size_t parts = elements / PART_ELEMENTS;
    if (parts > PARTS_PER_THREAD * threads) parts = PARTS_PER_THREAD * threads;
    /* A whole number of parts a thread: with 7 parts on 2 threads one of
       them would do 4, and the call would take 4/7 of one thread's time. */
    if (parts > threads) parts -= parts % threads;
    return parts ? parts : 1;
}

/* --- the kernels over softmax_cpu's groups: softmax, log_softmax,
   softmax_backward and the exact loss --- */

/* One call: input and output are the kernel's first input and output (y and
   dx for softmax_backward, pred and delta for the exact loss), other its
   second input (dy, truth) and error the exact loss's second output. */
struct grouped {
    enum group_op op;
    const float *input, *other;
    float *output, *error;
    size_t n, groups, batch_offset, group_offset, stride, count;
    float temp;
    int rows, stream;
    const struct vector_kernels *kernels;
};

/* One group of n values from at, on the scalar path. */
static void group_scalar(const struct grouped *w, size_t at, size_t n)
{
    const float *x = w->input + at;
    float *y = w->output + at;
    switch (w->op) {
    case OP_SOFTMAX: softmax(x, n, w->temp, w->stride, y); break;
    case OP_LOG_SOFTMAX: log_softmax(x, n, w->temp, w->stride, y); break;
    case OP_BACKWARD_SET:
        for (size_t i = 0; i < n; ++i) y[i * w->stride] = 0;
        /* fall through */
    case OP_BACKWARD: softmax_backward(x, w->other + at, n, w->temp, w->stride, y); break;
    case OP_X_ENT_EXACT:
        softmax_x_ent_exact(x, w->other + at, n, w->temp, w->stride, y, w->error + at);
        break;
    }
}

/* One contiguous group of n values from at. */
static void group_row(const struct grouped *w, size_t at, size_t n)
{
    const struct vector_kernels *k = w->kernels;
    const float *x = w->input + at;
    float *y = w->output + at;
    switch (w->op) {
    case OP_SOFTMAX: k->rows->softmax_row(x, n, w->temp, y); break;
    case OP_LOG_SOFTMAX: k->rows->log_softmax_row(x, n, w->temp, y); break;
    case OP_BACKWARD:
    case OP_BACKWARD_SET:
        k->rows->softmax_backward_row(x, w->other + at, n, w->temp, w->op == OP_BACKWARD, y);
        break;
    case OP_X_ENT_EXACT:
        k->rows->softmax_x_ent_exact_row(x, w->other + at, n, w->temp, y, w->error + at);
        break;
    }
}

/* Whether the groups are short and lie end to end along each row, for the
   packed kernels. */
static int grouped_packed(const struct grouped *w)
{
    const struct packed_kernels *packed = w->kernels->packed;
    size_t longest = w->op == OP_SOFTMAX ? packed->softmax_longest : packed->longest;
    return w->stride == 1 && w->n <= longest && w->group_offset == w->n && w->op <= OP_BACKWARD_SET;
}

static size_t group_start(const struct grouped *w, size_t k)
{
    return k / w->groups * w->batch_offset + k % w->groups * w->group_offset;
}

/* Rows that go around the cache go a batch of offsets at a time. */
enum { STREAM_BATCH = 64 };

static void rows_stream(const struct grouped *w, const size_t *offset, size_t count, float *scratch)
{
    if (w->op == OP_SOFTMAX)
        w->kernels->rows->softmax_rows_stream(w->input, offset, count, w->n, w->temp, w->output,
                                              scratch);
    else if (w->op == OP_LOG_SOFTMAX)
        w->kernels->rows->log_softmax_rows_stream(w->input, offset, count, w->n, w->temp,
                                                  w->output);
    else
        w->kernels->rows->softmax_backward_rows_stream(w->input, w->other, offset, count, w->n,
                                                       w->temp, w->output);
}

static void grouped_rows(const struct grouped *w, size_t begin, size_t end)
{
    /* softmax's streamed rows need scratch; without it, they run in cache. */
    float *scratch = w->stream && w->op == OP_SOFTMAX ? malloc(2 * w->n * sizeof(float)) : NULL;
    int stream = w->stream && (scratch || w->op != OP_SOFTMAX);
    size_t offset[STREAM_BATCH];
    for (size_t k = begin; k < end;) {
        if (!stream) {
            group_row(w, group_start(w, k++), w->n);
            continue;
        }
        size_t count = 0;
        for (; count < STREAM_BATCH && k < end; ++count) offset[count] = group_start(w, k++);
        rows_stream(w, offset, count, scratch);
    }
    free(scratch);
}

/* The spatial layout (groups one apart, values `stride` apart): a block of
   eight groups is one vector from each of n rows that are often a multiple
   of 4 KB apart, so they share a few cache sets and evict each other between
   passes. */

/* softmax and log_softmax read a wider block row by row in place: its
   width, a whole number of the row kernels' vectors, keeps the block (n
   rows of it) within 256 KB, so that the passes after the first find it in
   cache while the next block comes in (64 and 128 KB measured 7 to 20%
   slower on the SSD head's shape, 384 and 512 KB alike). */
enum { BLOCK_BYTES = 256 << 10, BLOCK_MIN = 16 };

static size_t block_width(const struct grouped *w)
{
    if (w->op > OP_LOG_SOFTMAX || w->group_offset != 1 || w->stride < w->groups) return 0;
    size_t lanes = w->kernels->rows->lanes;
    size_t width = BLOCK_BYTES / sizeof(float) / w->n / lanes * lanes;
    if (width < BLOCK_MIN) return 0;
    return width < BLOCK_POSITIONS ? width : BLOCK_POSITIONS;
}

/* The groups in a block from group k on, before end: no block crosses
   from one batch item to the next. */
static size_t block_count(const struct grouped *w, size_t k, size_t end, size_t width)
{
    size_t count = w->groups - k % w->groups;
    if (count > width) count = width;
    return count < end - k ? count : end - k;
}

/* softmax or log_softmax of groups [k, end), a block at a time. */
static void grouped_blocks(const struct grouped *w, size_t k, size_t end, size_t width)
{
    const struct row_kernels *rows = w->kernels->rows;
    block_kernel *block = w->op == OP_SOFTMAX ? rows->softmax_block : rows->log_softmax_block;
    struct pending_block pending = {.count = 0};
    while (k < end) {
        size_t count = block_count(w, k, end, width), start = group_start(w, k);
        const float *next = k + count < end ? w->input + group_start(w, k + count) : NULL;
        block(w->input + start, w->n, w->stride, count, w->temp, w->output + start, next, w->stream,
              &pending);
        k += count;
    }
    block(NULL, w->n, w->stride, 0, w->temp, NULL, NULL, w->stream, &pending);
}

/* Up to eight groups, from group k on: their offsets, and each one's
   distance from the lowest (index, NULL when they lie one apart) where every
   distance fits in int32. */
struct block {
    size_t count, low, offset[LANES_PER_VECTOR];
    int fits;
    int32_t distance[LANES_PER_VECTOR];
    const int32_t *index;
};

static void block_at(const struct grouped *w, size_t k, struct block *out)
{
    size_t high = 0, b = k / w->groups, g = k % w->groups;
    out->count = 0;
    out->low = SIZE_MAX;
    do { /* k < count: a block has at least one group */
        size_t at = b * w->batch_offset + g * w->group_offset;
        out->offset[out->count++] = at;
        if (at < out->low) out->low = at;
        if (at > high) high = at;
        if (++g == w->groups) g = 0, ++b;
    } while (++k < w->count && out->count < LANES_PER_VECTOR);
    out->fits = high - out->low <= INT32_MAX;
    int apart = 1;
    for (size_t l = 0; l < LANES_PER_VECTOR && out->fits; ++l) {
        size_t at = out->offset[l < out->count ? l : 0];
        out->distance[l] = (int32_t)(at - out->low);
        apart &= l >= out->count || out->distance[l] == (int32_t)l;
    }
    out->index = apart ? NULL : out->distance;
}

/* One block of groups side by side, on the vector kernels where they reach
   it, else group by group. scratch (n*8 floats or more) or NULL. */
static void group_block(const struct grouped *w, const struct block *b, float *scratch)
{
    const struct vector_kernels *k = w->kernels;
    size_t at = b->low;
    if (!b->fits) {
        for (size_t l = 0; l < b->count; ++l) group_scalar(w, b->offset[l], w->n);
        return;
    }
    switch (w->op) {
    case OP_SOFTMAX:
        k->lanes->softmax_lanes(w->input, b->offset, b->count, w->n, w->stride, w->temp, w->output);
        return;
    case OP_LOG_SOFTMAX:
        if (!b->index && b->count == LANES_PER_VECTOR) {
            k->lanes->log_softmax_lanes(w->input + at, w->n, w->stride, w->temp, w->output + at);
        } else if (scratch) {
            k->lanes->log_softmax_gathered(w->input + at, b->index, b->count, w->n, w->stride,
                                           w->temp, w->output + at, scratch);
        } else {
            for (size_t l = 0; l < b->count; ++l) group_scalar(w, b->offset[l], w->n);
        }
        return;
    case OP_BACKWARD:
    case OP_BACKWARD_SET:
        k->lanes->softmax_backward_lanes(w->input + at, w->other + at, b->index, b->count, w->n,
                                         w->stride, w->temp, w->op == OP_BACKWARD, w->output + at);
        return;
    case OP_X_ENT_EXACT:
        k->lanes->softmax_x_ent_exact_lanes(w->input + at, w->other + at, b->index, b->count, w->n,
                                            w->stride, w->temp, w->output + at, w->error + at);
        return;
    }
}

/* Groups [k, end) of a packed layout, a run of them end to end at a time: a
   row's, or all rows' where the rows too lie end to end. */
static void grouped_runs(const struct grouped *w, size_t k, size_t end)
{
    const struct vector_kernels *kernels = w->kernels;
    size_t run = w->batch_offset == w->groups * w->n ? w->count : w->groups;
    while (k < end) {
        size_t stop = (k / run + 1) * run < end ? (k / run + 1) * run : end;
        size_t at = group_start(w, k), count = stop - k;
        const float *x = w->input + at;
        float *y = w->output + at;
        switch (w->op) {
        case OP_SOFTMAX: kernels->packed->softmax_packed(x, count, w->n, w->temp, y); break;
        case OP_LOG_SOFTMAX: kernels->packed->log_softmax_packed(x, count, w->n, w->temp, y); break;
        default:
            kernels->packed->softmax_backward_packed(x, w->other + at, count, w->n, w->temp,
                                                     w->op == OP_BACKWARD, y);
        }
        k = stop;
    }
}

/* Blocks of eight groups, one a lane. */
static void grouped_lanes(const struct grouped *w, size_t begin, size_t end)
{
    size_t last = end * LANES_PER_VECTOR < w->count ? end * LANES_PER_VECTOR : w->count;
    if (grouped_packed(w)) {
        grouped_runs(w, begin * LANES_PER_VECTOR, last);
        return;
    }
    size_t width = block_width(w);
    if (width) {
        grouped_blocks(w, begin * LANES_PER_VECTOR, last, width);
        return;
    }
    size_t floats = w->op == OP_LOG_SOFTMAX ? (w->n < 8 ? 8 : w->n) * LANES_PER_VECTOR : 0;
    float *scratch = floats ? malloc(floats * sizeof(float)) : NULL;
    for (size_t block = begin; block < end; ++block) {
        struct block b;
        block_at(w, block * LANES_PER_VECTOR, &b);
        group_block(w, &b, scratch);
    }
    free(scratch);
}

static void grouped_part(void *context, size_t part, size_t parts)
{
    const struct grouped *w = context;
    size_t items = w->rows ? w->count : (w->count + LANES_PER_VECTOR - 1) / LANES_PER_VECTOR;
    size_t begin, end;
    pool_share(items, part, parts, &begin, &end);
    if (w->rows) grouped_rows(w, begin, end);
    else grouped_lanes(w, begin, end);
}

/* Whether no two groups share a value: the three (step, count) axes, taken
   from the smallest step up, each step past everything below it. When they
   might share (Darknet allows it), only Darknet's order gives its result. */
static int groups_disjoint(const struct grouped *w, size_t batch)
{
    size_t step[3] = {w->stride, w->group_offset, w->batch_offset};
    size_t count[3] = {w->n, w->groups, batch};
    for (int i = 0; i < 3; ++i) {
        for (int j = i + 1; j < 3; ++j) {
            if (step[j] < step[i]) {
                size_t t = step[i];
                step[i] = step[j];
                step[j] = t;
                t = count[i];
                count[i] = count[j];
                count[j] = t;
            }
        }
    }
    size_t span = 0; /* the furthest offset the smaller axes reach */
    for (int i = 0; i < 3; ++i) {
        if (count[i] == 1) continue;
        if (step[i] <= span) return 0;
        span += (count[i] - 1) * step[i];
    }
    return 1;
}

/* A call of a kernel over groups: batch*groups of them, group g of item b
   n values stride apart from b*batch_offset + g*group_offset. */
static struct grouped grouped_work(enum group_op op, const float *input, const float *other,
                                   float *output, float *error, size_t n, size_t batch,
                                   size_t batch_offset, size_t groups, size_t group_offset,
                                   size_t stride, float temp)
{
    /* The fields in their order: the call's arguments, then how it runs. */
    struct grouped w = {op,
                        input,
                        other,
                        output,
                        error,
                        n,
                        groups,
                        batch_offset,
                        group_offset,
                        stride,
                        batch * groups,
                        temp,
                        stride == 1 && n >= ROW_MIN,
                        0,
                        vector_kernels_in_use()};
    /* Groups the packed kernels take run side by side, however long. */
    if (grouped_packed(&w)) w.rows = 0;
    return w;
}

void grouped_cpu(enum group_op op, const float *input, const float *other, float *output,
                 float *error, size_t n, size_t batch, size_t batch_offset, size_t groups,
                 size_t group_offset, size_t stride, float temp, int vector)
{
    struct grouped w = grouped_work(op, input, other, output, error, n, batch, batch_offset, groups,
                                    group_offset, stride, temp);
    if (!vector || !groups_disjoint(&w, batch)) {
        for (size_t k = 0; k < w.count; ++k) group_scalar(&w, group_start(&w, k), w.n);
        return;
    }
    int large = w.count * n >= STREAM_BYTES / sizeof(float);
    int aligned = (uintptr_t)output % sizeof(float) == 0;
    /* log_softmax in place reads each row where it writes: no stream. */
    int streamed_op = op == OP_SOFTMAX || (op == OP_LOG_SOFTMAX && output != input);
    w.stream = (streamed_op && w.rows && large && n <= STREAM_ROW_MAX && aligned)
               || (op == OP_BACKWARD_SET && w.rows && aligned
                   && w.count * n >= BACKWARD_STREAM_BYTES / sizeof(float))
               || (!w.rows && large && block_width(&w));
    pool_run(grouped_part, &w, parts_for(w.count * n));
}

static size_t tiled_columns(const size_t *group_size, const size_t *group_offset, size_t groups);

/* The columns of scratch that `lanes` transposed rows go through (see
   tree_rows in vector_kernels_rows.h): the largest group and 2*lanes more,
   and TREE_WINDOW more so that the window seldom moves; all the columns,
   when fewer. Small enough to stay in cache. */
static size_t tree_window(const size_t *group_size, size_t groups, size_t columns, size_t lanes)
{
    size_t largest = 0;
    for (size_t g = 0; g < groups; ++g) largest = group_size[g] > largest ? group_size[g] : largest;
    size_t window = (largest + lanes - 1) / lanes * lanes + 2 * lanes + TREE_WINDOW;
    size_t all = (columns + lanes - 1) / lanes * lanes;
    return window < all ? window : all;
}

/* The exact kernels over tree groups: blocks of the tree kernels' rows
   shared out, transposed when the groups tile; otherwise a short group runs
   on eight rows side by side, one a lane, and a long one (or one whose rows
   lie too far apart for int32) row by row. */
struct tree_groups {
    struct grouped w; /* op, arrays, temp, kernels; batch_offset = inputs */
    const size_t *group_size, *group_offset;
    size_t batch;
    size_t first, columns; /* the columns the groups tile, or columns 0 */
    size_t window;         /* tree_window's */
};

static void block_rows(size_t b, size_t count, size_t lanes, size_t inputs, size_t first,
                       size_t *row);

/* The exact loss over tiled groups: a vector's lanes of rows at a time,
   transposed. */
static void x_ent_tiled_rows(const struct tree_groups *t, size_t b0, size_t b1, float *scratch)
{
    const struct grouped *w = &t->w;
    size_t lanes = w->kernels->rows->lanes;
    for (size_t b = b0; b < b1; b += lanes) {
        size_t row[MAX_LANES];
        size_t count = b1 - b < lanes ? b1 - b : lanes;
        block_rows(b, count, lanes, w->batch_offset, t->first, row);
        w->kernels->rows->softmax_x_ent_exact_tree_rows(w->input, w->other, row, count, t->columns,
                                                        t->window, t->group_size, w->groups,
                                                        w->temp, w->output, w->error, scratch);
    }
}

/* Rows [*b0, *b1) of part `part` of `parts`, the batch shared out in blocks
   of `lanes` rows. */
static void share_row_blocks(size_t batch, size_t lanes, size_t part, size_t parts, size_t *b0,
                             size_t *b1)
{
    size_t begin, end;
    pool_share((batch + lanes - 1) / lanes, part, parts, &begin, &end);
    *b0 = begin * lanes;
    *b1 = end * lanes < batch ? end * lanes : batch;
}

static void tree_groups_part(void *context, size_t part, size_t parts)
{
    const struct tree_groups *t = context;
    struct grouped w = t->w;
    size_t inputs = w.batch_offset, lanes = w.kernels->rows->lanes, b0, b1;
    /* Blocks of the tree kernels' rows (a multiple of eight), whichever way
       the part then runs, so that the parts never share a row. */
    share_row_blocks(t->batch, lanes, part, parts, &b0, &b1);
    size_t floats = 2 * t->window * lanes;
    float *scratch = w.op == OP_X_ENT_EXACT && t->columns && floats <= TREE_SCRATCH_MAX
                         ? malloc(floats * sizeof(float))
                         : NULL;
    if (scratch) {
        x_ent_tiled_rows(t, b0, b1, scratch);
        free(scratch);
        return;
    }
    struct block rows = {.fits = inputs <= INT32_MAX / LANES_PER_VECTOR};
    for (size_t b = b0; b < b1; b += LANES_PER_VECTOR) {
        rows.count = b1 - b < LANES_PER_VECTOR ? b1 - b : LANES_PER_VECTOR;
        for (size_t l = 0; l < LANES_PER_VECTOR; ++l) {
            rows.distance[l] = rows.fits && l < rows.count ? (int32_t)(l * inputs) : 0;
        }
        rows.index = rows.distance;
        for (size_t g = 0; g < w.groups; ++g) {
            w.n = t->group_size[g];
            rows.low = b * inputs + t->group_offset[g];
            for (size_t l = 0; l < rows.count; ++l) rows.offset[l] = rows.low + l * inputs;
            if (w.n >= ROW_MIN || !rows.fits) {
                for (size_t l = 0; l < rows.count; ++l) group_row(&w, rows.offset[l], w.n);
            } else if (w.n) {
                group_block(&w, &rows, NULL);
            }
        }
    }
}

void tree_groups_cpu(enum group_op op, const float *input, const float *other, float *output,
                     float *error, size_t batch, size_t inputs, const size_t *group_size,
                     const size_t *group_offset, size_t groups, float temp, int vector)
{
    size_t columns = tiled_columns(group_size, group_offset, groups);
    /* Each group's size and offset are its own: the work's n and group_offset are not used. */
    struct tree_groups t = {
        .w = grouped_work(op, input, other, output, error, 0, batch, inputs, groups, 0, 1, temp),
        .group_size = group_size,
        .group_offset = group_offset,
        .batch = batch,
        .first = groups ? group_offset[0] : 0,
        .columns = columns};
    t.window = tree_window(group_size, groups, columns, t.w.kernels->rows->lanes);
    if (vector) {
        pool_run(tree_groups_part, &t, parts_for(batch * inputs));
        return;
    }
    for (size_t g = 0; g < groups; ++g) {
        for (size_t b = 0; b < batch; ++b)
            group_scalar(&t.w, b * inputs + group_offset[g], group_size[g]);
    }
}

/* --- tree groups (softmax_tree_cpu) --- */

struct tree_work {
    const float *input;
    float *output;
    size_t batch, inputs, groups;
    const size_t *group_size, *group_offset;
    float temp;
    int by_rows;
    /* When the groups tile columns [first, first + columns), one after
       another (as read_tree makes them), else 0. */
    size_t first, columns, window;
    const struct vector_kernels *kernels;
    /* With truth, the exact loss too (into delta and error), through
       scratch: floats floats a part. */
    const float *truth;
    float *delta, *error, *scratch;
    size_t floats;
};

/* Tree groups [g0, g1) of rows [b0, b1): small groups eight rows to a vector. */
static void tree_block(const struct tree_work *w, size_t b0, size_t b1, size_t g0, size_t g1)
{
    int lanes_fit = w->inputs <= INT32_MAX / LANES_PER_VECTOR;
    for (size_t g = g0; g < g1; ++g) {
        size_t size = w->group_size[g], start = w->group_offset[g];
        if (size >= ROW_MIN || !lanes_fit) {
            for (size_t b = b0; b < b1; ++b) {
                size_t at = b * w->inputs + start;
                w->kernels->rows->softmax_row(w->input + at, size, w->temp, w->output + at);
            }
            continue;
        }
        for (size_t b = b0; b < b1; b += LANES_PER_VECTOR) {
            size_t offset[LANES_PER_VECTOR], count = 0;
            for (; count < LANES_PER_VECTOR && b + count < b1; ++count) {
                offset[count] = (b + count) * w->inputs + start;
            }
            w->kernels->lanes->softmax_lanes(w->input, offset, count, size, 1, w->temp, w->output);
        }
    }
}

/* Where the rows of a block of `lanes` from row b start (at column first of
   rows inputs apart); lanes past count repeat row b. */
static void block_rows(size_t b, size_t count, size_t lanes, size_t inputs, size_t first,
                       size_t *row)
{
    for (size_t l = 0; l < lanes; ++l) row[l] = (b + (l < count ? l : 0)) * inputs + first;
}

/* Rows [b0, b1), blocks of `lanes` (the row kernels') at a time: transposed
   through scratch when the groups tile (so every group, whatever its size,
   runs on whole vectors), else group by group. */
static void tree_rows(const struct tree_work *w, size_t b0, size_t b1, float *scratch)
{
    const struct row_kernels *k = w->kernels->rows;
    for (size_t b = b0; b < b1; b += k->lanes) {
        size_t count = b1 - b < k->lanes ? b1 - b : k->lanes;
        if (!scratch) {
            tree_block(w, b, b + count, 0, w->groups);
            continue;
        }
        size_t row[MAX_LANES];
        block_rows(b, count, k->lanes, w->inputs, w->first, row);
        if (w->truth) {
            k->softmax_tree_x_ent_exact_rows(w->input, w->truth, row, count, w->columns, w->window,
                                             w->group_size, w->groups, w->temp, w->output, w->delta,
                                             w->error, scratch);
        } else {
            k->softmax_tree_rows(w->input, row, count, w->columns, w->window, w->group_size,
                                 w->groups, w->temp, w->output, scratch);
        }
    }
}

/* The blocks of rows of a part, through scratch. */
static void tree_part_rows(const struct tree_work *w, size_t part, size_t parts, float *scratch)
{
    size_t b0, b1;
    share_row_blocks(w->batch, w->kernels->rows->lanes, part, parts, &b0, &b1);
    tree_rows(w, b0, b1, scratch);
}

/* By rows, a block of rows at a time (they stay in cache across all
   groups); by groups when the batch is too small to share out. */
static void tree_part(void *context, size_t part, size_t parts)
{
    const struct tree_work *w = context;
    if (!w->by_rows) {
        size_t begin, end;
        pool_share(w->groups, part, parts, &begin, &end);
        tree_block(w, 0, w->batch, begin, end);
        return;
    }
    size_t floats = w->window * w->kernels->rows->lanes;
    float *scratch =
        w->columns && floats <= TREE_SCRATCH_MAX ? malloc(floats * sizeof(float)) : NULL;
    tree_part_rows(w, part, parts, scratch);
    free(scratch);
}

static void tree_fused_part(void *context, size_t part, size_t parts)
{
    const struct tree_work *w = context;
    tree_part_rows(w, part, parts, w->scratch + part * w->floats);
}

/* The columns the groups tile, one after another from the first group's
   start, or 0 when they leave gaps or overlap. */
static size_t tiled_columns(const size_t *group_size, const size_t *group_offset, size_t groups)
{
    size_t end = groups ? group_offset[0] : 0;
    for (size_t g = 0; g < groups; ++g) {
        if (group_offset[g] != end) return 0;
        end += group_size[g];
    }
    return groups ? end - group_offset[0] : 0;
}

/* The work of softmax_tree_vector (by_rows and the loss's fields set by the
   caller). */
static struct tree_work tree_work_for(const float *input, size_t batch, size_t inputs,
                                      const size_t *group_size, const size_t *group_offset,
                                      size_t groups, float temp, float *output)
{
    size_t columns = tiled_columns(group_size, group_offset, groups);
    const struct vector_kernels *kernels = vector_kernels_in_use();
    /* The fields in their order: the call's, how it runs, and the loss's. */
    struct tree_work w = {input,
                          output,
                          batch,
                          inputs,
                          groups,
                          group_size,
                          group_offset,
                          temp,
                          0,
                          groups ? group_offset[0] : 0,
                          columns,
                          tree_window(group_size, groups, columns, kernels->rows->lanes),
                          kernels,
                          NULL,
                          NULL,
                          NULL,
                          NULL,
                          0};
    return w;
}

void softmax_tree_vector(const float *input, size_t batch, size_t inputs, const size_t *group_size,
                         const size_t *group_offset, size_t groups, float temp, float *output)
{
    struct tree_work w =
        tree_work_for(input, batch, inputs, group_size, group_offset, groups, temp, output);
    size_t parts = parts_for(batch * inputs), lanes = w.kernels->rows->lanes;
    size_t blocks = (batch + lanes - 1) / lanes;
    /* Tiled groups go by rows even when that leaves a thread idle: the
       transposed kernel is several times faster than any other. */
    w.by_rows = w.columns || blocks >= parts;
    if (w.columns && blocks < parts) parts = blocks;
    pool_run(tree_part, &w, parts);
}

int softmax_tree_x_ent_exact_vector(const float *input, const float *truth, size_t batch,
                                    size_t inputs, const size_t *group_size,
                                    const size_t *group_offset, size_t groups, float temp,
                                    float *output, float *delta, float *error)
{
    struct tree_work w =
        tree_work_for(input, batch, inputs, group_size, group_offset, groups, temp, output);
    size_t lanes = w.kernels->rows->lanes, blocks = (batch + lanes - 1) / lanes;
    size_t parts = parts_for(batch * inputs) < blocks ? parts_for(batch * inputs) : blocks;
    w.floats = 3 * w.window * lanes;
    if (!w.columns || !parts || w.floats > TREE_SCRATCH_MAX) return 0;
    w.scratch = malloc(parts * w.floats * sizeof(float));
    if (!w.scratch) return 0;
    w.by_rows = 1, w.truth = truth, w.delta = delta, w.error = error;
    pool_run(tree_fused_part, &w, parts);
    free(w.scratch);
    return 1;
}

/* --- elementwise kernels --- */

struct x_ent_work {
    size_t n;
    const float *pred, *truth;
    float *delta, *error;
    const struct vector_kernels *kernels;
};

static void x_ent_part(void *context, size_t part, size_t parts)
{
    const struct x_ent_work *w = context;
    size_t begin, end;
    pool_share(w->n, part, parts, &begin, &end);
    w->kernels->rows->softmax_x_ent(end - begin, w->pred + begin, w->truth + begin,
                                    w->delta + begin, w->error + begin);
}

void softmax_x_ent_vector(size_t n, const float *pred, const float *truth, float *delta,
                          float *error)
{
    struct x_ent_work w = {.n = n,
                           .pred = pred,
                           .truth = truth,
                           .delta = delta,
                           .error = error,
                           .kernels = vector_kernels_in_use()};
    pool_run(x_ent_part, &w, parts_for(n));
}

struct axpy_work {
    size_t n;
    float alpha;
    const float *x;
    float *y;
    const struct vector_kernels *kernels;
};

static void axpy_part(void *context, size_t part, size_t parts)
{
    const struct axpy_work *w = context;
    size_t begin, end;
    pool_share(w->n, part, parts, &begin, &end);
    w->kernels->rows->axpy(end - begin, w->alpha, w->x + begin, w->y + begin);
}

void axpy_vector(size_t N, float ALPHA, const float *X, float *Y)
{
    struct axpy_work w = {
        .n = N, .alpha = ALPHA, .x = X, .y = Y, .kernels = vector_kernels_in_use()};
    pool_run(axpy_part, &w, parts_for(N));
}

struct sum_work {
    const float *a;
    size_t n;
    double *block_sum;
    const struct vector_kernels *kernels;
};

static void sum_part(void *context, size_t part, size_t parts)
{
    const struct sum_work *w = context;
    size_t blocks = (w->n + SUM_BLOCK - 1) / SUM_BLOCK, begin, end;
    pool_share(blocks, part, parts, &begin, &end);
    for (size_t block = begin; block < end; ++block) {
        size_t start = block * SUM_BLOCK;
        size_t length = w->n - start < SUM_BLOCK ? w->n - start : SUM_BLOCK;
        w->block_sum[block] = w->kernels->rows->sum(w->a + start, length);
    }
}

float sum_array_vector(const float *a, size_t n)
{
    const struct vector_kernels *kernels = vector_kernels_in_use();
    size_t blocks = (n + SUM_BLOCK - 1) / SUM_BLOCK;
    double *block_sum = blocks > 1 ? malloc(blocks * sizeof(double)) : NULL;
    double sum = 0;
    if (block_sum) {
        struct sum_work w = {.a = a, .n = n, .block_sum = block_sum, .kernels = kernels};
        pool_run(sum_part, &w, parts_for(n));
        for (size_t block = 0; block < blocks; ++block) sum += block_sum[block];
        free(block_sum);
        return (float)sum;
    }
    /* One block, or no memory for the block sums: the same sums on one thread. */
    for (size_t start = 0; start < n; start += SUM_BLOCK) {
        sum += kernels->rows->sum(a + start, n - start < SUM_BLOCK ? n - start : SUM_BLOCK);
    }
    return (float)sum;
}

/* --- the fused softmax cross-entropy --- */

/* Items (rows, or blocks of positions) whose losses are added up together,
   in order, whatever the thread count: the total does not depend on it. */
enum { LOSS_BLOCK = 16 };

/* A tile of positions (their classes copied into scratch) stays within
   32 KB; with fewer than 16 positions to a tile, eight go side by side
   straight from memory. */
enum { TILE_FLOATS = 8192, TILE_MIN = 16 };

static size_t tile_width(size_t classes)
{
    size_t width = TILE_FLOATS / classes / LANES_PER_VECTOR * LANES_PER_VECTOR;
    if (width < TILE_MIN) return 0;
    return width < TILE_POSITIONS ? width : TILE_POSITIONS;
}

struct loss_work {
    const struct cross_entropy *c;
    size_t items, width, items_per_outer;
    int rows, tiles;
    double *block_sum;
    float *scratch; /* classes*TILE_POSITIONS floats a part, with tiles */
    const struct vector_kernels *kernels;
};

static double loss_items(const struct loss_work *w, size_t begin, size_t end, float *tile)
{
    if (w->rows) return w->kernels->rows->cross_entropy_rows(w->c, begin, end);
    double sum = 0;
    for (size_t item = begin; item < end; ++item) {
        size_t o = item / w->items_per_outer, i = item % w->items_per_outer * w->width;
        size_t count = w->c->inner - i < w->width ? w->c->inner - i : w->width;
        if (w->tiles) sum += w->kernels->rows->cross_entropy_tile(w->c, o, i, count, tile);
        else sum += w->kernels->lanes->cross_entropy_lanes(w->c, o, i, count);
    }
    return sum;
}

static void loss_part(void *context, size_t part, size_t parts)
{
    const struct loss_work *w = context;
    size_t blocks = (w->items + LOSS_BLOCK - 1) / LOSS_BLOCK, begin, end;
    float *tile = w->tiles ? w->scratch + part * w->c->classes * TILE_POSITIONS : NULL;
    pool_share(blocks, part, parts, &begin, &end);
    for (size_t block = begin; block < end; ++block) {
        size_t last = (block + 1) * LOSS_BLOCK < w->items ? (block + 1) * LOSS_BLOCK : w->items;
        w->block_sum[block] = loss_items(w, block * LOSS_BLOCK, last, tile);
    }
}

/* Rows when the classes are contiguous; else tiles of positions, or eight
   positions side by side when too many classes for a tile. */
int softmax_cross_entropy_vector(const struct cross_entropy *loss, double *total)
{
    struct cross_entropy local = *loss;
    const struct cross_entropy *c = &local;
    local.stream = loss->outer * loss->classes * loss->inner >= STREAM_BYTES / sizeof(float);
    struct loss_work w = {.c = c, .rows = c->inner == 1, .kernels = vector_kernels_in_use()};
    w.width = w.rows ? 1 : tile_width(c->classes);
    w.tiles = w.width != 0;
    if (!w.rows && !w.tiles) w.width = LANES_PER_VECTOR;
    w.items_per_outer = (c->inner + w.width - 1) / w.width;
    w.items = c->outer * w.items_per_outer;
    size_t blocks = (w.items + LOSS_BLOCK - 1) / LOSS_BLOCK;
    size_t parts = parts_for(c->outer * c->classes * c->inner);
    w.block_sum = malloc((blocks ? blocks : 1) * sizeof(double));
    w.scratch = w.tiles ? malloc(parts * c->classes * TILE_POSITIONS * sizeof(float)) : NULL;
    if (!w.block_sum || (w.tiles && !w.scratch)) {
        free(w.block_sum);
        free(w.scratch);
        return DS_ERR_NOMEM;
    }
    pool_run(loss_part, &w, parts);
    double sum = 0;
    for (size_t block = 0; block < blocks; ++block) sum += w.block_sum[block];
    free(w.block_sum);
    free(w.scratch);
    *total = sum;
    return DS_OK;
}
