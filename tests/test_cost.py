"""CostLayer and the l2, l1, smooth_l1 kernels (darknet_softmax.cost) against
the float64 reference, and finite-difference checks through a cost layer."""

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import assert_close, numeric_gradient, one_hot
from darknet_softmax import reference
from darknet_softmax.layers import ConnectedLayer
from darknet_softmax.layers import connected as connected_layer
from darknet_softmax.layers import cost as cost_layer
from darknet_softmax.layers.cost import COST_TYPES, CostLayer, l1, l2, smooth_l1

KERNELS = [(l2, reference.l2), (l1, reference.l1), (smooth_l1, reference.smooth_l1)]
SHAPES = [(1,), (7,), (3, 17), (64, 10), (2, 4099)]


@pytest.mark.parametrize("kernel, reference", KERNELS)
@pytest.mark.parametrize("shape", SHAPES)
def test_kernels_match_reference(rng, kernel, reference, shape):
    pred = (rng.standard_normal(shape) * 2).astype(np.float32)
    truth = (rng.standard_normal(shape) * 2).astype(np.float32)
    delta, error = kernel(pred, truth)
    expected_delta, expected_error = reference(pred, truth)
    assert_close(delta, expected_delta, kind="cost delta")
    assert_close(error, expected_error, kind="cost error")


@pytest.mark.parametrize("kernel, reference", KERNELS)
def test_kernels_on_extreme_inputs(kernel, reference):
    pred = np.array([1e30, -1e30, 0, 2, 2, -np.inf, 0.5], np.float32)
    truth = np.array([0, 0, 1e30, 2, 3, 0, 0.5], np.float32)
    with np.errstate(over="ignore"):
        expected_delta, expected_error = reference(pred, truth)
        delta, error = kernel(pred, truth)
    assert_close(delta, expected_delta, kind="cost delta")
    # float32 squares of 1e30 overflow to inf, as the float64 value is out of range
    assert_close(
        error, np.where(expected_error > 3.4e38, np.inf, expected_error), kind="cost error"
    )


def test_darknet_conventions():
    pred = np.array([0.0, 0.0, 0.0, 0.0, 2.0], np.float32)
    truth = np.array([0.5, -0.5, 3.0, -3.0, 2.0], np.float32)
    assert np.array_equal(l2(pred, truth)[0], truth - pred)
    assert np.array_equal(l1(pred, truth)[0], [1, -1, 1, -1, -1])  # Darknet's -1 at diff 0
    delta, error = smooth_l1(pred, truth)
    assert np.array_equal(delta, [0.5, -0.5, 1, -1, 0])  # the sign fixed: toward the truth
    assert np.array_equal(error, [0.25, 0.25, 5, 5, 0])


@pytest.mark.parametrize("cost_type", ["sse", "smooth", "L1"])
def test_delta_is_the_negative_gradient(rng, cost_type):
    """sse and smooth: delta = -d(error/2)/dpred; L1: delta = -d(error)/dpred."""
    pred = rng.uniform(-3, 3, 300)
    truth = rng.uniform(-3, 3, 300)
    keep = np.abs(np.abs(truth - pred) - 1) > 1e-3
    pred, truth = pred[keep], truth[keep]
    half = 0.5 if cost_type != "L1" else 1.0

    def total(p):
        return half * cost_layer.reference_forward(p, truth, cost_type)[2]

    numeric = numeric_gradient(total, pred)
    layer = CostLayer(1, pred.size, cost_type)
    layer.forward(ds.NetworkContext(pred.astype(np.float32)[None], truth.astype(np.float32)[None]))
    expected = -numeric
    assert_close(
        cost_layer.reference_forward(pred, truth, cost_type)[1],
        expected,
        atol=1e-6,
        kind="finite-difference gradient",
    )
    assert_close(layer.delta[0], expected, atol=2e-6, rtol=1e-5, kind="finite-difference gradient")


