#include "col2im.h"

/* im2col_cpu's loop with the assignment turned around: the pixel gets the
   column's value added, as a pixel appears in several columns. */
void col2im_cpu(const float *data_col, size_t channels, size_t height, size_t width, size_t ksize,
                size_t stride, size_t pad, float *data_im)
{
    size_t height_col = (height + 2 * pad - ksize) / stride + 1;
    size_t width_col = (width + 2 * pad - ksize) / stride + 1;
    size_t channels_col = channels * ksize * ksize;
    for (size_t c = 0; c < channels_col; ++c) {
        size_t w_offset = c % ksize;
        size_t h_offset = (c / ksize) % ksize;
        size_t c_im = c / ksize / ksize;
        float *channel = data_im + c_im * height * width;
        const float *column = data_col + c * height_col * width_col;
        for (size_t h = 0; h < height_col; ++h) {
            size_t row = h_offset + h * stride;
            if (row < pad || row - pad >= height) continue;
            for (size_t w = 0; w < width_col; ++w) {
                size_t col = w_offset + w * stride;
                if (col < pad || col - pad >= width) continue;
                channel[(row - pad) * width + col - pad] += column[h * width_col + w];
            }
        }
    }
}
