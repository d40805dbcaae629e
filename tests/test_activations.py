"""Darknet's activations (darknet_softmax.activations) against the float64
reference, and the reference against Darknet's formulas and the true
derivatives."""

import numpy as np
import pytest

from conftest import assert_close
from darknet_softmax import parse_network_cfg, reference
from darknet_softmax.activations import ACTIVATIONS, activate_array, gradient_array
from darknet_softmax.binding import float_ptr, lib

NAMES = list(ACTIVATIONS)
SIZES = [1, 7, 16, 17, 1000, 4099]
# Every kink of every activation is a whole number: 0 for most, +-1 (hardtan),
# 0 and 1 (lhtan), +-4 (plse), and every whole number (stair).
KINKS = [-4.0, -1.0, 0.0, 1.0, 4.0]
EXTREMES = [1e30, -1e30, 0, -0.0, 50, -50, 100, -100, 400, 800, np.inf, -np.inf, np.nan, 3, 3]


def test_darknet_enum_values():
    """The C enum is Darknet's (include/darknet.h), in Darknet's order."""
    expected = "logistic relu relie linear ramp tanh plse leaky elu loggy stair hardtan lhtan selu"
    assert NAMES == expected.split()
    assert [ACTIVATIONS[name] for name in NAMES] == list(range(14))
    assert (lib.LINEAR, lib.TANH, lib.LEAKY, lib.SELU) == (3, 5, 7, 13)


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
def test_extreme_inputs_and_kinks(name):
    """±1e30, ±inf, NaN, 0, -0 and the kinks, C against the reference (which
    keeps Darknet's formulas where they misbehave), forward and backward."""
    x = np.array(EXTREMES + KINKS + [2.0, 3.0, -3.0, 2**31, -(2**31), 2**24 + 2], np.float32)
    expected = reference.activate(x, name)
    activate_array(x, name)
    assert_close(x, expected, kind="activations")
    delta = np.full_like(x, 0.5)
    gradient_array(x, name, delta)
    assert_close(delta, 0.5 * reference.gradient(x, name), kind="activation gradients")


def test_darknet_quirks_at_the_extremes():
    """Where Darknet's formulas give NaN, this gives NaN too: 0*-inf in relu,
    ramp, elu and selu at -inf; 0*inf in elu and selu where exp(x) overflows a
    double (x > 709.78). NaN in gives NaN out everywhere."""
    x = np.array([-np.inf, 1e30, 800, 700, np.nan], np.float32)
    nan = {name: np.isnan(activate_array(x.copy(), name)) for name in NAMES}
    for name in ("relu", "ramp"):
        assert nan[name].tolist() == [True, False, False, False, True]
    for name in ("elu", "selu"):
        assert nan[name].tolist() == [True, True, True, False, True]
    for name in set(NAMES) - {"relu", "ramp", "elu", "selu"}:
        assert nan[name].tolist() == [False, False, False, False, True], name


def test_tanh_stays_finite_where_darknets_is_nan():
    """Darknet's (exp(2x) - 1)/(exp(2x) + 1) in double is inf/inf = NaN from
    x = 354.9; tanhf is 1 there. The one formula this project changes."""
    x = np.array([354.0, 355.0, 1e30, np.inf], np.float32)
    with np.errstate(all="ignore"):
        darknets = (np.exp(2 * x.astype(np.float64)) - 1) / (np.exp(2 * x.astype(np.float64)) + 1)
    assert not np.isnan(darknets[0]) and np.isnan(darknets[1:]).all()
    assert np.array_equal(activate_array(x, "tanh"), np.ones(4, np.float32))