@pytest.mark.parametrize("cost_type", list(COST_TYPES))
@pytest.mark.parametrize("batch, inputs", [(1, 1), (3, 10), (32, 17)])
def test_layer_matches_reference(rng, cost_type, batch, inputs):
    x = rng.standard_normal((batch, inputs)).astype(np.float32)
    truth = rng.standard_normal((batch, inputs)).astype(np.float32)
    if cost_type == "masked":
        truth[rng.random((batch, inputs)) < 0.3] = ds.SECRET_NUM
    before = rng.standard_normal((batch, inputs)).astype(np.float32)
    net_delta = before.copy()
    layer = CostLayer(batch, inputs, cost_type, scale=0.25)
    net = ds.NetworkContext(x, truth, net_delta)
    layer.forward(net)
    layer.backward(net)
    output, delta, cost = cost_layer.reference_forward(x, truth, cost_type)
    assert_close(layer.output, output, kind="cost error")
    assert_close(layer.delta, delta, kind="cost delta")
    assert layer.cost == pytest.approx(cost, rel=1e-5)
    assert_close(net_delta, before + 0.25 * delta, kind="cost delta")
    assert np.array_equal(x, net.input)  # masked leaves the input alone


def test_no_truth_no_cost(rng):
    layer = CostLayer(2, 3)
    layer.forward(ds.NetworkContext(np.ones((2, 3), np.float32)))
    assert layer.cost == 0 and not layer.delta.any()


def test_finite_difference_through_connected_and_cost(rng):
    """connected (logistic) -> cost (sse, scale 2): the C weight updates are
    -scale * d(cost/2)/dW by central differences on the float64 reference."""
    batch, inputs, outputs, scale = 4, 6, 3, 2.0
    connected = ConnectedLayer(batch, inputs, outputs, "logistic", seed=3)
    connected.biases[:] = rng.standard_normal(outputs)
    cost = CostLayer(batch, outputs, "sse", scale)
    x = rng.standard_normal((batch, inputs)).astype(np.float32)
    truth = rng.random((batch, outputs)).astype(np.float32)
    first = ds.NetworkContext(x)
    connected.forward(first)
    second = ds.NetworkContext(connected.output, truth, connected.delta)
    cost.forward(second)
    cost.backward(second)
    connected.backward(first)
    weights, biases = connected.weights.astype(np.float64), connected.biases.astype(np.float64)

    def loss(w):
        out = connected_layer.reference_forward(x, w, biases, "logistic")
        return scale * 0.5 * cost_layer.reference_forward(out, truth)[2]

    assert_close(
        connected.weight_updates,
        -numeric_gradient(loss, weights),
        atol=1e-6,
        rtol=1e-5,
        kind="finite-difference gradient",
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="type must be one of sse, masked, L1, smooth"):
        CostLayer(1, 2, "wgan")
    with pytest.raises(ValueError, match="scale must be finite"):
        CostLayer(1, 2, "sse", float("inf"))
    with pytest.raises(TypeError, match="scale must be a number"):
        CostLayer(1, 2, "sse", "1")
    layer = CostLayer(2, 3)
    with pytest.raises(ValueError, match="net.truth must hold 6 floats"):
        layer.forward(ds.NetworkContext(np.zeros((2, 3), np.float32), np.zeros(5, np.float32)))
    delta = np.zeros(3, np.float32)
    error = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="error must have shape"):
        l2(np.zeros(3, np.float32), np.ones(3, np.float32), delta, error)
    assert not delta.any() and layer.cost == 0


@pytest.mark.parametrize("exact", [False, True])
def test_a_cost_after_a_softmax_adds_its_gradient_again_only_in_darknets_way(rng, exact):
    """Darknet's softmax computes its own loss, and a [cost] after it adds a
    second gradient into the softmax's delta; under exact the cost only
    reports, and the softmax's delta is the cross-entropy's alone."""
    text = "[net]\nbatch=2\ninputs=3\n[connected]\noutput=4\n[softmax]\n[cost]\n"
    net = ds.Network.from_cfg(text.replace("[net]\n", f"[net]\nexact={int(exact)}\n"))
    x = rng.standard_normal((2, 3)).astype(np.float32)
    truth = one_hot([1, 3], 4)
    net.forward(x, truth, train=True)
    net.backward()
    softmax, cost = net.layers[1], net.layers[2]
    expected = truth - softmax.output.astype(np.float64)
    if not exact:
        expected = 2 * expected  # the softmax's delta, plus the sse's
    assert_close(softmax.delta, expected, kind="cost delta")
    assert cost.reports_only == exact and ("reports only" in cost.describe()) == exact
    assert cost.cost > 0 and net.cost > 0
