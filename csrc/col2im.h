#ifndef DARKNET_SOFTMAX_COL2IM_H
#define DARKNET_SOFTMAX_COL2IM_H

#include <stddef.h>

#include "status.h"

/* Darknet's col2im (src/col2im.c), with size_t sizes: im2col_cpu's transpose.
   Each value of data_col is ADDED into data_im at the pixel im2col_cpu would
   have read it from; values that fall in the padding are dropped. The same
   arguments as im2col_cpu; callers check them, so it cannot fail. */
DS_API void col2im_cpu(const float *data_col, size_t channels, size_t height, size_t width,
                       size_t ksize, size_t stride, size_t pad, float *data_im);

#endif
