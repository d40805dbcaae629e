#include "col2im.h"
#include "im2col_walk.h"

/* im2col_cpu's walk with the assignment turned around: the pixel gets the
   column's value added, as a pixel appears in several columns. */
void col2im_cpu(const float *data_col, size_t channels, size_t height, size_t width, size_t ksize,
                size_t stride, size_t pad, float *data_im)
{
    im2col_walk(data_col, channels, height, width, ksize, stride, pad, 0, data_im);
}
