"""Darknet's activations (csrc/activations.c) by name, and the two kernels."""

from .binding import Floats, check_shape, check_status, float_array, float_ptr, lib

# Darknet's cfg names for the activations this project supports.
ACTIVATIONS = {
    "logistic": lib.LOGISTIC,
    "relu": lib.RELU,
    "linear": lib.LINEAR,
    "tanh": lib.TANH,
    "leaky": lib.LEAKY,
}


def activation_code(name: str) -> int:
    """The C enum value for an activation's cfg name."""
    if not isinstance(name, str):
        raise TypeError(f"activation must be a str, not {type(name).__name__}")
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, not {name!r}")
    return ACTIVATIONS[name]


def activate_array(x: Floats, activation: str) -> Floats:
    """x = f(x), in place on the float32 array `x`; returns `x`."""
    code = activation_code(activation)
    x = float_array("x", x, writable=True)
    check_status(lib.activate_array(float_ptr(x), x.size, code), "activate_array")
    return x


def gradient_array(output: Floats, activation: str, delta: Floats) -> Floats:
    """delta *= f'(x), in place, where `output` holds f(x) (Darknet writes
    every derivative in terms of the activated output); returns `delta`."""
    code = activation_code(activation)
    output = float_array("output", output)
    delta = float_array("delta", delta, writable=True)
    check_shape("delta", delta, output.shape)
    check_status(
        lib.gradient_array(float_ptr(output), output.size, code, float_ptr(delta)), "gradient_array"
    )
    return delta
