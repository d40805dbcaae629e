"""DropoutLayer (darknet_softmax.dropout) against the float64 reference."""

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import assert_close
from darknet_softmax.layers import DropoutLayer
from darknet_softmax.layers import dropout as dropout_layer


def shared(rng, batch, inputs, probability, seed=0):
    layer = DropoutLayer(batch, inputs, probability, seed=seed)
    output = rng.standard_normal((batch, inputs)).astype(np.float32)
    delta = rng.standard_normal((batch, inputs)).astype(np.float32)
    layer.share(output, delta)
    return layer, output, delta


@pytest.mark.parametrize("probability", [0.0, 0.1, 0.5, 0.9])
@pytest.mark.parametrize("batch, inputs", [(1, 1), (1, 17), (8, 64), (3, 1001)])
def test_training_pass_matches_reference(rng, probability, batch, inputs):
    layer, output, delta = shared(rng, batch, inputs, probability)
    x, upstream = output.copy(), delta.copy()
    net = ds.NetworkContext(output, delta=delta, train=True)
    layer.forward(net)
    assert np.all((layer.rand >= 0) & (layer.rand < 1))
    assert_close(
        output, dropout_layer.reference_forward(x, layer.rand, probability), kind="dropout"
    )
    layer.backward(net)
    assert_close(
        delta, dropout_layer.reference_backward(upstream, layer.rand, probability), kind="dropout"
    )
    assert layer.output is output and layer.delta is delta
    # backward gives the layer before its own output back where it was kept
    kept = layer.rand >= probability
    assert_close(output[kept], x[kept], kind="dropout")
    assert not output[~kept].any()


def test_extreme_inputs(rng):
    layer, output, delta = shared(rng, 1, 8, 0.5, seed=2)
    output[0] = [1e30, -1e30, np.inf, -np.inf, 0, 3, 3, 3]
    x = output.copy()
    layer.forward(ds.NetworkContext(output, train=True))
    with np.errstate(invalid="ignore"):
        expected = dropout_layer.reference_forward(x, layer.rand, 0.5)
    assert_close(output, expected, kind="dropout")
    assert 0 < np.sum(layer.rand < 0.5) < 8


def test_darknet_scaling_keeps_the_mean(rng):
    layer, output, _ = shared(rng, 100, 1000, 0.3, seed=7)
    output[:] = 1
    layer.forward(ds.NetworkContext(output, train=True))
    dropped = np.mean(output == 0)
    assert abs(dropped - 0.3) < 0.01
    assert np.allclose(output[output != 0], 1 / 0.7)
    assert abs(output.mean() - 1) < 0.02


def test_inactive_outside_training(rng):
    layer, output, delta = shared(rng, 4, 10, 0.5)
    x, upstream = output.copy(), delta.copy()
    net = ds.NetworkContext(output, delta=delta, train=False)
    layer.forward(net)
    layer.backward(net)
    assert np.array_equal(output, x) and np.array_equal(delta, upstream)
    assert not layer.rand.any()


def test_seed_makes_it_reproducible(rng):
    masks = []
    for seed in (3, 3, 4):
        layer, output, _ = shared(rng, 2, 50, 0.5, seed=seed)
        layer.forward(ds.NetworkContext(output, train=True))
        masks.append(layer.rand.copy())
    assert np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[0], masks[2])


def test_works_only_in_place(rng):
    layer, output, delta = shared(rng, 2, 3, 0.5)
    other = output.copy()
    with pytest.raises(ValueError, match="dropout works in place"):
        layer.forward(ds.NetworkContext(other, train=True))
    with pytest.raises(ValueError, match="dropout works in place"):
        layer.backward(ds.NetworkContext(output, delta=delta.copy(), train=True))
    assert np.array_equal(other, output)
    unshared = DropoutLayer(2, 3)
    with pytest.raises(ValueError, match="dropout works in place"):
        unshared.forward(ds.NetworkContext(output, train=True))


@pytest.mark.parametrize("probability", [1.0, -0.1, float("nan")])
def test_bad_probability(probability):
    with pytest.raises(ValueError, match="probability must be at least 0 and below 1"):
        DropoutLayer(1, 2, probability)


def test_share_checks_sizes():
    layer = DropoutLayer(2, 3)
    with pytest.raises(ValueError, match="output must hold 6 floats"):
        layer.share(np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="output and delta must be different"):
        array = np.zeros(6, np.float32)
        layer.share(array, array)
