"""ConnectedLayer (darknet_softmax.connected) against the float64 reference,
and a finite-difference check of its gradients through a softmax."""

import gc

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import assert_close, numeric_gradient, one_hot
from darknet_softmax import reference
from darknet_softmax.layers import ConnectedLayer
from darknet_softmax.layers import connected as connected_layer

SHAPES = [(1, 1, 1), (1, 17, 3), (4, 64, 10), (7, 33, 65), (32, 64, 64), (3, 1000, 5)]
ACTIVATIONS = ["linear", "logistic", "relu", "leaky", "tanh"]


def gemm_tolerance(k):
    return 1e-6 * max(1, k) ** 0.5 * 4


def make(rng, batch, inputs, outputs, activation):
    layer = ConnectedLayer(batch, inputs, outputs, activation, seed=int(rng.integers(1000)))
    layer.biases[:] = rng.standard_normal(outputs)
    x = rng.standard_normal((batch, inputs)).astype(np.float32)
    return layer, x


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("batch, inputs, outputs", SHAPES)
def test_forward_matches_reference(rng, batch, inputs, outputs, activation):
    layer, x = make(rng, batch, inputs, outputs, activation)
    layer.forward(ds.NetworkContext(x))
    expected = connected_layer.reference_forward(x, layer.weights, layer.biases, activation)
    assert_close(
        layer.output, expected, atol=gemm_tolerance(inputs), rtol=1e-5, kind="connected forward"
    )


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("batch, inputs, outputs", SHAPES)
def test_backward_matches_reference(rng, batch, inputs, outputs, activation):
    layer, x = make(rng, batch, inputs, outputs, activation)
    before = rng.standard_normal((batch, inputs)).astype(np.float32)
    net_delta = before.copy()
    net = ds.NetworkContext(x, delta=net_delta)
    layer.forward(net)
    upstream = rng.standard_normal((batch, outputs)).astype(np.float32)
    layer.delta[:] = upstream
    layer.backward(net)
    delta, bias_updates, weight_updates, input_delta = connected_layer.reference_backward(
        x, layer.weights, layer.output, upstream, activation
    )
    assert_close(layer.delta, delta, kind="connected backward")
    assert_close(
        layer.bias_updates,
        bias_updates,
        atol=gemm_tolerance(batch),
        rtol=1e-5,
        kind="connected backward",
    )
    assert_close(
        layer.weight_updates,
        weight_updates,
        atol=gemm_tolerance(batch),
        rtol=1e-5,
        kind="connected backward",
    )
    assert_close(
        net_delta,
        before + input_delta,
        atol=gemm_tolerance(outputs),
        rtol=1e-5,
        kind="connected backward",
    )


def test_first_layer_backward_leaves_no_input_delta(rng):
    layer, x = make(rng, 2, 5, 3, "linear")
    net = ds.NetworkContext(x)
    layer.forward(net)
    layer.delta[:] = 1
    layer.backward(net)
    assert_close(layer.bias_updates, np.full(3, 2.0))


def test_update_follows_darknet_with_momentum_and_decay(rng):
    layer, x = make(rng, 4, 6, 3, "linear")
    weights, biases = layer.weights.astype(np.float64), layer.biases.astype(np.float64)
    weight_updates, bias_updates = np.zeros((3, 6)), np.zeros(3)
    for _ in range(3):
        new_updates = rng.standard_normal((3, 6)).astype(np.float32)
        new_bias_updates = rng.standard_normal(3).astype(np.float32)
        layer.weight_updates[:] += new_updates
        layer.bias_updates[:] += new_bias_updates
        weight_updates = weight_updates + new_updates
        bias_updates = bias_updates + new_bias_updates
        layer.update(4, 0.1, 0.9, 0.01)
        weights, biases, weight_updates, bias_updates = reference.sgd_update(
            weights, biases, weight_updates, bias_updates, 4, 0.1, 0.9, 0.01
        )
        assert_close(layer.weights, weights, atol=1e-6, kind="connected update")
        assert_close(layer.biases, biases, atol=1e-6, kind="connected update")
        assert_close(layer.weight_updates, weight_updates, atol=1e-6, kind="connected update")
        assert_close(layer.bias_updates, bias_updates, atol=1e-6, kind="connected update")


