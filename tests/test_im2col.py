"""im2col_cpu and col2im_cpu (csrc/im2col.c, csrc/col2im.c) against a NumPy
reference written from their definition, over odd sizes, strides and padding."""

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import assert_close
from darknet_softmax import runtime
from darknet_softmax.binding import ffi, lib
from darknet_softmax.gemm import gemm
from darknet_softmax.layers import ConvolutionalLayer

# (channels, height, width, ksize, stride, pad)
SHAPES = [
    (1, 1, 1, 1, 1, 0),
    (1, 1, 1, 3, 1, 1),
    (3, 5, 7, 3, 1, 1),
    (2, 7, 5, 3, 2, 0),
    (4, 6, 6, 2, 2, 0),
    (2, 9, 4, 5, 1, 2),
    (1, 8, 9, 4, 3, 1),
    (5, 3, 3, 1, 1, 0),
    (3, 4, 5, 1, 2, 1),
    (2, 2, 3, 5, 2, 2),
]


def out_size(size, ksize, stride, pad):
    return (size + 2 * pad - ksize) // stride + 1


def im2col_reference(image, channels, height, width, ksize, stride, pad):
    """Row (c*ksize + dy)*ksize + dx, column y*width_col + x: the pixel of
    channel c at (y*stride + dy - pad, x*stride + dx - pad), 0 outside."""
    image = np.asarray(image, np.float64).reshape(channels, height, width)
    height_col = out_size(height, ksize, stride, pad)
    width_col = out_size(width, ksize, stride, pad)
    col = np.zeros((channels * ksize * ksize, height_col * width_col))
    for c in range(channels):
        for dy in range(ksize):
            for dx in range(ksize):
                for y in range(height_col):
                    for x in range(width_col):
                        row, column = y * stride + dy - pad, x * stride + dx - pad
                        if 0 <= row < height and 0 <= column < width:
                            col[(c * ksize + dy) * ksize + dx, y * width_col + x] = image[
                                c, row, column
                            ]
    return col


def run(function, source, shape, target):
    """lib.im2col_cpu or lib.col2im_cpu of source into target, for shape."""
    function(ffi.from_buffer("float[]", source), *shape, ffi.from_buffer("float[]", target))
    return target


def run_im2col(image, channels, height, width, ksize, stride, pad, fill=7.0):
    rows = channels * ksize * ksize
    columns = out_size(height, ksize, stride, pad) * out_size(width, ksize, stride, pad)
    col = np.full((rows, columns), fill, np.float32)
    return run(lib.im2col_cpu, image, (channels, height, width, ksize, stride, pad), col)


def run_col2im(col, channels, height, width, ksize, stride, pad, image):
    return run(lib.col2im_cpu, col, (channels, height, width, ksize, stride, pad), image)


@pytest.mark.parametrize("shape", SHAPES)
def test_im2col_matches_reference(rng, shape):
    channels, height, width = shape[:3]
    image = rng.standard_normal(channels * height * width).astype(np.float32)
    col = run_im2col(image, *shape)
    # every value written (the 7.0 fill is gone), and each is the pixel or 0
    assert_close(col, im2col_reference(image, *shape), atol=0, rtol=0, kind="im2col")


@pytest.mark.parametrize("shape", SHAPES)
def test_col2im_adds_each_column_back_to_its_pixel(rng, shape):
    """col2im is im2col's transpose: <im2col(x), y> = <x, col2im(y)>, and it
    adds into what the image held."""
    channels, height, width = shape[:3]
    image = rng.standard_normal(channels * height * width).astype(np.float32)
    col = rng.standard_normal(run_im2col(image, *shape).shape).astype(np.float32)
    before = rng.standard_normal(image.size).astype(np.float32)
    result = run_col2im(col, *shape, before.copy())
    # the reference: every column value added at the pixel im2col read it from
    basis = np.eye(image.size)
    transpose = np.stack([im2col_reference(e, *shape).ravel() for e in basis])
    expected = before + transpose @ col.ravel().astype(np.float64)
    assert_close(result, expected, atol=1e-6, rtol=1e-6, kind="col2im")
    lhs = float(np.dot(im2col_reference(image, *shape).ravel(), col.ravel()))
    rhs = float(np.dot(image.astype(np.float64), result - before))
    assert lhs == pytest.approx(rhs, rel=1e-5, abs=1e-5)


def test_extremes_pass_through_unchanged():
    """im2col only moves values: ±1e30, inf and NaN arrive as they were."""
    image = np.array([1e30, -1e30, np.inf, np.nan], np.float32)
    col = run_im2col(image, 1, 2, 2, 2, 1, 1)
    assert_close(col, im2col_reference(image, 1, 2, 2, 2, 1, 1), atol=0, rtol=0, kind="im2col")
    assert np.isnan(col).sum() == 4 and (col == np.inf).sum() == 4


