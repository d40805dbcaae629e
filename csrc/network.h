#ifndef DARKNET_SOFTMAX_NETWORK_H
#define DARKNET_SOFTMAX_NETWORK_H

#include <stddef.h>

/* The part of Darknet's network struct that a layer sees while it runs.
   input: the previous layer's output; truth: labels or NULL; delta: the previous
   layer's delta (the NEGATIVE gradient, as everywhere in Darknet) or NULL. */
typedef struct network {
    const float *input;
    const float *truth;
    float *delta;
    int train;
} network;

#endif
