#include <stdint.h>
#include <stdlib.h>

#include "blas.h"
#include "softmax_layer.h"
#include "status.h"

#define BUFFER_ALIGN 64

static uintptr_t align_up(uintptr_t offset)
{
    return (offset + BUFFER_ALIGN - 1) / BUFFER_ALIGN * BUFFER_ALIGN;
}

/* The buffers follow the struct in one block, each on its own cache line, so
   a NumPy view that keeps the struct alive keeps its buffer alive too. */
int make_softmax_layer(size_t batch, size_t inputs, size_t groups, softmax_layer **out)
{
    *out = NULL;
    if (batch == 0 || inputs == 0 || groups == 0 || inputs % groups) return DS_ERR_ARG;
    if (inputs > SIZE_MAX / batch / sizeof(float) / 4) return DS_ERR_NOMEM;
    size_t buffer_bytes = align_up(batch*inputs*sizeof(float));
    size_t first = align_up(sizeof(softmax_layer));
    char *block = calloc(1, first + 3*buffer_bytes + BUFFER_ALIGN);
    if (!block) return DS_ERR_NOMEM;
    softmax_layer *l = (softmax_layer *)block;
    uintptr_t start = (uintptr_t)block + first;
    char *buffers = block + (align_up(start) - (uintptr_t)block);
    l->batch = batch;
    l->inputs = inputs;
    l->outputs = inputs;
    l->groups = groups;
    l->temperature = 1;
    l->output = (float *)buffers;
    l->delta = (float *)(buffers + buffer_bytes);
    l->loss = (float *)(buffers + 2*buffer_bytes);
    *out = l;
    return DS_OK;
}

void free_softmax_layer(softmax_layer *l)
{
    free(l);
}

size_t softmax_layer_bytes(const softmax_layer *l)
{
    return (size_t)((const char *)(l->loss + l->batch*l->inputs) - (const char *)l);
}

static void forward_tree_groups(const softmax_layer *l, const network *net)
{
    const tree *t = l->softmax_tree;
    for (size_t i = 0; i < t->groups; ++i) {
        size_t offset = t->group_offset[i];
        softmax_cpu(net->input + offset, t->group_size[i], l->batch, l->inputs, 1, 0, 1,
                    l->temperature, l->output + offset);
    }
}

/* Darknet masks only on the GPU; here the CPU masks too, so a group that the
   truth leaves unlabelled gives no delta and no loss. */
static void mask_unlabelled(const softmax_layer *l, const float *truth)
{
    for (size_t i = 0; i < l->batch*l->inputs; ++i) {
        if (truth[i] == SECRET_NUM) {
            l->delta[i] = 0;
            l->loss[i] = 0;
        }
    }
}

int forward_softmax_layer(softmax_layer *l, const network *net)
{
    if (!net->input || !(l->temperature > 0)) return DS_ERR_ARG;
    if (l->softmax_tree && l->softmax_tree->n != l->inputs) return DS_ERR_ARG;
    size_t n = l->inputs / l->groups;
    if (l->softmax_tree) {
        forward_tree_groups(l, net);
    } else {
        softmax_cpu(net->input, n, l->batch, l->inputs, l->groups, n, 1,
                    l->temperature, l->output);
    }
    if (net->truth && !l->noloss) {
        softmax_x_ent_cpu(l->batch*l->inputs, l->output, net->truth, l->delta, l->loss);
        if (l->softmax_tree) mask_unlabelled(l, net->truth);
        l->cost = sum_array(l->loss, l->batch*l->inputs);
    }
    return DS_OK;
}

/* The fused softmax + cross-entropy gradient: right only when the layer took
   its own loss at temperature 1. Accumulates; the caller zeroes net->delta. */
int backward_softmax_layer(const softmax_layer *l, const network *net)
{
    if (net->delta) axpy_cpu(l->batch*l->inputs, 1, l->delta, 1, net->delta, 1);
    return DS_OK;
}
