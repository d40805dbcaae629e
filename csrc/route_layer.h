#ifndef DARKNET_SOFTMAX_ROUTE_LAYER_H
#define DARKNET_SOFTMAX_ROUTE_LAYER_H

#include <stddef.h>

#include "layer.h"
#include "network.h"
#include "status.h"

/* One layer a route reads: its output and delta (borrowed: the caller keeps
   both alive while the route lives; delta may be NULL, as after a [crop]),
   and the floats one item of it holds. */
typedef struct route_source {
    const float *output;
    float *delta;
    size_t size;
} route_source;

/* Darknet's route layer (src/route_layer.c): each item of the output is the
   items of n earlier layers' outputs, one after another (along the channels,
   since data is channel-major). outputs is the sum of the sizes; inputs
   equals it, as in Darknet (the route does not read net->input). sources,
   output and delta share one allocation with the struct. */
typedef struct route_layer {
    layer_shape shape;
    size_t n;
    route_source *sources;
    float *output;
    float *delta;
} route_layer;

/* The n sources are copied into the layer; every size must be at least 1
   and every output set. */
DS_API int make_route_layer(size_t batch, size_t n, const route_source *sources, route_layer **out);
/* For each item, the sources' items copied one after another into output. */
DS_API int forward_route_layer(route_layer *l, const network *net);
/* Each source's slice of delta is added into that source's delta, where it
   has one; net is not read. */
DS_API int backward_route_layer(const route_layer *l, const network *net);

#endif
