#ifndef DARKNET_SOFTMAX_ACTIVATIONS_H
#define DARKNET_SOFTMAX_ACTIVATIONS_H

#include <stddef.h>

#include "status.h"

/* Darknet's activations (include/darknet.h, src/activations.h), every one,
   with Darknet's enum values. */
typedef enum {
    LOGISTIC = 0,
    RELU = 1,
    RELIE = 2,
    LINEAR = 3,
    RAMP = 4,
    TANH = 5,
    PLSE = 6,
    LEAKY = 7,
    ELU = 8,
    LOGGY = 9,
    STAIR = 10,
    HARDTAN = 11,
    LHTAN = 12,
    SELU = 13,
} ACTIVATION;

/* Each x becomes its activation, in place. DS_ERR_ARG for an unknown
   activation, before any write. */
DS_API int activate_array(float *x, size_t n, ACTIVATION a);
/* Each delta is multiplied by the activation's derivative, written, as Darknet
   writes it, in terms of the activated OUTPUT that x holds. */
DS_API int gradient_array(const float *x, size_t n, ACTIVATION a, float *delta);

#endif
