#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "layer_block.h"
#include "route_layer.h"
#include "status.h"

/* The block has float buffers only: the source table takes whole floats of it
   (each buffer starts on a 64-byte line, so the table is aligned). */
static size_t table_floats(size_t n)
{
    return n * ((sizeof(route_source) + sizeof(float) - 1) / sizeof(float));
}

int make_route_layer(size_t batch, size_t n, const route_source *sources, route_layer **out)
{
    *out = NULL;
    if (batch == 0 || n == 0 || !sources) return DS_ERR_ARG;
    size_t outputs = 0;
    for (size_t i = 0; i < n; ++i) {
        if (sources[i].size == 0 || !sources[i].output) return DS_ERR_ARG;
        if (sources[i].size > SIZE_MAX - outputs) return DS_ERR_NOMEM;
        outputs += sources[i].size;
    }
    if (n > SIZE_MAX / sizeof(route_source)) return DS_ERR_NOMEM;
    route_layer l = {.n = n};
    int status = make_layer_shape(batch, 1, 1, outputs, 1, 1, outputs, &l.shape);
    if (status != DS_OK) return status;
    float *table = NULL;
    size_t counts[] = {batch * outputs, batch * outputs, table_floats(n)};
    float **buffers[] = {&l.output, &l.delta, &table};
    route_layer *made = make_layer_block(&l, sizeof l, 3, counts, buffers);
    if (!made) return DS_ERR_NOMEM;
    made->sources = (route_source *)(void *)table;
    memcpy(made->sources, sources, n * sizeof(route_source));
    *out = made;
    return DS_OK;
}

int forward_route_layer(route_layer *l, const network *net)
{
    (void)net; /* a route reads its sources, not the layer before it */
    size_t offset = 0;
    for (size_t i = 0; i < l->n; ++i) {
        const route_source *source = &l->sources[i];
        for (size_t b = 0; b < l->shape.batch; ++b) {
            memcpy(l->output + b * l->shape.outputs + offset, source->output + b * source->size,
                   source->size * sizeof(float));
        }
        offset += source->size;
    }
    return DS_OK;
}

int backward_route_layer(const route_layer *l, const network *net)
{
    (void)net;
    size_t offset = 0;
    for (size_t i = 0; i < l->n; ++i) {
        const route_source *source = &l->sources[i];
        if (source->delta) {
            for (size_t b = 0; b < l->shape.batch; ++b) {
                axpy_cpu(source->size, 1, l->delta + b * l->shape.outputs + offset, 1,
                         source->delta + b * source->size, 1);
            }
        }
        offset += source->size;
    }
    return DS_OK;
}
