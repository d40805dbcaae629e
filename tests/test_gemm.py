"""Darknet's gemm (darknet_softmax.gemm) against the float64 reference."""

import itertools

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import assert_close
from darknet_softmax import reference
from darknet_softmax.gemm import gemm

# Each size against the 6 x 16 microkernel (on AVX-512 also two of its
# tiles side by side), its 8-wide half and its 1-to-4 wide narrow kernel: one
# row or column; last panels of 5, 2 and 3 rows (5, 8, 9) and one of 4, which
# the side-by-side kernel computes as 6, 2 or 4 rows and writes in part; last
# tiles of 7, 1, 4 and 3 columns (7, 33, 20, 51); a product wide enough to
# split over the threads; K from a single step to more than one block (300).
SHAPES = list(itertools.product((1, 4, 5, 8, 9, 17), (1, 7, 20, 33, 51, 1000), (1, 3, 79, 300)))


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


# --- the packed product: every layout and size around its blocking ---

# csrc/gemm_kernel.h's tile (MR x NR) and csrc/gemm.c's blocks (KC, MC, NC)
MR, NR, KC, MC, NC = 6, 16, 256, 144, 512
SIZES = [1, 5, 7, 15, 16, 17, 33]
LAYOUTS = [(0, 0), (0, 1), (1, 0), (1, 1)]


def operands(rng, ta, tb, m, n, k, pad=(0, 0, 0)):
    """A, B and C for op(A) m x k and op(B) k x n, rows `pad` floats wider
    than needed, with op(A), op(B) and C's m x n part as views."""
    a = rng.standard_normal((k, m + pad[0]) if ta else (m, k + pad[0])).astype(np.float32)
    b = rng.standard_normal((n, k + pad[1]) if tb else (k, n + pad[1])).astype(np.float32)
    c = rng.standard_normal((m, n + pad[2])).astype(np.float32)
    op_a = a[:, :m].T if ta else a[:, :k]
    op_b = b[:, :k].T if tb else b[:, :n]
    return a, b, c, op_a, op_b


def expected_product(op_a, op_b, c, alpha, beta):
    """ALPHA op(A) op(B) + BETA C in float64, C not read when BETA is 0."""
    product = alpha * (reference.f64(op_a) @ reference.f64(op_b))
    return product if beta == 0 else product + beta * reference.f64(c)


def check_product(rng, ta, tb, m, n, k, alpha=1.0, beta=0.0, pad=(0, 0, 0)):
    """One call against float64: within 1e-5 of the largest value, with the
    padding of C's rows untouched."""
    a, b, c, op_a, op_b = operands(rng, ta, tb, m, n, k, pad)
    if beta == 0:
        c[:, :n] = np.nan
    expected = expected_product(op_a, op_b, c[:, :n], alpha, beta)
    padding = c[:, n:].copy()
    gemm(ta, tb, m, n, k, alpha, a, a.shape[1], b, b.shape[1], beta, c, c.shape[1])
    scale = max(np.abs(expected).max(), 1e-30)
    assert_close(
        c[:, :n], expected, atol=1e-5 * scale, rtol=0, kind="gemm, relative to the largest"
    )
    assert np.array_equal(c[:, n:], padding)


@pytest.mark.parametrize("ta, tb", LAYOUTS)
def test_every_small_size_on_every_path(rng, kernel_path, ta, tb):
    """M, N and K through 1, 5, 7, 15, 16, 17 and 33: single tiles, partial
    tiles and several, with BETA = 0 over a C of NaN."""
    for m in SIZES:
        for n in SIZES:
            for k in SIZES:
                check_product(rng, ta, tb, m, n, k)


