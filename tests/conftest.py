"""Shared test helpers. `assert_close` holds C results to the float64 reference
with the project's written tolerance and records the largest errors it saw,
which the run prints at its end."""
import numpy as np
import pytest

# SPEC section 2: every path agrees with float64 to 1e-6 absolute plus 1e-5 relative.
from darknet_softmax.reference import ATOL, RTOL

# Relative error is reported where the expected value is a normal float32.
REL_FLOOR = 1e-30

# The sweeps the kernel tests share: group sizes around the vector width of 8,
# the temperatures of the spec, and inputs at the edges of float32.
GROUP_SIZES = [1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 1000, 9418]
TEMPERATURES = [1e-3, 0.5, 1.0, 2.0, 10.0]
EXTREMES = [
    [88.0, 89.0, 90.0, -88.0, -89.0, -90.0],
    [1e30, -1e30, 0.0, 1e30],
    [-1e30, -1e30, -1e30],
    [5.0] * 9,
    [-1000.0, -1001.0, -1002.5],
    [-np.inf, 0.0, 1.0, -np.inf],
    [1e30, 1e30 * 0.999, -1e30],
]


def logits(rng, shape, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def numeric_gradient(loss, x, step=1e-6):
    """Central differences of a float64 scalar function of x."""
    x = x.astype(np.float64)
    gradient = np.empty_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += step
        down[index] -= step
        gradient[index] = (loss(up) - loss(down)) / (2 * step)
    return gradient


# kind -> [largest absolute error, largest relative error]
largest = {}


def assert_close(actual, expected, atol=ATOL, rtol=RTOL, kind="probabilities"):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    same = (actual == expected) | (np.isnan(actual) & np.isnan(expected))
    with np.errstate(invalid="ignore"):
        error = np.where(same, 0.0, np.abs(actual - expected))
    with np.errstate(invalid="ignore"):
        bad = ~same & ~(error <= atol + rtol * np.abs(expected))
    if bad.any():
        first = np.flatnonzero(bad)[:5]
        raise AssertionError(
            f"{bad.sum()} of {bad.size} values differ; largest error {np.nanmax(error):.3g}; "
            f"first at {first.tolist()}: got {actual.ravel()[first]}, "
            f"expected {expected.ravel()[first]}")
    record = largest.setdefault(kind, [0.0, 0.0])
    finite = np.isfinite(error)
    if finite.any():
        record[0] = max(record[0], float(error[finite].max()))
        scaled = finite & (np.abs(expected) >= REL_FLOOR)
        if scaled.any():
            record[1] = max(record[1], float((error[scaled] / np.abs(expected[scaled])).max()))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def pytest_terminal_summary(terminalreporter):
    if largest:
        terminalreporter.write_line("largest error of C against the float64 reference "
                                    f"(relative where |expected| >= {REL_FLOOR:g}):")
    for kind, (absolute, relative) in sorted(largest.items()):
        terminalreporter.write_line(f"  {kind:<28} absolute {absolute:.3g}  relative {relative:.3g}")
