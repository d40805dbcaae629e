"""Darknet's gemm (darknet_softmax.gemm) against the float64 reference."""

import numpy as np
import pytest

from conftest import assert_close
from darknet_softmax import reference
from darknet_softmax.gemm import gemm

SHAPES = [
    (1, 1, 1),
    (1, 7, 3),
    (5, 1, 9),
    (3, 4, 1),
    (17, 33, 65),
    (64, 10, 64),
    (32, 64, 1437 % 97),
    (2, 1000, 3),
]


def product_bound(a, b, ta, tb, alpha):
    """Float32 rounding bound: K ulps of |alpha| |op(A)| |op(B)|."""
    a, b = np.abs(a.T if ta else a), np.abs(b.T if tb else b)
    return abs(alpha) * (a.astype(np.float64) @ b) * a.shape[1] * 2**-23


@pytest.mark.parametrize("ta", [0, 1])
@pytest.mark.parametrize("tb", [0, 1])
@pytest.mark.parametrize("m, n, k", SHAPES)
def test_matches_reference(rng, ta, tb, m, n, k):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    c = rng.standard_normal((m, n)).astype(np.float32)
    expected = reference.gemm(ta, tb, a, b, 0.5, 2.0, c)
    bound = product_bound(a, b, ta, tb, 0.5) + 2**-23 * np.abs(expected)
    gemm(ta, tb, m, n, k, 0.5, a, a.shape[1], b, b.shape[1], 2.0, c, n)
    assert_close(c, expected, atol=bound + 1e-7, rtol=0, kind="gemm")


def test_strided_rows(rng):
    """lda, ldb, ldc wider than the matrices: only the leading columns count."""
    a = rng.standard_normal((4, 9)).astype(np.float32)
    b = rng.standard_normal((3, 8)).astype(np.float32)
    c = np.full((4, 7), 5, np.float32)
    gemm(0, 0, 4, 5, 3, 1.0, a, 9, b, 8, 0.0, c, 7)
    expected = reference.gemm(0, 0, a[:, :3], b[:, :5])
    assert_close(c[:, :5], expected, atol=1e-5, kind="gemm")
    assert np.all(c[:, 5:] == 5)


def test_beta_zero_ignores_what_c_held(rng):
    a = rng.standard_normal((3, 2)).astype(np.float32)
    b = rng.standard_normal((2, 4)).astype(np.float32)
    c = np.full((3, 4), np.nan, np.float32)
    gemm(0, 0, 3, 4, 2, 1.0, a, 2, b, 4, 0.0, c, 4)
    assert_close(c, reference.gemm(0, 0, a, b), atol=1e-6, kind="gemm")


def test_extreme_values():
    a = np.array([[1e18, -1e18], [np.inf, 0]], np.float32)
    b = np.array([[1e18, 1], [0, 1]], np.float32)
    c = np.zeros((2, 2), np.float32)
    gemm(0, 0, 2, 2, 2, 1.0, a, 2, b, 2, 0.0, c, 2)
    with np.errstate(invalid="ignore"):
        expected = reference.gemm(0, 0, a, b)
    assert_close(c, expected, kind="gemm, extreme values")


def test_huge_tiny_and_infinite_values():
    """±1e30 against small weights, all-equal rows, and -inf, which spreads
    -inf where it meets a positive weight and NaN where it meets 0."""
    a = np.array([[1e30, -1e30, 1e30], [2, 2, 2], [-np.inf, 1, 1]], np.float32)
    b = np.array([[1e-8, 0], [1e-8, 1], [3e-8, 0]], np.float32)
    c = np.zeros((3, 2), np.float32)
    gemm(0, 0, 3, 2, 3, 1.0, a, 3, b, 2, 0.0, c, 2)
    with np.errstate(invalid="ignore"):
        expected = reference.gemm(0, 0, a, b)
    assert_close(c[:2], expected[:2], rtol=1e-6, kind="gemm, extreme values")
    assert c[2, 0] == -np.inf and np.isnan(c[2, 1]) and np.isnan(expected[2, 1])


def test_bounds_are_checked_before_writing(rng):
    a = np.ones((3, 3), np.float32)
    c = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match="reach index"):
        gemm(0, 0, 3, 3, 4, 1.0, a, 4, a, 3, 0.0, c, 3)
    with pytest.raises(ValueError, match="lda must be at least 3"):
        gemm(0, 0, 3, 3, 3, 1.0, a, 2, a, 3, 0.0, c, 3)
    with pytest.raises(ValueError, match="A and C must be different"):
        gemm(0, 0, 3, 3, 3, 1.0, c, 3, a, 3, 0.0, c, 3)
    with pytest.raises(TypeError, match="B must have dtype float32"):
        gemm(0, 0, 3, 3, 3, 1.0, a, 3, np.ones((3, 3)), 3, 0.0, c, 3)
    assert not c.any()


@pytest.mark.parametrize("ta, tb", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_products_split_over_threads_match_the_reference(rng, kernel_path, ta, tb):
    """A product above the threading threshold (a million multiply-adds),
    with an odd row count and strides wider than the rows, on every path."""
    m, n, k = 67, 129, 131
    a = rng.standard_normal((k, m + 3) if ta else (m, k + 3)).astype(np.float32)
    b = rng.standard_normal((n, k + 5) if tb else (k, n + 5)).astype(np.float32)
    c = rng.standard_normal((m, n + 2)).astype(np.float32)
    op_a = a[:, :m] if ta else a[:, :k]
    op_b = b[:, :k] if tb else b[:, :n]
    expected = reference.gemm(ta, tb, op_a, op_b, 0.5, 2.0, c[:, :n])
    gemm(ta, tb, m, n, k, 0.5, a, a.shape[1], b, b.shape[1], 2.0, c, c.shape[1])
    assert_close(c[:, :n], expected, atol=1e-4, rtol=1e-5, kind="gemm")
