#ifndef DARKNET_SOFTMAX_SHORTCUT_LAYER_H
#define DARKNET_SOFTMAX_SHORTCUT_LAYER_H

#include <stddef.h>

#include "activations.h"
#include "layer.h"
#include "network.h"
#include "status.h"

/* Darknet's shortcut layer (src/shortcut_layer.c): output = activation(
   alpha*input + beta*from), where input is the layer before (the shape's w x
   h x c, the output's too) and from an earlier layer (from's w x h x c, in
   and out alike; Darknet keeps that one in its w, h and c). Where
   the shapes differ, shortcut_cpu samples the larger with a stride, over the
   smaller's width, height and channels; the positions it does not reach keep
   the input, unscaled by alpha, as in Darknet. from_output and from_delta are
   borrowed (the caller keeps them alive; from_delta may be NULL). output and
   delta share one allocation with the struct. */
typedef struct shortcut_layer {
    layer_shape shape;
    layer_shape from;
    ACTIVATION activation;
    float alpha;
    float beta;
    int exact;
    const float *from_output;
    float *from_delta;
    float *output;
    float *delta;
} shortcut_layer;

/* (w, h, c) is the layer before's shape, (w2, h2, c2) the from layer's, as
   Darknet's make_shortcut_layer takes them. DS_ERR_ARG where Darknet's
   shortcut_cpu would fail its asserts: the integer ratios w2/w and h2/h must
   be equal, and so must w/w2 and h/h2. */
DS_API int make_shortcut_layer(size_t batch, size_t w, size_t h, size_t c, size_t w2, size_t h2,
                               size_t c2, const float *from_output, float *from_delta,
                               ACTIVATION activation, float alpha, float beta, int exact,
                               shortcut_layer **out);
/* output = net->input; Darknet's shortcut_cpu adds from with alpha and beta; then the activation. */
DS_API int forward_shortcut_layer(shortcut_layer *l, const network *net);
/* delta *= the activation's derivative; net->delta += alpha*delta, when set;
   from_delta += beta*delta at the positions forward sampled, when set.
   Darknet scales net->delta by alpha everywhere, also where forward left the
   input unscaled; with exact, those positions get delta itself. */
DS_API int backward_shortcut_layer(shortcut_layer *l, const network *net);

#endif
