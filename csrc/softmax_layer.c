#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "layer_block.h"
#include "softmax_layer.h"
#include "status.h"

int make_softmax_layer(size_t batch, size_t inputs, size_t groups, softmax_layer **out)
{
    *out = NULL;
    if (groups == 0 || inputs % groups) return DS_ERR_ARG;
    softmax_layer l = {.groups = groups, .temperature = 1};
    int status = make_layer_shape(batch, 1, 1, inputs, 1, 1, inputs, &l.shape);
    if (status != DS_OK) return status;
    size_t counts[] = {batch * inputs, batch * inputs, batch * inputs};
    float **buffers[] = {&l.output, &l.delta, &l.loss};
    *out = make_layer_block(&l, sizeof l, 3, counts, buffers);
    return *out ? DS_OK : DS_ERR_NOMEM;
}

/* The plain and the spatial layouts' groups, as softmax_cpu's group arguments. */
typedef struct group_layout {
    size_t n, groups, group_offset, stride;
} group_layout;

static group_layout layout_of(const softmax_layer *l)
{
    if (l->spatial) {
        size_t positions = l->shape.w * l->shape.h;
        return (group_layout){
            .n = l->shape.c, .groups = positions, .group_offset = 1, .stride = positions};
    }
    size_t n = l->shape.inputs / l->groups;
    return (group_layout){.n = n, .groups = l->groups, .group_offset = n, .stride = 1};
}

/* Fields set after make_softmax_layer, checked before every pass. */
static int layer_is_valid(const softmax_layer *l)
{
    if (!(l->temperature > 0)) return 0;
    if (l->softmax_tree && (l->spatial || l->softmax_tree->n != l->shape.inputs)) return 0;
    const layer_shape *shape = &l->shape;
    if (l->spatial) {
        if (shape->w == 0 || shape->h == 0 || shape->c == 0) return 0;
        if (shape->w > shape->inputs / shape->h || shape->w * shape->h > shape->inputs / shape->c)
            return 0;
        if (shape->w * shape->h * shape->c != shape->inputs) return 0;
    }
    return 1;
}

/* Darknet masks only on the GPU; here the CPU masks too, so a group that the
   truth leaves unlabelled gives no delta and no loss. With a mask of bits in
   place of a branch around two stores, the loop vectorises: a masked value
   becomes +0 and any other keeps its bits, a NaN's included. */
static void mask_unlabelled(const softmax_layer *l, const float *truth)
{
    float *delta = l->delta, *loss = l->loss;
    size_t n = l->shape.batch * l->shape.inputs;
    for (size_t i = 0; i < n; ++i) {
        uint32_t keep = -(uint32_t)(truth[i] != SECRET_NUM), d, e;
        memcpy(&d, delta + i, sizeof d);
        memcpy(&e, loss + i, sizeof e);
        d &= keep;
        e &= keep;
        memcpy(delta + i, &d, sizeof d);
        memcpy(loss + i, &e, sizeof e);
    }
}

/* Darknet's loss: delta = truth - pred whatever the temperature, and -log(pred)
   wherever truth != 0. The exact loss goes group by group and masks itself. */
static void softmax_layer_loss(softmax_layer *l, const float *truth)
{
    if (!l->exact) {
        softmax_x_ent_cpu(l->shape.batch * l->shape.inputs, l->output, truth, l->delta, l->loss);
        if (l->softmax_tree) mask_unlabelled(l, truth);
        return;
    }
    const tree *t = l->softmax_tree;
    if (t) {
        softmax_x_ent_exact_tree_cpu(l->output, truth, l->shape.batch, l->shape.inputs,
                                     t->group_size, t->group_offset, t->groups, l->temperature,
                                     l->delta, l->loss);
        return;
    }
    group_layout g = layout_of(l);
    softmax_x_ent_exact_cpu(l->output, truth, g.n, l->shape.batch, l->shape.inputs, g.groups,
                            g.group_offset, g.stride, l->temperature, l->delta, l->loss);
}

