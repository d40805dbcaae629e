#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "blas.h"
#include "cost_layer.h"
#include "layer_block.h"
#include "status.h"
#include "tree.h"

void l2_cpu(size_t n, const float *pred, const float *truth, float *delta, float *error)
{
    for (size_t i = 0; i < n; ++i) {
        float diff = truth[i] - pred[i];
        error[i] = diff * diff;
        delta[i] = diff;
    }
}

void l1_cpu(size_t n, const float *pred, const float *truth, float *delta, float *error)
{
    for (size_t i = 0; i < n; ++i) {
        float diff = truth[i] - pred[i];
        error[i] = fabsf(diff);
        delta[i] = diff > 0 ? 1 : -1;
    }
}

void smooth_l1_cpu(size_t n, const float *pred, const float *truth, float *delta, float *error)
{
    for (size_t i = 0; i < n; ++i) {
        float diff = truth[i] - pred[i];
        float abs_val = fabsf(diff);
        if (abs_val < 1) {
            error[i] = diff * diff;
            delta[i] = diff;
        } else {
            error[i] = 2 * abs_val - 1;
            delta[i] = diff < 0 ? -1 : 1;
        }
    }
}

static int known(COST_TYPE t)
{
    return t == SSE || t == MASKED || t == L1 || t == SMOOTH;
}

int make_cost_layer(size_t batch, size_t inputs, COST_TYPE cost_type, float scale, cost_layer **out)
{
    *out = NULL;
    if (!known(cost_type) || !isfinite(scale)) return DS_ERR_ARG;
    cost_layer l = {.cost_type = cost_type, .scale = scale};
    int status = make_layer_shape(batch, 1, 1, inputs, 1, 1, inputs, &l.shape);
    if (status != DS_OK) return status;
    return alloc_io_layer(out, &l, sizeof l, batch * inputs, &l.output, &l.delta);
}

/* MASKED: Darknet writes SECRET_NUM into the input wherever the truth holds
   it, so that diff is 0 there. Here the input stays as it is and those values
   get error and delta 0, the same result. */
int forward_cost_layer(cost_layer *l, const network *net)
{
    if (!net->input) return DS_ERR_ARG;
    if (!net->truth) return DS_OK;
    size_t n = l->shape.batch * l->shape.inputs;
    if (l->cost_type == SMOOTH) smooth_l1_cpu(n, net->input, net->truth, l->delta, l->output);
    else if (l->cost_type == L1) l1_cpu(n, net->input, net->truth, l->delta, l->output);
    else l2_cpu(n, net->input, net->truth, l->delta, l->output);
    if (l->cost_type == MASKED) {
        for (size_t i = 0; i < n; ++i) {
            if (net->truth[i] == SECRET_NUM) l->delta[i] = l->output[i] = 0;
        }
    }
    l->cost = sum_array(l->output, n);
    return DS_OK;
}

int backward_cost_layer(const cost_layer *l, const network *net)
{
    if (net->delta)
        axpy_cpu(l->shape.batch * l->shape.inputs, l->scale, l->delta, 1, net->delta, 1);
    return DS_OK;
}
