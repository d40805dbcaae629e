"""Darknet's [connected] layer (csrc/connected_layer.c) and its float64 reference."""

import math
from typing import Optional

import numpy as np

from .. import batchnorm, reference
from ..activations import ACTIVATIONS, activation_code
from ..binding import count, flag
from .base import Option, choice, integer, switch
from .weighted import BATCHNORM_SAVED, WeightedLayer


class ConnectedLayer(WeightedLayer):
    """A fully connected layer: output = f(input @ weights.T + biases).

    `weights` is an (outputs, inputs) view and `biases` an (outputs,) view of
    the C memory, laid out as Darknet lays them out (and saves them); `output`
    and `delta` are (batch, outputs) views, `delta` being the NEGATIVE gradient.
    `weight_updates` and `bias_updates` gather delta sums between updates and
    carry the momentum. The weights start as Darknet starts them,
    sqrt(2/inputs) * uniform(-1, 1), from `seed`; the biases at 0.

    With `batch_normalize`, Darknet's batch normalisation over the batch
    replaces the plain biases: output = f(scales * normalised(input @
    weights.T) + biases), with `scales` (starting at 1), `rolling_mean` and
    `rolling_variance` (and `mean`, `variance`, `x`, `x_norm` of the last
    pass) as (outputs,) or (batch, outputs) views. `exact=True` computes its
    true gradient; by default, Darknet's (see `darknet_softmax.batchnorm`).
    In training (`net.train`) the batch normalisation uses the batch's
    statistics and moves the rolling ones; outside it, the rolling ones.

    Backward multiplies `delta` by the activation's derivative in place, ADDS
    delta.T @ input into `weight_updates` and delta's sum over the batch into
    `bias_updates` (through the batch normalisation when on), and ADDS delta
    @ weights into `net.delta` when it is set; `net.input` must still hold
    what forward saw.

    Parameters
    ----------
    batch : int
        Items a pass (at least 1).
    inputs : int
        Floats in one input item (at least 1).
    outputs : int
        Floats in one output item (at least 1): the cfg's `output`.
    activation : str, default "logistic"
        One of `darknet_softmax.activations.ACTIVATIONS` ("linear", "relu",
        "leaky", ...).
    seed : int, optional
        Seeds the weights' draw (fresh entropy when None).
    batch_normalize : bool, default False
        Darknet's batch normalisation in place of the plain biases.
    exact : bool, default False
        The true batch-normalisation gradient, or Darknet's.

    Raises
    ------
    TypeError
        If an argument has the wrong type.
    ValueError
        If a size is below 1 or the activation is unknown.
    """

    kind = "connected"
    sections = ("connected", "conn")
    options = {
        "output": Option(integer(1), 1),
        "activation": Option(choice(ACTIVATIONS), "logistic"),
        "batch_normalize": Option(switch, False),
    }
    old_transposed = "weights"  # (inputs, outputs) in files of version 1000 and up

    def __init__(
        self,
        batch: int,
        inputs: int,
        outputs: int,
        activation: str = "logistic",
        seed: Optional[int] = None,
        batch_normalize: bool = False,
        exact: bool = False,
    ) -> None:
        batch, inputs, outputs = (
            count("batch", batch),
            count("inputs", inputs),
            count("outputs", outputs),
        )
        code = activation_code(activation)
        batch_normalize, exact = flag("batch_normalize", batch_normalize), flag("exact", exact)
        self._make(batch, inputs, outputs, code, batch_normalize, exact)
        self._map_weighted(batch, outputs, (outputs, inputs), (outputs,))
        self.activation = activation
        rng = np.random.default_rng(seed)
        self.weights[:] = math.sqrt(2.0 / inputs) * rng.uniform(-1, 1, (outputs, inputs))

    @property
    def weights_layout(self):  # type: ignore[override]
        """Darknet's order of .weights files: biases, weights, then scales and
        the rolling statistics when batch_normalize (a convolutional layer
        puts those before its weights)."""
        plain = ("biases", "weights")
        return plain + BATCHNORM_SAVED if self.batch_normalize else plain

    @classmethod
    def plan(cls, options, params):
        batch, inputs, outputs = params.batch, params.inputs, options["output"]
        floats = 2 * batch * outputs + 2 * outputs * inputs + 2 * outputs
        if options["batch_normalize"]:
            floats += 8 * outputs + 2 * batch * outputs
        return (1, 1, outputs), 4 * floats

    @classmethod
    def build(cls, options, params):
        return cls(
            params.batch,
            params.inputs,
            options["output"],
            options["activation"],
            params.seed,
            options["batch_normalize"],
            params.exact,
        )

    def reference(self, input, outputs):
        return reference_forward(
            input, self.weights, self.biases, self.activation, self._normalization()
        )

    def describe(self):
        return self.activation


# --- the float64 reference of the layer ---


def reference_forward(input, weights, biases, activation, normalization=None):
    """f(input @ weights.T + biases) for (batch, inputs) input, outside
    training; with `normalization` = (scales, rolling_mean,
    rolling_variance), f(scales * the sums normalised by the rolling
    statistics + biases)."""
    sums = reference.f64(input) @ reference.f64(weights).T
    if normalization is None:
        return reference.activate(sums + reference.f64(biases), activation)
    scales, rolling_mean, rolling_variance = normalization
    out = batchnorm.forward(sums[:, :, None], scales, biases, rolling_mean, rolling_variance, False)
    return reference.activate(out[0][:, :, 0], activation)


def reference_backward(input, weights, output, delta, activation):
    """(delta times f', bias updates, weight updates, delta for the input):
    what one backward pass adds, from updates and net delta at zero."""
    delta = reference.f64(delta) * reference.gradient(output, activation)
    return delta, delta.sum(axis=0), delta.T @ reference.f64(input), delta @ reference.f64(weights)
