"""Darknet's activations (darknet_softmax.activations) against the float64 reference."""

import numpy as np
import pytest

from conftest import assert_close
from darknet_softmax import reference
from darknet_softmax.activations import ACTIVATIONS, activate_array, gradient_array

NAMES = list(ACTIVATIONS)
SIZES = [1, 7, 16, 17, 1000, 4099]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", SIZES)
def test_activate_matches_reference(rng, name, size):
    x = (rng.standard_normal(size) * 4).astype(np.float32)
    expected = reference.activate(x, name)
    assert activate_array(x, name) is x
    assert_close(x, expected, kind="activations")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", SIZES)
def test_gradient_matches_reference(rng, name, size):
    output = activate_array((rng.standard_normal(size) * 4).astype(np.float32), name)
    delta = rng.standard_normal(size).astype(np.float32)
    expected = delta * reference.gradient(output, name)
    assert gradient_array(output, name, delta) is delta
    assert_close(delta, expected, kind="activation gradients")


@pytest.mark.parametrize("name", NAMES)
def test_extreme_inputs(name):
    x = np.array([1e30, -1e30, 0, 50, -50, np.inf, -np.inf, 3, 3, 3], np.float32)
    with np.errstate(all="ignore"):
        expected = reference.activate(x, name)
    activate_array(x, name)
    if name == "relu":
        expected[6] = np.nan  # Darknet's x*(x > 0) is -inf*0 there
    assert_close(x, expected, kind="activations")
    # tanh stays finite where Darknet's (e^2x - 1)/(e^2x + 1) gives NaN.
    assert name != "tanh" or np.all(np.isfinite(x))


@pytest.mark.parametrize("name", NAMES)
def test_gradient_is_the_derivative(rng, name):
    """The float64 derivative by central differences, at points away from the kinks."""
    x = rng.uniform(-3, 3, 200)
    x = x[np.abs(x) > 1e-3]
    step = 1e-6
    numeric = (reference.activate(x + step, name) - reference.activate(x - step, name)) / (2 * step)
    assert_close(
        reference.gradient(reference.activate(x, name), name),
        numeric,
        atol=1e-7,
        rtol=1e-6,
        kind="finite-difference gradient",
    )
    output = activate_array(x.astype(np.float32), name)
    got = gradient_array(output, name, np.ones_like(output))
    assert_close(got, numeric, atol=1e-6, rtol=1e-5, kind="finite-difference gradient")


def test_unknown_activation_writes_nothing():
    x = np.arange(4, dtype=np.float32)
    with pytest.raises(ValueError, match="activation must be one of"):
        activate_array(x, "ramp")
    with pytest.raises(TypeError, match="activation must be a str"):
        activate_array(x, 3)
    assert np.array_equal(x, np.arange(4))


def test_bad_arrays():
    with pytest.raises(TypeError, match="x must have dtype float32"):
        activate_array(np.zeros(3), "relu")
    delta = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="delta must have shape"):
        gradient_array(np.zeros(4, np.float32), "relu", delta)
    assert np.all(delta == 1)
