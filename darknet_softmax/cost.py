"""Darknet's [cost] layer (csrc/cost_layer.c) and its kernels."""
import math
import numbers


from .binding import (check_distinct, check_status, count, ffi, float_array, float_ptr, lib,
                      locked, loss_arrays)
from .layers import CLayer

# Darknet's cfg names for the cost types this project supports.
COST_TYPES = {"sse": lib.SSE, "masked": lib.MASKED, "L1": lib.L1, "smooth": lib.SMOOTH}


def _kernel(function, pred, truth, delta, error):
    pred = float_array("pred", pred)
    truth, delta, error = loss_arrays(pred, truth, delta, error)
    function(pred.size, float_ptr(pred), float_ptr(truth), float_ptr(delta), float_ptr(error))
    return delta, error


def l2(pred, truth, delta=None, error=None):
    """(delta, error) with diff = truth - pred: error = diff**2, delta = diff."""
    return _kernel(lib.l2_cpu, pred, truth, delta, error)


def l1(pred, truth, delta=None, error=None):
    """(delta, error): error = |diff|, delta = 1 where diff > 0, else -1."""
    return _kernel(lib.l1_cpu, pred, truth, delta, error)


def smooth_l1(pred, truth, delta=None, error=None):
    """(delta, error): as l2 where |diff| < 1; elsewhere error = 2|diff| - 1
    and delta = sign(diff) (Darknet has -sign(diff), the wrong way)."""
    return _kernel(lib.smooth_l1_cpu, pred, truth, delta, error)


class CostLayer(CLayer):
    """Darknet's cost layer over `batch` items of `inputs` floats.

    With a truth, forward writes each value's error into `output` and its
    negative gradient into `delta`, (batch, inputs) views of C memory, and
    `cost` = the sum of `output`. backward adds `scale * delta` into
    `net.delta`. For "sse", "masked" and "smooth", delta is the negative
    gradient of half the error (Darknet's convention); for "L1", of the error.
    "masked" gives 0 error and delta where the truth is SECRET_NUM."""

    def __init__(self, batch, inputs, type="sse", scale=1.0):
        batch, inputs = count("batch", batch), count("inputs", inputs)
        if not isinstance(type, str) or type not in COST_TYPES:
            raise ValueError(f"type must be one of {', '.join(COST_TYPES)}, not {type!r}")
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
            raise TypeError(f"scale must be a number, not {scale.__class__.__name__}")
        if not math.isfinite(scale):
            raise ValueError(f"scale must be finite, not {scale!r}")
        out = ffi.new("cost_layer **")
        check_status(lib.make_cost_layer(batch, inputs, COST_TYPES[type], scale, out),
                     "make_cost_layer")
        self._layer = ffi.gc(out[0], lib.free_cost_layer)
        layer = self._layer
        self._map(lib.cost_layer_bytes(layer), {"output": (layer.output, (batch, inputs)),
                                                "delta": (layer.delta, (batch, inputs))})
        self.type = type

    output = property(lambda self: self._view("output"))
    delta = property(lambda self: self._view("delta"))
    scale = property(lambda self: float(self._open().scale))
    cost = property(lambda self: float(self._open().cost))

    @locked
    def forward(self, net):
        layer = self._open()
        self._check_net(net)
        check_status(lib.forward_cost_layer(layer, net._struct), "forward_cost_layer")

    @locked
    def backward(self, net):
        layer = self._open()
        self._check_net(net, backward=True)
        if net.delta is not None:
            check_distinct(("net.delta", net.delta), ("layer.delta", self.delta), same_ok=False)
        check_status(lib.backward_cost_layer(layer, net._struct), "backward_cost_layer")

    def __repr__(self):
        if self._layer is None:
            return "CostLayer(closed)"
        return (f"CostLayer(batch={self.batch}, inputs={self.inputs}, type={self.type!r}, "
                f"scale={self.scale})")
