#include <stdlib.h>

#include "avgpool_layer.h"
#include "layer_block.h"
#include "status.h"

int make_avgpool_layer(size_t batch, size_t h, size_t w, size_t c, avgpool_layer **out)
{
    *out = NULL;
    avgpool_layer l = {0};
    int status = make_layer_shape(batch, h, w, c, 1, 1, c, &l.shape);
    if (status != DS_OK) return status;
    return alloc_io_layer(out, &l, sizeof l, batch * c, &l.output, &l.delta);
}

/* Darknet sums in float; the sum here is a double, so a long channel loses
   nothing to rounding: the two differ by float rounding only. */
int forward_avgpool_layer(avgpool_layer *l, const network *net)
{
    if (!net->input) return DS_ERR_ARG;
    size_t positions = l->shape.h * l->shape.w;
    for (size_t plane = 0; plane < l->shape.batch * l->shape.c; ++plane) {
        const float *input = net->input + plane * positions;
        double sum = 0;
        for (size_t i = 0; i < positions; ++i) sum += input[i];
        l->output[plane] = (float)(sum / (double)positions);
    }
    return DS_OK;
}

int backward_avgpool_layer(const avgpool_layer *l, const network *net)
{
    if (!net->delta) return DS_OK;
    size_t positions = l->shape.h * l->shape.w;
    for (size_t plane = 0; plane < l->shape.batch * l->shape.c; ++plane) {
        float share = l->delta[plane] / (float)positions;
        float *delta = net->delta + plane * positions;
        for (size_t i = 0; i < positions; ++i) delta[i] += share;
    }
    return DS_OK;
}
