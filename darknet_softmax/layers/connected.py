"""Darknet's [connected] layer (csrc/connected_layer.c) and its float64 reference."""

import math
from typing import Optional

import numpy as np

from .. import reference
from ..activations import ACTIVATIONS, activation_code
from ..binding import check_distinct, check_status, count, ffi, lib, locked, number
from .base import CLayer, NetworkContext, Option, choice, integer


class ConnectedLayer(CLayer):
    """A fully connected layer: output = f(input @ weights.T + biases).

    `weights` is an (outputs, inputs) view and `biases` an (outputs,) view of
    the C memory, laid out as Darknet lays them out (and saves them); `output`
    and `delta` are (batch, outputs) views, `delta` being the NEGATIVE gradient.
    `weight_updates` and `bias_updates` gather delta sums between updates and
    carry the momentum. The weights start as Darknet starts them,
    sqrt(2/inputs) * uniform(-1, 1), from `seed`; the biases at 0."""

    kind = "connected"
    sections = ("connected", "conn")
    options = {
        "output": Option(integer(1), 1),
        "activation": Option(choice(ACTIVATIONS), "logistic"),
    }
    weights_layout = ("biases", "weights")  # the order of Darknet's .weights files
    old_transposed = "weights"  # (inputs, outputs) in files of version 1000 and up
    state = ("weights", "biases", "weight_updates", "bias_updates")

    def __init__(
        self,
        batch: int,
        inputs: int,
        outputs: int,
        activation: str = "logistic",
        seed: Optional[int] = None,
    ) -> None:
        batch, inputs, outputs = (
            count("batch", batch),
            count("inputs", inputs),
            count("outputs", outputs),
        )
        code = activation_code(activation)
        out = ffi.new("connected_layer **")
        check_status(
            lib.make_connected_layer(batch, inputs, outputs, code, out), "make_connected_layer"
        )
        self._layer = ffi.gc(out[0], lib.free_connected_layer)
        layer = self._layer
        self._map(
            lib.connected_layer_bytes(layer),
            {
                "output": (layer.output, (batch, outputs)),
                "delta": (layer.delta, (batch, outputs)),
                "weights": (layer.weights, (outputs, inputs)),
                "biases": (layer.biases, (outputs,)),
                "weight_updates": (layer.weight_updates, (outputs, inputs)),
                "bias_updates": (layer.bias_updates, (outputs,)),
            },
        )
        self.activation = activation
        rng = np.random.default_rng(seed)
        self.weights[:] = math.sqrt(2.0 / inputs) * rng.uniform(-1, 1, (outputs, inputs))

    weights = property(lambda self: self._view("weights"))
    biases = property(lambda self: self._view("biases"))
    weight_updates = property(lambda self: self._view("weight_updates"))
    bias_updates = property(lambda self: self._view("bias_updates"))

    @locked
    def forward(self, net: NetworkContext) -> None:
        layer = self._open()
        self._check_net(net)
        check_distinct(("net.input", net.input), ("layer.output", self.output), same_ok=False)
        check_status(lib.forward_connected_layer(layer, net._struct), "forward_connected_layer")

    @locked
    def backward(self, net: NetworkContext) -> None:
        """Multiplies `delta` by the activation's derivative in place, adds to
        the updates, and adds delta @ weights into `net.delta` when it is set.
        `net.input` must still hold what forward saw."""
        layer = self._open()
        self._check_net(net, backward=True)
        if net.delta is not None:
            for name in ("delta", "weights", "output"):
                check_distinct(
                    ("net.delta", net.delta), ("layer." + name, self._view(name)), same_ok=False
                )
        check_status(lib.backward_connected_layer(layer, net._struct), "backward_connected_layer")

    @locked
    def update(self, batch: int, learning_rate: float, momentum: float, decay: float) -> None:
        """Darknet's SGD step for updates summed over `batch` items:
        biases += learning_rate/batch * bias_updates; weight_updates -=
        decay*batch*weights; weights += learning_rate/batch * weight_updates;
        then both updates are multiplied by `momentum`."""
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
        return (1, 1, outputs), 4 * (2 * batch * outputs + 2 * outputs * inputs + 2 * outputs)

    @classmethod
    def build(cls, options, params):
        return cls(
            params.batch, params.inputs, options["output"], options["activation"], params.seed
        )

    def reference(self, input, outputs):
        return reference_forward(input, self.weights, self.biases, self.activation)

    def describe(self):
        return self.activation

    def __repr__(self):
        return self._repr(
            lambda: {
                "batch": self.batch,
                "inputs": self.inputs,
                "outputs": self.outputs,
                "activation": self.activation,
            }
        )


# --- the float64 reference of the layer ---


def reference_forward(input, weights, biases, activation):
    """f(input @ weights.T + biases) for (batch, inputs) input."""
    return reference.activate(
        reference.f64(input) @ reference.f64(weights).T + reference.f64(biases), activation
    )


def reference_backward(input, weights, output, delta, activation):
    """(delta times f', bias updates, weight updates, delta for the input):
    what one backward pass adds, from updates and net delta at zero."""
    delta = reference.f64(delta) * reference.gradient(output, activation)
    return delta, delta.sum(axis=0), delta.T @ reference.f64(input), delta @ reference.f64(weights)
