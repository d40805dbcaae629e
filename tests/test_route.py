"""RouteLayer (darknet_softmax.layers.route) against its float64 reference, a
finite-difference check through a network with a route, refused options, and
a cfg round trip."""

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import assert_close, checked_call, numeric_gradient
from darknet_softmax.layers import RouteLayer
from darknet_softmax.layers import connected as connected_layer
from darknet_softmax.layers import route as route_layer


def sources(rng, batch, sizes):
    outputs = [rng.standard_normal((batch, size)).astype(np.float32) for size in sizes]
    deltas = [rng.standard_normal((batch, size)).astype(np.float32) for size in sizes]
    return outputs, deltas


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("sizes", [(1,), (7,), (3, 5), (1, 17, 9), (8, 1, 33)])
def test_forward_and_backward_match_reference(rng, batch, sizes):
    outputs, deltas = sources(rng, batch, sizes)
    outputs[0].flat[0] = np.nan
    outputs[-1].flat[-1] = -np.inf
    outputs[-1].flat[0] = 1e30
    before = [delta.copy() for delta in deltas]
    layer = RouteLayer(batch, outputs, deltas, layers=range(len(sizes)))
    assert layer.output.shape == (batch, sum(sizes)) and layer.sizes == list(sizes)
    layer.forward(ds.NetworkContext(np.zeros(1, np.float32)))
    assert_close(layer.output, route_layer.reference_forward(outputs), kind="route")
    layer.delta[:] = rng.standard_normal(layer.delta.shape)
    layer.backward(ds.NetworkContext(np.zeros(1, np.float32)))
    for delta, old, part in zip(deltas, before, route_layer.reference_backward(layer.delta, sizes)):
        assert_close(delta, old + part, kind="route")


def test_the_same_layer_twice_gets_both_slices(rng):
    (output,), (delta,) = sources(rng, 2, (4,))
    layer = RouteLayer(2, [output, output], [delta, delta])
    layer.forward(ds.NetworkContext(output))
    assert_close(layer.output, np.concatenate([output, output], axis=1), kind="route")
    before = delta.copy()
    layer.delta[:] = rng.standard_normal((2, 8))
    layer.backward(ds.NetworkContext(output))
    assert_close(delta, before + layer.delta[:, :4] + layer.delta[:, 4:], kind="route")


def test_a_source_without_delta_is_skipped(rng):
    outputs, deltas = sources(rng, 2, (3, 2))
    before = deltas[1].copy()
    layer = RouteLayer(2, outputs, [None, deltas[1]])
    layer.delta[:] = 1
    layer.backward(ds.NetworkContext(outputs[0]))
    assert_close(deltas[1], before + 1, kind="route")


def network(exact=False):
    """Two connected layers, a route of the two (relative and absolute
    indices), a connected layer over it and a route of three."""
    net = ds.Network(inputs=5, batch=3, seed=4, exact=exact)
    net.add_connected(4, "tanh")
    net.add_connected(3, "logistic")
    net.add_route((-1, 0))
    net.add_connected(2, "linear")
    net.add_route([1, -1, -4])
    return net


def test_network_predicts_as_its_reference(rng):
    net = network()
    x = rng.standard_normal((3, 5)).astype(np.float32)
    assert [layer.describe() for layer in net.layers][2::2] == ["1 0", "1 3 0"]
    assert net.layers[4].outputs == 3 + 2 + 4
    assert_close(net.predict(x), net.reference_predict(x), kind="route network")


def test_finite_difference_through_a_route(rng):
    """The first layer's weights reach the loss through the second layer and
    straight through both routes: backward must add both paths."""
    net = network()
    first, second, _, third, _ = net.layers
    x = rng.standard_normal((3, 5)).astype(np.float32)
    weights = rng.standard_normal((3, 9))

    def loss(w0):
        a = connected_layer.reference_forward(x, w0, first.biases, "tanh")
        b = connected_layer.reference_forward(a, second.weights, second.biases, "logistic")
        c = connected_layer.reference_forward(
            np.concatenate([b, a], axis=1), third.weights, third.biases, "linear"
        )
        return float(np.sum(weights * np.concatenate([b, c, a], axis=1)))

    net.forward(x, train=True)
    net.layers[-1].delta[:] = -weights  # delta is the negative gradient
    net.backward()
    expected = numeric_gradient(loss, first.weights.astype(np.float64))
    assert_close(-first.weight_updates, expected, atol=1e-5, rtol=1e-4, kind="route gradient")


