#include <stdint.h>
#include <stdlib.h>

#include "batchnorm_layer.h"
#include "col2im.h"
#include "convolutional_layer.h"
#include "gemm.h"
#include "gemm_blocks.h"
#include "im2col.h"
#include "im2col_walk.h"
#include "layer_block.h"
#include "runtime.h"
#include "status.h"
#include "threadpool.h"

/* The per-filter buffers, filters floats each, one after another in the
   block's one per-filter buffer: biases and bias_updates always, the rest
   with batch_normalize. */
enum { PLAIN_PER_FILTER = 2, BATCHNORM_PER_FILTER = 10 };

/* Darknet reads the input of a 1x1 convolution with stride 1 in place of its
   im2col (which is the input itself when there is no padding). */
static int direct(const convolutional_layer *l)
{
    return l->size == 1 && l->stride == 1 && l->padding == 0;
}

int make_convolutional_layer(size_t batch, size_t h, size_t w, size_t c, size_t filters,
                             size_t groups, size_t size, size_t stride, size_t padding,
                             ACTIVATION activation, int batch_normalize, int exact,
                             convolutional_layer **out)
{
    *out = NULL;
    if (!batch || !h || !w || !c || !filters || !groups || !size || !stride) return DS_ERR_ARG;
    if (c % groups || filters % groups) return DS_ERR_ARG;
    float probe = 0;
    if (activate_array(&probe, 1, activation) != DS_OK) return DS_ERR_ARG;
    size_t larger = h > w ? h : w;
    if (padding > (SIZE_MAX - larger) / 2) return DS_ERR_NOMEM;
    if (h + 2 * padding < size || w + 2 * padding < size) return DS_ERR_ARG;
    convolutional_layer l = {
        .filters = filters,
        .size = size,
        .stride = stride,
        .padding = padding,
        .groups = groups,
        .batch_normalize = !!batch_normalize,
        .exact = !!exact,
        .activation = activation,
    };
    size_t out_h = (h + 2 * padding - size) / stride + 1;
    size_t out_w = (w + 2 * padding - size) / stride + 1;
    size_t spatial, kernel, column, per_filter;
    int fits = make_layer_shape(batch, h, w, c, out_h, out_w, filters, &l.shape) == DS_OK
               && product(out_h, out_w, &spatial) && product(size, size, &kernel)
               && product(kernel, c / groups, &column) && product(column, filters, &l.nweights)
               && product(column, spatial, &l.workspace_size)
               && product(filters, BATCHNORM_PER_FILTER, &per_filter);
    if (!fits) return DS_ERR_NOMEM;
    size_t outs = batch * l.shape.outputs;
    if (direct(&l)) l.workspace_size = 0;
    if (!batch_normalize) per_filter = filters * PLAIN_PER_FILTER;
    size_t normalised = batch_normalize ? outs : 0;
    size_t counts[] = {outs,       outs,       l.nweights, l.nweights,
                       per_filter, normalised, normalised, l.workspace_size};
    float **buffers[] = {
        &l.output, &l.delta, &l.weights, &l.weight_updates,
        &l.biases, &l.x,     &l.x_norm,  &l.workspace,
    };
    int status = alloc_layer(out, &l, sizeof l, 8, counts, buffers);
    if (status != DS_OK) return status;
    float **per_output_buffers[] = {PER_OUTPUT_BUFFERS(*out)};
    split_per_output((*out)->biases, filters, batch_normalize, per_output_buffers);
    return DS_OK;
}

/* The im2col matrix of one group's input (k rows of out_h*out_w columns): the
   input itself where the convolution is direct, else the workspace. */
static const float *group_columns(const convolutional_layer *l, const float *im)
{
    const layer_shape *shape = &l->shape;
    if (direct(l)) return im;
    im2col_cpu(im, shape->c / l->groups, shape->h, shape->w, l->size, l->stride, l->padding,
               l->workspace);
    return l->workspace;
}

/* The sizes of one group of one item: its filters, the floats of a column of
   its im2col matrix (channels x size x size), its output positions (out_h x
   out_w) and the floats of its input (channels x h x w). */
typedef struct group_sizes {
    size_t filters, column, positions, input;
} group_sizes;

static group_sizes group_sizes_of(const convolutional_layer *l)
{
    const layer_shape *shape = &l->shape;
    size_t channels = shape->c / l->groups;
    return (group_sizes){.filters = l->filters / l->groups,
                         .column = channels * l->size * l->size,
                         .positions = shape->out_h * shape->out_w,
                         .input = channels * shape->h * shape->w};
}

/* Where gemm packs, every group's weights (m x k, or k x m transposed)
   packed whole, one group after another; NULL on the scalar path, and
   where the memory cannot be had. */
