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
    *last = hi < k->width_col ? hi : k->width_col;
    *first = lo < *last ? lo : *last;
}

/* One matrix row's entries (at `at`): copied from their pixels, 0 in the
   padding (im2col), or added into their pixels (col2im). Entry w's pixel is
   line + w*stride for first <= w < last of a row inside the image; size_t
   wraps in the padding, so line is an index only there. */
static void walk_row(const struct walk *k, size_t first, size_t last, int row_inside, size_t line,
                     size_t at)
{
    if (k->to_col) {
        float *entry = k->to + at;
        if (!row_inside) first = last = 0;
        for (size_t w = 0; w < first; ++w) entry[w] = 0;
        for (size_t w = first; w < last; ++w) entry[w] = k->from[line + w * k->stride];
        for (size_t w = last; w < k->width_col; ++w) entry[w] = 0;
    } else if (row_inside) {
        const float *entry = k->from + at;
        for (size_t w = first; w < last; ++w) k->to[line + w * k->stride] += entry[w];
    }
}

/* Matrix rows [begin, end): each reads (or, for col2im, adds into) only its
   own channel. */
static void walk_rows(const struct walk *k, size_t begin, size_t end)
{
    size_t area = k->height * k->width, kernel = k->ksize * k->ksize;
    for (size_t c = begin; c < end; ++c) {
        size_t w_offset = c % k->ksize, h_offset = c / k->ksize % k->ksize, first, last;
        inside_entries(k, w_offset, &first, &last);
        size_t channel = c / kernel * area;
        for (size_t h = 0; h < k->height_col; ++h) {
            size_t row = h_offset + h * k->stride;
            int row_inside = row >= k->pad && row - k->pad < k->height;
            size_t line = channel + (row - k->pad) * k->width + w_offset - k->pad;
            walk_row(k, first, last, row_inside, line, (c * k->height_col + h) * k->width_col);
        }
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
    size_t parts = pool_threads() < units ? pool_threads() : units;
    if (entries < WALK_THREADED_ENTRIES || parts < 2) walk_rows(&k, 0, rows);
    else pool_run(walk_part, &k, parts);
}

void im2col_cpu(const float *data_im, size_t channels, size_t height, size_t width, size_t ksize,
                size_t stride, size_t pad, float *data_col)
{
    im2col_walk(data_im, channels, height, width, ksize, stride, pad, 1, data_col);
}
