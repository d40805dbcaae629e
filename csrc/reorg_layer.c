#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layer_block.h"
#include "reorg_layer.h"
#include "status.h"

/* The output's {h, w, c} in the stride forms (flatten too), as Darknet's
   make_reorg_layer sizes it: DS_ERR_ARG where its reorg_cpu would read or
   write out of range. They permute, as many out as in: nothing overflows. */
static int stride_shape(size_t h, size_t w, size_t c, size_t stride, int reverse, size_t out[3])
{
    if (stride > SIZE_MAX / stride || c % (stride * stride)) return DS_ERR_ARG;
    size_t area = stride * stride;
    if (reverse) {
        out[0] = h * stride, out[1] = w * stride, out[2] = c / area;
        return DS_OK;
    }
    if (w % stride || h % stride) return DS_ERR_ARG;
    out[0] = h / stride, out[1] = w / stride, out[2] = c * area;
    return DS_OK;
}

int make_reorg_layer(size_t batch, size_t w, size_t h, size_t c, size_t stride, int reverse,
                     int flatten, size_t extra, int exact, reorg_layer **out)
{
    *out = NULL;
    if (stride == 0 || (extra && (reverse || flatten))) return DS_ERR_ARG;
    size_t inputs;
    int status = item_size(batch, h, w, c, &inputs);
    if (status != DS_OK) return status;
    if (extra > SIZE_MAX - inputs) return DS_ERR_NOMEM;
    /* with extra, 1 x 1 x (inputs + extra), where Darknet says 0 x 0 x 0 */
    size_t out_shape[3] = {1, 1, inputs + extra};
    if (!extra) status = stride_shape(h, w, c, stride, reverse, out_shape);
    if (status != DS_OK) return status;
    reorg_layer l = {
        .stride = stride,
        .extra = extra,
        .reverse = reverse != 0,
        .flatten = flatten != 0,
        .exact = exact != 0,
    };
    status = make_layer_shape(batch, h, w, c, out_shape[0], out_shape[1], out_shape[2], &l.shape);
    if (status != DS_OK) return status;
    return alloc_io_layer(out, &l, sizeof l, batch * l.shape.outputs, &l.output, &l.delta);
}

/* Darknet's reorg_cpu (src/blas.c), with its index arithmetic: in_index runs
   over c x h x w, out_index over (c/stride^2) x (h*stride) x (w*stride).
   forward copies x[in_index] to out[out_index], otherwise x[out_index] to
   out[in_index]; add sums into out instead of writing. */
static void reorg_cpu(const float *x, size_t w, size_t h, size_t c, size_t batch, size_t stride,
                      int forward, int add, float *out)
{
    size_t out_c = c / (stride * stride);
    for (size_t b = 0; b < batch; ++b) {
        for (size_t k = 0; k < c; ++k) {
            for (size_t j = 0; j < h; ++j) {
                for (size_t i = 0; i < w; ++i) {
                    size_t in_index = i + w * (j + h * (k + c * b));
                    size_t c2 = k % out_c;
                    size_t offset = k / out_c;
                    size_t w2 = i * stride + offset % stride;
                    size_t h2 = j * stride + offset / stride;
                    size_t out_index = w2 + w * stride * (h2 + h * stride * (c2 + out_c * b));
                    size_t to = forward ? out_index : in_index;
                    size_t from = forward ? in_index : out_index;
                    out[to] = add ? out[to] + x[from] : x[from];
                }
            }
        }
    }
}

/* Darknet's flatten (src/blas.c), out of place: each item's layers x size
   becomes size x layers (forward) or back; add sums into out. */
static void flatten(const float *x, size_t size, size_t layers, size_t batch, int forward, int add,
                    float *out)
{
    for (size_t b = 0; b < batch; ++b) {
        for (size_t k = 0; k < layers; ++k) {
            for (size_t i = 0; i < size; ++i) {
                size_t i1 = b * layers * size + k * size + i;
                size_t i2 = b * layers * size + i * layers + k;
                size_t to = forward ? i2 : i1;
                size_t from = forward ? i1 : i2;
                out[to] = add ? out[to] + x[from] : x[from];
            }
        }
    }
}

int forward_reorg_layer(reorg_layer *l, const network *net)
{
    const layer_shape *shape = &l->shape;
    if (!net->input) return DS_ERR_ARG;
    if (l->flatten) {
        flatten(net->input, shape->w * shape->h, shape->c, shape->batch, !l->reverse, 0, l->output);
    } else if (l->extra) {
        for (size_t b = 0; b < shape->batch; ++b) {
            float *item = l->output + b * shape->outputs;
            memcpy(item, net->input + b * shape->inputs, shape->inputs * sizeof(float));
            memset(item + shape->inputs, 0, l->extra * sizeof(float));
        }
    } else {
        reorg_cpu(net->input, shape->w, shape->h, shape->c, shape->batch, l->stride, l->reverse, 0,
                  l->output);
    }
    return DS_OK;
}

int backward_reorg_layer(const reorg_layer *l, const network *net)
{
    const layer_shape *shape = &l->shape;
    if (!net->delta) return DS_OK;
    int add = l->exact;
    if (l->flatten) {
        flatten(l->delta, shape->w * shape->h, shape->c, shape->batch, l->reverse, add, net->delta);
    } else if (l->extra) {
        for (size_t b = 0; b < shape->batch; ++b) {
            const float *item = l->delta + b * shape->outputs;
            float *to = net->delta + b * shape->inputs;
            for (size_t i = 0; i < shape->inputs; ++i) to[i] = add ? to[i] + item[i] : item[i];
        }
    } else {
        reorg_cpu(l->delta, shape->w, shape->h, shape->c, shape->batch, l->stride, !l->reverse, add,
                  net->delta);
    }
    return DS_OK;
}
