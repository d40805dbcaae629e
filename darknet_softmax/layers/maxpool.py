"""Darknet's [maxpool] layer (csrc/maxpool_layer.c) and its float64 reference."""

from typing import Optional

import numpy as np

from .. import reference
from ..binding import count, image_input
from .base import CLayer, Option, integer

# Darknet's values are ints; the C refuses larger ones.
INT_MAX = 2**31 - 1
# The float32 -FLT_MAX, where Darknet's max starts and what it reads outside the input.
FLT_MAX = float(np.finfo(np.float32).max)


def pooled_size(n: int, size: int, stride: int, padding: int) -> int:
    """Darknet's (n + padding - size)/stride + 1 in C's int arithmetic,
    which truncates toward zero: a window larger than the padded input by
    less than `stride` still gives one output."""
    span = n + padding - size
    return (span // stride if span >= 0 else -(-span // stride)) + 1


def maxpool_options(size: Optional[int], stride: int, padding: Optional[int]) -> tuple:
    """(size, stride, padding) with Darknet's defaults (parse_maxpool): size
    is stride, padding size - 1 (in total, not per side)."""
    stride = count("stride", stride)
    size = stride if size is None else count("size", size)
    padding = size - 1 if padding is None else count("padding", padding, minimum=0)
    for name, value in (("size", size), ("stride", stride), ("padding", padding)):
        if value > INT_MAX:
            raise ValueError(f"{name} must be at most {INT_MAX} (Darknet's int), not {value}")
    return size, stride, padding


def output_shape(shape: tuple, size: int, stride: int, padding: int) -> tuple:
    """The (h, w, c) out of a maxpool over `shape` (h, w, c); ValueError,
    naming the options, where it would be below 1 x 1."""
    height, width, channels = shape
    out_h, out_w = (pooled_size(n, size, stride, padding) for n in (height, width))
    if out_h < 1 or out_w < 1:
        raise ValueError(
            f"size={size} stride={stride} padding={padding} over a {height} x {width} input "
            f"gives a {out_h} x {out_w} output: (n + padding - size)/stride + 1 must be at "
            f"least 1, so size must be below n + padding + stride"
        )
    return out_h, out_w, channels


class MaxpoolLayer(CLayer):
    """Darknet's max pooling over `batch` items of `c` channels of `h` x `w`,
    channel-major, as Darknet lays them out.

    Each output is the largest value of a `size` x `size` window; the
    window of output (i, j) starts at (-padding/2 + i*stride, -padding/2 +
    j*stride) (integer division), `padding` being the TOTAL padding.
    Positions outside the input count as -FLT_MAX. As in Darknet's `val >
    max`, the first of equal values wins and NaN never wins (a NaN is passed
    over, as if below everything); a window with nothing above -FLT_MAX
    (all -inf, NaN or outside) outputs -FLT_MAX and has no winner.

    `output` and `delta` are (batch, outputs) float32 views, outputs being
    c * out_h * out_w; `delta` is the NEGATIVE gradient. `indexes` is a
    read-only (batch, outputs) int64 view: for each output, the flat index
    into the batch's input of the value that won, -1 where none did.
    Backward adds each delta into `net.delta` at its winner (Darknet writes
    before the buffer where there is none; here that delta goes nowhere).

    Parameters
    ----------
    batch : int
        Items a pass (at least 1).
    shape : tuple of int
        The input's (h, w, c), each at least 1: each channel is pooled alone.
    size : int, optional
        The window's side (at least 1); `stride` by default, as Darknet's.
    stride : int, default 1
        The step between windows (at least 1).
    padding : int, optional
        The TOTAL padding (at least 0); size - 1 by default, as Darknet's.

    Raises
    ------
    TypeError
        If an argument is not an integer.
    ValueError
        If an argument is out of range (above C's int for size, stride and
        padding) or the output would be below 1 x 1.
    """

    kind = "maxpool"
    sections = ("maxpool", "max")
    # Darknet's defaults depend on each other: size = stride, padding = size - 1.
    options = {
        "size": Option(integer(1), None),
        "stride": Option(integer(1), 1),
        "padding": Option(integer(0), None),
    }
    fields = {int: "h w c size stride padding out_h out_w"}
    buffers = "indexes"
    apart = ("delta", "output")

    def __init__(
        self,
        batch: int,
        shape: tuple,
        size: Optional[int] = None,
        stride: int = 1,
        padding: Optional[int] = None,
    ) -> None:
        batch, shape = image_input(batch, shape)
        size, stride, padding = maxpool_options(size, stride, padding)
        out_h, out_w, _ = output_shape(shape, size, stride, padding)
        layer = self._make(batch, *shape, size, stride, padding)
        self.shape = shape
        views = (batch, shape[2] * out_h * out_w)
        # The winners are int64.
        self._map(views, indexes=(layer.indexes, views, np.int64))
        self._views["indexes"].flags.writeable = False

    @classmethod
    def plan(cls, options, params):
        size, stride, padding = maxpool_options(
            options["size"], options["stride"], options["padding"]
        )
        shape = output_shape(params.shape, size, stride, padding)
        outputs = shape[0] * shape[1] * shape[2]
        # output and delta in float32, indexes in int64
        return shape, (4 + 4 + 8) * params.batch * outputs

    @classmethod
    def build(cls, options, params):
        return cls(params.batch, params.shape, **options)

    def reference(self, input, outputs):
        return reference_forward(input, self.shape, self.size, self.stride, self.padding)[0]

    def describe(self):
        return f"{self.size} x {self.size} / {self.stride}"


# --- the float64 reference of the layer ---


def reference_forward(input, shape, size, stride, padding):
    """(output, indexes) for (batch, h*w*c) input of `shape` (h, w, c):
    Darknet's loop, each window's values compared with `value > max` from
    max = -FLT_MAX, positions outside the input skipped (they would count as
    -FLT_MAX, which never passes). output is (batch, outputs) float64,
    indexes the (batch, outputs) flat input index of each winner, -1 where
    none won."""
    height, width, channels = shape
    x = reference.f64(input)
    batch = x.shape[0]
    planes = x.reshape(batch * channels, height, width)
    out_h, out_w, _ = output_shape(shape, size, stride, padding)
    output = np.full((batch * channels, out_h, out_w), -FLT_MAX)
    indexes = np.full((batch * channels, out_h, out_w), -1, np.int64)
    offset = -(padding // 2)
    plane_start = np.arange(batch * channels) * height * width
    for i in range(out_h):
        for j in range(out_w):
            for n in range(size):
                for m in range(size):
                    row, col = offset + i * stride + n, offset + j * stride + m
                    if not (0 <= row < height and 0 <= col < width):
                        continue
                    value = planes[:, row, col]
                    wins = value > output[:, i, j]
                    output[:, i, j] = np.where(wins, value, output[:, i, j])
                    index = plane_start + row * width + col
                    indexes[:, i, j] = np.where(wins, index, indexes[:, i, j])
    return output.reshape(batch, -1), indexes.reshape(batch, -1)


def reference_backward(input, delta, shape, size, stride, padding):
    """What one backward pass adds into the (batch, h*w*c) delta of the
    layer before: each of `delta` (batch, outputs) at the input that won its
    window in `reference_forward`; nothing for a window without a winner."""
    _, indexes = reference_forward(input, shape, size, stride, padding)
    delta = reference.f64(delta).ravel()
    result = np.zeros(reference.f64(input).size)
    won = indexes.ravel() >= 0
    np.add.at(result, indexes.ravel()[won], delta[won])
    return result.reshape(reference.f64(input).shape)
