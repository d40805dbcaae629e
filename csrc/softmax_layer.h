#ifndef DARKNET_SOFTMAX_SOFTMAX_LAYER_H
#define DARKNET_SOFTMAX_SOFTMAX_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "layer.h"
#include "network.h"
#include "status.h"
#include "tree.h"

/* Darknet's softmax layer (src/softmax_layer.c). output, delta and loss hold
   batch*inputs floats each and live in the same allocation as the struct, so
   one free releases all of them. delta is the NEGATIVE gradient.
   make_softmax_layer's shape is 1 x 1 x inputs; the caller sets w, h and c
   to the input's image shape (Darknet's parse_softmax), or 0. With spatial,
   the softmax runs over the c channels at each of the w*h positions of an
   item laid out (c, h, w), and w*h*c must equal inputs.
   exact switches on the exact gradient, Jacobian and loss (SPEC section 4). */
typedef struct softmax_layer {
    layer_shape shape;
    size_t groups;
    float temperature;
    int noloss;
    int spatial;
    int exact;
    const tree *softmax_tree; /* borrowed; the caller keeps it alive */
    float *output;
    float *delta;
    float *loss;
    float cost;
} softmax_layer;

DS_API int make_softmax_layer(size_t batch, size_t inputs, size_t groups, softmax_layer **out);
DS_API int forward_softmax_layer(softmax_layer *l, const network *net);
DS_API int backward_softmax_layer(const softmax_layer *l, const network *net);
/* After a forward with no truth: the loss, delta and cost against one class
   label per item, labels[b] in [0, inputs), as a one-hot truth would give
   them, without one. For a layer of one group, with no tree, not spatial. */
DS_API int softmax_layer_label_loss(softmax_layer *l, const int64_t *labels);

#endif