@pytest.mark.parametrize(
    "shape",
    [(5, 40, 37, 3, 1, 1), (8, 64, 63, 3, 2, 2), (3, 90, 90, 1, 1, 0), (1, 90, 90, 3, 1, 1)],
)
def test_the_threaded_walk_matches_one_thread(rng, shape):
    """Above the pool's threshold im2col's matrix rows are split over the
    threads (even a single channel's), and col2im's channels: im2col agrees
    with the reference, and both walks give what one thread gives, to the
    bit (each pixel's sum is added in the same order)."""
    channels, height, width = shape[:3]
    image = rng.standard_normal(channels * height * width).astype(np.float32)
    col = rng.standard_normal(run_im2col(image, *shape).shape).astype(np.float32)
    before = rng.standard_normal(image.size).astype(np.float32)
    results = {}
    for threads in (1, 2):
        with runtime.settings(num_threads=threads):
            results[threads] = (run_im2col(image, *shape), run_col2im(col, *shape, before.copy()))
    assert_close(results[2][0], im2col_reference(image, *shape), atol=0, rtol=0, kind="im2col")
    for one, two in zip(results[1], results[2]):
        np.testing.assert_array_equal(one, two)
    lhs = float(np.dot(im2col_reference(image, *shape).ravel(), col.ravel()))
    rhs = float(np.dot(image.astype(np.float64), results[2][1] - before))
    assert lhs == pytest.approx(rhs, rel=1e-5, abs=1e-3)


# (channels, height, width, ksize, stride, pad, filters), past gemm's blocks
# of 256 matrix rows and 512 columns and its panels of 16 columns, and
# filters and matrix rows that do not fill its panels of 6 rows.
PACKED_SHAPES = [
    pytest.param((32, 30, 29, 3, 1, 1, 20), id="rows-and-columns-past-a-block"),
    pytest.param((12, 50, 47, 5, 2, 2, 8), id="stride-2"),
    pytest.param((5, 23, 31, 7, 3, 3, 7), id="stride-3"),
    pytest.param((3, 9, 600, 3, 1, 0, 4), id="output-row-wider-than-a-block"),
    pytest.param((1, 3, 3, 3, 1, 5, 1), id="padding-wider-than-the-kernel"),
    pytest.param((2, 1, 40, 1, 2, 0, 3), id="1x1-stride-2"),
    pytest.param((4, 5, 6, 1, 1, 1, 3), id="1x1-padded"),
    pytest.param((300, 7, 9, 1, 1, 0, 5), id="1x1-read-in-place"),
]


def linear_convolution(rng, shape):
    """A linear convolutional layer of one item for a shape of PACKED_SHAPES,
    its weights random, and an image for it."""
    channels, height, width, ksize, stride, pad, filters = shape
    image = rng.standard_normal(channels * height * width).astype(np.float32)
    layer = ConvolutionalLayer(
        1, (height, width, channels), filters, ksize, stride, pad, activation="linear"
    )
    layer.weights[:] = rng.standard_normal(layer.weights.shape)
    return image, layer


@pytest.mark.parametrize("shape", PACKED_SHAPES)
def test_the_convolution_packs_the_matrix_im2col_writes(rng, kernel_path, shape):
    """Where gemm packs its operands, the convolutional layer packs each
    block of the im2col matrix straight from the image, the matrix never
    written whole: its forward (linear, biases 0) is gemm over im2col_cpu's
    matrix to the bit, on every path and thread count."""
    image, layer = linear_convolution(rng, shape)
    layer.forward(ds.NetworkContext(image[None]))
    col = run_im2col(image, *shape[:6])
    (k, n), filters = col.shape, shape[6]
    product = np.full((filters, n), np.nan, np.float32)
    gemm(0, 0, filters, n, k, 1.0, layer.weights, k, col, n, 0.0, product, n)
    np.testing.assert_array_equal(layer.output.reshape(filters, n), product)


@pytest.mark.parametrize("shape", PACKED_SHAPES)
def test_the_input_delta_is_col2im_of_the_product_darknet_writes(rng, kernel_path, shape):
    """The backward pass's input delta, whose products share the transposed
    weights (packed once for every item where gemm packs): col2im of gemm
    over the weights and the delta, as Darknet computes it, to the bit."""
    image, layer = linear_convolution(rng, shape)
    net_delta = np.zeros((1, image.size), np.float32)
    net = ds.NetworkContext(image[None], delta=net_delta, train=True)
    layer.forward(net)
    delta = rng.standard_normal(layer.delta.shape).astype(np.float32)
    layer.delta[:] = delta
    layer.backward(net)
    (k, n), filters = run_im2col(image, *shape[:6]).shape, shape[6]
    product = np.full((k, n), np.nan, np.float32)
    gemm(1, 0, k, n, filters, 1.0, layer.weights, k, delta, n, 0.0, product, n)
    expected = np.zeros_like(image)
    run_col2im(product, *shape[:6], expected)
    np.testing.assert_array_equal(net_delta[0], expected)
