"""Darknet's [cost] layer (csrc/cost_layer.c), its kernels and its float64 reference."""

from .. import reference
from ..binding import SECRET_NUM, count, float_array, float_ptr, lib, loss_arrays, number
from .base import CLayer, Option, choice, real

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

    Without a truth, forward does nothing. With a truth, it writes each
    value's error into `output` and its negative gradient into `delta`,
    (batch, inputs) views of C memory, and `cost` = the sum of `output`.
    backward adds `scale * delta` into `net.delta`. For "sse", "masked" and
    "smooth", delta is the negative gradient of half the error (Darknet's
    convention); for "L1", of the error.
    "masked" gives 0 error and delta where the truth is SECRET_NUM.

    In a network, a cost layer right after a softmax that computes its own
    loss adds that gradient a second time in Darknet; in a network built with
    `exact`, it only reports its cost (`reports_only`), and backward adds
    nothing.

    Parameters
    ----------
    batch, inputs : int
        Items a pass, and floats in one item (each at least 1).
    type : {"sse", "masked", "L1", "smooth"}, default "sse"
        The error.
    scale : float, default 1.0
        The factor of the delta backward adds (finite).

    Raises
    ------
    TypeError
        If an argument has the wrong type.
    ValueError
        If a size is below 1, `type` is unknown or `scale` is not finite.
    """

    reports_only = False

    kind = "cost"
    sections = ("cost",)
    options = {"type": Option(choice(COST_TYPES), "sse"), "scale": Option(real(), 1.0)}
    fields = {float: "scale cost"}
    apart = ("delta",)

    def __init__(self, batch: int, inputs: int, type: str = "sse", scale: float = 1.0) -> None:
        batch, inputs = count("batch", batch), count("inputs", inputs)
        if not isinstance(type, str) or type not in COST_TYPES:
            raise ValueError(f"type must be one of {', '.join(COST_TYPES)}, not {type!r}")
        scale = number("scale", scale)
        self._make(batch, inputs, COST_TYPES[type], scale)
        self._map((batch, inputs))
        self.type = type

    def _check_input(self, net):
        """The cost layer takes any input, its output too."""

    def _call(self, step, layer, net):
        """A cost layer that only reports adds nothing in backward."""
        if step == "forward" or not self.reports_only:
            super()._call(step, layer, net)

    @classmethod
    def plan(cls, options, params):
        return params.shape, 4 * 2 * params.batch * params.inputs

    @classmethod
    def build(cls, options, params):
        layer = cls(params.batch, params.inputs, options["type"], options["scale"])
        previous = params.previous
        layer.reports_only = (
            params.exact
            and previous is not None
            and previous.kind == "softmax"
            and not previous.noloss
        )
        return layer

    def reference(self, input, outputs):
        """Without a truth the cost layer leaves its input as it is."""
        return reference.f64(input)

    def describe(self):
        return f"{self.type}, scale {self.scale:g}" + (
            ", reports only" if self.reports_only else ""
        )


# --- the float64 reference of the layer ---


def reference_forward(input, truth, cost_type="sse"):
    """(output, delta, cost) of Darknet's cost layer."""
    kernel = {
        "sse": reference.l2,
        "masked": reference.l2,
        "L1": reference.l1,
        "smooth": reference.smooth_l1,
    }[cost_type]
    delta, error = kernel(input, truth)
    if cost_type == "masked":
        masked = reference.f64(truth) == SECRET_NUM
        delta[masked] = 0
        error[masked] = 0
    return error, delta, float(error.sum())