CFG = """[net]
batch=2
inputs=6
[connected]
output=4
activation=leaky
[connected]
output=3
activation=tanh
[route]
layers = -1, 0
[connected]
output=4
activation=logistic
[shortcut]
from=-3
activation=leaky
[softmax]
"""


def test_cfg_with_a_route_and_a_shortcut(rng, tmp_path):
    net = ds.Network.from_cfg(CFG, seed=3)
    assert [layer.kind for layer in net.layers] == [
        "connected", "connected", "route", "connected", "shortcut", "softmax",
    ]  # fmt: skip
    assert net.layers[2].layers == (1, 0) and net.layers[4].index == 1
    x = rng.standard_normal((2, 6)).astype(np.float32)
    assert_close(net.predict(x), net.reference_predict(x), kind="route network")
    summary = net.summary()
    assert "route         1 0" in summary and "shortcut      from 1 leaky" in summary
    truth = np.eye(2, 4, dtype=np.float32)
    assert np.isfinite(net.train_batch(x, truth))
    net.save_weights(tmp_path / "n.weights")
    again = ds.Network.from_cfg(CFG, seed=9)
    again.load_weights(tmp_path / "n.weights")
    assert_close(again.predict(x), net.predict(x), kind="route network")
    again.set_batch(1)  # a rebuild finds its sources among the new layers
    assert_close(again.predict(x), net.predict(x), kind="route network")


@pytest.mark.parametrize(
    "layers, words",
    [
        ("5", "layers: 5 is not a layer before this one \\(layer 2\\)"),
        ("2", "layers: 2 is not a layer before this one"),
        ("-1,-3", "layers: -3 is not a layer before this one"),
        ("-1,x", "layers=-1,x: expected a comma-separated list of layer indices"),
        ("", "expected key=value"),
    ],
)
def test_bad_layers_name_the_option(layers, words):
    text = (
        f"[net]\ninputs=3\n[connected]\noutput=2\n[connected]\noutput=2\n[route]\nlayers={layers}\n"
    )
    with pytest.raises(ValueError, match=words):
        ds.Network.from_cfg(text)


def test_route_needs_layers_and_a_layer_before():
    with pytest.raises(ValueError, match="line 3: \\[route\\]: layers is required"):
        ds.Network.from_cfg("[net]\ninputs=3\n[route]\n")
    with pytest.raises(ValueError, match="it may name none"):
        ds.Network(inputs=3).add_route(-1)
    with pytest.raises(TypeError, match="layers must hold integers"):
        ds.Network(inputs=3).add_route(1.5)


def test_sources_must_share_width_and_height():
    net = ds.Network(height=4, width=4, channels=4)
    net.add_crop(4, 4, noadjust=True)
    net.add_reorg(2)
    with pytest.raises(ValueError, match="layers: layer 1 outputs 2 x 2 but layer 0 outputs 4 x 4"):
        net.add_route((0, 1))
    assert len(net.layers) == 2
    net.add_route((1, -1))
    assert net._shapes[-1] == (2, 2, 32)


def test_bad_arguments(rng):
    outputs, deltas = sources(rng, 2, (3, 4))
    with pytest.raises(ValueError, match="outputs must hold at least one array"):
        RouteLayer(2, [])
    with pytest.raises(ValueError, match="outputs\\[1\\] must hold batch \\(3\\) items"):
        checked_call(RouteLayer, 3, outputs)
    with pytest.raises(ValueError, match="deltas\\[0\\] must have the shape of outputs\\[0\\]"):
        checked_call(RouteLayer, 2, outputs, [deltas[1], deltas[0]])
    with pytest.raises(ValueError, match="deltas\\[1\\] and outputs\\[0\\] must be different"):
        checked_call(RouteLayer, 2, [outputs[0], outputs[0]], [deltas[0], outputs[0]])
    with pytest.raises(TypeError, match="outputs\\[0\\] must have dtype float32"):
        RouteLayer(2, [outputs[0].astype(np.float64)])
    with pytest.raises(ValueError, match="layers must hold 2 indices"):
        RouteLayer(2, outputs, layers=[0])
    layer = RouteLayer(2, outputs, deltas)
    with pytest.raises(TypeError, match="net must be a NetworkContext"):
        layer.forward(outputs[0])
    with pytest.raises(ValueError, match="built without layers"):
        layer.reference(outputs[0], outputs)
    assert not layer.output.any()
    layer.close()
    assert repr(layer) == "RouteLayer(closed)"
