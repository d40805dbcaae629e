"""Every bad argument to the functional API: a clear exception naming it, and
nothing written to any array passed."""

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import bad_call, checked_call, sentinel


def bad_calls():
    x, out = sentinel((2, 6)), sentinel((2, 6))
    yield bad_call(
        "x complex", TypeError, "x must hold real numbers", ds.softmax, np.zeros((2, 6), complex)
    )
    yield bad_call("x strings", TypeError, "x must hold real numbers", ds.softmax, [["a", "b"]])
    yield bad_call("x bool", TypeError, "x must hold real numbers", ds.softmax, [[True, False]])
    yield bad_call("x ragged", ValueError, "x must be an array", ds.softmax, [[1.0, 2.0], [3.0]])
    yield bad_call("x scalar", ValueError, "x must have at least one axis", ds.softmax, 3.0)
    yield bad_call("axis 2", ValueError, "axis 2 is out of range", ds.softmax, x, axis=2, out=out)
    yield bad_call("axis -3", ValueError, "axis -3 is out of range", ds.softmax, x, axis=-3)
    yield bad_call("axis bool", TypeError, "axis must be an integer", ds.softmax, x, axis=True)
    yield bad_call("axis float", TypeError, "axis must be an integer", ds.softmax, x, axis=1.0)
    misaligned = np.frombuffer(bytes(49), np.float32, count=12, offset=1).reshape(2, 6)
    yield bad_call(
        "out misaligned",
        ValueError,
        "out must be aligned to 4 bytes",
        ds.softmax,
        x,
        out=misaligned,
    )
    yield bad_call(
        "out strided",
        ValueError,
        "out must be C-contiguous",
        ds.softmax,
        x,
        out=np.zeros((2, 12), np.float32)[:, ::2],
    )
    yield bad_call("groups", ValueError, "divide by groups", ds.softmax, x, groups=4, out=out)
    yield bad_call(
        "groups 0", ValueError, "groups must be at least 1", ds.softmax, x, groups=0, out=out
    )
    yield bad_call("temp 0", ValueError, "temperature", ds.softmax, x, temperature=0, out=out)
    yield bad_call("temp -1", ValueError, "temperature", ds.softmax, x, temperature=-1, out=out)
    yield bad_call(
        "temp nan", ValueError, "temperature", ds.softmax, x, temperature=float("nan"), out=out
    )
    yield bad_call("temp str", TypeError, "temperature", ds.softmax, x, temperature="1", out=out)
    # The float64 temperatures nearest the float32 range that round out of it.
    for label, temperature in (("0", 2.0**-150), ("inf", 2.0**128 - 2.0**103)):
        yield bad_call(
            f"temp {label} in float32",
            ValueError,
            "temperature",
            ds.softmax,
            x,
            temperature=temperature,
            out=out,
        )
    yield bad_call(
        "out shape", ValueError, "out must have shape", ds.softmax, x, out=sentinel((6, 2))
    )
    yield bad_call(
        "out float64", TypeError, "out must have dtype", ds.softmax, x, out=np.full((2, 6), 3.0)
    )
    yield bad_call(
        "out read-only",
        ValueError,
        "out must be writable",
        ds.softmax,
        x,
        out=sentinel((2, 6), writable=False),
    )
    shared = sentinel(8)
    yield bad_call(
        "out overlaps x",
        ValueError,
        "x and out overlap",
        ds.softmax,
        shared[:6].reshape(1, 6),
        out=shared[2:].reshape(1, 6),
    )
    flat_in, flat_out = sentinel(20), sentinel(20)
    yield bad_call(
        "cpu past end",
        ValueError,
        "read index 20",
        ds.softmax_cpu,
        flat_in,
        5,
        2,
        13,
        2,
        3,
        1,
        1.0,
        flat_out,
    )
    yield bad_call(
        "cpu past end 2",
        ValueError,
        "input holds 20 floats",
        ds.softmax_cpu,
        flat_in,
        5,
        2,
        16,
        1,
        0,
        1,
        1.0,
        flat_out,
    )
    yield bad_call(
        "cpu n 0",
        ValueError,
        "n must be at least 1",
        ds.softmax_cpu,
        flat_in,
        0,
        1,
        0,
        1,
        0,
        1,
        1.0,
        flat_out,
    )
    yield bad_call(
        "cpu stride 0",
        ValueError,
        "stride must be at least 1",
        ds.softmax_cpu,
        flat_in,
        2,
        1,
        0,
        1,
        0,
        0,
        1.0,
        flat_out,
    )
    yield bad_call(
        "cpu offset < 0",
        ValueError,
        "batch_offset must be at least 0",
        ds.softmax_cpu,
        flat_in,
        2,
        2,
        -1,
        1,
        0,
        1,
        1.0,
        flat_out,
    )
    yield bad_call(
        "cpu short output",
        ValueError,
        "output holds 19",
        ds.softmax_cpu,
        flat_in,
        20,
        1,
        0,
        1,
        0,
        1,
        1.0,
        sentinel(19),
    )
    yield bad_call(
        "cpu overlap",
        ValueError,
        "overlap",
        ds.softmax_cpu,
        flat_in,
        5,
        1,
        0,
        1,
        0,
        1,
        1.0,
        flat_in[1:],
    )
    yield bad_call(
        "cpu temp",
        ValueError,
        "temperature",
        ds.softmax_cpu,
        flat_in,
        5,
        1,
        0,
        1,
        0,
        1,
        float("inf"),
        flat_out,
    )
    pred, truth, delta, error = (sentinel((2, 6)) for _ in range(4))
    yield bad_call(
        "x_ent truth shape",
        ValueError,
        "truth must have shape",
        ds.softmax_x_ent,
        pred,
        sentinel((2, 5)),
        delta,
        error,
    )
    yield bad_call(
        "x_ent delta shape",
        ValueError,
        "delta must have shape",
        ds.softmax_x_ent,
        pred,
        truth,
        sentinel(12),
        error,
    )
    yield bad_call(
        "x_ent error read-only",
        ValueError,
        "error must be writable",
        ds.softmax_x_ent,
        pred,
        truth,
        delta,
        sentinel((2, 6), writable=False),
    )
    yield bad_call(
        "x_ent pred complex",
        TypeError,
        "pred must hold real numbers",
        ds.softmax_x_ent,
        pred.astype(complex),
        truth,
        delta,
        error,
    )
    for exact in (False, True):
        yield bad_call(
            "x_ent exact delta is error" if exact else "x_ent delta is error",
            ValueError,
            "delta and error must be different",
            ds.softmax_x_ent,
            pred,
            truth,
            delta,
            delta,
            exact=exact,
        )
    ax, ay = sentinel(10), sentinel(4)
    yield bad_call("axpy y short", ValueError, "y holds 4 floats", ds.axpy, 1.0, ax, ay)
    yield bad_call(
        "axpy incx 0", ValueError, "incx must be at least 1", ds.axpy, 1.0, ax, ay, incx=0
    )
    yield bad_call("axpy n", ValueError, "x holds 10 floats", ds.axpy, 1.0, ax, ay, n=11)
    yield bad_call(
        "axpy alpha str", TypeError, "alpha must be a number", ds.axpy, "1", ax, sentinel(10)
    )
    yield bad_call(
        "axpy y read-only",
        ValueError,
        "y must be writable",
        ds.axpy,
        1.0,
        ax,
        sentinel(10, writable=False),
    )
    yield bad_call(
        "sum_array int", TypeError, "a must have dtype", ds.sum_array, np.zeros(3, np.int32)
    )


@pytest.mark.parametrize("error, words, function, args, kwargs", list(bad_calls()))
def test_bad_call_raises_and_writes_nothing(error, words, function, args, kwargs):
    with pytest.raises(error, match=words):
        checked_call(function, *args, **kwargs)


def test_a_write_before_the_error_fails_the_check():
    """checked_call looks at the whole buffer behind a view, not the view alone."""

    def writes_then_refuses(view):
        view.base[0] = 7.0
        raise ValueError("refused")

    buffer = sentinel(8)
    with pytest.raises(AssertionError, match="a refused call wrote to an array"):
        checked_call(writes_then_refuses, buffer[2:6])


@pytest.mark.parametrize(
    "temperature",
    [np.nextafter(2.0**-150, 1), np.nextafter(2.0**128 - 2.0**103, 0), np.float32(2), np.int8(3)],
)
def test_temperatures_at_the_edge_of_float32_and_of_numpy_types_are_taken(temperature):
    assert np.float32(temperature) > 0 and np.isfinite(np.float32(temperature))
    y = ds.softmax(np.array([[1.0, 2.0, 3.0]], np.float32), temperature=temperature)
    assert np.isfinite(y).all() and abs(float(y.sum()) - 1) < 1e-6
