#include <stdint.h>
#include <stdlib.h>

#include "crop_layer.h"
#include "layer_block.h"
#include "status.h"

int make_crop_layer(size_t batch, size_t h, size_t w, size_t c, size_t crop_height,
                    size_t crop_width, int flip, int noadjust, uint64_t seed, crop_layer **out)
{
    *out = NULL;
    if (crop_height == 0 || crop_width == 0 || crop_height > h || crop_width > w) return DS_ERR_ARG;
    crop_layer l = {
        .flip = flip != 0,
        .noadjust = noadjust != 0,
        .dh = (h - crop_height) / 2,
        .dw = (w - crop_width) / 2,
        .state = seed,
    };
    int status = make_layer_shape(batch, h, w, c, crop_height, crop_width, c, &l.shape);
    if (status != DS_OK) return status;
    return alloc_io_layer(out, &l, sizeof l, batch * l.shape.outputs, &l.output, NULL);
}

/* splitmix64, as the dropout layer draws: Darknet calls rand(); a generator of
   the layer's own keeps runs reproducible and threads independent. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

/* In training, Darknet's draws in its order: flip (only when the layer may
   flip), then dh, then dw, each as rand() % range. Darknet draws them outside
   training too, then takes the centre; here nothing is drawn there, so
   predictions leave the generator where training left it. */
int forward_crop_layer(crop_layer *l, const network *net)
{
    const layer_shape *shape = &l->shape;
    if (!net->input) return DS_ERR_ARG;
    if (net->train) {
        l->flipped = l->flip && next_random(&l->state) % 2;
        l->dh = (size_t)(next_random(&l->state) % (uint64_t)(shape->h - shape->out_h + 1));
        l->dw = (size_t)(next_random(&l->state) % (uint64_t)(shape->w - shape->out_w + 1));
    } else {
        l->flipped = 0;
        l->dh = (shape->h - shape->out_h) / 2;
        l->dw = (shape->w - shape->out_w) / 2;
    }
    float scale = l->noadjust ? 1.f : 2.f;
    float trans = l->noadjust ? 0.f : -1.f;
    float *output = l->output;
    for (size_t b = 0; b < shape->batch; ++b) {
        for (size_t k = 0; k < shape->c; ++k) {
            const float *channel = net->input + (k + shape->c * b) * shape->h * shape->w;
            for (size_t i = 0; i < shape->out_h; ++i) {
                const float *row = channel + (i + l->dh) * shape->w;
                for (size_t j = 0; j < shape->out_w; ++j) {
                    size_t col = l->flipped ? shape->w - l->dw - j - 1 : j + l->dw;
                    *output++ = row[col] * scale + trans;
                }
            }
        }
    }
    return DS_OK;
}

int backward_crop_layer(const crop_layer *l, const network *net)
{
    (void)l;
    (void)net;
    return DS_OK;
}
