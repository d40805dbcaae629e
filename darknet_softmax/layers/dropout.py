"""Darknet's [dropout] layer (csrc/dropout_layer.c) and its float64 reference."""

from typing import Optional

import numpy as np

from .. import reference
from ..binding import (
    Floats,
    check_distinct,
    check_size,
    count,
    ffi,
    float_array,
    float_ptr,
    locked,
    number,
    same_memory,
)
from .base import CLayer, Option, generator_seed, real


class DropoutLayer(CLayer):
    """Darknet's dropout: in training, each value is zeroed with `probability`
    and the rest are scaled by 1/(1 - probability), so the expected output is
    the input; outside training it passes everything through untouched.

    Like Darknet's, the layer works IN PLACE on the layer before it: `share`
    it that layer's output and delta; forward then expects `net.input` to be
    that output, and backward rescales `net.delta` (that delta) in place.
    Backward also undoes the scaling of the kept outputs, so the layer before
    takes its activation's derivative at its own output; Darknet takes it at
    the dropped, scaled one, which is wrong for logistic and tanh. Outside
    training, or when `net.delta` is None, backward does nothing; unlike the
    other layers it multiplies rather than adds: the delta is the layer
    before's own.
    `rand` is a (batch, inputs) view of the draws of the last training pass;
    `seed` starts the layer's own generator.

    Parameters
    ----------
    batch, inputs : int
        Items a pass, and floats in one item (each at least 1).
    probability : float, default 0.5
        The chance that a value is dropped, in [0, 1).
    seed : int, optional
        Starts the generator of the draws (at least 0, taken modulo 2**64);
        fresh entropy when None.

    Raises
    ------
    TypeError
        If an argument has the wrong type.
    ValueError
        If a size is below 1, `probability` is outside [0, 1), or `seed` is
        below 0.
    """

    kind = "dropout"
    sections = ("dropout",)
    options = {"probability": Option(real(lambda v: 0 <= v < 1, "a number in [0, 1)"), 0.5)}
    buffers = "rand"
    fields = {float: "probability scale"}

    def __init__(
        self, batch: int, inputs: int, probability: float = 0.5, seed: Optional[int] = None
    ) -> None:
        batch, inputs = count("batch", batch), count("inputs", inputs)
        probability = number("probability", probability, finite=False)
        if not 0 <= probability < 1:
            raise ValueError(f"probability must be at least 0 and below 1, not {probability!r}")
        seed = generator_seed(seed)
        self._make(batch, inputs, probability, seed)
        self._map(rand=(self._layer.rand, (batch, inputs)))
        self._output: Optional[Floats] = None
        self._delta: Optional[Floats] = None

    output = property(lambda self: (self._open(), self._output)[1])
    delta = property(lambda self: (self._open(), self._delta)[1])

    @locked
    def share(self, output: Floats, delta: Optional[Floats] = None) -> None:
        """Work in place on `output` and `delta`, the previous layer's buffers
        (float32, batch*inputs each; delta may be None). The layer keeps them."""
        layer = self._open()
        size = self.batch * self.inputs
        output = float_array("output", output, writable=True)
        check_size("output", output, size)
        if delta is not None:
            delta = float_array("delta", delta, writable=True)
            check_size("delta", delta, size)
            check_distinct(("output", output), ("delta", delta), same_ok=False)
        layer.output = float_ptr(output)
        layer.delta = ffi.NULL if delta is None else float_ptr(delta)
        self._output, self._delta = output, delta

    def _check_input(self, net):
        if self._output is None or not same_memory(net.input, self._output):
            raise ValueError(
                "net.input must be the array given to share() as output: dropout works in place"
            )

    def _check_delta(self, net):
        if net.delta is None:
            return
        if self._delta is None or not same_memory(net.delta, self._delta):
            raise ValueError(
                "net.delta must be the array given to share() as delta: dropout works in place"
            )

    @classmethod
    def plan(cls, options, params):
        if not params.shapes:
            raise ValueError(
                "dropout cannot be the first layer: as in Darknet, it works in "
                "place on the output of the layer before it"
            )
        return params.shape, 4 * params.batch * params.inputs

    @classmethod
    def build(cls, options, params):
        layer = cls(params.batch, params.inputs, options["probability"], params.seed)
        layer.share(params.previous.output, params.previous.delta)
        return layer

    def reference(self, input, outputs):
        """Outside training, dropout passes its input through."""
        return reference.f64(input)

    def describe(self):
        return f"p = {self.probability:g}"


# --- the float64 reference of the layer ---


def reference_forward(input, rand, probability):
    """The training pass, given the draws: 0 where rand < probability, else input/(1-p)."""
    scale = 1 / np.float32(1 - np.float32(probability))
    return np.where(
        reference.f64(rand) < np.float32(probability), 0.0, reference.f64(input) * scale
    )


def reference_backward(delta, rand, probability):
    return reference_forward(delta, rand, probability)
