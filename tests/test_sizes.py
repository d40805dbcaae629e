"""Sizes beyond 2^31 and allocations that fail: no overflow, no crash, and a
MemoryError or ValueError instead. Nothing here allocates more than a few pages:
the C boundary is called with sizes that overflow size_t or cannot be
allocated, and indices beyond 2^32 go into a sparse anonymous mapping."""

import mmap
import sys

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import assert_close, sentinel
from darknet_softmax.binding import SIZE_MAX, ffi, lib

# Beyond both int (2^31) and unsigned int (2^32), counted in floats.
FAR = 2**32 + 7


def make_layer(batch, inputs, groups=1):
    out = ffi.new("softmax_layer **")
    status = lib.make_softmax_layer(batch, inputs, groups, out)
    return status, out[0]


@pytest.mark.parametrize(
    "batch, inputs",
    [
        (2**33, 2**33),  # batch*inputs overflows size_t
        (2**30, 2**30),  # one buffer fits in size_t, the three together do not
        (1, SIZE_MAX // 4),  # one buffer's bytes overflow
        (SIZE_MAX, SIZE_MAX),
    ],
)
def test_make_softmax_layer_reports_overflow(batch, inputs):
    status, layer = make_layer(batch, inputs)
    assert status == lib.DS_ERR_NOMEM
    assert layer == ffi.NULL


def test_an_allocation_that_must_fail_reports_nomem():
    # 2^50 floats in three buffers: 12 PiB, beyond any 64-bit address space.
    # The size arithmetic does not overflow, so calloc itself must fail.
    for _ in range(3):
        status, layer = make_layer(2**20, 2**30)
        assert status == lib.DS_ERR_NOMEM and layer == ffi.NULL


@pytest.mark.parametrize("batch, inputs", [(2**20, 2**30), (2**33, 2**33), (2**40, 2**40)])
def test_layer_too_large_raises_memory_error(batch, inputs):
    with pytest.raises(MemoryError, match="make_softmax_layer"):
        ds.SoftmaxLayer(batch, inputs)


def test_counts_beyond_size_t_are_value_errors():
    x, out = sentinel(8), sentinel(8)
    with pytest.raises(ValueError, match="batch must be at most"):
        ds.SoftmaxLayer(SIZE_MAX + 1, 1)
    # batch 1 leaves batch_offset unused, so only the size_t check can catch it.
    with pytest.raises(ValueError, match="batch_offset must be at most"):
        ds.softmax_cpu(x, 2, 1, 2**64, 1, 0, 1, 1.0, out)
    with pytest.raises(ValueError, match="n must be at most"):
        ds.axpy(1.0, x, out, n=2**70)
    assert (out == 3).all()


@pytest.mark.parametrize(
    "args",
    [
        (1, 2, 2**40, 1, 0, 1),  # the second item far beyond the array
        (1, 3, 2**63, 1, 0, 1),  # (batch-1)*batch_offset is 2^64: wraps in 64 bits
        (1, 1, 0, 2**62 + 1, 4, 1),  # groups*group_offset wraps
        (2**61, 1, 0, 1, 0, 8),  # n*stride wraps
    ],
)
def test_huge_offsets_are_checked_without_wrapping(args):
    x, out = sentinel(16), sentinel(16)
    with pytest.raises(ValueError, match="read index"):
        ds.softmax_cpu(x, *args[:5], args[5], 1.0, out)
    assert (out == 3).all()


def test_make_tree_rejects_more_nodes_than_int_holds():
    # parent, child and group are int arrays, as in Darknet; n is checked before
    # anything is read, so NULL arrays are never touched.
    out = ffi.new("tree **")
    bad_node = ffi.new("size_t *")
    assert lib.make_tree(2**31, ffi.NULL, ffi.NULL, out, bad_node) == lib.DS_ERR_ARG
    assert out[0] == ffi.NULL


@pytest.fixture
def sparse():
    """A float32 array of FAR + 16 values (16 GiB) whose pages exist only once
    touched, or a skip where the system refuses the mapping."""
    if sys.maxsize < 2**40:
        pytest.skip("needs a 64-bit address space")
    noreserve = getattr(mmap, "MAP_NORESERVE", 0x4000 if sys.platform == "linux" else 0)
    try:
        memory = mmap.mmap(
            -1, (FAR + 16) * 4, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | noreserve
        )
    except (OSError, OverflowError, ValueError) as error:
        pytest.skip(f"cannot map 16 GiB of address space: {error}")
    yield np.frombuffer(memory, np.float32)


def test_softmax_cpu_batch_offset_beyond_2_to_32(sparse):
    first = np.array([1, 2, 3], np.float32)
    second = np.array([0, -1, 5], np.float32)
    sparse[:3] = first
    sparse[FAR : FAR + 3] = second
    ds.softmax_cpu(sparse, 3, 2, FAR, 1, 0, 1, 1.0, sparse)
    assert_close(sparse[:3], ds.reference.softmax(first))
    assert_close(sparse[FAR : FAR + 3], ds.reference.softmax(second))
    # A 32-bit index would have wrapped to FAR - 2^32 = 7.
    assert not sparse[3:16].any()


def test_softmax_cpu_stride_beyond_2_to_31(sparse):
    stride = 2**31 + 1
    values = np.array([4, -2, 1], np.float32)
    sparse[[0, stride, 2 * stride]] = values
    ds.softmax_cpu(sparse, 3, 1, 0, 1, 0, stride, 0.5, sparse)
    assert_close(sparse[[0, stride, 2 * stride]], ds.reference.softmax(values, temperature=0.5))
    assert not sparse[1:16].any()


def test_axpy_increment_beyond_2_to_32(sparse):
    sparse[[0, FAR]] = [2, 3]
    y = np.ones(2, np.float32)
    ds.axpy(2.0, sparse, y, incx=FAR, n=2)
    assert y.tolist() == [5, 7]
    ds.axpy(1.0, np.array([1, 1], np.float32), sparse, incy=FAR)
    assert sparse[[0, 7, FAR]].tolist() == [3, 0, 4]


# --- the network's layers: the same checks at their C boundary ----------------


def c_status(make, *args):
    out = ffi.new(make[1])
    status = getattr(lib, make[0])(*args, out)
    assert out[0] == ffi.NULL or status == lib.DS_OK
    return status


CONNECTED = ("make_connected_layer", "connected_layer **")
COST = ("make_cost_layer", "cost_layer **")
DROPOUT = ("make_dropout_layer", "dropout_layer **")


@pytest.mark.parametrize(
    "make, args",
    [
        (CONNECTED, (2**33, 1, 2**33, lib.LOGISTIC, 0, 0)),  # batch*outputs overflows
        (CONNECTED, (1, 2**33, 2**33, lib.LOGISTIC, 0, 0)),  # outputs*inputs overflows
        (CONNECTED, (1, 2**31, 2**31, lib.LOGISTIC, 0, 0)),  # the floats fit, their bytes do not
        (CONNECTED, (2**20, 2**20, 2**20, lib.LOGISTIC, 0, 0)),  # fits size_t; no memory holds it
        (COST, (2**33, 2**33, lib.SSE, 1.0)),
        (COST, (2**31, 2**31, lib.SSE, 1.0)),
        (COST, (2**20, 2**30, lib.SSE, 1.0)),
        (DROPOUT, (2**33, 2**33, 0.5, 1)),
        (DROPOUT, (2**20, 2**30, 0.5, 1)),
    ],
)
def test_network_layers_report_overflow(make, args):
    assert c_status(make, *args) == lib.DS_ERR_NOMEM


@pytest.mark.parametrize(
    "make",
    [
        lambda: ds.ConnectedLayer(2**20, 2**20, 2**20),
        lambda: ds.CostLayer(2**20, 2**30),
        lambda: ds.DropoutLayer(2**20, 2**30),
        lambda: ds.Network(inputs=2**30, batch=2**20),
    ],
)
def test_network_layers_too_large_raise_memory_error(make):
    with pytest.raises(MemoryError):
        make()
