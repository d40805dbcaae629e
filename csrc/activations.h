#ifndef DARKNET_SOFTMAX_ACTIVATIONS_H
#define DARKNET_SOFTMAX_ACTIVATIONS_H

#include <stddef.h>

#include "status.h"

/* Darknet's activations (src/activations.h), with Darknet's enum values for
   the five this project supports. */
typedef enum {
    LOGISTIC = 0,
    RELU = 1,
    LINEAR = 3,
    TANH = 5,
    LEAKY = 7,
} ACTIVATION;

/* Each x becomes its activation, in place. DS_ERR_ARG for an unknown
   activation, before any write. */
DS_API int activate_array(float *x, size_t n, ACTIVATION a);
/* Each delta is multiplied by the activation's derivative, written, as Darknet
   writes it, in terms of the activated OUTPUT that x holds. */
DS_API int gradient_array(const float *x, size_t n, ACTIVATION a, float *delta);

#endif
