#include <float.h>
#include <stdint.h>
#include <stdlib.h>

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
        const float *input = net->input + plane * h * w;
        for (int64_t i = 0; i < out_h; ++i) {
            for (int64_t j = 0; j < out_w; ++j) {
                float max = -FLT_MAX;
                int64_t max_i = -1;
                for (int64_t n = 0; n < size; ++n) {
                    int64_t row = offset + i * stride + n;
                    if (row < 0 || row >= h) continue;
                    for (int64_t m = 0; m < size; ++m) {
                        int64_t col = offset + j * stride + m;
                        if (col < 0 || col >= w) continue;
                        float val = input[row * w + col];
                        if (val > max) {
                            max = val;
                            max_i = plane * h * w + row * w + col;
                        }
                    }
                }
                int64_t out_index = (plane * out_h + i) * out_w + j;
                l->output[out_index] = max;
                l->indexes[out_index] = max_i;
            }
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
