#ifndef DARKNET_SOFTMAX_AVGPOOL_LAYER_H
#define DARKNET_SOFTMAX_AVGPOOL_LAYER_H

#include <stddef.h>

#include "layer.h"
#include "network.h"
#include "status.h"

/* Darknet's avgpool layer (src/avgpool_layer.c): the mean of each of the c
   channels of an item of c x h x w floats, channel-major, so the output is
   1 x 1 x c. output and delta hold batch*c floats; delta is the NEGATIVE
   gradient. All buffers share one allocation with the struct. */
typedef struct avgpool_layer {
    layer_shape shape;
    float *output;
    float *delta;
} avgpool_layer;

DS_API int make_avgpool_layer(size_t batch, size_t h, size_t w, size_t c, avgpool_layer **out);
/* output = the mean over the h*w positions of each channel. */
DS_API int forward_avgpool_layer(avgpool_layer *l, const network *net);
/* net->delta += delta/(h*w) at every position of each channel, when
   net->delta is set. */
DS_API int backward_avgpool_layer(const avgpool_layer *l, const network *net);

#endif