int forward_softmax_layer(softmax_layer *l, const network *net)
{
    if (!net->input || !layer_is_valid(l)) return DS_ERR_ARG;
    const tree *t = l->softmax_tree;
    int loss = net->truth && !l->noloss;
    if (t && l->exact && loss) {
        /* The softmax and its exact loss in one pass over the groups. */
        softmax_tree_x_ent_exact_cpu(net->input, net->truth, l->shape.batch, l->shape.inputs,
                                     t->group_size, t->group_offset, t->groups, l->temperature,
                                     l->output, l->delta, l->loss);
    } else if (t) {
        /* Every tree group in one call, with no per-group overhead. */
        softmax_tree_cpu(net->input, l->shape.batch, l->shape.inputs, t->group_size,
                         t->group_offset, t->groups, l->temperature, l->output);
    } else {
        group_layout g = layout_of(l);
        softmax_cpu(net->input, g.n, l->shape.batch, l->shape.inputs, g.groups, g.group_offset,
                    g.stride, l->temperature, l->output);
    }
    if (loss && !(t && l->exact)) softmax_layer_loss(l, net->truth);
    if (loss) l->cost = sum_array(l->loss, l->shape.batch * l->shape.inputs);
    return DS_OK;
}

/* Accumulates into net->delta; the caller zeroes it. Darknet passes l->delta
   straight through: the fused softmax + cross-entropy gradient, right only when
   the layer took its own loss at temperature 1. With exact and noloss, l->delta
   is a delta fed in from above (the negative gradient with respect to the
   output), and its product with the softmax Jacobian is the negative gradient
   with respect to the input. */
int backward_softmax_layer(const softmax_layer *l, const network *net)
{
    if (!layer_is_valid(l)) return DS_ERR_ARG;
    if (!net->delta) return DS_OK;
    if (!(l->exact && l->noloss)) {
        axpy_cpu(l->shape.batch * l->shape.inputs, 1, l->delta, 1, net->delta, 1);
        return DS_OK;
    }
    const tree *t = l->softmax_tree;
    if (t) {
        softmax_backward_tree_cpu(l->output, l->delta, l->shape.batch, l->shape.inputs,
                                  t->group_size, t->group_offset, t->groups, l->temperature,
                                  net->delta);
        return DS_OK;
    }
    group_layout g = layout_of(l);
    softmax_backward_cpu(l->output, l->delta, g.n, l->shape.batch, l->shape.inputs, g.groups,
                         g.group_offset, g.stride, l->temperature, net->delta);
    return DS_OK;
}

/* Darknet's loss against the one-hot truth of each label, value by value
   (delta = truth - output, divided by the temperature when exact; the loss
   -log(output) at the label, 0 elsewhere), with no one-hot array. */
int softmax_layer_label_loss(softmax_layer *l, const int64_t *labels)
{
    if (!layer_is_valid(l) || l->groups != 1 || l->softmax_tree || l->spatial) return DS_ERR_ARG;
    for (size_t b = 0; b < l->shape.batch; ++b) {
        if (labels[b] < 0 || (uint64_t)labels[b] >= l->shape.inputs) return DS_ERR_ARG;
    }
    double scale = l->exact ? 1.0 / l->temperature : 1.0;
    for (size_t b = 0; b < l->shape.batch; ++b) {
        const float *output = l->output + b * l->shape.inputs;
        float *delta = l->delta + b * l->shape.inputs, *loss = l->loss + b * l->shape.inputs;
        size_t label = (size_t)labels[b];
        for (size_t i = 0; i < l->shape.inputs; ++i) {
            float truth = i == label;
            delta[i] = l->exact ? (float)((truth - output[i]) * scale) : truth - output[i];
            loss[i] = i == label ? -logf(output[i]) : 0;
        }
    }
    l->cost = sum_array(l->loss, l->shape.batch * l->shape.inputs);
    return DS_OK;
}