def test_decay_alone_shrinks_weights_by_learning_rate_times_decay(rng):
    layer, _ = make(rng, 8, 5, 2, "linear")
    before = layer.weights.copy()
    layer.update(8, 0.5, 0.0, 0.1)
    assert_close(layer.weights, before * (1 - 0.5 * 0.1), kind="connected update")


@pytest.mark.parametrize("activation", ["linear", "tanh", "logistic", "leaky"])
def test_finite_difference_through_softmax(rng, activation):
    """connected -> softmax with its cross-entropy: the C weight updates,
    bias updates and input delta are the negative gradients of the float64
    loss, by central differences on the reference."""
    batch, inputs, outputs, groups = 3, 5, 6, 2
    layer, x = make(rng, batch, inputs, outputs, activation)
    truth = one_hot(rng.integers(0, 3, (batch, 2)), 3)
    softmax = ds.SoftmaxLayer(batch, outputs, groups)
    net_delta = np.zeros_like(x)
    first = ds.NetworkContext(x, truth=None, delta=None)
    layer.forward(first)
    second = ds.NetworkContext(layer.output, truth=truth, delta=layer.delta)
    softmax.forward(second)
    softmax.backward(second)
    layer.backward(ds.NetworkContext(x, delta=net_delta))

    weights, biases = layer.weights.astype(np.float64), layer.biases.astype(np.float64)

    def loss(w, b, inp):
        probs = reference.softmax(connected_layer.reference_forward(inp, w, b, activation), groups)
        return float(-(truth * np.log(probs)).sum())

    x64 = x.astype(np.float64)
    pre = x64 @ weights.T + biases
    assert np.abs(pre).min() > 1e-4 or activation != "leaky"
    assert softmax.cost == pytest.approx(loss(weights, biases, x64), rel=1e-5)
    for got, expected in (
        (layer.weight_updates, numeric_gradient(lambda w: loss(w, biases, x64), weights)),
        (layer.bias_updates, numeric_gradient(lambda b: loss(weights, b, x64), biases)),
        (net_delta, numeric_gradient(lambda i: loss(weights, biases, i), x64)),
    ):
        assert_close(got, -expected, atol=2e-6, rtol=2e-5, kind="finite-difference gradient")


def test_views_are_c_memory_and_outlive_close(rng):
    layer = ConnectedLayer(2, 3, 4, "relu", seed=1)
    weights = layer.weights
    assert weights.shape == (4, 3) and layer.biases.shape == (4,)
    assert layer.output.shape == layer.delta.shape == (2, 4)
    assert not weights.flags.owndata and weights is layer.weights
    assert not np.any(layer.biases)
    assert np.all(np.abs(weights) <= np.sqrt(2 / 3)) and weights.std() > 0
    weights[0, 0] = 7
    layer.forward(ds.NetworkContext(np.eye(2, 3, dtype=np.float32)))
    assert layer.output[0, 0] == 7
    layer.close()
    gc.collect()
    assert weights[0, 0] == 7
    with pytest.raises(ValueError, match="closed"):
        layer.forward(ds.NetworkContext(np.zeros((2, 3), np.float32)))


def test_same_seed_same_weights():
    assert np.array_equal(
        ConnectedLayer(1, 9, 4, seed=5).weights, ConnectedLayer(1, 9, 4, seed=5).weights
    )


def test_bad_arguments(rng):
    with pytest.raises(ValueError, match="activation must be one of"):
        ConnectedLayer(1, 2, 3, "swish")
    with pytest.raises(ValueError, match="outputs must be at least 1"):
        ConnectedLayer(1, 2, 0)
    layer = ConnectedLayer(2, 3, 4)
    with pytest.raises(ValueError, match="net.input must hold 6 floats"):
        layer.forward(ds.NetworkContext(np.zeros((2, 4), np.float32)))
    with pytest.raises(TypeError, match="net must be a NetworkContext"):
        layer.forward(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="learning_rate must be finite"):
        layer.update(2, float("nan"), 0.9, 0.0)
    net_delta = np.zeros((2, 5), np.float32)
    with pytest.raises(ValueError, match="net.delta must hold 6 floats"):
        layer.backward(ds.NetworkContext(np.zeros((2, 3), np.float32), delta=net_delta))
    assert not layer.output.any() and not layer.weight_updates.any() and not net_delta.any()
