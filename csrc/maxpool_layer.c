#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layer_block.h"
#include "maxpool_layer.h"
#include "status.h"

/* Darknet's (n + padding - size)/stride + 1 in C's int arithmetic, which
   truncates toward zero: a window larger than the padded input by less than
   stride still gives one output. 0 where the output would be below 1. */
static size_t pooled_size(size_t n, size_t size, size_t stride, size_t padding)
{
    size_t padded = n + padding;
    if (padded >= size) return (padded - size) / stride + 1;
    return size - padded < stride ? 1 : 0;
}

int make_maxpool_layer(size_t batch, size_t h, size_t w, size_t c, size_t size, size_t stride,
                       size_t padding, maxpool_layer **out)
{
    *out = NULL;
    if (size == 0 || stride == 0) return DS_ERR_ARG;
    /* Darknet's ints; they also keep every window position below within an
       int64_t, and h + padding, w + padding within a size_t. */
    if (h > INT32_MAX || w > INT32_MAX || size > INT32_MAX || stride > INT32_MAX
        || padding > INT32_MAX)
        return DS_ERR_ARG;
    size_t out_h = pooled_size(h, size, stride, padding);
    size_t out_w = pooled_size(w, size, stride, padding);
    maxpool_layer l = {.size = size, .stride = stride, .padding = padding};
    int status = make_layer_shape(batch, h, w, c, out_h, out_w, c, &l.shape);
    if (status != DS_OK) return status;
    size_t inputs = l.shape.inputs, outputs = l.shape.outputs;
    /* indexes are int64_t: the batch's input must be indexable by one, and
       they take two floats' room each in the block. */
    if (inputs > (size_t)INT64_MAX / batch || outputs > SIZE_MAX / 2 / batch) return DS_ERR_NOMEM;
    float *index_room = NULL;
    size_t counts[] = {batch * outputs, batch * outputs,
                       batch * outputs * (sizeof(int64_t) / sizeof(float))};
    float **buffers[] = {&l.output, &l.delta, &index_room};
    maxpool_layer *block = make_layer_block(&l, sizeof l, 3, counts, buffers);
    if (!block) return DS_ERR_NOMEM;
    /* Each buffer starts on a 64-byte line, so the room is aligned for int64_t. */
    block->indexes = (int64_t *)(void *)index_room;
    for (size_t i = 0; i < batch * outputs; ++i) block->indexes[i] = -1;
    *out = block;
    return DS_OK;
}

/* The outputs j of a row whose window column m, offset + j*stride + m,
   lies inside the input's w columns: [*first, *last). */
static void columns_inside(int64_t offset, int64_t stride, int64_t m, int64_t w, int64_t out_w,
                           int64_t *first, int64_t *last)
{
    int64_t start = offset + m, past = w - start; /* col = start + j*stride */
    *first = start >= 0 ? 0 : (-start + stride - 1) / stride;
    *last = past <= 0 ? 0 : (past + stride - 1) / stride;
    if (*last > out_w) *last = out_w;
}

/* Output row i of one plane: each window's values in Darknet's order (its
   rows, then its columns), a strictly larger one taking the place, without
   a branch on the values, which random data mispredicts (darknet19's first
   maxpool, 224x224x32: 7.3 ms with the branch, 2.0 without). The windows of
   the row go side by side, one window row and column at a time. */
static void pool_row(const float *input, int64_t base, int64_t h, int64_t w, int64_t size,
                     int64_t stride, int64_t offset, int64_t i, int64_t out_w, float *max,
                     int64_t *max_i)
{
    for (int64_t j = 0; j < out_w; ++j) max[j] = -FLT_MAX, max_i[j] = -1;
    for (int64_t n = 0; n < size; ++n) {
        int64_t row = offset + i * stride + n;
        if (row < 0 || row >= h) continue;
        for (int64_t m = 0; m < size; ++m) {
            int64_t first, last, start = row * w + offset + m;
            columns_inside(offset, stride, m, w, out_w, &first, &last);
            for (int64_t j = first; j < last; ++j) {
                float val = input[start + j * stride];
                /* keep: all ones where max stays, as bits; GCC turns a ?:
                   on the comparison back into a branch. */
                int64_t keep = (int64_t)(val > max[j]) - 1;
                uint32_t old_bits, new_bits;
                memcpy(&old_bits, max + j, sizeof old_bits);
                memcpy(&new_bits, &val, sizeof new_bits);
                new_bits = (old_bits & (uint32_t)keep) | (new_bits & ~(uint32_t)keep);
                memcpy(max + j, &new_bits, sizeof new_bits);
                max_i[j] = (max_i[j] & keep) | ((base + start + j * stride) & ~keep);
            }
        }
    }
}

/* Darknet reads a position outside the input as -FLT_MAX, which never
   passes `val > max` from max = -FLT_MAX: skipping it is the same. */
int forward_maxpool_layer(maxpool_layer *l, const network *net)
{
    if (!net->input) return DS_ERR_ARG;
    const int64_t h = (int64_t)l->shape.h, w = (int64_t)l->shape.w, size = (int64_t)l->size;
    const int64_t stride = (int64_t)l->stride, offset = -(int64_t)(l->padding / 2);
    const int64_t out_h = (int64_t)l->shape.out_h, out_w = (int64_t)l->shape.out_w;
    const int64_t planes = (int64_t)(l->shape.batch * l->shape.c);
    for (int64_t plane = 0; plane < planes; ++plane) {
        for (int64_t i = 0; i < out_h; ++i) {
            int64_t out_index = (plane * out_h + i) * out_w;
            pool_row(net->input + plane * h * w, plane * h * w, h, w, size, stride, offset, i,
                     out_w, l->output + out_index, l->indexes + out_index);
        }
    }
    return DS_OK;
}

/* Darknet writes at index -1 (before net->delta) where no value won; here
   that delta goes nowhere. */
int backward_maxpool_layer(const maxpool_layer *l, const network *net)
{
    if (!net->delta) return DS_OK;
    size_t n = l->shape.batch * l->shape.outputs;
    int64_t end = (int64_t)(l->shape.batch * l->shape.inputs);
    for (size_t i = 0; i < n; ++i) {
        if (l->indexes[i] < -1 || l->indexes[i] >= end) return DS_ERR_ARG;
    }
    for (size_t i = 0; i < n; ++i) {
        if (l->indexes[i] >= 0) net->delta[l->indexes[i]] += l->delta[i];
    }
    return DS_OK;
}
