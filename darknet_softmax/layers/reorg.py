"""Darknet's [reorg] layer (csrc/reorg_layer.c) and its float64 reference."""

import numpy as np

from .. import reference
from ..binding import count, flag, image_input
from .base import CLayer, Option, integer, switch


class ReorgLayer(CLayer):
    """Darknet's reorg over an (h, w, c) input `shape`, in the form Darknet
    picks: `flatten` transposes each item's (c, h*w) to (h*w, c) (back with
    `reverse`); `extra` > 0 (go.cfg) copies each item and appends `extra`
    zeros, an output of 1 x 1 x (inputs + extra); otherwise Darknet's
    reorg_cpu moves space to depth by `stride` (depth to space with
    `reverse`). reorg_cpu views its input as c/stride^2 channels of
    (h*stride) x (w*stride), so the stride form is the space-to-depth of that
    view, not of the input's own layout: Darknet's numbers, reproduced.

    Backward sends `delta` back through the same permutation. Darknet's
    OVERWRITES net.delta (what a later route or shortcut added there is
    lost); `exact=True` adds instead.

    Parameters
    ----------
    batch : int
        Items a pass (at least 1).
    shape : tuple of int
        The (h, w, c) of the input, each at least 1.
    stride : int, default 1
        The block side of the space-to-depth move (at least 1).
    reverse : bool, default False
        The inverse move (depth to space, or transposing back).
    flatten : bool, default False
        The (c, h*w) to (h*w, c) transpose in place of the stride move.
    extra : int, default 0
        Zeros appended to a copy of each item (at least 0; neither `reverse`
        nor `flatten` with it).
    exact : bool, default False
        Backward adds into `net.delta` rather than overwriting it.

    Raises
    ------
    TypeError
        If an argument has the wrong type (`shape`: an (h, w, c) tuple).
    ValueError
        If a size is out of range, or the shape does not fit the stride where
        Darknet would read or write outside its buffers, or `extra` meets
        `reverse` or `flatten`.
    """

    kind = "reorg"
    sections = ("reorg",)
    options = {
        "stride": Option(integer(1), 1),
        "reverse": Option(switch, False),
        "flatten": Option(switch, False),
        "extra": Option(integer(0), 0),
    }
    fields = {int: "stride extra", bool: "reverse flatten exact"}

    def __init__(
        self,
        batch: int,
        shape: tuple,
        stride: int = 1,
        reverse: bool = False,
        flatten: bool = False,
        extra: int = 0,
        exact: bool = False,
    ) -> None:
        batch, shape = image_input(batch, shape)
        stride, extra = count("stride", stride), count("extra", extra, minimum=0)
        reverse, flatten, exact = (
            flag("reverse", reverse),
            flag("flatten", flatten),
            flag("exact", exact),
        )
        out_shape = output_shape(shape, stride, reverse, flatten, extra)
        h, w, c = shape
        self._make(batch, w, h, c, stride, reverse, flatten, extra, exact)
        self.shape, self.output_shape = shape, out_shape
        outputs = int(np.prod(out_shape))
        self._map((batch, outputs))

    @classmethod
    def plan(cls, options, params):
        shape = output_shape(params.shape, **options)
        return shape, 4 * 2 * params.batch * int(np.prod(shape))

    @classmethod
    def build(cls, options, params):
        return cls(params.batch, params.shape, exact=params.exact, **options)

    def reference(self, input, outputs):
        return reference_forward(
            input, self.shape, self.stride, self.reverse, self.flatten, self.extra
        )

    def describe(self):
        if self.extra:
            return f"extra {self.extra}"
        detail = f"/ {self.stride}"
        detail += " reverse" if self.reverse else ""
        return detail + (" flatten" if self.flatten else "")


def output_shape(shape, stride=1, reverse=False, flatten=False, extra=0):
    """The (h, w, c) out of a reorg of an (h, w, c) input, as Darknet's
    make_reorg_layer sizes it, or ValueError where Darknet would read or write
    outside its buffers. With extra, Darknet sets the shape to 0 x 0 x 0 and
    outputs to inputs + extra: here 1 x 1 x (inputs + extra)."""
    h, w, c = shape
    if extra:
        if reverse or flatten:
            raise ValueError(
                "extra cannot go with reverse or flatten: Darknet's forward copies, but its "
                "backward then permutes (reverse) or reads past the input (flatten)"
            )
        return (1, 1, h * w * c + extra)
    if c % (stride * stride):
        raise ValueError(
            f"stride: the channels ({c}) must divide by stride*stride ({stride * stride}); "
            "Darknet's reorg_cpu reads outside its input otherwise"
        )
    if reverse:
        return (h * stride, w * stride, c // (stride * stride))
    if h % stride or w % stride:
        raise ValueError(
            f"stride: the width and height ({w} x {h}) must divide by stride ({stride}); "
            "Darknet's reorg_cpu writes outside its output otherwise"
        )
    return (h // stride, w // stride, c * stride * stride)


# --- the float64 reference of the layer ---


def reorg_indices(shape, stride):
    """Darknet's reorg_cpu pairs over one item of (c, h, w) = shape: (in_index,
    out_index), flat, in_index over c x h x w and out_index over
    (c/stride^2) x (h*stride) x (w*stride)."""
    h, w, c = shape
    out_c = c // (stride * stride)
    k, j, i = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    c2, offset = k % out_c, k // out_c
    w2 = i * stride + offset % stride
    h2 = j * stride + offset // stride
    out_index = w2 + w * stride * (h2 + h * stride * c2)
    in_index = i + w * (j + h * k)
    return in_index.ravel(), out_index.ravel()


def reference_forward(input, shape, stride=1, reverse=False, flatten=False, extra=0):
    """The layer's output for a (batch, h*w*c) input, in Darknet's order of forms."""
    x = reference.f64(input).reshape(len(input), -1)
    h, w, c = shape
    if flatten:
        items = x.reshape(len(x), c, h * w) if not reverse else x.reshape(len(x), h * w, c)
        return items.transpose(0, 2, 1).reshape(len(x), -1)
    if extra:
        return np.concatenate([x, np.zeros((len(x), extra))], axis=1)
    in_index, out_index = reorg_indices(shape, stride)
    out = np.empty_like(x)
    if reverse:
        out[:, out_index] = x[:, in_index]
    else:
        out[:, in_index] = x[:, out_index]
    return out


def reference_backward(
    delta, net_delta, shape, stride=1, reverse=False, flatten=False, extra=0, exact=False
):
    """net.delta after backward: delta permuted back (the inverse of forward's
    permutation; the first inputs values of each item with extra), written
    over net_delta as Darknet does, or added to it with `exact`."""
    delta = reference.f64(delta).reshape(len(net_delta), -1)
    if extra:
        h, w, c = shape
        back = delta[:, : h * w * c]
    else:
        # The inverse of each permutation is the reverse one's.
        back = reference_forward(delta, shape, stride, not reverse, flatten)
    return reference.f64(net_delta) + back if exact else back
