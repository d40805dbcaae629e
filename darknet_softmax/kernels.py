"""The functional API over Darknet's kernels (csrc/blas.c).

Inputs are any array-like of real numbers: a float32 C-contiguous array is
used where it is; anything else (another dtype, strides, byte order, a nested
list) is converted once to float32 (`binding.real_array`). Arrays written
(`out=`) must be float32, writable and C-contiguous."""

import math
from typing import Any, Literal, Optional, Union

import numpy as np
from numpy.typing import ArrayLike

from .binding import (
    Floats,
    axis_index,
    check_distinct,
    check_shape,
    check_status,
    count,
    counts,
    ffi,
    flag,
    float_array,
    float_ptr,
    groups_along,
    is_integer,
    lib,
    loss_arrays,
    number,
    output_array,
    real_array,
    temperature_value,
)

# Where a result goes: an array, or None for a new one.
Out = Optional[Floats]


def _along(name: str, x: object, groups: int, axis: int) -> tuple[Floats, Optional[tuple]]:
    """`x` as float32 and the strided kernel's arguments (n, batch,
    batch_offset, groups, group_offset, stride) for a softmax over each of
    `groups` equal parts of `axis`: a group is n values `stride` apart, the
    product of the sizes after `axis`, so no transposed copy is made."""
    x = real_array(name, x)
    axis = axis_index(axis, x.ndim, name)
    length = x.shape[axis]
    n = length // groups_along(name, axis, length, groups)
    inner = math.prod(x.shape[axis + 1 :])
    if x.size == 0:
        return x, None
    if inner == 1:
        return x, (n, x.size // length, length, groups, n, 1)
    return x, (n, x.size // (n * inner), n * inner, inner, 1, inner)


def _along_axis(kernel, x, groups, temperature, out, axis):
    """`kernel` (softmax_cpu's arguments) over `axis` of `x` into `out`, or a
    new array, each argument checked."""
    x, layout = _along("x", x, groups, axis)
    temperature = temperature_value(temperature)
    out = output_array("out", out, x, reads=[("x", x)])
    if layout is not None:
        kernel(float_ptr(x), *layout, temperature, float_ptr(out))
    return out


def softmax(
    x: ArrayLike, groups: int = 1, temperature: float = 1.0, out: Out = None, axis: int = -1
) -> Floats:
    """Softmax over `axis` of `x`, or over each of `groups` equal parts of it.

    Parameters
    ----------
    x : array_like
        Real numbers of any shape, dtype, strides or byte order (a nested
        list too). A float32 C-contiguous array is read where it is; anything
        else is first converted to a new float32 array (one copy, 4 bytes a
        value, plus NumPy's time to convert).
    groups : int, default 1
        How many equal parts `axis` is split into, each its own softmax.
    temperature : float, default 1.0
        The logits are divided by it (finite, above 0 in float32).
    out : ndarray of float32, optional
        Where the result goes: writable, C-contiguous, of `x`'s shape. It may
        be `x` itself (in place) when `x` is float32 C-contiguous.
    axis : int, default -1
        The axis the softmax runs along. Any axis is read where it is,
        through the strided kernel: no transposed copy is made.

    Returns
    -------
    ndarray of float32
        The probabilities, of `x`'s shape (`out` when given). An empty `x`
        gives an empty result.

    Raises
    ------
    TypeError
        If `x` does not hold real numbers, `out` is not float32, or an option
        has the wrong type.
    ValueError
        If `axis` is out of range, its length does not divide by `groups`,
        the temperature is not above 0, `out` has the wrong shape, is
        read-only, not C-contiguous, or partly overlaps `x`.
    """
    return _along_axis(lib.softmax_cpu, x, groups, temperature, out, axis)


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
    """Darknet's softmax_cpu over flat float32 arrays, with its strides.

    For every b < batch and g < groups, a softmax over the n values from
    b*batch_offset + g*group_offset, step `stride`, group after group (where
    groups overlap, a later one reads what an earlier one wrote when `input`
    is `output`).

    Every index is checked against both arrays first, and the call computes
    batch*groups*n values, which must not be more than `output` holds: rows or
    groups may overlap, but not so often that the work outgrows the memory
    (a batch of 2**63 rows over the same 3 floats would run for ever). So
    every accepted call takes time proportional to output.size at most.

    Parameters
    ----------
    input : ndarray of float32
        The logits, C-contiguous, read as a flat array.
    n : int
        Values in one softmax (at least 1).
    batch : int
        Rows (at least 1).
    batch_offset : int
        Floats from one row's start to the next's (at least 0).
    groups : int
        Softmaxes in a row (at least 1).
    group_offset : int
        Floats from one group's start to the next's (at least 0).
    stride : int
        Floats between two values of a group (at least 1).
    temperature : float
        The logits are divided by it (finite, above 0 in float32).
    output : ndarray of float32
        Where the probabilities go: writable, C-contiguous, flat. It may be
        `input` itself (in place), but not partly overlap it. Values no group
        reaches are left as they were.

    Returns
    -------
    ndarray of float32
        `output`.

    Raises
    ------
    TypeError
        If `input` or `output` is not a float32 ndarray, or a count is not an
        integer.
    ValueError
        If an array is empty, a count is below its minimum, an index falls outside `input` or
        `output`, batch*groups*n exceeds output.size, the temperature is not
        above 0, or `output` is read-only, not C-contiguous, or partly
        overlaps `input`.
    """
    input = float_array("input", input)
    output = float_array("output", output, writable=True)
    n, batch, groups, stride = counts(n=n, batch=batch, groups=groups, stride=stride)
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
    layout = (n, batch, batch_offset, groups, group_offset, stride)
    lib.softmax_cpu(float_ptr(input), *layout, temperature, float_ptr(output))
    return output


def softmax_x_ent(
    pred: ArrayLike,
    truth: ArrayLike,
    delta: Optional[Floats] = None,
    error: Optional[Floats] = None,
    exact: bool = False,
    temperature: float = 1.0,
    groups: int = 1,
) -> tuple[Floats, Floats]:
    """Darknet's softmax cross-entropy over probabilities already computed.

    Darknet's (the default): delta = truth - pred and error = -log(pred)
    where truth != 0, value by value; `temperature` and `groups` are ignored,
    as Darknet ignores them. With `exact=True`, over each of `groups` equal
    parts of the last axis, softmax at `temperature`: error =
    -truth*log(pred) and delta = (truth - pred*sum(truth))/temperature, which
    is (truth - pred)/temperature when a group's labels sum to 1; a truth of
    SECRET_NUM is no label (delta and error 0, left out of the sum). For the
    loss straight from logits, with integer labels, see
    `softmax_cross_entropy`.

    Parameters
    ----------
    pred : array_like
        The softmax's output, real numbers of any shape (converted once to
        float32 unless it is float32 C-contiguous already).
    truth : array_like
        The labels, of `pred`'s shape (converted the same way).
    delta, error : ndarray of float32, optional
        Where the results go: writable, C-contiguous, of `pred`'s shape. They
        may be `pred` or `truth`, but not each other.
    exact : bool, default False
        Darknet's numbers, or the exact loss and gradient (SPEC section 4).
    temperature : float, default 1.0
        The softmax's temperature (exact mode only).
    groups : int, default 1
        The softmax's groups over the last axis (exact mode only).

    Returns
    -------
    delta : ndarray of float32
        The NEGATIVE gradient with respect to the softmax's input, as in
        Darknet.
    error : ndarray of float32
        The loss of each value.

    Raises
    ------
    TypeError
        If an array does not hold real numbers, an output is not float32, or
        `exact` is not a bool.
    ValueError
        If shapes differ, the last axis does not divide by `groups` (exact),
        the temperature is not above 0, or outputs are read-only, not
        C-contiguous, or overlap.
    """
    exact = flag("exact", exact)
    temperature = temperature_value(temperature)
    if exact:
        pred, layout = _along("pred", pred, groups, -1)
    else:
        pred = real_array("pred", pred)
        count("groups", groups)
        layout = None
    truth, delta, error = loss_arrays(pred, truth, delta, error)
    if pred.size == 0:
        return delta, error
    if layout is not None:
        # C sums a group's truths first, then reads each value before writing
        # it, so delta and error may be pred or truth.
        lib.softmax_x_ent_exact_cpu(
            float_ptr(pred),
            float_ptr(truth),
            *layout,
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
    """Darknet's axpy_cpu, in place on `y`: y[i*incy] += alpha * x[i*incx] for i < n.

    Every index is checked against both arrays first, so n is at most x.size
    and y.size: no count, however large, makes the call do more work than the
    arrays hold.

    Parameters
    ----------
    alpha : float
        The factor of `x` (any real number, infinities and NaN included).
    x : ndarray of float32
        C-contiguous, read as a flat array.
    y : ndarray of float32
        Added into: writable, C-contiguous, flat. It may be `x` itself, but
        not partly overlap it.
    incx, incy : int, default 1
        The steps through `x` and `y` (at least 1).
    n : int, optional
        How many values; every strided element of `x` by default.

    Returns
    -------
    ndarray of float32
        `y`.

    Raises
    ------
    TypeError
        If `alpha` is not a number, `x` or `y` is not a float32 ndarray, or a
        count is not an integer.
    ValueError
        If `x` or `y` is empty, a count is below 1, n values at these steps reach past `x` or `y`,
        or `y` is read-only, not C-contiguous, or partly overlaps `x`.
    """
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
    """The sum of every value of a float32 array, accumulated in double.

    Parameters
    ----------
    a : ndarray of float32
        C-contiguous, of any shape.

    Returns
    -------
    float
        The sum (a Python float, accumulated in double precision).

    Raises
    ------
    TypeError
        If `a` is not a float32 ndarray.
    ValueError
        If `a` is empty, not C-contiguous or not aligned to 4 bytes.
    """
    a = float_array("a", a)
    return float(lib.sum_array(float_ptr(a), a.size))


# --- The exact kernels (SPEC section 4) ---


def log_softmax(
    x: ArrayLike, groups: int = 1, temperature: float = 1.0, out: Out = None, axis: int = -1
) -> Floats:
    """log(softmax) over `axis` of `x`, or over each of `groups` equal parts
    of it, computed stably as (x - max)/temperature - log(sum(exp(...))), so
    that it stays finite where softmax underflows to 0.

    Parameters
    ----------
    x : array_like
        Real numbers of any shape, dtype, strides or byte order (converted
        once to float32 unless it is float32 C-contiguous already).
    groups : int, default 1
        How many equal parts `axis` is split into.
    temperature : float, default 1.0
        The logits are divided by it (finite, above 0 in float32).
    out : ndarray of float32, optional
        Where the result goes: writable, C-contiguous, of `x`'s shape (may
        be `x`).
    axis : int, default -1
        The axis, read where it is (no transposed copy).

    Returns
    -------
    ndarray of float32
        The log-probabilities, of `x`'s shape (`out` when given).

    Raises
    ------
    TypeError
        If `x` does not hold real numbers or `out` is not float32.
    ValueError
        As `softmax`.
    """
    return _along_axis(lib.log_softmax_cpu, x, groups, temperature, out, axis)


def softmax_backward(
    y: ArrayLike,
    dy: ArrayLike,
    groups: int = 1,
    temperature: float = 1.0,
    out: Out = None,
    axis: int = -1,
) -> Floats:
    """The softmax's backward pass: for `y = softmax(x, groups, temperature,
    axis=axis)` and `dy` beside it, ADDS y*(dy - sum(dy*y))/temperature, per
    group, to `out` and returns it. Without `out` it starts from zeros, so it
    returns the product itself.

    Sign: the product is linear in `dy`, so `out` takes `dy`'s convention. Give
    a gradient dL/dy and get dL/dx; give Darknet's delta (-dL/dy) and get
    Darknet's delta (-dL/dx). Like every Darknet backward it accumulates into
    `out`, so the caller zeroes `out`.

    Parameters
    ----------
    y : array_like
        The softmax's output (converted once to float32 unless it is float32
        C-contiguous already).
    dy : array_like
        The gradient (or delta) with respect to `y`, of `y`'s shape.
    groups : int, default 1
        How many equal parts `axis` is split into.
    temperature : float, default 1.0
        The softmax's temperature.
    out : ndarray of float32, optional
        Added into: writable, C-contiguous, of `y`'s shape, neither `y` nor `dy`.
    axis : int, default -1
        The softmax's axis.

    Returns
    -------
    ndarray of float32
        `out` (or a new array) with the product added.

    Raises
    ------
    TypeError
        If `y` or `dy` does not hold real numbers or `out` is not float32.
    ValueError
        If the shapes differ, `axis` is out of range or does not divide by
        `groups`, the temperature is not above 0, or `out` is `y` or `dy`,
        read-only or not C-contiguous.
    """
    y, layout = _along("y", y, groups, axis)
    dy = real_array("dy", dy)
    check_shape("dy", dy, y.shape)
    temperature = temperature_value(temperature)
    # A new result is written, not added to, so it needs no zeros.
    backward = lib.softmax_backward_set_cpu if out is None else lib.softmax_backward_cpu
    check_distinct(("y", y), ("dy", dy))
    out = output_array("out", out, y, reads=[("y", y), ("dy", dy)], same_ok=False)
    if layout is not None:
        backward(float_ptr(y), float_ptr(dy), *layout, temperature, float_ptr(out))
    return out


# --- the fused loss ---

REDUCTIONS = ("none", "sum", "mean", "batch", "full")


def _class_labels(labels, shape):
    """Integer labels as an int64 C-contiguous array of `shape`."""
    if labels.shape != shape:
        raise ValueError(
            f"labels must have shape {shape} (the logits' without axis), not {labels.shape}"
        )
    if labels.dtype == np.uint64 and labels.size and labels.max() > np.iinfo(np.int64).max:
        labels = np.minimum(labels, np.iinfo(np.int64).max)  # still out of range
    return np.ascontiguousarray(labels, dtype=np.int64)


def _bad_label(labels, flat, classes, ignore_index):
    where = np.unravel_index(flat, labels.shape) if labels.ndim else ()
    position = ", ".join(str(int(i)) for i in where)
    ignored = "" if ignore_index is None else f" and is not ignore_index ({ignore_index})"
    return ValueError(
        f"labels[{position}] is {int(labels.reshape(-1)[flat])}, outside [0, {classes}){ignored}"
    )


def softmax_cross_entropy(
    logits: ArrayLike,
    labels: ArrayLike,
    axis: int = -1,
    weight: Optional[ArrayLike] = None,
    ignore_index: Optional[int] = None,
    reduction: Literal["none", "sum", "mean", "batch", "full"] = "mean",
    label_smoothing: float = 0.0,
    temperature: float = 1.0,
) -> tuple[Union[np.float32, Floats], Floats]:
    """The softmax cross-entropy straight from logits, and its gradient, in
    one C pass (Caffe's SoftmaxWithLoss, PyTorch's `cross_entropy`).

    Each position's logits along `axis` are divided by `temperature`, and its
    loss is the cross-entropy of their softmax against the position's label.
    One pass of C reads the logits for the max and for the sum, and writes
    the gradient once; no one-hot or probability array is made.

    Parameters
    ----------
    logits : array_like
        Real numbers of any shape with the classes along `axis` (converted
        once to float32 unless float32 C-contiguous already).
    labels : array_like
        Either integer class indices, of the logits' shape without `axis`
        (any integer dtype, or a nested list of ints), or class
        probabilities, of the logits' own shape and a float dtype.
    axis : int, default -1
        The class axis. The spatial layout `(batch, c, h, w)` is `axis=1`.
    weight : array_like, optional
        A weight for each class (`classes` real numbers), as PyTorch's.
    ignore_index : int, optional
        A label that adds nothing to the loss, nor to the mean's divisor,
        and gets a gradient of 0 (class indices only).
    reduction : {"none", "sum", "mean", "batch", "full"}, default "mean"
        "none": each position's loss; "sum": their sum; "mean": as PyTorch,
        the sum divided by the sum of the weights of the labels not ignored
        (their count without weights: Caffe's VALID), or, for probabilities,
        by the number of positions; "batch": the sum divided by the size of
        the logits' first axis (Caffe's BATCH_SIZE; 1 when `axis` is the
        first); "full": the sum divided by the number of positions, ignored
        ones included (Caffe's FULL).
    label_smoothing : float, default 0.0
        In [0, 1]: the target becomes (1 - label_smoothing) times the label
        plus label_smoothing/classes on every class, weighted as PyTorch
        weights it.
    temperature : float, default 1.0
        The logits are divided by it first.

    Returns
    -------
    loss : numpy.float32 or ndarray of float32
        The reduced loss; with `reduction="none"`, an array of the labels'
        positions (the logits' shape without `axis`).
    grad : ndarray of float32
        The gradient of the returned loss with respect to `logits`, of the
        logits' shape (PyTorch's `logits.grad`, Caffe's bottom diff); with
        "none", each position's own gradient (the gradient of their sum).
        Darknet's delta is `-grad`.

    Raises
    ------
    TypeError
        If an array does not hold real numbers, `ignore_index` is not an
        integer, or an option has the wrong type.
    ValueError
        If a label is outside [0, classes) and not `ignore_index` (the
        message names its position), shapes do not match, `reduction` is
        unknown, `label_smoothing` is outside [0, 1], the temperature is not
        above 0, or `ignore_index` is given with probabilities.
    """
    logits = real_array("logits", logits)
    axis = axis_index(axis, logits.ndim, "logits")
    shape = logits.shape
    classes = shape[axis]
    outer, inner = math.prod(shape[:axis]), math.prod(shape[axis + 1 :])
    positions = shape[:axis] + shape[axis + 1 :]
    try:
        values = labels if isinstance(labels, np.ndarray) else np.asarray(labels)
    except (TypeError, ValueError):
        raise ValueError("labels must be a rectangular array of numbers") from None
    if values.dtype.kind in "iu":
        label_array: Any = _class_labels(values, positions)
        probs = None
    elif values.dtype.kind == "f":
        probs = real_array("labels", values)
        check_shape("labels", probs, shape)
        label_array = None
    else:
        raise TypeError(
            f"labels must be integer class indices or float probabilities, not {values.dtype}"
        )
    if weight is not None:
        weight = real_array("weight", weight)
        check_shape("weight", weight, (classes,))
    if ignore_index is not None:
        if not is_integer(ignore_index):
            raise TypeError(f"ignore_index must be an integer, not {type(ignore_index).__name__}")
        if probs is not None:
            raise ValueError("ignore_index applies to class indices, not to probabilities")
        ignore_index = int(ignore_index)
        if not -(2**63) <= ignore_index < 2**63:
            raise ValueError(f"ignore_index must fit in int64, not {ignore_index}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, not {reduction!r}")
    label_smoothing = number("label_smoothing", label_smoothing)
    if not 0 <= label_smoothing <= 1:
        raise ValueError(f"label_smoothing must be in [0, 1], not {label_smoothing!r}")
    temperature = temperature_value(temperature)

    count_positions = outer * inner
    scale, mean_over_valid = 1.0, 0
    if reduction == "mean" and probs is None:
        mean_over_valid = 1
    elif reduction == "mean" or reduction == "full":
        scale = 1.0 / count_positions if count_positions else math.nan
    elif reduction == "batch":
        first = shape[0] if axis > 0 else 1
        scale = 1.0 / first if first else math.nan
    grad = np.empty(shape, np.float32)
    losses = np.empty(positions, np.float32) if reduction == "none" else None
    total = ffi.new("double *")
    bad = ffi.new("size_t *")
    null = ffi.NULL
    call = ffi.new(
        "struct cross_entropy *",
        {
            "logits": float_ptr(logits) if logits.size else null,
            "labels": ffi.from_buffer("int64_t[]", label_array)
            if label_array is not None and label_array.size
            else null,
            "probs": float_ptr(probs) if probs is not None and probs.size else null,
            "weight": float_ptr(weight) if weight is not None and weight.size else null,
            "outer": outer,
            "classes": classes,
            "inner": inner,
            "has_ignore": ignore_index is not None,
            "ignore_index": ignore_index if ignore_index is not None else 0,
            "label_smoothing": label_smoothing,
            "temp": temperature,
            "scale": scale,
            "mean_over_valid": mean_over_valid,
            "grad": float_ptr(grad) if grad.size else null,
            "losses": float_ptr(losses) if losses is not None and losses.size else null,
        },
    )
    status = lib.softmax_cross_entropy_cpu(call, total, bad)
    if status == lib.DS_ERR_ARG:
        raise _bad_label(values, bad[0], classes, ignore_index)
    check_status(status, "softmax_cross_entropy")
    if losses is not None:
        return losses, grad
    return np.float32(total[0]), grad
