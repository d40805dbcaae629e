#include <stdint.h>
#include <stdlib.h>

#include "batchnorm_layer.h"
#include "blas.h"
#include "connected_layer.h"
#include "gemm.h"
#include "layer_block.h"
#include "status.h"

/* The per-output buffers, outputs floats each, one after another in the
   block's one per-output buffer: biases and bias_updates always, then the
   eight of batch normalisation. */
enum { PLAIN_PER_OUTPUT = 2, BATCHNORM_PER_OUTPUT = 10 };

int make_connected_layer(size_t batch, size_t inputs, size_t outputs, ACTIVATION activation,
                         int batch_normalize, int exact, connected_layer **out)
{
    *out = NULL;
    float probe = 0;
    if (activate_array(&probe, 1, activation) != DS_OK) return DS_ERR_ARG;
    connected_layer l = {
        .activation = activation,
        .batch_normalize = !!batch_normalize,
        .exact = !!exact,
    };
    int status = make_layer_shape(batch, 1, 1, inputs, 1, 1, outputs, &l.shape);
    if (status != DS_OK) return status;
    if (inputs > SIZE_MAX / outputs || outputs > SIZE_MAX / BATCHNORM_PER_OUTPUT)
        return DS_ERR_NOMEM;
    size_t outs = batch * outputs, weights = outputs * inputs;
    size_t per_output = outputs * (batch_normalize ? BATCHNORM_PER_OUTPUT : PLAIN_PER_OUTPUT);
    size_t normalised = batch_normalize ? outs : 0;
    size_t counts[] = {outs, outs, weights, weights, per_output, normalised, normalised};
    float **buffers[] = {
        &l.output, &l.delta, &l.weights, &l.weight_updates, &l.biases, &l.x, &l.x_norm,
    };
    status = alloc_layer(out, &l, sizeof l, 7, counts, buffers);
    if (status != DS_OK) return status;
    float **per_output_buffers[] = {PER_OUTPUT_BUFFERS(*out)};
    split_per_output((*out)->biases, outputs, batch_normalize, per_output_buffers);
    return DS_OK;
}

int forward_connected_layer(connected_layer *l, const network *net)
{
    if (!net->input) return DS_ERR_ARG;
    size_t m = l->shape.batch, k = l->shape.inputs, n = l->shape.outputs;
    int status = gemm(0, 1, m, n, k, 1, net->input, k, l->weights, k, 0, l->output, n);
    if (status != DS_OK) return status;
    if (l->batch_normalize) {
        forward_batchnorm_layer(l->output, m, n, 1, net->train, l->exact, l->scales, l->biases,
                                l->mean, l->variance, l->rolling_mean, l->rolling_variance, l->x,
                                l->x_norm);
    } else {
        for (size_t b = 0; b < m; ++b) axpy_cpu(n, 1, l->biases, 1, l->output + b * n, 1);
    }
    return activate_array(l->output, m * n, l->activation);
}

int backward_connected_layer(connected_layer *l, const network *net)
{
    if (!net->input) return DS_ERR_ARG;
    size_t batch = l->shape.batch, inputs = l->shape.inputs, outputs = l->shape.outputs;
    int status = gradient_array(l->output, batch * outputs, l->activation, l->delta);
    if (status != DS_OK) return status;
    if (l->batch_normalize) {
        backward_batchnorm_layer(l->delta, batch, outputs, 1, net->train, l->exact, l->scales, l->x,
                                 l->x_norm, l->mean, l->variance, l->rolling_mean,
                                 l->rolling_variance, l->mean_delta, l->variance_delta,
                                 l->bias_updates, l->scale_updates);
    } else {
        for (size_t b = 0; b < batch; ++b) {
            axpy_cpu(outputs, 1, l->delta + b * outputs, 1, l->bias_updates, 1);
        }
    }
    status = gemm(1, 0, outputs, inputs, batch, 1, l->delta, outputs, net->input, inputs, 1,
                  l->weight_updates, inputs);
    if (status != DS_OK || !net->delta) return status;
    return gemm(0, 0, batch, inputs, outputs, 1, l->delta, outputs, l->weights, inputs, 1,
                net->delta, inputs);
}

static void scal(size_t n, float alpha, float *x)
{
    for (size_t i = 0; i < n; ++i) x[i] *= alpha;
}

/* The updates hold delta sums, and delta is the negative gradient, so the step
   ADDS learning_rate/batch times them. Decay enters the updates as
   -decay*batch*weights, which the same factor turns into -learning_rate*decay*w.
   What remains, times momentum, carries into the next step. */
int update_connected_layer(connected_layer *l, size_t batch, float learning_rate, float momentum,
                           float decay)
{
    if (batch == 0) return DS_ERR_ARG;
    size_t n = l->shape.inputs * l->shape.outputs;
    float rate = learning_rate / batch;
    axpy_cpu(l->shape.outputs, rate, l->bias_updates, 1, l->biases, 1);
    scal(l->shape.outputs, momentum, l->bias_updates);
    if (l->batch_normalize) {
        axpy_cpu(l->shape.outputs, rate, l->scale_updates, 1, l->scales, 1);
        scal(l->shape.outputs, momentum, l->scale_updates);
    }
    axpy_cpu(n, -decay * batch, l->weights, 1, l->weight_updates, 1);
    axpy_cpu(n, rate, l->weight_updates, 1, l->weights, 1);
    scal(n, momentum, l->weight_updates);
    return DS_OK;
}