static float *packed_weights(const convolutional_layer *l, int transposed, size_t m, size_t k)
{
    if (!gemm_packs()) return NULL;
    size_t rows = transposed ? k : m, cols = transposed ? m : k;
    size_t floats = gemm_packed_a_floats(rows, cols);
    float *packed = malloc(l->groups * floats * sizeof(float));
    for (size_t j = 0; packed && j < l->groups; ++j)
        gemm_pack_a(transposed, rows, cols, l->weights + j * l->nweights / l->groups,
                    transposed ? rows : cols, packed + j * floats);
    return packed;
}

/* Without batch normalisation, gemm's threads add the biases of the
   group's filters and apply the activation to each block of output planes
   as they finish it: add_bias and activate_array, on a block at a time. */
typedef struct plane_finish {
    const float *biases;
    ACTIVATION activation;
} plane_finish;

static void finish_planes(void *context, float *c, size_t ldc, size_t row, size_t rows, size_t cols)
{
    const plane_finish *f = context;
    for (size_t r = 0; r < rows; ++r) {
        float *plane = c + r * ldc, bias = f->biases[row + r];
        for (size_t k = 0; k < cols; ++k) plane[k] += bias;
        activate_array(plane, cols, f->activation);
    }
}

/* The forward pass's products: for each item and group, the group's
   filters (m rows of k weights) times the im2col of the group's channels (k
   rows of n columns), into the group's m output planes. */
typedef struct forward_work {
    const convolutional_layer *l;
    const float *input;
    float *packed; /* each group's weights packed (gemm_pack_a), or NULL */
    int serial;    /* each product on one thread, the products side by side */
    int status[DS_MAX_THREADS];
} forward_work;

/* Product p of the forward pass: item p / groups, group p % groups. */
static int forward_product(const forward_work *w, size_t p)
{
    const convolutional_layer *l = w->l;
    const layer_shape *shape = &l->shape;
    group_sizes g = group_sizes_of(l);
    size_t m = g.filters, k = g.column, n = g.positions, j = p % l->groups;
    const float *a = l->weights + j * l->nweights / l->groups;
    const float *im = w->input + p * g.input;
    /* Where gemm packs, the im2col matrix is packed from the image itself. */
    int implicit = gemm_packs() && !direct(l);
    im2col_image image = {im,        shape->c / l->groups, shape->h, shape->w, l->size, l->stride,
                          l->padding};
    const float *b = implicit ? NULL : group_columns(l, im);
    float *c = l->output + p * n * m;
    plane_finish finish = {l->biases + j * m, l->activation};
    gemm_hooks hooks = {.packed_a = w->packed ? w->packed + j * gemm_packed_a_floats(m, k) : NULL,
                        .pack_b = implicit ? im2col_panels : NULL,
                        .b_context = &image,
                        .finish = l->batch_normalize ? NULL : finish_planes,
                        .finish_context = &finish,
                        .serial = w->serial};
    return gemm_with(0, 0, m, n, k, 1, a, k, b, n, 0, c, n, &hooks);
}

/* A share of the products, each on this thread. */
static void forward_part(void *context, size_t part, size_t parts)
{
    forward_work *w = context;
    size_t begin, end;
    pool_share(w->l->shape.batch * w->l->groups, part, parts, &begin, &end);
    int status = DS_OK;
    for (size_t p = begin; p < end && status == DS_OK; ++p) status = forward_product(w, p);
    w->status[part] = status;
}

/* Where the products share out evenly over the threads, each thread takes
   its share whole, packing its own im2col blocks; else (a batch of one, say)
   the threads share each product, each packing every block of its im2col
   matrix. Darknet runs the products one after another. */
static int forward_products(forward_work *w)
{
    size_t products = w->l->shape.batch * w->l->groups, threads = pool_threads();
    w->serial = gemm_packs() && threads > 1 && products % threads == 0;
    /* One part runs on this thread, whose products then share the pool. */
    size_t parts = w->serial ? threads : 1;
    pool_run(forward_part, w, parts);
    for (size_t part = 0; part < parts; ++part) {
        if (w->status[part] != DS_OK) return w->status[part];
    }
    return DS_OK;
}

