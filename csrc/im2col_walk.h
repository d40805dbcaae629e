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

#endif
