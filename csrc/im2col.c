#include "im2col.h"
#include "im2col_walk.h"

/* The column c of the im2col matrix reads pixel (row, col) of the padded
   image; the padding is row < pad or row >= height + pad. Written with
   unsigned sizes, so the test compares before it subtracts. */
void im2col_walk(const float *from, size_t channels, size_t height, size_t width, size_t ksize,
                 size_t stride, size_t pad, int to_col, float *to)
{
    size_t height_col = (height + 2 * pad - ksize) / stride + 1;
    size_t width_col = (width + 2 * pad - ksize) / stride + 1;
    size_t channels_col = channels * ksize * ksize;
    for (size_t c = 0; c < channels_col; ++c) {
        size_t w_offset = c % ksize;
        size_t h_offset = (c / ksize) % ksize;
        size_t channel = c / ksize / ksize * height * width;
        size_t column = c * height_col * width_col;
        for (size_t h = 0; h < height_col; ++h) {
            size_t row = h_offset + h * stride;
            int row_inside = row >= pad && row - pad < height;
            if (!row_inside && !to_col) continue;
            /* pixels + col is the pixel at col: size_t wraps, so only where
               it is inside does it stand for an index. */
            size_t pixels = channel + (row - pad) * width - pad;
            size_t entries = column + h * width_col;
            for (size_t w = 0; w < width_col; ++w) {
                size_t col = w_offset + w * stride;
                int inside = row_inside && col >= pad && col - pad < width;
                if (to_col) to[entries + w] = inside ? from[pixels + col] : 0;
                else if (inside) to[pixels + col] += from[entries + w];
            }
        }
    }
}

void im2col_cpu(const float *data_im, size_t channels, size_t height, size_t width, size_t ksize,
                size_t stride, size_t pad, float *data_col)
{
    im2col_walk(data_im, channels, height, width, ksize, stride, pad, 1, data_col);
}
