"""The functional API over Darknet's kernels (csrc/blas.c)."""
import numbers

import numpy as np

from .binding import (check_distinct, check_shape, count, float_array, float_ptr,
                      lib, temperature_value)


def _groups_of(inputs, groups):
    groups = count("groups", groups)
    if inputs % groups:
        raise ValueError(f"inputs ({inputs}) must divide by groups ({groups})")
    return groups


def softmax(x, groups=1, temperature=1.0, out=None):
    """Softmax over each of `groups` equal slices of every row of `x`.

    `x` is float32 of shape (batch, inputs) or (inputs,); the probabilities go
    into `out` (which may be `x`) or a new array, and are returned."""
    x = float_array("x", x)
    if x.ndim not in (1, 2):
        raise ValueError(f"x must have shape (batch, inputs) or (inputs,), not {x.shape}")
    inputs = x.shape[-1]
    groups = _groups_of(inputs, groups)
    temperature = temperature_value(temperature)
    if out is None:
        out = np.empty_like(x)
    float_array("out", out, writable=True)
    check_shape("out", out, x.shape)
    check_distinct(("x", x), ("out", out))
    n = inputs // groups
    batch = x.size // inputs
    lib.softmax_cpu(float_ptr(x), n, batch, inputs, groups, n, 1, temperature, float_ptr(out))
    return out


def softmax_cpu(input, n, batch, batch_offset, groups, group_offset, stride, temperature,
                output):
    """Darknet's softmax_cpu over flat float32 arrays: for every b < batch and
    g < groups, a softmax over the n values from b*batch_offset + g*group_offset,
    step `stride`. Every index is checked against both arrays first."""
    input = float_array("input", input)
    output = float_array("output", output, writable=True)
    n, batch, groups, stride = (count(name, value) for name, value in
                                (("n", n), ("batch", batch), ("groups", groups), ("stride", stride)))
    batch_offset = count("batch_offset", batch_offset, minimum=0)
    group_offset = count("group_offset", group_offset, minimum=0)
    temperature = temperature_value(temperature)
    last = (batch - 1) * batch_offset + (groups - 1) * group_offset + (n - 1) * stride
    for name, array in (("input", input), ("output", output)):
        if last >= array.size:
            raise ValueError(f"{name} holds {array.size} floats, but these arguments read "
                             f"index {last}")
    check_distinct(("input", input), ("output", output))
    lib.softmax_cpu(float_ptr(input), n, batch, batch_offset, groups, group_offset, stride,
                    temperature, float_ptr(output))
    return output


def softmax_x_ent(pred, truth, delta=None, error=None):
    """Darknet's softmax cross-entropy: returns (delta, error) with
    delta = truth - pred (the negative gradient) and error = -log(pred) where
    truth != 0. Writes into `delta` and `error` when given."""
    pred = float_array("pred", pred)
    truth = float_array("truth", truth)
    check_shape("truth", truth, pred.shape)
    delta = np.empty_like(pred) if delta is None else delta
    error = np.empty_like(pred) if error is None else error
    for name, array in (("delta", delta), ("error", error)):
        float_array(name, array, writable=True)
        check_shape(name, array, pred.shape)
    check_distinct(("pred", pred), ("truth", truth), ("delta", delta), ("error", error))
    check_distinct(("delta", delta), ("error", error), same_ok=False)
    lib.softmax_x_ent_cpu(pred.size, float_ptr(pred), float_ptr(truth), float_ptr(delta),
                          float_ptr(error))
    return delta, error


def axpy(alpha, x, y, incx=1, incy=1, n=None):
    """Darknet's axpy_cpu in place on y: y[i*incy] += alpha * x[i*incx] for i < n.
    n defaults to every strided element of x."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a number, not {type(alpha).__name__}")
    x = float_array("x", x)
    y = float_array("y", y, writable=True)
    incx, incy = count("incx", incx), count("incy", incy)
    n = -(-x.size // incx) if n is None else count("n", n)
    if (n - 1) * incx >= x.size:
        raise ValueError(f"x holds {x.size} floats, but n={n}, incx={incx} reads {(n - 1) * incx}")
    if (n - 1) * incy >= y.size:
        raise ValueError(f"y holds {y.size} floats, but n={n}, incy={incy} writes {(n - 1) * incy}")
    check_distinct(("x", x), ("y", y))
    lib.axpy_cpu(n, float(alpha), float_ptr(x), incx, float_ptr(y), incy)
    return y


def sum_array(a):
    """The sum of every value of a float32 array, accumulated in double."""
    a = float_array("a", a)
    return float(lib.sum_array(float_ptr(a), a.size))
