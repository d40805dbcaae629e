#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "layer_block.h"
#include "shortcut_layer.h"
#include "status.h"

/* Darknet's shape rule for shortcut_cpu(w1, h1, .., w2, h2): its asserts. */
static int shapes_match(size_t w1, size_t h1, size_t w2, size_t h2)
{
    return w1 / w2 == h1 / h2 && w2 / w1 == h2 / h1;
}

int make_shortcut_layer(size_t batch, size_t w, size_t h, size_t c, size_t w2, size_t h2, size_t c2,
                        const float *from_output, float *from_delta, ACTIVATION activation,
                        float alpha, float beta, int exact, shortcut_layer **out)
{
    *out = NULL;
    shortcut_layer l = {
        .activation = activation,
        .alpha = alpha,
        .beta = beta,
        .exact = exact != 0,
        .from_output = from_output,
        .from_delta = from_delta,
    };
    int status = make_layer_shape(batch, h, w, c, h, w, c, &l.shape);
    if (status == DS_OK) status = make_layer_shape(batch, h2, w2, c2, h2, w2, c2, &l.from);
    if (status != DS_OK) return status;
    if (!from_output || !shapes_match(w2, h2, w, h)) return DS_ERR_ARG;
    float probe = 0;
    if (activate_array(&probe, 1, activation) != DS_OK) return DS_ERR_ARG;
    return alloc_io_layer(out, &l, sizeof l, batch * l.shape.outputs, &l.output, &l.delta);
}

/* Darknet's shortcut_cpu (src/blas.c): out = s1*out + s2*add over the
   smaller of the two shapes, stepping through the larger with a stride of
   their ratio; out's other positions are left as they are. */
static void shortcut_cpu(size_t batch, size_t w1, size_t h1, size_t c1, const float *add, size_t w2,
                         size_t h2, size_t c2, float s1, float s2, float *out)
{
    size_t stride = w1 / w2 ? w1 / w2 : 1;
    size_t sample = w2 / w1 ? w2 / w1 : 1;
    size_t minw = w1 < w2 ? w1 : w2;
    size_t minh = h1 < h2 ? h1 : h2;
    size_t minc = c1 < c2 ? c1 : c2;
    for (size_t b = 0; b < batch; ++b) {
        for (size_t k = 0; k < minc; ++k) {
            for (size_t j = 0; j < minh; ++j) {
                for (size_t i = 0; i < minw; ++i) {
                    size_t out_index = i * sample + w2 * (j * sample + h2 * (k + c2 * b));
                    size_t add_index = i * stride + w1 * (j * stride + h1 * (k + c1 * b));
                    out[out_index] = s1 * out[out_index] + s2 * add[add_index];
                }
            }
        }
    }
}

int forward_shortcut_layer(shortcut_layer *l, const network *net)
{
    const layer_shape *shape = &l->shape;
    if (!net->input) return DS_ERR_ARG;
    size_t n = shape->batch * shape->outputs;
    memcpy(l->output, net->input, n * sizeof(float));
    shortcut_cpu(shape->batch, l->from.w, l->from.h, l->from.c, l->from_output, shape->out_w,
                 shape->out_h, shape->out_c, l->alpha, l->beta, l->output);
    return activate_array(l->output, n, l->activation);
}

/* The exact gradient into the layer before: alpha where shortcut_cpu scaled
   the input, 1 where it left the input as it was. */
static void exact_input_delta(const shortcut_layer *l, float *net_delta)
{
    const layer_shape *shape = &l->shape;
    size_t sample = shape->out_w / l->from.w ? shape->out_w / l->from.w : 1;
    size_t minw = l->from.w < shape->out_w ? l->from.w : shape->out_w;
    size_t minh = l->from.h < shape->out_h ? l->from.h : shape->out_h;
    size_t minc = l->from.c < shape->out_c ? l->from.c : shape->out_c;
    size_t i = 0;
    for (size_t b = 0; b < shape->batch; ++b) {
        for (size_t k = 0; k < shape->out_c; ++k) {
            for (size_t y = 0; y < shape->out_h; ++y) {
                for (size_t x = 0; x < shape->out_w; ++x, ++i) {
                    int sampled = k < minc && y % sample == 0 && y / sample < minh
                                  && x % sample == 0 && x / sample < minw;
                    net_delta[i] += (sampled ? l->alpha : 1.f) * l->delta[i];
                }
            }
        }
    }
}

int backward_shortcut_layer(shortcut_layer *l, const network *net)
{
    const layer_shape *shape = &l->shape;
    size_t n = shape->batch * shape->outputs;
    int status = gradient_array(l->output, n, l->activation, l->delta);
    if (status != DS_OK) return status;
    if (net->delta) {
        if (l->exact) {
            exact_input_delta(l, net->delta);
        } else {
            axpy_cpu(n, l->alpha, l->delta, 1, net->delta, 1);
        }
    }
    if (l->from_delta) {
        shortcut_cpu(shape->batch, shape->out_w, shape->out_h, shape->out_c, l->delta, l->from.w,
                     l->from.h, l->from.c, 1, l->beta, l->from_delta);
    }
    return DS_OK;
}
