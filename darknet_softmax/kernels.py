"""The functional API over Darknet's kernels (csrc/blas.c)."""

from typing import Optional

import numpy as np

from .binding import (
    Floats,
    check_distinct,
    check_shape,
    count,
    flag,
    float_array,
    float_ptr,
    groups_of,
    lib,
    loss_arrays,
    number,
    output_array,
    temperature_value,
)


def _rows(name, x, groups):
    """`x` as (batch, inputs) or (inputs,) float32 rows, and its group length."""
    x = float_array(name, x)
    if x.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (batch, inputs) or (inputs,), not {x.shape}")
    return x, x.shape[-1] // groups_of(x.shape[-1], groups)


def softmax(
    x: Floats, groups: int = 1, temperature: float = 1.0, out: Optional[Floats] = None
) -> Floats:
    """Softmax over each of `groups` equal slices of every row of `x`.

    `x` is float32 of shape (batch, inputs) or (inputs,); the probabilities go
    into `out` (which may be `x`) or a new array, and are returned."""
    x, n = _rows("x", x, groups)
    temperature = temperature_value(temperature)
    out = output_array("out", out, x)
    check_distinct(("x", x), ("out", out))
    inputs = x.shape[-1]
    lib.softmax_cpu(
        float_ptr(x), n, x.size // inputs, inputs, inputs // n, n, 1, temperature, float_ptr(out)
    )
    return out


def softmax_cpu(
    input: Floats,
    n: int,
    batch: int,
    batch_offset: int,
    groups: int,
    group_offset: int,
    stride: int,
    temperature: float,
    output: Floats,
) -> Floats:
    """Darknet's softmax_cpu over flat float32 arrays: for every b < batch and
    g < groups, a softmax over the n values from b*batch_offset + g*group_offset,
    step `stride`, group after group (where groups overlap, a later one reads
    what an earlier one wrote when `input` is `output`).

    Every index is checked against both arrays first, and the call computes
    batch*groups*n values, which must not be more than `output` holds: rows or
    groups may overlap, but not so often that the work outgrows the memory
    (a batch of 2**63 rows over the same 3 floats would run for ever). So
    every accepted call takes time proportional to output.size at most."""
    input = float_array("input", input)
    output = float_array("output", output, writable=True)
    n, batch, groups, stride = (
        count(name, value)
        for name, value in (("n", n), ("batch", batch), ("groups", groups), ("stride", stride))
    )
    batch_offset = count("batch_offset", batch_offset, minimum=0)
    group_offset = count("group_offset", group_offset, minimum=0)
    temperature = temperature_value(temperature)
    last = (batch - 1) * batch_offset + (groups - 1) * group_offset + (n - 1) * stride
    for name, array in (("input", input), ("output", output)):
        if last >= array.size:
            raise ValueError(
                f"{name} holds {array.size} floats, but these arguments read index {last}"
            )
    if batch * groups * n > output.size:
        raise ValueError(
            f"these arguments compute batch*groups*n = {batch * groups * n} values, but "
            f"output holds {output.size} floats: rows or groups overlap too often"
        )
    check_distinct(("input", input), ("output", output))
    lib.softmax_cpu(
        float_ptr(input),
        n,
        batch,
        batch_offset,
        groups,
        group_offset,
        stride,
        temperature,
        float_ptr(output),
    )
    return output


def softmax_x_ent(
    pred: Floats,
    truth: Floats,
    delta: Optional[Floats] = None,
    error: Optional[Floats] = None,
    exact: bool = False,
    temperature: float = 1.0,
    groups: int = 1,
) -> tuple[Floats, Floats]:
    """The softmax cross-entropy: returns (delta, error), written into `delta`
    and `error` when given. `delta` is the NEGATIVE gradient with respect to the
    softmax's input, as in Darknet.

    Darknet's (the default): delta = truth - pred and error = -log(pred) where
    truth != 0, value by value; `temperature` and `groups` are ignored, as
    Darknet ignores them. With `exact=True`, over each of `groups` equal slices
    of every row of (batch, inputs) or (inputs,) data, softmax at `temperature`:
    error = -truth*log(pred) and delta = (truth - pred*sum(truth))/temperature,
    which is (truth - pred)/temperature when a group's labels sum to 1; a truth
    of SECRET_NUM is no label (delta and error 0, left out of the sum)."""
    exact = flag("exact", exact)
    temperature = temperature_value(temperature)
    if exact:
        pred, n = _rows("pred", pred, groups)
    else:
        pred = float_array("pred", pred)
        count("groups", groups)
    truth, delta, error = loss_arrays(pred, truth, delta, error)
    if exact:
        # C sums a group's truths first, then reads each value before writing
        # it, so delta and error may be pred or truth.
        inputs = pred.shape[-1]
        lib.softmax_x_ent_exact_cpu(
            float_ptr(pred),
            float_ptr(truth),
            n,
            pred.size // inputs,
            inputs,
            inputs // n,
            n,
            1,
            temperature,
            float_ptr(delta),
            float_ptr(error),
        )
    else:
        lib.softmax_x_ent_cpu(
            pred.size, float_ptr(pred), float_ptr(truth), float_ptr(delta), float_ptr(error)
        )
    return delta, error