@pytest.mark.parametrize("ta, tb", LAYOUTS)
@pytest.mark.parametrize(
    "m, n, k",
    [
        (MR - 1, NR + 1, KC + 1),
        (MR + 1, NR - 1, KC - 1),
        (MC - 1, NR, KC),
        (MC + 1, 3 * NR + 1, 2 * KC + 1),
        (MC, NC + 1, 3),
        (2, NC - 1, KC + 1),
        (2 * MR, NR + NR // 2, KC + 1),
    ],
)
def test_blocking_edges_on_every_path(rng, kernel_path, ta, tb, m, n, k):
    """Sizes one either side of the tile and the blocks, so that every block
    has a partial edge, and K spans several blocks (the later ones add); a
    last column of tiles exactly half a tile wide, which the half kernel
    writes in place."""
    check_product(rng, ta, tb, m, n, k, alpha=0.5, beta=2.0, pad=(1, 2, 3))


@pytest.mark.parametrize("ta, tb", LAYOUTS)
@pytest.mark.parametrize("m", [4 * MR, 4 * MR + 5, 9 * MR + 2])
def test_a_column_is_the_same_bits_whatever_its_neighbours(rng, kernel_path, ta, tb, m):
    """Each value of C is its own sequence of multiply-adds, the same in the
    whole, half and narrow kernels: the first columns of a product, computed
    alone (their last 1 to 4 by the narrow kernel, up to four tiles of rows
    at once, or 8 by the half kernel), equal the same columns of a product
    two tiles wide, bit for bit, and both match the reference."""
    k = KC + 3
    a, b, c, op_a, op_b = operands(rng, ta, tb, m, 2 * NR, k)
    gemm(ta, tb, m, 2 * NR, k, 0.5, a, a.shape[1], b, b.shape[1], 0.0, c, 2 * NR)
    scale = np.abs(c).max()
    assert_close(
        c, expected_product(op_a, op_b, c, 0.5, 0.0), atol=1e-5 * scale, rtol=0, kind="gemm"
    )
    for n in (1, 2, 3, 4, 8, NR + 1, NR + 2, NR + 3, NR + 4):
        alone = np.full((m, n), np.nan, np.float32)
        narrow_b = np.ascontiguousarray(op_b[:, :n].T if tb else op_b[:, :n])
        gemm(ta, tb, m, n, k, 0.5, a, a.shape[1], narrow_b, narrow_b.shape[1], 0.0, alone, n)
        assert np.array_equal(alone, c[:, :n]), n


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.75])
@pytest.mark.parametrize("beta", [0.0, 1.0, 2.5])
@pytest.mark.parametrize("ta, tb", LAYOUTS)
def test_alpha_and_beta(rng, kernel_path, ta, tb, alpha, beta):
    for m, n, k in ((7, 17, 5), (33, 40, 300)):
        check_product(rng, ta, tb, m, n, k, alpha, beta, pad=(3, 1, 2))


@pytest.mark.parametrize("ta, tb", LAYOUTS)
@pytest.mark.parametrize("m, n, k", [(300, 20, 400), (20, 300, 400), (150, 150, 150)])
def test_threaded_splits_by_rows_and_by_columns(rng, ta, tb, m, n, k):
    """Above the threading threshold, at two threads: the tall product splits
    its rows, the wide one its columns; both AVX2 (where the CPU has it) and
    portable."""
    for isa in ds.runtime.instruction_sets():
        with ds.runtime.settings(kernel="vector", instruction_set=isa, num_threads=2):
            check_product(rng, ta, tb, m, n, k, alpha=1.5, beta=0.5, pad=(2, 0, 1))


@pytest.mark.parametrize("ta, tb", LAYOUTS)
def test_nan_and_inf_reach_the_values_that_read_them(rng, kernel_path, ta, tb):
    """A NaN in op(A) row 1 fills C row 1; +inf in op(B) column 2 gives ±inf
    down column 2 (NaN in row 1); the rest stays finite and correct."""
    m, n, k = 9, 19, 7
    a, b, c, op_a, op_b = operands(rng, ta, tb, m, n, k)
    op_a[1, 3] = np.nan
    op_b[4, 2] = np.inf
    with np.errstate(invalid="ignore"):
        expected = expected_product(op_a, op_b, c, 1.0, 0.0)
    gemm(ta, tb, m, n, k, 1.0, a, a.shape[1], b, b.shape[1], 0.0, c, n)
    assert np.isnan(c[1]).all()
    assert np.array_equal(np.isinf(c), np.isinf(expected))
    assert np.array_equal(np.sign(c[np.isinf(c)]), np.sign(expected[np.isinf(expected)]))
    finite = np.isfinite(expected)
    assert_close(c[finite], expected[finite], atol=1e-5 * np.abs(expected[finite]).max(), rtol=0)
