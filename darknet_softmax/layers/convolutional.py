"""Darknet's [convolutional] layer (csrc/convolutional_layer.c), with its batch
normalisation (csrc/batchnorm_layer.c), and its float64 reference: a direct
convolution in NumPy, independent of the C's im2col and gemm."""

import math
from typing import Optional

import numpy as np

from .. import batchnorm, reference
from ..activations import ACTIVATIONS, activation_code
from ..binding import count, counts, flag, image_input
from .base import Option, choice, integer, switch
from .weighted import BATCHNORM_SAVED, WeightedLayer


def output_size(size_in, size, stride, padding):
    """Darknet's (size_in + 2*padding - size)/stride + 1, or 0 when the kernel
    does not fit."""
    if size_in + 2 * padding < size:
        return 0
    return (size_in + 2 * padding - size) // stride + 1


def geometry(shape, filters, size, stride, padding, groups):
    """(out_h, out_w) of a convolution over an (h, w, c) input, after
    refusing, as ValueError naming the option, what Darknet asserts or gets
    wrong: channels or filters that groups does not divide, an output below 1."""
    height, width, channels = shape
    if channels % groups:
        raise ValueError(f"groups ({groups}) must divide the input's channels ({channels})")
    if filters % groups:
        raise ValueError(f"groups ({groups}) must divide filters ({filters})")
    out_h = output_size(height, size, stride, padding)
    out_w = output_size(width, size, stride, padding)
    if not out_h or not out_w:
        raise ValueError(
            f"size ({size}) must be at most the input's {height} x {width} plus twice the "
            f"padding ({padding}): the output would be empty"
        )
    return out_h, out_w


