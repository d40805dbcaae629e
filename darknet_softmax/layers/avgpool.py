"""Darknet's [avgpool] layer (csrc/avgpool_layer.c) and its float64 reference."""

import numpy as np

from .. import reference
from ..binding import image_input
from .base import CLayer


class AvgpoolLayer(CLayer):
    """Darknet's global average pooling: the mean over the `h` x `w`
    positions of each of the `c` channels of an item, channel-major; the
    output is 1 x 1 x c. Backward adds delta/(h*w) into every position of
    the channel.

    `output` and `delta` are (batch, c) float32 views; `delta` is the
    NEGATIVE gradient. The sum is kept in double (Darknet's is a float: the
    two differ by float rounding only).

    Parameters
    ----------
    batch : int
        Items a pass (at least 1).
    shape : tuple of int
        The input's (h, w, c), each at least 1: the output is c means of h*w.

    Raises
    ------
    TypeError
        If an argument is not an integer.
    ValueError
        If an argument is below 1.
    """

    kind = "avgpool"
    sections = ("avgpool", "avg")
    # no options: CLayer.options is empty
    fields = {int: "h w c"}
    apart = ("delta", "output")

    def __init__(self, batch: int, shape: tuple) -> None:
        batch, shape = image_input(batch, shape)
        self._make(batch, *shape)
        self._map((batch, shape[2]))
        self.shape = shape

    @classmethod
    def plan(cls, options, params):
        channels = params.shape[2]
        return (1, 1, channels), 4 * 2 * params.batch * channels

    @classmethod
    def build(cls, options, params):
        return cls(params.batch, params.shape)

    def reference(self, input, outputs):
        return reference_forward(input, self.shape)

    def describe(self):
        return ""


# --- the float64 reference of the layer ---


def reference_forward(input, shape):
    """The (batch, c) mean over the positions of each channel of (batch,
    h*w*c) input of `shape` (h, w, c)."""
    height, width, channels = shape
    x = reference.f64(input)
    return x.reshape(x.shape[0], channels, height * width).mean(axis=2)


def reference_backward(delta, shape):
    """What one backward pass adds into the (batch, h*w*c) delta of the
    layer before: delta/(h*w) at every position of each channel."""
    height, width, channels = shape
    delta = reference.f64(delta)
    share = delta / (height * width)
    return np.repeat(share, height * width, axis=1)
