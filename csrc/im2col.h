#ifndef DARKNET_SOFTMAX_IM2COL_H
#define DARKNET_SOFTMAX_IM2COL_H

#include <stddef.h>

#include "status.h"

/* Darknet's im2col (src/im2col.c), with size_t sizes. data_im holds one image
   of channels x height x width floats, channel-major. data_col gets
   (channels*ksize*ksize) rows of height_col*width_col columns, where
   height_col = (height + 2*pad - ksize)/stride + 1 (width likewise): row
   (c*ksize + dy)*ksize + dx, column y*width_col + x holds the pixel of channel
   c at (y*stride + dy - pad, x*stride + dx - pad), 0 outside the image.
   Callers check that height + 2*pad >= ksize and width + 2*pad >= ksize and
   that the sizes fit, so it cannot fail. */
DS_API void im2col_cpu(const float *data_im, size_t channels, size_t height, size_t width,
                       size_t ksize, size_t stride, size_t pad, float *data_col);

#endif
