"""Darknet's [shortcut] layer (csrc/shortcut_layer.c) and its float64 reference."""

from typing import Optional

import numpy as np

from .. import reference
from ..activations import ACTIVATIONS, activation_code
from ..binding import (
    Floats,
    check_distinct,
    check_size,
    ffi,
    flag,
    float_array,
    float_ptr,
    image_input,
    image_shape,
    number,
)
from .base import CLayer, Option, choice, real
from .route import absolute_indices, index


def check_shapes(shape, from_shape):
    """Darknet's shortcut_cpu asserts that the integer ratios of the widths and
    of the heights agree, both ways; refuse what it would abort on."""
    (h, w, _), (h2, w2, _) = shape, from_shape
    if w2 // w != h2 // h or w // w2 != h // h2:
        raise ValueError(
            f"from: the layer's {w2} x {h2} output and the previous layer's {w} x {h} "
            "must scale alike in width and height (Darknet's shortcut_cpu asserts "
            "w2/w == h2/h and w/w2 == h/h2)"
        )


class ShortcutLayer(CLayer):
    """Darknet's shortcut: output = activation(alpha*input + beta*from), input
    being the layer before (of `shape`, (h, w, c), the output's shape too)
    and `from_output` an earlier layer's output (of `from_shape`).

    Where the shapes differ it does what Darknet's shortcut_cpu does: it
    steps through the larger with the ratio of the widths as a stride, over
    the smaller's width, height and channels; the positions it does not reach
    keep the input, not scaled by alpha. Backward multiplies `delta` by the
    activation's derivative, adds alpha*delta into net.delta, and beta*delta
    into `from_delta` at the positions forward read. Darknet scales net.delta
    by alpha also where forward did not scale the input; `exact` gives those
    positions delta itself (they differ only with alpha != 1 and shapes
    that differ). `net.delta` may be the from layer's delta (from=-1): both
    get their share. The layer keeps `from_output` and `from_delta`.

    In a cfg the option is `from`, a Python keyword: give it positionally,
    `net.add_shortcut(-3)`, or as `**{"from": -3}`.

    Parameters
    ----------
    batch : int
        Items a pass (at least 1).
    shape : tuple of int
        The input's (h, w, c), and the output's (each at least 1).
    from_shape : tuple of int
        The from layer's output (h, w, c); its widths and heights must scale
        alike with `shape`'s.
    from_output : ndarray of float32
        The from layer's output, batch*h*w*c floats of `from_shape`.
    from_delta : ndarray of float32, optional
        The from layer's delta, writable, of `from_output`'s size; None when it
        has none.
    activation : str, default "linear"
        One of `darknet_softmax.activations.ACTIVATIONS`.
    alpha, beta : float, default 1.0
        The factors of the input and of the from layer's output (finite).
    exact : bool, default False
        The true input delta at the positions forward did not scale.
    index : int, optional
        The from layer's index, for the summary.

    Raises
    ------
    TypeError
        If an argument has the wrong type, or a shape is not an (h, w, c)
        tuple.
    ValueError
        If a size is below 1, the shapes do not scale alike, an array has the
        wrong size or is read-only, `from_delta` overlaps `from_output`, or
        the activation is unknown.
    """

    kind = "shortcut"
    sections = ("shortcut",)
    options = {
        "from": Option(index, None),
        "activation": Option(choice(ACTIVATIONS), "linear"),
        "alpha": Option(real(), 1.0),
        "beta": Option(real(), 1.0),
    }
    fields = {float: "alpha beta", bool: "exact"}
    shown = "batch shape from_shape index activation alpha beta exact"

    def __init__(
        self,
        batch: int,
        shape: tuple,
        from_shape: tuple,
        from_output: Floats,
        from_delta: Optional[Floats] = None,
        activation: str = "linear",
        alpha: float = 1.0,
        beta: float = 1.0,
        exact: bool = False,
        index: Optional[int] = None,
    ) -> None:
        batch, shape = image_input(batch, shape)
        from_shape = image_shape("from_shape", from_shape)
        check_shapes(shape, from_shape)
        code = activation_code(activation)
        alpha, beta = number("alpha", alpha), number("beta", beta)
        exact = flag("exact", exact)
        from_output = float_array("from_output", from_output)
        check_size("from_output", from_output, batch * int(np.prod(from_shape)))
        if from_delta is not None:
            from_delta = float_array("from_delta", from_delta, writable=True)
            check_size("from_delta", from_delta, from_output.size)
            check_distinct(("from_output", from_output), ("from_delta", from_delta), same_ok=False)
        (h, w, c), (h2, w2, c2) = shape, from_shape
        self._make(
            batch,
            w,
            h,
            c,
            w2,
            h2,
            c2,
            float_ptr(from_output),
            ffi.NULL if from_delta is None else float_ptr(from_delta),
            code,
            alpha,
            beta,
            exact,
        )
        # The C layer points into these: they live as long as the layer.
        self._from: tuple[Optional[Floats], Optional[Floats]] = (from_output, from_delta)
        self.activation = activation
        self.index = index
        self.shape, self.from_shape = shape, from_shape
        outputs = h * w * c
        self._map((batch, outputs))

    from_output = property(lambda self: (self._open(), self._from[0])[1])
    from_delta = property(lambda self: (self._open(), self._from[1])[1])

    def close(self):
        """Release the C layer and the from layer's arrays it kept."""
        super().close()
        self._from = (None, None)

    @classmethod
    def plan(cls, options, params):
        (index,) = absolute_indices("from", options["from"], len(params.shapes))
        check_shapes(params.shape, params.shapes[index])
        return params.shape, 4 * 2 * params.batch * params.inputs

    @classmethod
    def build(cls, options, params):
        (index,) = absolute_indices("from", options["from"], len(params.layers))
        source = params.layers[index]
        return cls(
            params.batch,
            params.shape,
            params.shapes[index],
            source.output,
            source.delta,
            options["activation"],
            options["alpha"],
            options["beta"],
            params.exact,
            index,
        )

    def reference(self, input, outputs):
        if self.index is None:
            raise ValueError("this shortcut was built without index: it cannot find its from layer")
        return reference_forward(
            input,
            outputs[self.index],
            self.shape,
            self.from_shape,
            self.alpha,
            self.beta,
            self.activation,
        )

    def describe(self):
        detail = f"from {self.index}" if self.index is not None else "from ?"
        if self.activation != "linear":
            detail += f" {self.activation}"
        if (self.alpha, self.beta) != (1.0, 1.0):
            detail += f" {self.alpha:g}a {self.beta:g}b"
        return detail