int forward_convolutional_layer(convolutional_layer *l, const network *net)
{
    const layer_shape *shape = &l->shape;
    /* The activation is checked before anything is written: finish_planes
       cannot report it. */
    if (!net->input || activate_array(NULL, 0, l->activation) != DS_OK) return DS_ERR_ARG;
    group_sizes g = group_sizes_of(l);
    /* Where gemm packs, each group's weights are packed once for all the
       items. */
    forward_work w = {
        .l = l, .input = net->input, .packed = packed_weights(l, 0, g.filters, g.column)};
    if (gemm_packs() && !w.packed) return DS_ERR_NOMEM;
    int status = forward_products(&w);
    free(w.packed);
    if (status != DS_OK) return status;
    if (!l->batch_normalize) return DS_OK;
    size_t n = g.positions;
    forward_batchnorm_layer(l->output, shape->batch, l->filters, n, net->train, l->exact, l->scales,
                            l->biases, l->mean, l->variance, l->rolling_mean, l->rolling_variance,
                            l->x, l->x_norm);
    return activate_array(l->output, shape->batch * shape->outputs, l->activation);
}

/* Darknet's names in backward: m filters of a group, n = one column of the
   im2col matrix, k = out_h*out_w positions. */
int backward_convolutional_layer(convolutional_layer *l, const network *net)
{
    const layer_shape *shape = &l->shape;
    if (!net->input) return DS_ERR_ARG;
    group_sizes g = group_sizes_of(l);
    size_t m = g.filters, n = g.column, k = g.positions, group_input = g.input;
    /* The input delta's products share the transposed weights: packed once. */
    float *packed = net->delta ? packed_weights(l, 1, m, n) : NULL;
    if (net->delta && gemm_packs() && !packed) return DS_ERR_NOMEM;
    int status = gradient_array(l->output, shape->batch * shape->outputs, l->activation, l->delta);
    if (status != DS_OK) {
        free(packed);
        return status;
    }
    if (l->batch_normalize) {
        backward_batchnorm_layer(l->delta, shape->batch, l->filters, k, net->train, l->exact,
                                 l->scales, l->x, l->x_norm, l->mean, l->variance, l->rolling_mean,
                                 l->rolling_variance, l->mean_delta, l->variance_delta,
                                 l->bias_updates, l->scale_updates);
    } else {
        backward_bias(l->bias_updates, l->delta, shape->batch, l->filters, k);
    }
    for (size_t i = 0; i < shape->batch && status == DS_OK; ++i) {
        for (size_t j = 0; j < l->groups && status == DS_OK; ++j) {
            const float *delta = l->delta + (i * l->groups + j) * m * k;
            const float *b = group_columns(l, net->input + (i * l->groups + j) * group_input);
            float *updates = l->weight_updates + j * l->nweights / l->groups;
            status = gemm(0, 1, m, n, k, 1, delta, k, b, k, 1, updates, n);
            if (status != DS_OK || !net->delta) continue;
            const float *weights = l->weights + j * l->nweights / l->groups;
            float *imd = net->delta + (i * l->groups + j) * group_input;
            gemm_hooks hooks = {.packed_a =
                                    packed ? packed + j * gemm_packed_a_floats(n, m) : NULL};
            if (direct(l)) {
                /* Darknet's BETA = 0 here overwrites what a shortcut or a
                   route had already added to net->delta; exact adds. */
                status = gemm_with(1, 0, n, k, m, 1, weights, n, delta, k, l->exact ? 1 : 0, imd, k,
                                   &hooks);
            } else {
                status =
                    gemm_with(1, 0, n, k, m, 1, weights, n, delta, k, 0, l->workspace, k, &hooks);
                if (status == DS_OK) {
                    col2im_cpu(l->workspace, shape->c / l->groups, shape->h, shape->w, l->size,
                               l->stride, l->padding, imd);
                }
            }
        }
    }
    free(packed);
    return status;
}

static void scal(size_t n, float alpha, float *x)
{
    for (size_t i = 0; i < n; ++i) x[i] *= alpha;
}

/* As update_connected_layer: the updates hold delta sums (the negative
   gradient), so the step ADDS learning_rate/batch times them; decay enters
   the weight updates as -decay*batch*weights. */
int update_convolutional_layer(convolutional_layer *l, size_t batch, float learning_rate,
                               float momentum, float decay)
{
    if (batch == 0) return DS_ERR_ARG;
    float rate = learning_rate / batch;
    for (size_t f = 0; f < l->filters; ++f) l->biases[f] += rate * l->bias_updates[f];
    scal(l->filters, momentum, l->bias_updates);
    if (l->batch_normalize) {
        for (size_t f = 0; f < l->filters; ++f) l->scales[f] += rate * l->scale_updates[f];
        scal(l->filters, momentum, l->scale_updates);
    }
    for (size_t i = 0; i < l->nweights; ++i) {
        l->weight_updates[i] += -decay * batch * l->weights[i];
        l->weights[i] += rate * l->weight_updates[i];
    }
    scal(l->nweights, momentum, l->weight_updates);
    return DS_OK;
}