def test_darknet_values_by_hand():
    """A few values worked out from Darknet's formulas."""
    x = np.array([-5, -2, -0.5, 0.5, 1.5, 2.5, 3.5, 5], np.float32)
    cases = {
        "relie": [-0.05, -0.02, -0.005, 0.5, 1.5, 2.5, 3.5, 5],
        "ramp": [-0.5, -0.2, -0.05, 0.55, 1.65, 2.75, 3.85, 5.5],
        "plse": [-0.01, 0.25, 0.4375, 0.5625, 0.6875, 0.8125, 0.9375, 1.01],
        "stair": [-3, -1, -0.5, 0, 0.5, 1, 1.5, 2],
        "hardtan": [-1, -1, -0.5, 0.5, 1, 1, 1, 1],
        "lhtan": [-0.005, -0.002, -0.0005, 0.5, 1.0005, 1.0015, 1.0025, 1.004],
    }
    for name, values in cases.items():
        assert_close(activate_array(x.copy(), name), values, kind="activations")
    assert_close(
        activate_array(x.copy(), "selu")[[3, 0]],
        [1.0507 * 0.5, 1.0507 * 1.6732 * (np.exp(-5) - 1)],
        kind="activations",
    )


# Darknet's gradient at each kink (its output there -> its gradient): the
# side Darknet takes, which a finite difference cannot check.
AT_KINKS = {
    "relu": ([0.0], [0.0]),
    "relie": ([0.0], [0.01]),
    "ramp": ([0.0], [0.1]),
    "leaky": ([0.0], [0.1]),
    "elu": ([0.0], [1.0]),
    "selu": ([0.0], [1.0507]),
    "plse": ([0.0, 1.0], [0.125, 0.125]),  # x = -4 and 4
    "hardtan": ([-1.0, 1.0], [0.0, 0.0]),
    "lhtan": ([0.0, 1.0], [0.001, 0.001]),
    "stair": ([-2.0, -1.0, 0.0, 1.0, 7.0], [0.0] * 5),  # every whole output
}


@pytest.mark.parametrize("name", sorted(AT_KINKS))
def test_gradient_at_the_kinks_is_darknets(name):
    outputs, expected = AT_KINKS[name]
    output = np.array(outputs, np.float32)
    assert_close(reference.gradient(output, name), expected, kind="activation gradients")
    got = gradient_array(output, name, np.ones_like(output))
    assert_close(got, expected, kind="activation gradients")


@pytest.mark.parametrize("name", NAMES)
def test_gradient_is_the_derivative(rng, name):
    """Every Darknet gradient is the true derivative away from the kinks (all
    at whole numbers): the float64 derivative by central differences, against
    the reference's gradient and the C's, at points at least 1e-3 from a whole
    number. stair's too: slope 1 on [n, n+1) for odd n, flat for even n."""
    x = rng.uniform(-6, 6, 400)
    x = x[np.abs(x - np.round(x)) > 1e-3]
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
    if name == "stair":
        assert set(np.unique(got)) == {0.0, 1.0}


@pytest.mark.parametrize("name", NAMES)
def test_every_layer_option_accepts_it(name):
    text = f"[net]\ninputs=2\n[connected]\noutput=3\nactivation={name}\n"
    layer = parse_network_cfg(text).layers[0]
    assert layer.activation == name and layer.describe() == name


def test_unknown_activation_writes_nothing():
    x = np.arange(4, dtype=np.float32)
    with pytest.raises(ValueError, match="activation must be one of logistic, relu, relie"):
        activate_array(x, "swish")  # AlexeyAB's fork has it; pjreddie's does not
    with pytest.raises(TypeError, match="activation must be a str"):
        activate_array(x, 3)
    assert np.array_equal(x, np.arange(4))


def test_the_c_refuses_an_unknown_code():
    x = np.arange(4, dtype=np.float32)
    assert lib.activate_array(float_ptr(x), 4, 14) == lib.DS_ERR_ARG
    assert lib.gradient_array(float_ptr(x), 4, 99, float_ptr(x)) == lib.DS_ERR_ARG
    assert np.array_equal(x, np.arange(4))


def test_bad_arrays():
    with pytest.raises(TypeError, match="x must have dtype float32"):
        activate_array(np.zeros(3), "relu")
    delta = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="delta must have shape"):
        gradient_array(np.zeros(4, np.float32), "relu", delta)
    assert np.all(delta == 1)
