"""Every bad argument to the functional API: a clear exception naming it, and
nothing written to any array."""
import numpy as np
import pytest

import darknet_softmax as ds


def arrays(*shapes):
    return [np.full(shape, 3.0, np.float32) for shape in shapes]


def read_only(shape):
    array = np.full(shape, 3.0, np.float32)
    array.flags.writeable = False
    return array


def call_cases():
    x, out = arrays((2, 6), (2, 6))
    yield "x float64", lambda: ds.softmax(x.astype(np.float64)), TypeError, "x must have dtype float32"
    yield "x int", lambda: ds.softmax(np.zeros((2, 6), np.int64)), TypeError, "x must have dtype float32"
    yield "x list", lambda: ds.softmax([[1.0, 2.0]]), TypeError, "x must be a numpy.ndarray"
    yield "x 3-D", lambda: ds.softmax(np.zeros((1, 2, 6), np.float32)), ValueError, "x must have shape"
    misaligned = np.frombuffer(bytes(49), np.float32, count=12, offset=1).reshape(2, 6)
    yield "x misaligned", lambda: ds.softmax(misaligned, out=out), ValueError, "x must be aligned to 4 bytes"
    yield "x strided", lambda: ds.softmax(np.zeros((2, 12), np.float32)[:, ::2]), ValueError, "C-contiguous"
    yield "groups", lambda: ds.softmax(x, groups=4, out=out), ValueError, "divide by groups"
    yield "groups 0", lambda: ds.softmax(x, groups=0, out=out), ValueError, "groups must be at least 1"
    yield "temp 0", lambda: ds.softmax(x, temperature=0, out=out), ValueError, "temperature"
    yield "temp -1", lambda: ds.softmax(x, temperature=-1, out=out), ValueError, "temperature"
    yield "temp nan", lambda: ds.softmax(x, temperature=float("nan"), out=out), ValueError, "temperature"
    yield "temp str", lambda: ds.softmax(x, temperature="1", out=out), TypeError, "temperature"
    yield "out shape", lambda: ds.softmax(x, out=np.full((6, 2), 3.0, np.float32)), ValueError, "out must have shape"
    yield "out float64", lambda: ds.softmax(x, out=np.full((2, 6), 3.0)), TypeError, "out must have dtype"
    yield "out read-only", lambda: ds.softmax(x, out=read_only((2, 6))), ValueError, "out must be writable"
    shared = np.full(8, 3.0, np.float32)
    yield "out overlaps x", lambda: ds.softmax(shared[:6].reshape(1, 6), out=shared[2:].reshape(1, 6)), ValueError, "x and out overlap"
    flat_in, flat_out = arrays(20, 20)
    yield "cpu past end", lambda: ds.softmax_cpu(flat_in, 5, 2, 13, 2, 3, 1, 1.0, flat_out), ValueError, "read index 20"
    yield "cpu past end 2", lambda: ds.softmax_cpu(flat_in, 5, 2, 16, 1, 0, 1, 1.0, flat_out), ValueError, "input holds 20 floats"
    yield "cpu n 0", lambda: ds.softmax_cpu(flat_in, 0, 1, 0, 1, 0, 1, 1.0, flat_out), ValueError, "n must be at least 1"
    yield "cpu stride 0", lambda: ds.softmax_cpu(flat_in, 2, 1, 0, 1, 0, 0, 1.0, flat_out), ValueError, "stride must be at least 1"
    yield "cpu offset < 0", lambda: ds.softmax_cpu(flat_in, 2, 2, -1, 1, 0, 1, 1.0, flat_out), ValueError, "batch_offset must be at least 0"
    yield "cpu short output", lambda: ds.softmax_cpu(flat_in, 20, 1, 0, 1, 0, 1, 1.0, np.full(19, 3.0, np.float32)), ValueError, "output holds 19"
    yield "cpu overlap", lambda: ds.softmax_cpu(flat_in, 5, 1, 0, 1, 0, 1, 1.0, flat_in[1:]), ValueError, "overlap"
    yield "cpu temp", lambda: ds.softmax_cpu(flat_in, 5, 1, 0, 1, 0, 1, float("inf"), flat_out), ValueError, "temperature"
    pred, truth, delta, error = arrays((2, 6), (2, 6), (2, 6), (2, 6))
    yield "x_ent truth shape", lambda: ds.softmax_x_ent(pred, np.full((2, 5), 3.0, np.float32), delta, error), ValueError, "truth must have shape"
    yield "x_ent delta shape", lambda: ds.softmax_x_ent(pred, truth, np.full(12, 3.0, np.float32), error), ValueError, "delta must have shape"
    yield "x_ent error read-only", lambda: ds.softmax_x_ent(pred, truth, delta, read_only((2, 6))), ValueError, "error must be writable"
    yield "x_ent pred float64", lambda: ds.softmax_x_ent(pred.astype(np.float64), truth, delta, error), TypeError, "pred must have dtype"
    yield "x_ent delta is error", lambda: ds.softmax_x_ent(pred, truth, delta, delta), ValueError, "delta and error must be different"
    ax, ay = arrays(10, 4)
    yield "axpy y short", lambda: ds.axpy(1.0, ax, ay), ValueError, "y holds 4 floats"
    yield "axpy incx 0", lambda: ds.axpy(1.0, ax, ay, incx=0), ValueError, "incx must be at least 1"
    yield "axpy n", lambda: ds.axpy(1.0, ax, ay, n=11), ValueError, "x holds 10 floats"
    yield "axpy alpha str", lambda: ds.axpy("1", ax, np.full(10, 3.0, np.float32)), TypeError, "alpha must be a number"
    yield "axpy y read-only", lambda: ds.axpy(1.0, ax, read_only(10)), ValueError, "y must be writable"
    yield "sum_array int", lambda: ds.sum_array(np.zeros(3, np.int32)), TypeError, "a must have dtype"


CASES = list(call_cases())


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_bad_call_raises_and_writes_nothing(case):
    _, call, error, words = case
    closure = call.__code__.co_freevars and [cell.cell_contents for cell in call.__closure__]
    before = [a.copy() for a in closure if isinstance(a, np.ndarray)]
    with pytest.raises(error, match=words):
        call()
    after = [a for a in closure if isinstance(a, np.ndarray)]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
