#ifndef DARKNET_SOFTMAX_COST_LAYER_H
#define DARKNET_SOFTMAX_COST_LAYER_H

#include <stddef.h>

#include "layer.h"
#include "network.h"
#include "status.h"

/* Darknet's cost types (src/cost_layer.h), with Darknet's enum values for the
   four this project supports. */
typedef enum {
    SSE = 0,
    MASKED = 1,
    L1 = 2,
    SMOOTH = 4,
} COST_TYPE;

/* Darknet's cost layer (src/cost_layer.c). output holds each value's error
   (its sum is cost) and delta its NEGATIVE gradient, batch*inputs floats each,
   in one allocation with the struct. backward adds scale*delta to net->delta. */
typedef struct cost_layer {
    layer_shape shape;
    COST_TYPE cost_type;
    float scale;
    float *output;
    float *delta;
    float cost;
} cost_layer;

DS_API int make_cost_layer(size_t batch, size_t inputs, COST_TYPE cost_type, float scale,
                           cost_layer **out);
/* Does nothing without a truth, as in Darknet. */
DS_API int forward_cost_layer(cost_layer *l, const network *net);
DS_API int backward_cost_layer(const cost_layer *l, const network *net);

/* The kernels, which Darknet keeps in src/blas.c; diff = truth - pred.
   l2: error = diff^2 and delta = diff, the negative gradient of error/2.
   l1: error = |diff| and delta = 1 where diff > 0, else -1, as in Darknet,
   so -1 at diff = 0. smooth_l1: l2 where |diff| < 1, else error =
   2|diff| - 1 and delta = the sign of diff. Darknet has the opposite sign
   there, which climbs the loss. */
DS_API void l2_cpu(size_t n, const float *pred, const float *truth, float *delta, float *error);
DS_API void l1_cpu(size_t n, const float *pred, const float *truth, float *delta, float *error);
DS_API void smooth_l1_cpu(size_t n, const float *pred, const float *truth, float *delta,
                          float *error);

#endif
