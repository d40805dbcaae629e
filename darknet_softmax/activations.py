"""Darknet's activations (csrc/activations.c) by name, and the two kernels.

Every activation is Darknet's formula, and its gradient Darknet's, written in
terms of the activated output. Two differences: tanh is tanhf, where Darknet's
(exp(2x) - 1)/(exp(2x) + 1) is NaN above x = 354.9; and where Darknet's
stair converts |x| >= 2^31, inf or NaN to an int (undefined in C), this takes
x86's answer, INT_MIN. The rest of Darknet's quirks are kept: relu, ramp, elu
and selu are NaN at -inf, and elu and selu NaN above x = 709.78."""

from .binding import Floats, check_shape, check_status, float_array, float_ptr, lib

# Darknet's cfg names for its activations (src/activations.c, get_activation),
# in the order of its enum. Darknet takes an unknown name for relu, with a
# warning; here it is an error.
ACTIVATIONS = {
    "logistic": lib.LOGISTIC,
    "relu": lib.RELU,
    "relie": lib.RELIE,
    "linear": lib.LINEAR,
    "ramp": lib.RAMP,
    "tanh": lib.TANH,
    "plse": lib.PLSE,
    "leaky": lib.LEAKY,
    "elu": lib.ELU,
    "loggy": lib.LOGGY,
    "stair": lib.STAIR,
    "hardtan": lib.HARDTAN,
    "lhtan": lib.LHTAN,
    "selu": lib.SELU,
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
