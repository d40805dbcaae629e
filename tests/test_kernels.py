"""The functional kernels (darknet_softmax.kernels) against the float64 reference."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import darknet_softmax as ds
from conftest import (
    EXTREMES,
    GROUP_SIZES,
    TEMPERATURES,
    assert_close,
    logits,
    numeric_gradient,
    one_hot,
    softmax_sweep,
)
from darknet_softmax import reference


@pytest.mark.parametrize("n", GROUP_SIZES)
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_softmax_matches_reference_over_group_sizes(rng, n, temperature):
    for batch, groups in ((1, 1), (3, 2), (64, 1)):
        x = logits(rng, (batch, n * groups))
        assert_close(ds.softmax(x, groups, temperature), reference.softmax(x, groups, temperature))


@settings(max_examples=60, deadline=None)
@softmax_sweep(64, 6)
def test_softmax_sweep(batch, n, groups, temperature, scale, seed):
    x = logits(np.random.default_rng(seed), (batch, n * groups), scale)
    out = ds.softmax(x, groups, temperature)
    assert_close(out, reference.softmax(x, groups, temperature))
    sums = out.astype(np.float64).reshape(batch, groups, n).sum(axis=-1)
    assert_close(sums, np.ones_like(sums), kind="group sums")


@pytest.mark.parametrize("n", [*range(1, 34), 40, 47, 48, 55, 56, 57, 63, 64, 65])
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_short_groups_end_to_end(rng, kernel_path, n, temperature):
    # 67 groups of n, one after another: blocks of eight (of up to 8 values)
    # or of sixteen (AVX-512, up to 64) loaded whole, then a ragged last
    # block; extreme groups mid-run, and each result in place too.
    groups = 67
    x = logits(rng, (2, groups * n))
    x[0, 20 * n : 21 * n] = [1e30, -1e30] * (n // 2) + [1e30] * (n % 2)
    x[0, 33 * n : 34 * n] = -1e30
    x[1, 40 * n : 41 * n] = [-np.inf] * (n > 1) + [90.0] * (n - 1) + [89.0] * (n == 1)
    for kernel in (ds.softmax, ds.log_softmax):
        expected = getattr(reference, kernel.__name__)(x, groups, temperature)
        assert_close(kernel(x, groups, temperature), expected, kind=kernel.__name__)
        inside = x.copy()
        kernel(inside, groups, temperature, out=inside)
        assert_close(inside, expected, kind=kernel.__name__)
    y, dy = ds.softmax(x, groups), logits(rng, x.shape)
    product = reference.softmax_backward(y, dy, groups, temperature)
    assert_close(ds.softmax_backward(y, dy, groups, temperature), product, kind="backward")
    added = dy * 0.5
    ds.softmax_backward(y, dy, groups, temperature, out=added)
    assert_close(added, product + dy * 0.5, kind="backward")


def test_groups_equal_to_inputs_gives_ones(rng):
    x = logits(rng, (5, 17))
    assert np.array_equal(ds.softmax(x, groups=17), np.ones_like(x))


def test_one_dimensional_input(rng):
    x = logits(rng, 10)
    assert_close(ds.softmax(x, 2), reference.softmax(x, 2))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 20),
    batch=st.integers(1, 5),
    groups=st.integers(1, 4),
    stride=st.integers(1, 4),
    temperature=st.sampled_from(TEMPERATURES),
    seed=st.integers(0, 2**32 - 1),
)
def test_softmax_cpu_strided_matches_reference(n, batch, groups, stride, temperature, seed):
    # Interleaved layout: group g of item b holds every stride-th value from b*batch_offset + g.
    group_offset = 1
    batch_offset = n * stride + groups
    rng = np.random.default_rng(seed)
    # Where stride < groups the groups overlap; the output must still hold the
    # batch*groups*n values computed, so such layouts get spare, untouched values.
    x = logits(rng, max(batch * batch_offset, batch * groups * n))
    out = np.full_like(x, 7.0)
    ds.softmax_cpu(x, n, batch, batch_offset, groups, group_offset, stride, temperature, out)
    expected = reference.softmax_cpu(
        x, n, batch, batch_offset, groups, group_offset, stride, temperature, np.full_like(x, 7.0)
    )
    assert_close(out, expected)


def test_softmax_cpu_leaves_untouched_values_alone(rng):
    x = logits(rng, 40)
    out = np.full_like(x, -5.0)
    ds.softmax_cpu(x, 4, 2, 20, 2, 8, 2, 1.0, out)
    touched = np.zeros(40, bool)
    for b in range(2):
        for g in range(2):
            touched[b * 20 + g * 8 + 2 * np.arange(4)] = True
    assert np.all(out[~touched] == -5.0)
    assert np.all(out[touched] > 0)


def test_shift_invariance():
    # Integers near 1e7 are exact in float32, so the shift is exact too.
    x = np.arange(-20, 21, dtype=np.float32).reshape(1, 41)
    shifted = x + np.float32(1e7)
    assert np.array_equal(x + 1e7, shifted.astype(np.float64))
    assert np.array_equal(ds.softmax(shifted), ds.softmax(x))


@pytest.mark.parametrize("values", EXTREMES)
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_extreme_inputs(values, temperature):
    x = np.array([values], dtype=np.float32)
    out = ds.softmax(x, temperature=temperature)
    assert np.all(np.isfinite(out))
    assert_close(out, reference.softmax(x, 1, temperature))


def test_all_equal_is_uniform():
    out = ds.softmax(np.full((2, 9418), -3.5, np.float32))
    assert_close(out, np.full((2, 9418), 1 / 9418))


def test_minus_inf_entries_get_zero(rng):
    x = logits(rng, (4, 16))
    x[:, ::3] = -np.inf
    out = ds.softmax(x, 2)
    assert np.all(out[:, ::3] == 0)
    assert_close(out, reference.softmax(x, 2))


def test_nan_spoils_only_its_own_group(rng):
    x = logits(rng, (2, 12))
    x[0, 4] = np.nan
    out = ds.softmax(x, groups=3)
    assert np.all(np.isnan(out[0, 4:8]))
    clean = np.ones((2, 12), bool)
    clean[0, 4:8] = False
    assert np.all(np.isfinite(out[clean]))
    assert_close(out[clean], reference.softmax(np.where(clean, x, 0), 3)[clean])


def test_in_place(rng):
    x = logits(rng, (8, 30))
    expected = reference.softmax(x, 3, 0.5)
    assert ds.softmax(x, 3, 0.5, out=x) is x
    assert_close(x, expected)


def test_softmax_cpu_in_place(rng):
    x = logits(rng, 30)
    expected = reference.softmax_cpu(x, 5, 2, 15, 3, 5, 1, 2.0, x)
    ds.softmax_cpu(x, 5, 2, 15, 3, 5, 1, 2.0, x)
    assert_close(x, expected)


def test_softmax_x_ent_matches_reference(rng):
    pred = ds.softmax(logits(rng, (16, 10)))
    truth = one_hot(rng.integers(0, 10, 16), 10)
    truth[0, :] = 0.1  # soft labels: Darknet ignores their size
    delta, error = ds.softmax_x_ent(pred, truth)
    expected_delta, expected_error = reference.softmax_x_ent(pred, truth)
    assert_close(delta, expected_delta, kind="delta")
    assert_close(error, expected_error, kind="loss")
    assert np.all(error[truth == 0] == 0)


def test_softmax_x_ent_writes_into_given_arrays(rng):
    pred = ds.softmax(logits(rng, (3, 4)))
    truth = np.eye(3, 4, dtype=np.float32)
    delta, error = np.empty_like(pred), np.empty_like(pred)
    assert ds.softmax_x_ent(pred, truth, delta, error)[0] is delta
    assert_close(delta, truth - pred.astype(np.float64), kind="delta")


def test_softmax_x_ent_of_zero_prediction_is_infinite():
    delta, error = ds.softmax_x_ent(
        np.array([0.0, 1.0], np.float32), np.array([1.0, 0.0], np.float32)
    )
    assert error[0] == np.inf and error[1] == 0
    assert np.array_equal(delta, [1.0, -1.0])


@pytest.mark.parametrize("incx, incy", [(1, 1), (2, 1), (1, 3), (3, 2)])
def test_axpy_matches_reference(rng, incx, incy):
    x, y = logits(rng, 31), logits(rng, 50)
    n = min(-(-31 // incx), -(-50 // incy))
    expected = reference.axpy(0.5, x, y, incx, incy, n)
    assert_close(ds.axpy(0.5, x, y, incx, incy, n), expected, kind="axpy")


def test_axpy_accumulates(rng):
    x = logits(rng, 7)
    y = np.ones(7, np.float32)
    ds.axpy(2.0, x, y)
    ds.axpy(2.0, x, y)
    assert_close(y, 1 + 4 * x.astype(np.float64), kind="axpy")


@pytest.mark.parametrize("size", [1, 7, 1000, 100_003])
def test_sum_array(rng, size):
    a = logits(rng, size)
    assert ds.sum_array(a) == pytest.approx(reference.sum_array(a), rel=1e-6, abs=1e-6)


def test_delta_is_minus_gradient_of_summed_cross_entropy(rng):
    """Float64 finite differences of the summed cross-entropy at temperature 1."""
    batch, groups, n = 3, 2, 5
    x = rng.standard_normal((batch, groups * n))
    truth = one_hot(rng.integers(0, n, (batch, groups)), n)

    def loss(values):
        return -(truth * np.log(reference.softmax(values, groups))).sum()

    gradient = numeric_gradient(loss, x)
    pred = ds.softmax(x.astype(np.float32), groups)
    delta, _ = ds.softmax_x_ent(pred, truth)
    assert_close(delta, -gradient, atol=1e-5, kind="finite-difference gradient")


def test_read_only_inputs_are_accepted(rng):
    x = logits(rng, (3, 8))
    x.flags.writeable = False
    assert_close(ds.softmax(x, 2), reference.softmax(x, 2))
    truth = np.eye(3, 8, dtype=np.float32)
    truth.flags.writeable = False
    delta, _ = ds.softmax_x_ent(ds.softmax(x), truth)
    assert_close(delta, truth - reference.softmax(x), kind="delta")
