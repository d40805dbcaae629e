"""Every way the kernels can run (darknet_softmax.runtime) against the float64
reference: Darknet's scalar loop, and the vector kernels in each instruction
set this CPU has, on one thread and on two. Nothing here is timed."""

import importlib.util
import os
import pathlib
import re
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import darknet_softmax as ds
from conftest import (
    ALONG,
    EXTREMES,
    GROUP_SIZES,
    TEMPERATURES,
    assert_close,
    instruction_set_param,
    logits,
    softmax_sweep,
    tree_with_sizes,
)
from darknet_softmax import reference
from darknet_softmax.binding import lib
from darknet_softmax.gemm import gemm

# The build script sits at the repository root, outside the package.
_spec = importlib.util.spec_from_file_location(
    "build_ffi", pathlib.Path(__file__).resolve().parent.parent / "build_ffi.py"
)
_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_build)


# Each instruction set, skipped where this build or CPU lacks it.
VECTOR_ISAS = [instruction_set_param(isa, isa, isa) for isa in ds.runtime.INSTRUCTION_SETS]


# --- softmax ---


@pytest.mark.parametrize("n", GROUP_SIZES)
def test_softmax_over_group_sizes(kernel_path, rng, n):
    for temperature in TEMPERATURES:
        for batch, groups in ((1, 1), (3, 2), (64, 1), (9, 11)):
            x = logits(rng, (batch, n * groups))
            assert_close(
                ds.softmax(x, groups, temperature), reference.softmax(x, groups, temperature)
            )


# Large enough to be shared out over two threads.
@pytest.mark.parametrize(
    "batch, inputs, groups",
    [
        (64, 1000, 1),
        (64, 1000, 200),
        (16, 4096, 16),
        (8, 9418, 1),
        (33, 1001, 143),
        # 67 MB: the output bypasses the cache
        pytest.param(4096, 4100, 1, marks=pytest.mark.slow),
    ],
)
def test_softmax_large(kernel_path, rng, batch, inputs, groups):
    x = logits(rng, (batch, inputs))
    assert_close(ds.softmax(x, groups), reference.softmax(x, groups))


@pytest.mark.slow
@pytest.mark.parametrize("in_place", [False, True])
def test_log_softmax_large(kernel_path, rng, in_place):
    """67 MB, rows of 4099 starting at each 16-byte alignment in turn: a new
    output bypasses the cache, row by row; one in place does not."""
    x = logits(rng, (4096, 4099))
    expected = reference.log_softmax(x, 1, 2.0)
    y = ds.log_softmax(x, temperature=2.0, out=x if in_place else None)
    assert (y is x) == in_place
    assert_close(y, expected, kind="log_softmax")


@pytest.mark.slow
@pytest.mark.parametrize("function, along, kind", ALONG)
@pytest.mark.parametrize("in_place", [False, True], ids=["new", "in place"])
def test_large_over_a_strided_axis(kernel_path, rng, function, along, kind, in_place):
    """69 MB: the output bypasses the cache, a block at a time, its rows
    (7331 floats apart) 16-byte aligned or not in turn; in place, softmax's
    output is streamed over its own input, log_softmax's stored in cache."""
    x = logits(rng, (29, 81, 7331))
    expected = along(x, axis=1)
    y = function(x, axis=1, out=x if in_place else None)
    assert (y is x) == in_place
    assert_close(y, expected, kind=kind)


@pytest.mark.parametrize(
    "batch, inputs, groups, temperature",
    [(600, 1001, 1, 2.0), (256, 4096, 16, 1.0), (520, 2049, 1, 0.5)],
)
def test_softmax_backward_large(kernel_path, rng, batch, inputs, groups, temperature):
    """2.3, 4 and 4.3 MB of dx, a new array: written around the cache, rows
    of 1001 and 2049 starting at each 16-byte alignment in turn (those of
    2049 fetching the next row meanwhile)."""
    y = ds.softmax(logits(rng, (batch, inputs)), groups, temperature)
    dy = logits(rng, y.shape, 1.0)
    assert_close(
        ds.softmax_backward(y, dy, groups, temperature),
        reference.softmax_backward(y, dy, groups, temperature),
        atol=1e-6 / temperature,
        kind="softmax Jacobian product",
    )


