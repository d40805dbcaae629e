#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layer_block.h"
#include "status.h"

#define BUFFER_ALIGN 64
#define MAX_BUFFERS 8

int product(size_t a, size_t b, size_t *out)
{
    if (b && a > SIZE_MAX / b) return 0;
    *out = a * b;
    return 1;
}

int item_size(size_t batch, size_t h, size_t w, size_t c, size_t *item)
{
    if (!batch || !h || !w || !c) return DS_ERR_ARG;
    size_t hw, all;
    if (!product(h, w, &hw) || !product(hw, c, item) || !product(batch, *item, &all))
        return DS_ERR_NOMEM;
    return DS_OK;
}

int make_layer_shape(size_t batch, size_t h, size_t w, size_t c, size_t out_h, size_t out_w,
                     size_t out_c, layer_shape *shape)
{
    size_t inputs, outputs;
    int status = item_size(batch, h, w, c, &inputs);
    if (status == DS_OK) status = item_size(batch, out_h, out_w, out_c, &outputs);
    if (status != DS_OK) return status;
    /* bytes is make_layer_block's to set */
    *shape = (layer_shape){batch, h, w, c, out_h, out_w, out_c, inputs, outputs, 0};
    return DS_OK;
}

static int round_up(size_t bytes, size_t *out)
{
    if (bytes > SIZE_MAX - BUFFER_ALIGN) return 0;
    *out = (bytes + BUFFER_ALIGN - 1) / BUFFER_ALIGN * BUFFER_ALIGN;
    return 1;
}

void *make_layer_block(const void *layer, size_t struct_bytes, size_t n, const size_t *counts,
                       float **buffers[])
{
    size_t total;
    if (!round_up(struct_bytes, &total)) return NULL;
    size_t offsets[MAX_BUFFERS];
    if (n > MAX_BUFFERS) return NULL;
    for (size_t i = 0; i < n; ++i) {
        size_t bytes;
        if (counts[i] > SIZE_MAX / sizeof(float) || !round_up(counts[i] * sizeof(float), &bytes)
            || bytes > SIZE_MAX - BUFFER_ALIGN - total)
            return NULL;
        offsets[i] = total;
        total += bytes;
    }
    /* calloc aligns to 16 bytes at least; the spare line lets every buffer
       start on a 64-byte boundary. */
    char *block = calloc(1, total + BUFFER_ALIGN);
    if (!block) return NULL;
    uintptr_t base = (uintptr_t)block;
    size_t shift = (BUFFER_ALIGN - base % BUFFER_ALIGN) % BUFFER_ALIGN;
    for (size_t i = 0; i < n; ++i) {
        *buffers[i] = counts[i] ? (float *)(block + shift + offsets[i]) : NULL;
    }
    memcpy(block, layer, struct_bytes);
    ((layer_shape *)(void *)block)->bytes = shift + total;
    return block;
}

int alloc_layer(void *out, const void *layer, size_t struct_bytes, size_t n, const size_t *counts,
                float **buffers[])
{
    void *block = make_layer_block(layer, struct_bytes, n, counts, buffers);
    /* A copy of the pointer's bytes: out is a pointer to some layer type. */
    memcpy(out, &block, sizeof block);
    return block ? DS_OK : DS_ERR_NOMEM;
}

int alloc_io_layer(void *out, const void *layer, size_t struct_bytes, size_t n, float **output,
                   float **delta)
{
    size_t counts[] = {n, n};
    float **buffers[] = {output, delta};
    return alloc_layer(out, layer, struct_bytes, delta ? 2 : 1, counts, buffers);
}

void free_layer(void *l)
{
    free(l);
}

size_t layer_bytes(const void *l)
{
    return ((const layer_shape *)l)->bytes;
}

void split_per_output(float *biases, size_t n, int batch_normalize, float **buffers[])
{
    size_t count = batch_normalize ? 9 : 1;
    for (size_t i = 0; i < count; ++i) *buffers[i] = biases + (i + 1) * n;
    if (batch_normalize) {
        for (size_t i = 0; i < n; ++i) (*buffers[1])[i] = 1;
    }
}
