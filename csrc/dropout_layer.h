#ifndef DARKNET_SOFTMAX_DROPOUT_LAYER_H
#define DARKNET_SOFTMAX_DROPOUT_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "layer.h"
#include "network.h"
#include "status.h"

/* Darknet's dropout layer (src/dropout_layer.c). It owns no output or delta:
   as in Darknet, output and delta point at the previous layer's buffers
   (borrowed; the caller sets them and keeps them alive), and the layer works
   on them in place. rand holds batch*inputs uniform draws from the last
   training pass, in one allocation with the struct; state is its generator's. */
typedef struct dropout_layer {
    layer_shape shape;
    float probability;
    float scale;
    float *rand;
    uint64_t state;
    float *output;
    float *delta;
} dropout_layer;

/* 0 <= probability < 1; scale = 1/(1 - probability), Darknet's scaling. */
DS_API int make_dropout_layer(size_t batch, size_t inputs, float probability, uint64_t seed,
                              dropout_layer **out);
/* In training only: draw rand, then output = rand < probability ? 0 : input*scale. */
DS_API int forward_dropout_layer(dropout_layer *l, const network *net);
/* In training only: net->delta = rand < probability ? 0 : delta*scale. It
   overwrites rather than accumulates because, in a network, net->delta IS
   l->delta (Darknet's in-place wiring). It also divides the kept values of
   output by scale again, so the layer before sees its own output (unlike
   Darknet; see dropout_layer.c). */
DS_API int backward_dropout_layer(const dropout_layer *l, const network *net);

#endif
