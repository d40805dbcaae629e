#ifndef DARKNET_SOFTMAX_REORG_LAYER_H
#define DARKNET_SOFTMAX_REORG_LAYER_H

#include <stddef.h>

#include "layer.h"
#include "network.h"
#include "status.h"

/* Darknet's reorg layer (src/reorg_layer.c) over a w x h x c input, in one of
   its forms, as Darknet picks them:
   - flatten: each item's c x h*w transposed to h*w x c, or back with reverse;
   - extra > 0 (go.cfg): each item copied, then extra zeros; outputs = inputs + extra;
   - otherwise Darknet's reorg_cpu with stride: space to depth, or depth to
     space with reverse. Darknet's reorg_cpu views the input as c/stride^2
     channels of (h*stride) x (w*stride) and writes the output as c x h x w
     (without reverse; the other way round with reverse), which is a
     space-to-depth of that view, not of the input's own layout: reproduced.
   Backward sends delta back through the same permutation. As Darknet, it
   OVERWRITES net->delta, losing what a later route or shortcut added there;
   with exact it adds. output and delta share one allocation with the struct. */
typedef struct reorg_layer {
    layer_shape shape;
    size_t stride;
    size_t extra;
    int reverse;
    int flatten;
    int exact;
    float *output;
    float *delta;
} reorg_layer;

/* stride >= 1. Unless extra is set: c must divide by stride^2 and, without
   reverse, w and h by stride: Darknet reads and writes out of range
   otherwise. extra cannot go with reverse or flatten: Darknet's forward and
   backward then disagree, or read out of range. */
DS_API int make_reorg_layer(size_t batch, size_t w, size_t h, size_t c, size_t stride, int reverse,
                            int flatten, size_t extra, int exact, reorg_layer **out);
DS_API int forward_reorg_layer(reorg_layer *l, const network *net);
DS_API int backward_reorg_layer(const reorg_layer *l, const network *net);

#endif