# --- the float64 reference of the layer ---


def sampled(shape, from_shape):
    """The pairs of shortcut_cpu, within one item: (positions of the output,
    positions of the from layer's output), flat (c, h, w) indices."""
    (h, w, _), (h2, w2, _) = shape, from_shape
    stride = max(w2 // w, 1)  # through the from layer, where it is larger
    sample = max(w // w2, 1)  # through the output, where it is larger
    c = np.arange(min(shape[2], from_shape[2]))[:, None, None]
    j = np.arange(min(h, h2))[None, :, None]
    i = np.arange(min(w, w2))[None, None, :]
    out_index = i * sample + w * (j * sample + h * c)
    from_index = i * stride + w2 * (j * stride + h2 * c)
    return out_index.ravel(), from_index.ravel()


def reference_forward(input, from_output, shape, from_shape, alpha, beta, activation):
    """activation(input, with alpha*input + beta*from at the pairs of `sampled`)."""
    output = reference.f64(input).reshape(len(input), -1).copy()
    add = reference.f64(from_output).reshape(len(output), -1)
    out_index, from_index = sampled(shape, from_shape)
    output[:, out_index] = alpha * output[:, out_index] + beta * add[:, from_index]
    return reference.activate(output, activation)


def reference_backward(delta, output, shape, from_shape, alpha, beta, activation, exact=False):
    """(what net.delta gets, what the from layer's delta gets), from the
    layer's delta and output: delta times the activation's derivative, times
    alpha for the input (Darknet's: everywhere; exact: where forward scaled),
    times beta at the pairs for the from layer."""
    delta = reference.f64(delta) * reference.gradient(output, activation)
    out_index, from_index = sampled(shape, from_shape)
    if exact:
        input_delta = delta.copy()
        input_delta[:, out_index] *= alpha
    else:
        input_delta = alpha * delta
    from_delta = np.zeros((len(delta), int(np.prod(from_shape))))
    from_delta[:, from_index] = beta * delta[:, out_index]
    return input_delta, from_delta
