"""Darknet's [connected] layer (csrc/connected_layer.c)."""
import math
import numbers

import numpy as np

from .activations import ACTIVATIONS, activation_code
from .binding import check_distinct, check_status, count, ffi, lib, locked
from .layers import CLayer


def _finite(name, value, minimum=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or (minimum is not None and value < minimum):
        raise ValueError(f"{name} must be finite" + (f" and at least {minimum}" if minimum
                                                     is not None else "") + f", not {value!r}")
    return value


class ConnectedLayer(CLayer):
    """A fully connected layer: output = f(input @ weights.T + biases).

    `weights` is an (outputs, inputs) view and `biases` an (outputs,) view of
    the C memory, laid out as Darknet lays them out (and saves them); `output`
    and `delta` are (batch, outputs) views, `delta` being the NEGATIVE gradient.
    `weight_updates` and `bias_updates` gather delta sums between updates and
    carry the momentum. The weights start as Darknet starts them,
    sqrt(2/inputs) * uniform(-1, 1), from `seed`; the biases at 0."""

    def __init__(self, batch, inputs, outputs, activation="logistic", seed=None):
        batch, inputs, outputs = count("batch", batch), count("inputs", inputs), count(
            "outputs", outputs)
        code = activation_code(activation)
        out = ffi.new("connected_layer **")
        check_status(lib.make_connected_layer(batch, inputs, outputs, code, out),
                     "make_connected_layer")
        self._layer = ffi.gc(out[0], lib.free_connected_layer)
        layer = self._layer
        self._map(lib.connected_layer_bytes(layer), {
            "output": (layer.output, (batch, outputs)), "delta": (layer.delta, (batch, outputs)),
            "weights": (layer.weights, (outputs, inputs)), "biases": (layer.biases, (outputs,)),
            "weight_updates": (layer.weight_updates, (outputs, inputs)),
            "bias_updates": (layer.bias_updates, (outputs,))})
        self.activation = activation
        rng = np.random.default_rng(seed)
        self.weights[:] = math.sqrt(2.0 / inputs) * rng.uniform(-1, 1, (outputs, inputs))

    output = property(lambda self: self._view("output"))
    delta = property(lambda self: self._view("delta"))
    weights = property(lambda self: self._view("weights"))
    biases = property(lambda self: self._view("biases"))
    weight_updates = property(lambda self: self._view("weight_updates"))
    bias_updates = property(lambda self: self._view("bias_updates"))

    @locked
    def forward(self, net):
        layer = self._open()
        self._check_net(net)
        check_distinct(("net.input", net.input), ("layer.output", self.output), same_ok=False)
        check_status(lib.forward_connected_layer(layer, net._struct), "forward_connected_layer")

    @locked
    def backward(self, net):
        """Multiplies `delta` by the activation's derivative in place, adds to
        the updates, and adds delta @ weights into `net.delta` when it is set.
        `net.input` must still hold what forward saw."""
        layer = self._open()
        self._check_net(net, backward=True)
        if net.delta is not None:
            for name in ("delta", "weights", "output"):
                check_distinct(("net.delta", net.delta), ("layer." + name, self._view(name)),
                               same_ok=False)
        check_status(lib.backward_connected_layer(layer, net._struct), "backward_connected_layer")

    @locked
    def update(self, batch, learning_rate, momentum, decay):
        """Darknet's SGD step for updates summed over `batch` items:
        biases += learning_rate/batch * bias_updates; weight_updates -=
        decay*batch*weights; weights += learning_rate/batch * weight_updates;
        then both updates are multiplied by `momentum`."""
        layer = self._open()
        batch = count("batch", batch)
        learning_rate = _finite("learning_rate", learning_rate, 0)
        momentum = _finite("momentum", momentum, 0)
        decay = _finite("decay", decay, 0)
        check_status(lib.update_connected_layer(layer, batch, learning_rate, momentum, decay),
                     "update_connected_layer")

    def __repr__(self):
        if self._layer is None:
            return "ConnectedLayer(closed)"
        return (f"ConnectedLayer(batch={self.batch}, inputs={self.inputs}, "
                f"outputs={self.outputs}, activation={self.activation!r})")


__all__ = ["ACTIVATIONS", "ConnectedLayer"]
