"""ConnectedLayer (darknet_softmax.connected) against the float64 reference,
and a finite-difference check of its gradients through a softmax."""

import gc

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import assert_close, check_layer_gradients, numeric_gradient, one_hot
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
    for got, expected, summed in (
        (layer.bias_updates, bias_updates, batch),
        (layer.weight_updates, weight_updates, batch),
        (net_delta, before + input_delta, outputs),
    ):
        atol = gemm_tolerance(summed)
        assert_close(got, expected, atol=atol, rtol=1e-5, kind="connected backward")


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


# --- batch_normalize=1: Darknet's batch normalisation over the batch ---

from darknet_softmax import batchnorm  # noqa: E402


def make_normalised(rng, batch, inputs, outputs, activation, exact=False):
    layer = ConnectedLayer(
        batch, inputs, outputs, activation, seed=int(rng.integers(1000)),
        batch_normalize=True, exact=exact,
    )  # fmt: skip
    layer.biases[:] = rng.standard_normal(outputs)
    layer.scales[:] = rng.uniform(0.5, 1.5, outputs)
    layer.rolling_mean[:] = rng.standard_normal(outputs) * 0.1
    layer.rolling_variance[:] = rng.uniform(0.5, 2, outputs)
    return layer, rng.standard_normal((batch, inputs)).astype(np.float32)


@pytest.mark.parametrize("exact", [False, True], ids=["darknet", "exact"])
@pytest.mark.parametrize("train", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("batch, inputs, outputs", [(2, 1, 1), (3, 17, 5), (7, 33, 9)])
def test_batch_normalize_forward_and_backward(rng, batch, inputs, outputs, train, exact):
    layer, x = make_normalised(rng, batch, inputs, outputs, "logistic", exact)
    layer.forward(ds.NetworkContext(x, train=True))  # leaves x_norm, as Darknet reads it
    rolling = layer.rolling_mean.copy(), layer.rolling_variance.copy()
    before = rng.standard_normal(x.shape).astype(np.float32)
    net_delta = before.copy()
    net = ds.NetworkContext(x, delta=net_delta, train=train)
    layer.forward(net)
    sums = (x.astype(np.float64) @ layer.weights.T.astype(np.float64))[:, :, None]
    out, x_norm, mean, variance, rolling_mean, rolling_variance = batchnorm.forward(
        sums, layer.scales, layer.biases, *rolling, train
    )
    expected = reference.activate(out[:, :, 0], "logistic")
    atol = 2e-5
    assert_close(layer.output, expected, atol=atol, rtol=1e-4, kind="connected batchnorm")
    assert_close(layer.rolling_mean, rolling_mean, atol=atol, kind="connected batchnorm")
    assert_close(layer.rolling_variance, rolling_variance, atol=atol, kind="connected batchnorm")
    if not train:
        assert_close(layer.output, layer.reference(x, []), atol=atol, kind="connected batchnorm")
    stale = layer.x_norm.copy()[:, :, None]
    upstream = rng.standard_normal(layer.output.shape).astype(np.float32)
    layer.delta[:] = upstream
    layer.backward(net)
    delta = reference.f64(upstream) * reference.gradient(layer.output, "logistic")
    if exact:
        bias_updates, scale_updates, delta = batchnorm.backward_exact(
            delta[:, :, None], sums, layer.scales, mean, variance, train
        )
    else:
        bias_updates, scale_updates, delta = batchnorm.backward_darknet(
            delta[:, :, None], sums, stale, layer.scales, mean, variance
        )
    delta = delta[:, :, 0]
    kind = "connected batchnorm"
    assert_close(layer.bias_updates, bias_updates, atol=atol, rtol=1e-4, kind=kind)
    assert_close(layer.scale_updates, scale_updates, atol=atol, rtol=1e-4, kind=kind)
    assert_close(layer.delta, delta, atol=atol * 10, rtol=1e-3, kind=kind)
    assert_close(layer.weight_updates, delta.T @ x, atol=atol * 10, rtol=1e-3, kind=kind)
    assert_close(net_delta, before + delta @ layer.weights, atol=atol * 10, rtol=1e-3, kind=kind)


@pytest.mark.parametrize("train", [False, True], ids=["inference", "training"])
def test_batch_normalize_exact_finite_differences(rng, train):
    batch, inputs, outputs = 4, 5, 3
    layer, x = make_normalised(rng, batch, inputs, outputs, "tanh", exact=True)
    rolling = layer.rolling_mean.copy(), layer.rolling_variance.copy()
    g = rng.standard_normal((batch, outputs))
    weights, biases = layer.weights.astype(np.float64), layer.biases.astype(np.float64)
    scales = layer.scales.astype(np.float64)

    def loss(inp, w, b, s):
        sums = (inp @ w.T)[:, :, None]
        out = batchnorm.forward(sums, s, b, *rolling, train)[0][:, :, 0]
        return float((g * np.tanh(out)).sum())

    check_layer_gradients(layer, x, g, loss, (weights, biases, scales), train)


def test_batch_normalize_update_moves_the_scales(rng):
    layer, _ = make_normalised(rng, 2, 3, 4, "linear")
    scales = layer.scales.astype(np.float64)
    layer.scale_updates[:] = [1, -2, 3, 0.5]
    layer.update(2, 0.1, 0.9, 0.0)
    assert_close(layer.scales, scales + 0.05 * np.array([1, -2, 3, 0.5]), atol=1e-6)
    assert_close(layer.scale_updates, 0.9 * np.array([1, -2, 3, 0.5]), atol=1e-6)


def test_batch_normalize_layout_and_state():
    plain, normalised = ConnectedLayer(1, 2, 3), ConnectedLayer(1, 2, 3, batch_normalize=True)
    assert plain.weights_layout == ("biases", "weights")
    assert normalised.weights_layout == (
        "biases", "weights", "scales", "rolling_mean", "rolling_variance",
    )  # fmt: skip
    assert "rolling_variance" in normalised.state and "scales" not in plain.state
    assert (normalised.scales == 1).all()
    with pytest.raises(AttributeError, match="batch_normalize is off"):
        _ = plain.scales
    net = ds.Network.from_cfg("[net]\ninputs=4\n[connected]\noutput=2\nbatch_normalize=1\n")
    assert net.layers[0].batch_normalize
