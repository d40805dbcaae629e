"""Darknet's [connected] layer (csrc/connected_layer.c) and its float64 reference."""

import math
from typing import Optional

import numpy as np

from .. import batchnorm, reference
from ..activations import ACTIVATIONS, activation_code
from ..binding import check_distinct, check_status, count, ffi, flag, lib, locked, number
from .base import CLayer, NetworkContext, Option, choice, integer, switch


class ConnectedLayer(CLayer):
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
    MemoryError
        If the C layer cannot be allocated.
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
        out = ffi.new("connected_layer **")
        check_status(
            lib.make_connected_layer(batch, inputs, outputs, code, batch_normalize, exact, out),
            "make_connected_layer",
        )
        self._layer = ffi.gc(out[0], lib.free_connected_layer)
        layer = self._layer
        buffers = {
            "output": (layer.output, (batch, outputs)),
            "delta": (layer.delta, (batch, outputs)),
            "weights": (layer.weights, (outputs, inputs)),
            "biases": (layer.biases, (outputs,)),
            "weight_updates": (layer.weight_updates, (outputs, inputs)),
            "bias_updates": (layer.bias_updates, (outputs,)),
        }
        if batch_normalize:
            for name in BATCHNORM_BUFFERS:
                buffers[name] = (getattr(layer, name), (outputs,))
            buffers["x"] = (layer.x, (batch, outputs))
            buffers["x_norm"] = (layer.x_norm, (batch, outputs))
        self._map(lib.connected_layer_bytes(layer), buffers)
        self.activation = activation
        rng = np.random.default_rng(seed)
        self.weights[:] = math.sqrt(2.0 / inputs) * rng.uniform(-1, 1, (outputs, inputs))

    weights = property(lambda self: self._view("weights"))
    biases = property(lambda self: self._view("biases"))
    weight_updates = property(lambda self: self._view("weight_updates"))
    bias_updates = property(lambda self: self._view("bias_updates"))
    batch_normalize = property(lambda self: bool(self._open().batch_normalize))
    exact = property(lambda self: bool(self._open().exact))

    def _normalization(self, name):
        self._open()
        if name not in self._views:
            raise AttributeError(f"this layer has no {name}: batch_normalize is off")
        return self._views[name]

    scales = property(lambda self: self._normalization("scales"))
    scale_updates = property(lambda self: self._normalization("scale_updates"))
    rolling_mean = property(lambda self: self._normalization("rolling_mean"))
    rolling_variance = property(lambda self: self._normalization("rolling_variance"))
    mean = property(lambda self: self._normalization("mean"))
    variance = property(lambda self: self._normalization("variance"))
    x = property(lambda self: self._normalization("x"))
    x_norm = property(lambda self: self._normalization("x_norm"))

    @property
    def weights_layout(self):  # type: ignore[override]
        """Darknet's order of .weights files: biases, weights, then scales and
        the rolling statistics when batch_normalize (a convolutional layer
        puts those before its weights)."""
        plain = ("biases", "weights")
        return plain + BATCHNORM_SAVED if self.batch_normalize else plain

    @property
    def state(self):  # type: ignore[override]
        plain = ("weights", "biases", "weight_updates", "bias_updates")
        if self.batch_normalize:
            return plain + ("scales", "scale_updates", "rolling_mean", "rolling_variance")
        return plain

    @locked
    def forward(self, net: NetworkContext) -> None:
        """Darknet's forward_connected_layer: `output` = f(input @ weights.T +
        biases), or with batch normalisation f(scales * normalised + biases).

        In training (`net.train`) the batch normalisation uses the batch's
        statistics and moves the rolling ones; outside it, the rolling ones.

        Parameters
        ----------
        net : NetworkContext
            `input` (batch, inputs), float32.

        Raises
        ------
        TypeError
            If `net` is not a NetworkContext.
        ValueError
            If the layer is closed, `net.input` has the wrong size, or it
            overlaps `output`.
        """
        layer = self._open()
        self._check_net(net)
        check_distinct(("net.input", net.input), ("layer.output", self.output), same_ok=False)
        check_status(lib.forward_connected_layer(layer, net._struct), "forward_connected_layer")

    @locked
    def backward(self, net: NetworkContext) -> None:
        """Darknet's backward_connected_layer.

        Multiplies `delta` (the NEGATIVE gradient with respect to `output`) by
        the activation's derivative in place, ADDS delta.T @ input into
        `weight_updates` and delta's sum over the batch into `bias_updates`
        (through the batch normalisation when on), and ADDS delta @ weights
        (batch, inputs) into `net.delta` when it is set. `net.input` must
        still hold what forward saw.

        Parameters
        ----------
        net : NetworkContext
            `input` (batch, inputs) as forward saw it; `delta` (batch, inputs)
            or None.

        Raises
        ------
        TypeError
            If `net` is not a NetworkContext.
        ValueError
            If the layer is closed, an array of `net` has the wrong size, or
            `net.delta` overlaps one of the layer's buffers.
        """
        layer = self._open()
        self._check_net(net, backward=True)
        if net.delta is not None:
            for name in self._views:
                check_distinct(
                    ("net.delta", net.delta), ("layer." + name, self._view(name)), same_ok=False
                )
        check_status(lib.backward_connected_layer(layer, net._struct), "backward_connected_layer")

    @locked
    def update(self, batch: int, learning_rate: float, momentum: float, decay: float) -> None:
        """Darknet's SGD step for updates summed over `batch` items:
        biases += learning_rate/batch * bias_updates (and the scales
        likewise with batch_normalize); weight_updates -=
        decay*batch*weights; weights += learning_rate/batch * weight_updates;
        then both updates are multiplied by `momentum`.

        Parameters
        ----------
        batch : int
            Items the updates were summed over (at least 1).
        learning_rate, momentum, decay : float
            Darknet's SGD settings (finite, at least 0).

        Raises
        ------
        TypeError
            If an argument has the wrong type.
        ValueError
            If the layer is closed or an argument is out of range.
        """
        layer = self._open()
        batch = count("batch", batch)
        learning_rate = number("learning_rate", learning_rate, minimum=0)
        momentum = number("momentum", momentum, minimum=0)
        decay = number("decay", decay, minimum=0)
        check_status(
            lib.update_connected_layer(layer, batch, learning_rate, momentum, decay),
            "update_connected_layer",
        )

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
        normalization = None
        if self.batch_normalize:
            normalization = (self.scales, self.rolling_mean, self.rolling_variance)
        return reference_forward(input, self.weights, self.biases, self.activation, normalization)

    def describe(self):
        return self.activation

    def __repr__(self):
        return self._repr(
            lambda: {
                "batch": self.batch,
                "inputs": self.inputs,
                "outputs": self.outputs,
                "activation": self.activation,
                "batch_normalize": self.batch_normalize,
                "exact": self.exact,
            }
        )


# --- the float64 reference of the layer ---


# The per-output buffers of batch normalisation, and those a .weights file holds.
BATCHNORM_BUFFERS = (
    "scales",
    "scale_updates",
    "mean",
    "variance",
    "mean_delta",
    "variance_delta",
    "rolling_mean",
    "rolling_variance",
)
BATCHNORM_SAVED = ("scales", "rolling_mean", "rolling_variance")


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