class ConvolutionalLayer(WeightedLayer):
    """A 2-D convolution: output = f(weights * input + biases), or with
    `batch_normalize`, f(scales * normalised(weights * input) + biases).

    Items are `c x h x w` floats in, `filters x out_h x out_w` out, channel-
    major, `out_h = (h + 2*padding - size)//stride + 1`. With `groups`, the
    channels and filters split into equal parts, part j of the filters seeing
    part j of the channels (`groups = c`: depthwise). `weights` is a
    (filters, c//groups, size, size) view of the C memory, `biases` (filters,);
    `output` and `delta` are (batch, outputs) views, `delta` the NEGATIVE
    gradient. The updates gather delta sums between updates and carry the
    momentum. With `batch_normalize`, `scales` (starting at 1),
    `rolling_mean` and `rolling_variance` (and `mean`, `variance`, `x`,
    `x_norm` of the last pass) are views too. The weights start as Darknet's,
    sqrt(2/(size*size*c/groups)) * normal(0, 1), from `seed`; biases at 0.

    `exact=False` gives Darknet's numbers; `exact=True` its true gradient
    where Darknet's is wrong: batch normalisation's backward, and the 1x1
    convolution's input delta, which Darknet writes over `net.delta` instead
    of adding to it.

    In training (`net.train`) the batch normalisation uses
    the batch's statistics, outside it the rolling ones. Backward multiplies
    `delta` by the activation's derivative in place (and, with
    batch_normalize, turns it into the delta of the convolution's sums),
    ADDS the parameters' NEGATIVE gradients into the updates and the input's
    into `net.delta` when it is set; `net.input` must still hold what forward
    saw.

    Parameters
    ----------
    batch : int
        Items a pass (at least 1).
    shape : tuple of int
        The input's (h, w, c), each at least 1, with c divisible by `groups`.
    filters : int, default 1
        Output channels (at least 1).
    size : int, default 1
        The kernel's side (at least 1).
    stride : int, default 1
        The step between kernel positions (at least 1).
    padding : int, default 0
        Zeros on every side (at least 0).
    groups : int, default 1
        Equal parts of the channels and filters (must divide both).
    activation : str, default "logistic"
        One of `darknet_softmax.activations.ACTIVATIONS`.
    batch_normalize : bool, default False
        Darknet's batch normalisation in place of the plain biases.
    seed : int, optional
        Seeds the weights' draw (fresh entropy when None).
    exact : bool, default False
        The true gradient where Darknet's is wrong, or Darknet's numbers.

    Raises
    ------
    TypeError
        If an argument has the wrong type.
    ValueError
        If a size is out of range, `groups` does not divide the channels or
        the filters, the output would be empty, or the activation is unknown.
    """

    kind = "convolutional"
    sections = ("convolutional", "conv")
    options = {
        "filters": Option(integer(1), 1),
        "size": Option(integer(1), 1),
        "stride": Option(integer(1), 1),
        "pad": Option(integer(0), 0),  # not 0: a padding of size//2
        "padding": Option(integer(0), 0),  # used when pad is 0
        "groups": Option(integer(1), 1),
        "batch_normalize": Option(switch, False),
        "activation": Option(choice(ACTIVATIONS), "logistic"),
    }
    fields = {int: "filters size stride padding groups"}

    def __init__(
        self,
        batch: int,
        shape: tuple,
        filters: int = 1,
        size: int = 1,
        stride: int = 1,
        padding: int = 0,
        groups: int = 1,
        activation: str = "logistic",
        batch_normalize: bool = False,
        seed: Optional[int] = None,
        exact: bool = False,
    ) -> None:
        batch, (h, w, c) = image_input(batch, shape)
        filters, size, stride, groups = counts(
            filters=filters, size=size, stride=stride, groups=groups
        )
        padding = count("padding", padding, minimum=0)
        batch_normalize, exact = flag("batch_normalize", batch_normalize), flag("exact", exact)
        code = activation_code(activation)
        out_h, out_w = geometry((h, w, c), filters, size, stride, padding, groups)
        self._make(
            batch, h, w, c, filters, groups, size, stride, padding, code, batch_normalize, exact
        )
        weights_shape = (filters, c // groups, size, size)
        self._map_weighted(batch, self.outputs, weights_shape, (filters,))
        self.activation = activation
        self.shape = (h, w, c)
        self.out_shape = (out_h, out_w, filters)
        rng = np.random.default_rng(seed)
        scale = math.sqrt(2.0 / (size * size * c / groups))
        self.weights[...] = scale * rng.standard_normal(self.weights.shape)

    @property
    def weights_layout(self):  # type: ignore[override]
        """Darknet's order: biases, then scales and the rolling statistics when
        batch_normalize, then the weights."""
        if self.batch_normalize:
            return ("biases", *BATCHNORM_SAVED, "weights")
        return ("biases", "weights")

    @staticmethod
    def _padding(options):
        """Darknet's parse_convolutional: pad (not 0) means size//2, else padding."""
        return options["size"] // 2 if options["pad"] else options["padding"]

    @classmethod
    def plan(cls, options, params):
        height, width, channels = params.shape
        filters, size, stride, groups = (
            options[name] for name in ("filters", "size", "stride", "groups")
        )
        padding = cls._padding(options)
        out_h, out_w = geometry(params.shape, filters, size, stride, padding, groups)
        outputs = out_h * out_w * filters
        weights = filters * (channels // groups) * size * size
        direct = size == 1 and stride == 1 and padding == 0
        workspace = 0 if direct else (channels // groups) * size * size * out_h * out_w
        per_filter = (10 if options["batch_normalize"] else 2) * filters
        normalised = 2 * params.batch * outputs if options["batch_normalize"] else 0
        floats = 2 * params.batch * outputs + 2 * weights + per_filter + normalised + workspace
        return (out_h, out_w, filters), 4 * floats

    @classmethod
    def build(cls, options, params):
        keywords = {**options, "padding": cls._padding(options)}
        del keywords["pad"]
        return cls(params.batch, params.shape, seed=params.seed, exact=params.exact, **keywords)

    def reference(self, input, outputs):
        geometry = (self.shape, self.stride, self.padding, self.groups)
        parameters = (self.weights, self.biases)
        return reference_forward(
            input, *parameters, *geometry, self.activation, self._normalization()
        )

    def describe(self):
        """Darknet's "filters size x size / stride", with "/groups" after the
        filters when groups > 1 (as the later Darknet prints it)."""
        filters = f"{self.filters}/{self.groups}" if self.groups > 1 else f"{self.filters}"
        return f"{filters} {self.size} x {self.size} / {self.stride}"


# --- the float64 reference of the layer: direct convolution, no im2col ---


def convolve(input, weights, shape, stride, padding, groups):
    """The sums of a direct convolution: (batch, c*h*w) input, (filters,
    c//groups, size, size) weights -> (batch, filters, out_h, out_w). Each
    kernel offset (dy, dx) adds the padded input sampled with the stride,
    times that offset's weights."""
    height, width, channels = shape
    weights = reference.f64(weights)
    filters, group_channels, size, _ = weights.shape
    x = reference.f64(input).reshape(-1, channels, height, width)
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out_h = output_size(height, size, stride, padding)
    out_w = output_size(width, size, stride, padding)
    sums = np.zeros((x.shape[0], filters, out_h, out_w))
    group_filters = filters // groups
    for g in range(groups):
        inputs = x[:, g * group_channels : (g + 1) * group_channels]
        kernel = weights[g * group_filters : (g + 1) * group_filters]
        for dy in range(size):
            for dx in range(size):
                window = inputs[
                    :, :, dy : dy + stride * out_h : stride, dx : dx + stride * out_w : stride
                ]
                sums[:, g * group_filters : (g + 1) * group_filters] += np.einsum(
                    "bchw,fc->bfhw", window, kernel[:, :, dy, dx], optimize=True
                )
    return sums


def convolve_backward(input, weights, delta, shape, stride, padding, groups):
    """(weight updates, input delta) of `convolve` for the delta of its sums,
    (batch, filters, out_h, out_w): each kernel offset's weights gather delta
    times the input it saw, and send delta times the weights back there."""
    height, width, channels = shape
    weights, delta = reference.f64(weights), reference.f64(delta)
    filters, group_channels, size, _ = weights.shape
    x = reference.f64(input).reshape(-1, channels, height, width)
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out_h, out_w = delta.shape[2:]
    weight_updates = np.zeros_like(weights)
    input_delta = np.zeros_like(x)
    group_filters = filters // groups
    for g in range(groups):
        channels_of = slice(g * group_channels, (g + 1) * group_channels)
        filters_of = slice(g * group_filters, (g + 1) * group_filters)
        for dy in range(size):
            for dx in range(size):
                rows = slice(dy, dy + stride * out_h, stride)
                cols = slice(dx, dx + stride * out_w, stride)
                weight_updates[filters_of, :, dy, dx] += np.einsum(
                    "bfhw,bchw->fc", delta[:, filters_of], x[:, channels_of, rows, cols]
                )
                input_delta[:, channels_of, rows, cols] += np.einsum(
                    "bfhw,fc->bchw", delta[:, filters_of], weights[filters_of, :, dy, dx]
                )
    input_delta = input_delta[:, :, padding : padding + height, padding : padding + width]
    return weight_updates, input_delta.reshape(x.shape[0], -1)


def reference_forward(
    input, weights, biases, shape, stride, padding, groups, activation, normalization=None
):
    """The layer's output outside training, (batch, outputs): the activation
    of the convolution's sums plus biases, or, with `normalization` = (scales,
    rolling_mean, rolling_variance), of the sums normalised by the rolling
    statistics, times scales, plus biases."""
    sums = convolve(input, weights, shape, stride, padding, groups)
    batch, filters = sums.shape[:2]
    sums = sums.reshape(batch, filters, -1)
    if normalization is None:
        out = sums + reference.f64(biases)[:, None]
    else:
        scales, rolling_mean, rolling_variance = normalization
        out = batchnorm.forward(sums, scales, biases, rolling_mean, rolling_variance, False)[0]
    return reference.activate(out.reshape(batch, -1), activation)
