#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layer_block.h"

#define BUFFER_ALIGN 64

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
    size_t offsets[8];
    if (n > 8) return NULL;
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
    for (size_t i = 0; i < n; ++i) *buffers[i] = (float *)(block + shift + offsets[i]);
    memcpy(block, layer, struct_bytes);
    return block;
}

size_t layer_block_bytes(const void *layer, const float *end)
{
    return (size_t)((const char *)end - (const char *)layer);
}
