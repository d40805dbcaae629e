#include <string.h>

#include "im2col.h"
#include "im2col_walk.h"
#include "threadpool.h"

/* One call's walk, shared by the parts of the pool: im2col_walk's arguments
   in their order, then the matrix's rows and columns per channel. */
struct walk {
    const float *from;
    size_t channels, height, width, ksize, stride, pad;
    int to_col;
    float *to;
    size_t height_col, width_col;
};

/* The kernel's positions along an image side of `size`. */
static size_t positions(size_t size, size_t ksize, size_t stride, size_t pad)
{
    return (size + 2 * pad - ksize) / stride + 1;
}

static size_t least(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* Splitting pays above this many matrix entries; below, one thread walks all. */
enum { WALK_THREADED_ENTRIES = 1 << 16 };

/* Entry w of a matrix row whose kernel column is w_offset reads image column
   w_offset + w*stride - pad: [*first, *last) are the entries inside the
   image. Written with unsigned sizes, so each test compares before it
   subtracts. */
static void inside_entries(const struct walk *k, size_t w_offset, size_t *first, size_t *last)
{
    size_t lo = w_offset >= k->pad ? 0 : (k->pad - w_offset + k->stride - 1) / k->stride;
    size_t end = k->width + k->pad;
    size_t hi = end > w_offset ? (end - w_offset + k->stride - 1) / k->stride : 0;
    *last = least(hi, k->width_col);
    *first = least(lo, *last);
}

/* A matrix row: its channel's first pixel, its kernel offsets, and the
   entries of an output row inside the image. */
struct matrix_row {
    size_t channel, h_offset, w_offset, first, last;
};

static struct matrix_row row_of(const struct walk *k, size_t c)
{
    struct matrix_row r = {.channel = c / (k->ksize * k->ksize) * k->height * k->width,
                           .h_offset = c / k->ksize % k->ksize,
                           .w_offset = c % k->ksize};
    inside_entries(k, r.w_offset, &r.first, &r.last);
    return r;
}

/* Whether output row y of matrix row r reads a row inside the image, and
   (*line) where: entry w's pixel is line + w*stride for first <= w < last.
   size_t wraps in the padding, so line is an index only there. */
static inline int image_line(const struct walk *k, const struct matrix_row *r, size_t y,
                             size_t *line)
{
    size_t row = y * k->stride + r->h_offset;
    *line = r->channel + (row - k->pad) * k->width + r->w_offset - k->pad;
    return row >= k->pad && row - k->pad < k->height;
}

static size_t clamp(size_t value, size_t lo, size_t hi)
{
    return value < lo ? lo : value > hi ? hi : value;
}

/* Entries x0 to x0 + count - 1 of output row y in matrix row r, to dst:
   copied from their pixels, 0 in the padding. */
static inline void row_entries(const struct walk *k, const struct matrix_row *r, size_t y,
                               size_t x0, size_t count, float *dst)
{
    size_t line, lo = x0, hi = x0;
    if (image_line(k, r, y, &line)) {
        lo = clamp(r->first, x0, x0 + count);
        hi = clamp(r->last, lo, x0 + count);
    }
    for (size_t x = x0; x < lo; ++x) dst[x - x0] = 0;
    for (size_t x = lo; x < hi; ++x) dst[x - x0] = k->from[line + x * k->stride];
    for (size_t x = hi; x < x0 + count; ++x) dst[x - x0] = 0;
}

/* Output row y of matrix row r, its entries at `at`: copied from their
   pixels (im2col), or added into them (col2im). */
static void walk_row(const struct walk *k, const struct matrix_row *r, size_t y, size_t at)
{
    if (k->to_col) {
        row_entries(k, r, y, 0, k->width_col, k->to + at);
        return;
    }
    size_t line;
    if (!image_line(k, r, y, &line)) return;
    const float *entry = k->from + at;
    for (size_t w = r->first; w < r->last; ++w) k->to[line + w * k->stride] += entry[w];
}

/* Matrix rows [begin, end): each reads (or, for col2im, adds into) only its
   own channel. */
static void walk_rows(const struct walk *k, size_t begin, size_t end)
{
    for (size_t c = begin; c < end; ++c) {
        struct matrix_row r = row_of(k, c);
        for (size_t h = 0; h < k->height_col; ++h)
            walk_row(k, &r, h, (c * k->height_col + h) * k->width_col);
    }
}

/* The matrix rows a part takes whole: im2col's rows each write only their
   own entries, but col2im's rows of a channel add into the same pixels, so
   its parts take whole channels and never share a pixel. */
static size_t rows_a_part_takes(const struct walk *k)
{
    return k->to_col ? 1 : k->ksize * k->ksize;
}

static void walk_part(void *context, size_t part, size_t parts)
{
    const struct walk *k = context;
    size_t unit = rows_a_part_takes(k), begin, end;
    pool_share(k->channels * k->ksize * k->ksize / unit, part, parts, &begin, &end);
    walk_rows(k, begin * unit, end * unit);
}

void im2col_walk(const float *from, size_t channels, size_t height, size_t width, size_t ksize,
                 size_t stride, size_t pad, int to_col, float *to)
{
    size_t height_col = positions(height, ksize, stride, pad);
    size_t width_col = positions(width, ksize, stride, pad);
    struct walk k = {from, channels, height, width,      ksize,    stride,
                     pad,  to_col,   to,     height_col, width_col};
    size_t rows = channels * ksize * ksize, entries = rows * height_col * width_col;
    size_t units = rows / rows_a_part_takes(&k);
    size_t parts = least(pool_threads(), units);
    if (entries < WALK_THREADED_ENTRIES || parts < 2) walk_rows(&k, 0, rows);
    else pool_run(walk_part, &k, parts);
}

void im2col_cpu(const float *data_im, size_t channels, size_t height, size_t width, size_t ksize,
                size_t stride, size_t pad, float *data_col)
{
    im2col_walk(data_im, channels, height, width, ksize, stride, pad, 1, data_col);
}

/* Matrix row r's entries in columns [j, j + count), to dst: a run for each
   output row they cross. */
static void row_columns(const struct walk *k, const struct matrix_row *r, size_t j, size_t count,
                        float *dst)
{
    for (size_t at = 0, run; at < count; at += run) {
        size_t y = (j + at) / k->width_col, x = (j + at) % k->width_col;
        run = least(k->width_col - x, count - at);
        row_entries(k, r, y, x, run, dst + at);
    }
}

/* A matrix row's columns are put together this many at a time in a buffer
   that stays in the L1 cache (as im2col's walk would write them, whole
   output rows at a time), then copied to their panels: written straight
   into the panels, rows narrower than a panel took a run for each piece. */
enum { ROW_CHUNK = 512 };

/* gemm's panel width on every path (GEMM_NR): a copy of this fixed size is
   a few instructions, where one of any size is a call. */
enum { PANEL_WIDTH = 16 };

static void copy_to_panel(float *panel, const float *from, size_t width)
{
    if (width == PANEL_WIDTH) memcpy(panel, from, PANEL_WIDTH * sizeof(float));
    else memcpy(panel, from, width * sizeof(float));
}

void im2col_panels(const void *context, size_t k0, size_t kc, size_t j0, size_t nc, size_t width,
                   float *out)
{
    const im2col_image *im = context;
    struct walk k = {.from = im->data,
                     .channels = im->channels,
                     .height = im->height,
                     .width = im->width,
                     .ksize = im->ksize,
                     .stride = im->stride,
                     .pad = im->pad,
                     .height_col = positions(im->height, im->ksize, im->stride, im->pad),
                     .width_col = positions(im->width, im->ksize, im->stride, im->pad)};
    float line[ROW_CHUNK];
    size_t chunk = ROW_CHUNK / width * width;
    for (size_t j = 0; j < nc; j += chunk) {
        size_t count = least(chunk, nc - j), panels = (count + width - 1) / width;
        for (size_t i = 0; i < kc; ++i) {
            struct matrix_row r = row_of(&k, k0 + i);
            row_columns(&k, &r, j0 + j, count, line);
            memset(line + count, 0, (panels * width - count) * sizeof(float));
            for (size_t q = 0; q < panels; ++q)
                copy_to_panel(out + (j + q * width) * kc + i * width, line + q * width, width);
        }
    }
}
