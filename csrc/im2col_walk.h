#ifndef DARKNET_SOFTMAX_IM2COL_WALK_H
#define DARKNET_SOFTMAX_IM2COL_WALK_H

#include <stddef.h>

/* Internal (not part of the cffi cdef): the index walk im2col_cpu and
   col2im_cpu share, with their arguments. It pairs each entry of the im2col
   matrix with its pixel of the image, or with the padding. to_col: from is
   the image and the entry gets its pixel, 0 in the padding (im2col);
   otherwise from is the matrix and its entry is ADDED into the pixel, the
   padding's dropped (col2im). */
void im2col_walk(const float *from, size_t channels, size_t height, size_t width, size_t ksize,
                 size_t stride, size_t pad, int to_col, float *to);

/* An image as im2col_cpu takes it: its arguments less the matrix. */
typedef struct im2col_image {
    const float *data;
    size_t channels, height, width, ksize, stride, pad;
} im2col_image;

/* gemm's pack_b (gemm_blocks.h) over im2col_cpu's matrix of the image
   `context` (an im2col_image): each entry straight from its pixel, or 0 in
   the padding, without the matrix being written whole. */
void im2col_panels(const void *context, size_t k0, size_t kc, size_t j0, size_t nc, size_t width,
                   float *out);

#endif