def test_exp_is_within_its_stated_error(kernel_path, rng):
    """A probability e^v / S, with the largest value 0, carries the exp's error
    (1.7e-7, tools/fit_exp.py) and two roundings: 4e-7 in all, across the
    whole range of v, in pairs (the lanes) and in one long row."""
    v = np.concatenate(
        [-rng.random(200_000) * 87.3, np.linspace(-87.3, 0, 50_000), -np.geomspace(1e-8, 1, 1000)]
    ).astype(np.float32)
    pairs = np.stack([np.zeros_like(v), v], axis=1)
    row = np.concatenate([[0], v]).astype(np.float32)[None, :]
    for x in (pairs, row):
        expected = reference.softmax(x)
        counted = expected >= 1e-30
        error = np.abs(ds.softmax(x).astype(np.float64) - expected)[counted]
        assert (error / expected[counted]).max() < 4e-7


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@softmax_sweep(64, 6)
def test_softmax_sweep(kernel_path, batch, n, groups, temperature, scale, seed):
    x = logits(np.random.default_rng(seed), (batch, n * groups), scale)
    out = ds.softmax(x, groups, temperature)
    assert_close(out, reference.softmax(x, groups, temperature))
    sums = out.astype(np.float64).reshape(batch, groups, n).sum(axis=-1)
    assert_close(sums, np.ones_like(sums), kind="group sums")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(1, 20),
    batch=st.integers(1, 5),
    groups=st.integers(1, 12),
    stride=st.integers(1, 4),
    group_offset=st.sampled_from([1, 3, 21]),
    temperature=st.sampled_from(TEMPERATURES),
    seed=st.integers(0, 2**32 - 1),
)
def test_softmax_cpu_strided(
    kernel_path, n, batch, groups, stride, group_offset, temperature, seed
):
    # Some of these layouts make groups overlap; every path then keeps Darknet's order.
    batch_offset = n * stride + groups * group_offset
    # The output must hold the batch*groups*n values computed: overlapping
    # layouts get spare values at the end, which stay untouched.
    x = logits(np.random.default_rng(seed), max(batch * batch_offset, batch * groups * n))
    out = np.full_like(x, 7.0)
    ds.softmax_cpu(x, n, batch, batch_offset, groups, group_offset, stride, temperature, out)
    expected = reference.softmax_cpu(
        x, n, batch, batch_offset, groups, group_offset, stride, temperature, np.full_like(x, 7.0)
    )
    assert_close(out, expected)


@pytest.mark.parametrize("batch, channels, positions", [(2, 21, 600), (3, 5, 7), (1, 80, 64)])
def test_spatial_layout(kernel_path, rng, batch, channels, positions):
    """A softmax over the channels at each position: groups one apart, stride `positions`."""
    x = logits(rng, (batch, channels, positions))
    out = np.empty_like(x)
    ds.softmax_cpu(
        x.ravel(), channels, batch, channels * positions, positions, 1, positions, 1.0, out.ravel()
    )
    expected = np.moveaxis(reference.softmax(np.moveaxis(x, 1, -1), 1), -1, 1)
    assert_close(out, expected)
    ds.softmax_cpu(
        x.ravel(), channels, batch, channels * positions, positions, 1, positions, 1.0, x.ravel()
    )
    assert_close(x, expected)


