#include <stdlib.h>

#include "dropout_layer.h"
#include "layer_block.h"
#include "status.h"

int make_dropout_layer(size_t batch, size_t inputs, float probability, uint64_t seed,
                       dropout_layer **out)
{
    *out = NULL;
    if (!(probability >= 0 && probability < 1)) return DS_ERR_ARG;
    dropout_layer l = {
        .probability = probability, .scale = 1.f / (1.f - probability), .state = seed};
    int status = make_layer_shape(batch, 1, 1, inputs, 1, 1, inputs, &l.shape);
    if (status != DS_OK) return status;
    return alloc_io_layer(out, &l, sizeof l, batch * inputs, &l.rand, NULL);
}

/* splitmix64: Darknet calls rand(); a generator of the layer's own keeps runs
   reproducible and threads independent. The top 24 bits give a float in [0, 1). */
static float rand_uniform(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.f / 16777216.f);
}

int forward_dropout_layer(dropout_layer *l, const network *net)
{
    if (!net->input || !l->output) return DS_ERR_ARG;
    if (!net->train) return DS_OK;
    for (size_t i = 0; i < l->shape.batch * l->shape.inputs; ++i) {
        float r = rand_uniform(&l->state);
        l->rand[i] = r;
        l->output[i] = r < l->probability ? 0 : net->input[i] * l->scale;
    }
    return DS_OK;
}

/* Darknet leaves the previous layer's output dropped and scaled, so that
   layer's backward takes its activation's derivative at the scaled value:
   wrong for logistic and tanh. Undoing the scale here (to within a rounding)
   gives it back its own output; where a value was dropped its delta is 0, so
   the derivative there does not matter. */
int backward_dropout_layer(const dropout_layer *l, const network *net)
{
    if (!net->delta || !net->train) return DS_OK;
    if (!l->delta || !l->output) return DS_ERR_ARG;
    for (size_t i = 0; i < l->shape.batch * l->shape.inputs; ++i) {
        if (l->rand[i] < l->probability) {
            net->delta[i] = 0;
        } else {
            net->delta[i] = l->delta[i] * l->scale;
            l->output[i] /= l->scale;
        }
    }
    return DS_OK;
}