def axpy(
    alpha: float, x: Floats, y: Floats, incx: int = 1, incy: int = 1, n: Optional[int] = None
) -> Floats:
    """Darknet's axpy_cpu in place on y: y[i*incy] += alpha * x[i*incx] for i < n.
    n defaults to every strided element of x. Every index is checked against
    both arrays first, so n is at most x.size and y.size: no count, however
    large, makes the call do more work than the arrays hold."""
    alpha = number("alpha", alpha, finite=False)
    x = float_array("x", x)
    y = float_array("y", y, writable=True)
    incx, incy = count("incx", incx), count("incy", incy)
    n = -(-x.size // incx) if n is None else count("n", n)
    if (n - 1) * incx >= x.size:
        raise ValueError(f"x holds {x.size} floats, but n={n}, incx={incx} reads {(n - 1) * incx}")
    if (n - 1) * incy >= y.size:
        raise ValueError(f"y holds {y.size} floats, but n={n}, incy={incy} writes {(n - 1) * incy}")
    check_distinct(("x", x), ("y", y))
    lib.axpy_cpu(n, alpha, float_ptr(x), incx, float_ptr(y), incy)
    return y


def sum_array(a: Floats) -> float:
    """The sum of every value of a float32 array, accumulated in double."""
    a = float_array("a", a)
    return float(lib.sum_array(float_ptr(a), a.size))


# --- The exact kernels (SPEC section 4) ---


def log_softmax(
    x: Floats, groups: int = 1, temperature: float = 1.0, out: Optional[Floats] = None
) -> Floats:
    """log(softmax) over each of `groups` equal slices of every row of `x`,
    computed stably as (x - max)/temperature - log(sum(exp(...))), so that it
    stays finite where softmax underflows to 0. Into `out` (which may be `x`)
    or a new array, which is returned."""
    x, n = _rows("x", x, groups)
    temperature = temperature_value(temperature)
    out = output_array("out", out, x)
    check_distinct(("x", x), ("out", out))
    inputs = x.shape[-1]
    lib.log_softmax_cpu(
        float_ptr(x), n, x.size // inputs, inputs, inputs // n, n, 1, temperature, float_ptr(out)
    )
    return out


def softmax_backward(
    y: Floats, dy: Floats, groups: int = 1, temperature: float = 1.0, out: Optional[Floats] = None
) -> Floats:
    """The softmax's backward pass: for `y = softmax(x, groups, temperature)`
    and `dy` beside it, ADDS y*(dy - sum(dy*y))/temperature, per group, to
    `out` and returns it. Without `out` it starts from zeros, so it returns the
    product itself.

    Sign: the product is linear in `dy`, so `out` takes `dy`'s convention. Give
    a gradient dL/dy and get dL/dx; give Darknet's delta (-dL/dy) and get
    Darknet's delta (-dL/dx). Like every Darknet backward it accumulates into
    `out`, so the caller zeroes `out`."""
    y, n = _rows("y", y, groups)
    dy = float_array("dy", dy)
    check_shape("dy", dy, y.shape)
    temperature = temperature_value(temperature)
    out = output_array("out", out, y, new=np.zeros_like)
    check_distinct(("y", y), ("dy", dy))
    check_distinct(("y", y), ("out", out), same_ok=False)
    check_distinct(("dy", dy), ("out", out), same_ok=False)
    inputs = y.shape[-1]
    lib.softmax_backward_cpu(
        float_ptr(y),
        float_ptr(dy),
        n,
        y.size // inputs,
        inputs,
        inputs // n,
        n,
        1,
        temperature,
        float_ptr(out),
    )
    return out