@pytest.mark.parametrize("values", EXTREMES)
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_extreme_inputs(kernel_path, values, temperature):
    # Alone, and repeated in every group of a batch, so each kernel sees them.
    x = np.array([values], dtype=np.float32)
    for data in (x, np.tile(x, (40, 3))):
        out = ds.softmax(data, groups=data.shape[1] // len(values), temperature=temperature)
        assert np.all(np.isfinite(out))
        assert_close(out, reference.softmax(data, data.shape[1] // len(values), temperature))


@pytest.mark.parametrize("n", [9418, 1000, 17])
def test_extremes_inside_long_groups(kernel_path, rng, n):
    x = logits(rng, (4, n))
    x[0, :3] = [1e30, -1e30, 1e30]
    x[1, -3:] = -np.inf
    x[2, n // 2] = 88.0
    x[3, :] = -1e30
    assert_close(ds.softmax(x), reference.softmax(x))


def test_all_equal_is_uniform(kernel_path):
    out = ds.softmax(np.full((4, 9418), -3.5, np.float32))
    assert_close(out, np.full((4, 9418), 1 / 9418))


@pytest.mark.parametrize("n, groups", [(4, 3), (5, 40), (1000, 2), (12, 8)])
def test_nan_spoils_only_its_own_group(kernel_path, rng, n, groups):
    x = logits(rng, (40, n * groups))
    x[3, n + 1] = np.nan  # group 1 of row 3
    out = ds.softmax(x, groups)
    spoiled = np.zeros(x.shape, bool)
    spoiled[3, n : 2 * n] = True
    assert np.all(np.isnan(out[spoiled]))
    assert np.all(np.isfinite(out[~spoiled]))
    assert_close(out[~spoiled], reference.softmax(np.where(spoiled, 0, x), groups)[~spoiled])


@pytest.mark.parametrize("n, groups", [(4, 3), (5, 40), (1000, 2), (12, 8)])
def test_infinities_as_today(kernel_path, rng, n, groups):
    """+inf makes its group NaN (inf - inf), as does a group of -inf alone;
    -inf among finite values gives exactly 0."""
    x = logits(rng, (40, n * groups))
    x[0, 1] = np.inf
    x[1, n : 2 * n] = -np.inf
    x[2, ::2] = -np.inf
    x[2, 1 :: 2 * n] = 0.5  # keep a finite value in every group of row 2
    out = ds.softmax(x, groups)
    assert np.all(np.isnan(out[0, :n])) and np.all(np.isnan(out[1, n : 2 * n]))
    finite_groups = np.isfinite(x).reshape(40, groups, n).any(-1).repeat(n, -1)
    assert np.all(out[2][np.isneginf(x[2]) & finite_groups[2]] == 0)
    with np.errstate(invalid="ignore"):
        assert_close(out, reference.softmax(x, groups))


@pytest.mark.parametrize("n, groups", [(5, 200), (1000, 1), (16, 2), (9, 7)])
def test_in_place(kernel_path, rng, n, groups):
    x = logits(rng, (40, n * groups))
    expected = reference.softmax(x, groups, 0.5)
    assert ds.softmax(x, groups, 0.5, out=x) is x
    assert_close(x, expected)


def test_single_group_function_is_darknets_loop(kernel_path, rng):
    # lib.softmax is Darknet's one-group function: the scalar loop on every path.
    x = logits(rng, 50)
    out = np.zeros_like(x)
    lib.softmax(ds.binding.float_ptr(x), 25, 1.0, 2, ds.binding.float_ptr(out))
    assert_close(out[::2], reference.softmax(x[::2]))
    assert not out[1::2].any()


# --- tree groups ---

TREE_SIZES = [1, 2, 3, 5, 7, 8, 9, 12, 15, 16, 40, 149, 4, 1, 6]


@pytest.mark.parametrize("batch", [1, 7, 64])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_tree_forward(kernel_path, rng, batch, temperature):
    tree = tree_with_sizes(TREE_SIZES * 20)
    x = logits(rng, (batch, tree.n))
    x[0, 5] = np.nan  # spoils the group of node 5 in row 0 only
    with ds.SoftmaxLayer(batch, tree.n, temperature=temperature, tree=tree) as layer:
        layer.forward(ds.NetworkContext(x))
        expected = reference.tree_softmax(x, tree.group_offset, tree.group_size, temperature)
        assert_close(layer.output, expected)
        group = tree.group[5]
        start, size = tree.group_offset[group], tree.group_size[group]
        assert np.isnan(layer.output[0, start : start + size]).all()
        assert np.isfinite(np.delete(layer.output[0], np.arange(start, start + size))).all()


def tree_cpu(x, group_size, group_offset, temperature, out):
    """softmax_tree_cpu straight from C, for group layouts no Tree makes."""
    size = np.asarray(group_size, np.uintp)
    offset = np.asarray(group_offset, np.uintp)
    lib.softmax_tree_cpu(
        ds.binding.float_ptr(x),
        x.shape[0],
        x.shape[1],
        ds.binding.ffi.cast("size_t *", size.ctypes.data),
        ds.binding.ffi.cast("size_t *", offset.ctypes.data),
        size.size,
        temperature,
        ds.binding.float_ptr(out),
    )
    return out


@pytest.mark.parametrize("layout", ["gaps", "tiled from column 3", "in place"])
@pytest.mark.parametrize("batch", [1, 9, 64])
def test_tree_groups_from_c(kernel_path, rng, layout, batch):
    """Groups that leave gaps take the group-by-group kernel and leave the gaps
    alone; groups that tile a run of columns (not from 0) and an output that
    is the input take the transposed kernel."""
    sizes = np.array(TREE_SIZES * 4)
    gap = 2 if layout == "gaps" else 0
    offsets = 3 + np.concatenate([[0], np.cumsum(sizes + gap)[:-1]])
    x = logits(rng, (batch, int(offsets[-1] + sizes[-1] + 5)))
    expected = x.astype(np.float64)
    reference_groups = reference.tree_softmax(x, offsets, sizes, 0.5)
    for start, size in zip(offsets, sizes):
        expected[:, start : start + size] = reference_groups[:, start : start + size]
    out = x.copy() if layout == "in place" else np.full_like(x, 7.0)
    if layout != "in place":
        expected[:, :3] = expected[:, offsets[-1] + sizes[-1] :] = 7.0
        for start, size in zip(offsets, sizes):
            expected[:, start + size : start + size + gap] = 7.0
    assert_close(tree_cpu(out if layout == "in place" else x, sizes, offsets, 0.5, out), expected)


# --- loss, axpy, sum ---


def test_softmax_x_ent(kernel_path, rng):
    special = np.array([0.0, 1e-40, 1e-30, 1e-7, 0.5, 1.0, np.nan, np.inf, -0.5], np.float32)
    pred = np.concatenate([special, rng.random(40_000, dtype=np.float32)])
    truth = np.zeros_like(pred)
    truth[rng.random(pred.size) < 0.3] = 1.0
    truth[:9] = 1.0
    truth[9:30] = np.float32(0.3)
    truth[30] = np.nan
    delta, error = ds.softmax_x_ent(pred, truth)
    with np.errstate(invalid="ignore"):
        expected_delta, expected_error = reference.softmax_x_ent(pred, truth)
    assert_close(delta, expected_delta, kind="delta")
    assert_close(error, expected_error, kind="loss")
    assert error[0] == np.inf and np.isnan(error[6]) and np.isnan(error[8])
    assert np.all(error[truth == 0] == 0)


# --- log_softmax, softmax_backward and the exact loss ---

# Sizes around the vector width (the tiles of short groups, the lanes, the
# rows), and (batch, groups) pairs from one group to a block of eight and past.
EXACT_SIZES = [1, 7, 8, 9, 17, 1000]
EXACT_BATCHES = [(1, 1), (3, 2), (9, 11), (64, 1)]


def soft_truth(rng, shape, masked=0.1):
    """Random label weights, some of them SECRET_NUM (no label)."""
    truth = rng.random(shape, dtype=np.float32)
    truth[rng.random(shape) < masked] = ds.SECRET_NUM
    return truth


def check_exact_kernels(rng, x, groups, temperature, axis=-1):
    """log_softmax, softmax_backward (into an out that already holds values)
    and, over the last axis, the exact loss, against the float64 reference."""
    assert_close(
        ds.log_softmax(x, groups, temperature, axis=axis),
        reference.log_softmax_along(x, groups, temperature, axis),
        kind="log probabilities",
    )
    y = ds.softmax(x, groups, temperature, axis=axis)
    dy = logits(rng, x.shape, 1.0)
    out = logits(rng, x.shape, 1.0)
    expected = out + reference.softmax_backward_along(y, dy, groups, temperature, axis)
    ds.softmax_backward(y, dy, groups, temperature, axis=axis, out=out)
    assert_close(out, expected, atol=1e-6 / temperature, kind="softmax Jacobian product")
    if axis != -1:
        return
    truth = soft_truth(rng, x.shape)
    delta, error = ds.softmax_x_ent(y, truth, exact=True, temperature=temperature, groups=groups)
    expected_delta, expected_error = reference.softmax_x_ent_exact(y, truth, groups, temperature)
    assert_close(delta, expected_delta, atol=1e-6 / temperature, kind="delta")
    assert_close(error, expected_error, kind="loss")


@pytest.mark.parametrize("n", EXACT_SIZES)
@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_exact_kernels_over_group_sizes(kernel_path, rng, n, temperature):
    for batch, groups in EXACT_BATCHES:
        check_exact_kernels(rng, logits(rng, (batch, n * groups)), groups, temperature)


# axis 1 of (batch, n, positions): groups one apart, values `positions` apart.
@pytest.mark.parametrize("n", EXACT_SIZES)
@pytest.mark.parametrize("positions", [1, 3, 8, 13])
def test_exact_kernels_along_a_strided_axis(kernel_path, rng, n, positions):
    for batch in (1, 4):
        check_exact_kernels(rng, logits(rng, (batch, n, positions)), 1, 0.5, axis=1)
    # two groups along the axis, each n values
    check_exact_kernels(rng, logits(rng, (2, 2 * n, positions)), 2, 1.0, axis=1)


# Large enough to be shared out over two threads.
@pytest.mark.parametrize(
    "shape, groups, axis",
    [
        ((64, 1000), 1, -1),
        ((64, 1000), 200, -1),
        ((256, 4096), 16, -1),
        ((96, 7000), 1000, -1),
        ((8, 21, 4096), 1, 1),
        ((4, 9, 5000), 3, 1),
    ],
)
def test_exact_kernels_large(kernel_path, rng, shape, groups, axis):
    check_exact_kernels(rng, logits(rng, shape), groups, 1.0, axis=axis)


@pytest.mark.parametrize("values", EXTREMES)
@pytest.mark.parametrize("n", [1, 8, 9, 1000])
def test_exact_kernels_on_extremes(kernel_path, rng, values, n):
    """Each extreme group repeated to fill groups of every size, then the
    same groups strided: ±1e30, all equal and -inf inputs, and dy of ±1e30."""
    group = np.resize(np.array(values, np.float32), n)
    x = np.tile(group, (3, 4))
    with np.errstate(invalid="ignore"):  # the reference's all -inf groups
        check_extremes(x, n)


def check_extremes(x, n):
    for temperature in (1e-3, 1.0):
        assert_close(
            ds.log_softmax(x, 4, temperature),
            reference.log_softmax(x, 4, temperature),
            kind="log probabilities",
        )
        y = ds.softmax(x, 4, temperature)
        for dy in (np.full(x.shape, 1e30, np.float32), np.where(x > 0, 1e30, -1e30)):
            dy = dy.astype(np.float32)
            assert_close(
                ds.softmax_backward(y, dy, 4, temperature),
                reference.softmax_backward(y, dy, 4, temperature),
                atol=1e-6 * 1e30 / temperature,
                kind="softmax Jacobian product",
            )
        truth = np.tile(np.resize(np.float32([1, 0, 0.5, ds.SECRET_NUM]), n), (3, 4))
        delta, error = ds.softmax_x_ent(y, truth, exact=True, temperature=temperature, groups=4)
        expected_delta, expected_error = reference.softmax_x_ent_exact(y, truth, 4, temperature)
        assert_close(delta, expected_delta, atol=1e-6 / temperature, kind="delta")
        assert_close(error, expected_error, kind="loss")
    strided = np.ascontiguousarray(x.reshape(3, 4, n).transpose(0, 2, 1))
    assert_close(
        ds.log_softmax(strided, axis=1),
        reference.log_softmax_along(strided, axis=1),
        kind="log probabilities",
    )


def test_exact_loss_in_place_on_every_layout(kernel_path, rng):
    for n, groups in ((5, 40), (8, 8), (1000, 2), (9, 3)):
        pred = ds.softmax(logits(rng, (9, n * groups)), groups)
        truth = soft_truth(rng, pred.shape)
        expected_delta, expected_error = reference.softmax_x_ent_exact(pred, truth, groups, 2.0)
        delta, error = ds.softmax_x_ent(
            pred, truth, pred, truth, exact=True, temperature=2.0, groups=groups
        )
        assert delta is pred and error is truth
        assert_close(delta, expected_delta, kind="delta")
        assert_close(error, expected_error, kind="loss")


@pytest.mark.parametrize("size", [1, 7, 9, 100_003])
@pytest.mark.parametrize("incx, incy", [(1, 1), (2, 3)])
def test_axpy(kernel_path, rng, size, incx, incy):
    x, y = logits(rng, size * incx), logits(rng, size * incy)
    expected = reference.axpy(-0.5, x, y, incx, incy, size)
    assert_close(ds.axpy(-0.5, x, y, incx, incy, size), expected, kind="axpy")


@pytest.mark.parametrize("size", [1, 7, 1000, 65537, 1_000_003])
def test_sum_array(kernel_path, rng, size):
    a = logits(rng, size)
    assert ds.sum_array(a) == pytest.approx(reference.sum_array(a), rel=1e-6, abs=1e-6)


# --- threads ---


@pytest.mark.parametrize("isa", VECTOR_ISAS)
def test_threads_give_identical_results(rng, isa):
    """Work is split by groups (or fixed blocks for the sum), never within one,
    so two threads give the very bits that one gives."""
    x = logits(rng, (256, 4096))
    pred = ds.softmax(x)
    truth = (rng.random(x.shape) < 0.01).astype(np.float32)
    tree = tree_with_sizes(TREE_SIZES * 20)
    tree_input = logits(rng, (64, tree.n))
    results = []
    for threads in (1, 2):
        with ds.runtime.settings(kernel="vector", instruction_set=isa, num_threads=threads):
            layer = ds.SoftmaxLayer(64, tree.n, tree=tree)
            layer.forward(ds.NetworkContext(tree_input))
            y = np.ones_like(x)
            results.append(
                [
                    ds.softmax(x, 16),
                    ds.softmax(x, 1024),
                    layer.output.copy(),
                    *ds.softmax_x_ent(pred, truth),
                    ds.axpy(0.25, x, y),
                    ds.sum_array(x),
                ]
            )
    for one, two in zip(*results):
        assert np.array_equal(one, two)


# Group counts around AVX-512's blocks of sixteen short groups and AVX2's of eight.
SHORT_GROUP_COUNTS = [(1, 1), (1, 7), (1, 16), (3, 5), (2, 17), (5, 13)]


@pytest.mark.skipif(
    not {"avx2", "avx512"} <= set(ds.instruction_sets()), reason="this CPU has no AVX-512"
)
@pytest.mark.parametrize("n", range(1, 9))
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_short_groups_are_the_same_bits_on_avx512_as_on_avx2(rng, n, temperature):
    """Groups of up to eight values end to end go sixteen at a time through
    permutes on AVX-512 and eight at a time through a transposed tile on
    AVX2; each lane is computed alike, so each group's softmax, log_softmax
    and backward (set and added) are the same bits on both, extremes too."""
    cases = []
    for batch, groups in SHORT_GROUP_COUNTS:
        x = logits(rng, (batch, groups * n))
        x.flat[:: 2 * n + 1] = rng.choice([1e30, -1e30, -np.inf, np.nan], x.flat[:: 2 * n + 1].size)
        dy = logits(rng, x.shape)
        cases.append((x, ds.softmax(x, groups), dy, groups))
    results = []
    for isa in ("avx2", "avx512"):
        with ds.runtime.settings(kernel="vector", instruction_set=isa, num_threads=1):
            for x, y, dy, groups in cases:
                added = np.ones_like(y)
                ds.softmax_backward(y, dy, groups, temperature, out=added)
                results.append(
                    [
                        ds.softmax(x, groups, temperature),
                        ds.log_softmax(x, groups, temperature),
                        ds.softmax_backward(y, dy, groups, temperature),
                        added,
                    ]
                )
    half = len(results) // 2
    for avx2, avx512 in zip(results[:half], results[half:]):
        for one, other in zip(avx2, avx512):
            assert np.array_equal(one.view(np.uint32), other.view(np.uint32))


def test_thread_count_setting():
    saved = ds.get_num_threads()
    try:
        ds.set_num_threads(3)
        assert ds.get_num_threads() == 3
        x = np.ones((64, 4096), np.float32)
        assert_close(ds.softmax(x), np.full(x.shape, 1 / 4096))
        # Far more threads than CPUs still works; threads that cannot start are done without.
        ds.set_num_threads(ds.runtime.MAX_THREADS)
        assert_close(ds.softmax(x), np.full(x.shape, 1 / 4096))
    finally:
        ds.set_num_threads(saved)


@pytest.mark.parametrize(
    "bad, error",
    [(0, ValueError), (257, ValueError), (2.0, TypeError), (True, TypeError), ("2", TypeError)],
)
def test_bad_thread_count(bad, error):
    saved = ds.get_num_threads()
    with pytest.raises(error, match="n must"):
        ds.set_num_threads(bad)
    assert ds.get_num_threads() == saved


def test_bad_kernel_and_instruction_set():
    with pytest.raises(ValueError, match="kernel must be one of"):
        ds.set_kernel("fast")
    with pytest.raises(ValueError, match="instruction set must be one of"):
        ds.set_instruction_set("avx1024")
    assert ds.get_kernel() == "vector"
    assert ds.get_instruction_set() == ds.instruction_sets()[-1]


def run_python(code, **environment):
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **environment},
        check=True,
    )


def test_environment_variable_sets_the_thread_count():
    code = "import darknet_softmax as ds; print(ds.get_num_threads())"
    assert run_python(code, DARKNET_SOFTMAX_NUM_THREADS="3").stdout.strip() == "3"
    bad = run_python(code, DARKNET_SOFTMAX_NUM_THREADS="lots")
    assert bad.stdout.strip() == str(len(os.sched_getaffinity(0)))
    assert "DARKNET_SOFTMAX_NUM_THREADS='lots'" in bad.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.skipif(
    "tsan" in os.environ.get("LD_PRELOAD", ""),
    reason="ThreadSanitizer cannot start threads after a multi-threaded fork",
)
def test_threads_work_after_fork():
    """A forked child has none of the parent's pool threads; it starts its own."""
    code = """if True:
        import os, numpy as np, darknet_softmax as ds
        ds.set_num_threads(2)
        x = np.ones((64, 4096), np.float32)
        ds.softmax(x)
        pid = os.fork()
        if pid == 0:
            ok = np.allclose(ds.softmax(x), 1 / 4096)
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), np.allclose(ds.softmax(x), 1 / 4096))
    """
    assert run_python(code).stdout.split() == ["0", "True"]


# --- the GIL ---


def test_every_c_call_releases_the_gil(tmp_path):
    """cffi's API mode wraps every call to C in Py_BEGIN_ALLOW_THREADS; check
    the generated wrapper of each function the library declares."""
    source = tmp_path / "lib.c"
    _build.ffibuilder.emit_c_code(str(source))
    text = source.read_text()
    # The declarations without their comments, whose parentheses would read as calls.
    cdef = re.sub(r"/\*.*?\*/", " ", _build.read_cdef(), flags=re.S)
    names = sorted(set(re.findall(r"\b(\w+)\s*\([^;{]*\)\s*;", cdef)))
    assert "softmax_cpu" in names and "ds_copy" in names
    for name in names:
        wrapper = re.search(rf"^_cffi_f_{name}\(.*?^}}", text, re.S | re.M)
        assert wrapper, name
        body = wrapper.group(0)
        released = body.index("Py_BEGIN_ALLOW_THREADS")
        assert (
            released < body.index(f"{{ {name}(")
            if f"{{ {name}(" in body
            else released < body.index(f"= {name}(")
        ), name
        assert "Py_END_ALLOW_THREADS" in body, name


def test_python_runs_while_c_runs():
    """A Python thread changes the input while one long C call reads it: the
    output shows the change only if that thread ran during the call. The call
    is a 1000 x 1000 x 1000 product (a softmax_cpu call may compute no more
    values than its output holds, so it cannot be made long on small arrays):
    row i of C reads row i of A, and the last row is read last."""
    m = 1000
    A = np.ones(m * m, np.float32)
    B = np.ones(m * m, np.float32)
    C = np.zeros(m * m, np.float32)
    started = threading.Event()

    def change_input():
        started.wait()
        A[(m - 1) * m] = 50.0

    writer = threading.Thread(target=change_input)
    writer.start()
    started.set()
    gemm(False, False, m, m, m, 1.0, A, m, B, m, 0.0, C, m)
    writer.join()
    rows = C.reshape(m, m)
    assert (rows[-1] == m + 49).all()
