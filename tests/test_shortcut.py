"""ShortcutLayer (darknet_softmax.layers.shortcut) against its float64
reference over equal and differing shapes, finite-difference checks of both
deltas, Darknet's alpha on net.delta and its fix, and refused options."""

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import assert_close, checked_call, numeric_gradient
from darknet_softmax.layers import ShortcutLayer
from darknet_softmax.layers import shortcut as shortcut_layer

# (the previous layer's (h, w, c), the from layer's): equal, the from layer
# larger or smaller by a whole ratio, by a ratio with a remainder (7/3 = 2),
# and in the channels only, both ways.
SHAPES = [
    ((3, 5, 2), (3, 5, 2)),
    ((2, 3, 2), (4, 6, 3)),
    ((4, 6, 3), (2, 3, 4)),
    ((7, 7, 3), (3, 3, 1)),
    ((3, 3, 2), (7, 7, 5)),
    ((2, 2, 3), (5, 5, 3)),
    ((1, 1, 5), (1, 1, 3)),
    ((1, 1, 3), (1, 1, 5)),
    ((1, 1, 1), (1, 1, 1)),
]


def make(rng, batch, shape, from_shape, activation="linear", alpha=1.0, beta=1.0, exact=False):
    from_output = rng.standard_normal((batch, int(np.prod(from_shape)))).astype(np.float32)
    from_delta = rng.standard_normal(from_output.shape).astype(np.float32)
    layer = ShortcutLayer(
        batch, shape, from_shape, from_output, from_delta, activation, alpha, beta, exact
    )
    x = rng.standard_normal((batch, int(np.prod(shape)))).astype(np.float32)
    return layer, x, from_output, from_delta


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("shape, from_shape", SHAPES)
@pytest.mark.parametrize(
    "activation, alpha, beta", [("linear", 1.0, 1.0), ("leaky", 0.5, -2.0), ("logistic", 1.0, 0.3)]
)
def test_forward_and_backward_match_reference(
    rng, batch, shape, from_shape, activation, alpha, beta
):
    layer, x, from_output, from_delta = make(rng, batch, shape, from_shape, activation, alpha, beta)
    layer.forward(ds.NetworkContext(x))
    expected = shortcut_layer.reference_forward(
        x, from_output, shape, from_shape, alpha, beta, activation
    )
    assert_close(layer.output, expected, kind="shortcut")
    delta = rng.standard_normal(layer.delta.shape).astype(np.float32)
    layer.delta[:] = delta
    net_delta = rng.standard_normal(x.shape).astype(np.float32)
    net_before, from_before = net_delta.copy(), from_delta.copy()
    layer.backward(ds.NetworkContext(x, delta=net_delta))
    input_part, from_part = shortcut_layer.reference_backward(
        delta, layer.output, shape, from_shape, alpha, beta, activation
    )
    assert_close(net_delta, net_before + input_part, kind="shortcut")
    assert_close(from_delta, from_before + from_part, kind="shortcut")


def test_darknet_sampling_by_hand():
    """From 4 x 4 onto 2 x 2: the from layer is read at every second row and
    column; channels past the smaller count keep the input, unscaled."""
    from_output = np.arange(16, dtype=np.float32).reshape(1, 16)
    layer = ShortcutLayer(1, (2, 2, 2), (4, 4, 1), from_output, alpha=10.0)
    x = np.ones((1, 8), np.float32)
    layer.forward(ds.NetworkContext(x))
    assert layer.output.tolist() == [[10, 12, 18, 20, 1, 1, 1, 1]]


@pytest.mark.parametrize("batch", [1, 3])
def test_extreme_values_pass_through(rng, batch):
    layer, x, from_output, _ = make(rng, batch, (1, 2, 3), (1, 2, 3), alpha=1.0, beta=0.0)
    x[:, :4] = [np.nan, np.inf, -np.inf, 1e30]
    from_output[:, 4] = np.inf  # 0 * inf is NaN, in Darknet too
    layer.forward(ds.NetworkContext(x))
    with np.errstate(invalid="ignore"):
        expected = shortcut_layer.reference_forward(
            x, from_output, (1, 2, 3), (1, 2, 3), 1, 0, "linear"
        )
    assert_close(layer.output, expected, kind="shortcut")
    assert np.isnan(layer.output[:, 0]).all() and np.isnan(layer.output[:, 4]).all()
    assert (layer.output[:, 1] == np.inf).all() and (layer.output[:, 3] == 1e30).all()


@pytest.mark.parametrize("shape, from_shape", SHAPES)
@pytest.mark.parametrize("activation", ["tanh", "logistic"])
def test_finite_difference_exact(rng, shape, from_shape, activation):
    """Both deltas against central differences of sum(weights * output),
    with the fix (exact) on: the true gradient for every shape and alpha."""
    layer, x, from_output, from_delta = make(rng, 2, shape, from_shape, activation, 0.7, 1.3, True)
    weights = rng.standard_normal(layer.output.shape)
    layer.forward(ds.NetworkContext(x))
    layer.delta[:] = -weights
    net_delta = np.zeros_like(x)
    from_delta[:] = 0
    layer.backward(ds.NetworkContext(x, delta=net_delta))

    def loss(input, add):
        out = shortcut_layer.reference_forward(input, add, shape, from_shape, 0.7, 1.3, activation)
        return float(np.sum(weights * out))

    expected_input = numeric_gradient(lambda v: loss(v, from_output), x)
    expected_from = numeric_gradient(lambda v: loss(x, v), from_output)
    assert_close(-net_delta, expected_input, atol=1e-5, rtol=1e-4, kind="shortcut gradient")
    assert_close(-from_delta, expected_from, atol=1e-5, rtol=1e-4, kind="shortcut gradient")


def test_darknet_scales_all_of_net_delta_by_alpha(rng):
    """Where forward left the input unscaled (channels the from layer lacks),
    Darknet still passes alpha*delta back; exact passes delta."""
    shape, from_shape = (1, 1, 5), (1, 1, 3)
    deltas = {}
    for exact in (False, True):
        layer, x, _, _ = make(
            np.random.default_rng(0), 1, shape, from_shape, alpha=0.5, exact=exact
        )
        layer.forward(ds.NetworkContext(x))
        layer.delta[:] = 1
        net_delta = np.zeros_like(x)
        layer.backward(ds.NetworkContext(x, delta=net_delta))
        deltas[exact] = net_delta
    assert deltas[False].tolist() == [[0.5] * 5]
    assert deltas[True].tolist() == [[0.5, 0.5, 0.5, 1, 1]]


def test_from_the_layer_before_gets_both_shares(rng):
    """from=-1: net.delta and from_delta are the same array; it gets alpha + beta."""
    x = rng.standard_normal((2, 4)).astype(np.float32)
    delta = np.zeros_like(x)
    layer = ShortcutLayer(2, (1, 1, 4), (1, 1, 4), x, delta, alpha=2.0, beta=3.0)
    layer.forward(ds.NetworkContext(x))
    assert_close(layer.output, 5 * x.astype(np.float64), kind="shortcut")
    layer.delta[:] = 1
    layer.backward(ds.NetworkContext(x, delta=delta))
    assert (delta == 5).all()


def test_network_with_a_shortcut_between_different_sizes(rng):
    """A shortcut of connected layers of 5 and 3 outputs, both ways round,
    and the gradient of the first layer's weights through both paths."""
    net = ds.Network(inputs=4, batch=2, seed=1, exact=True)
    net.add_connected(5, "tanh")
    net.add_connected(3, "logistic")
    net.add_shortcut(-2, "tanh", 0.5, 2.0)
    net.add_connected(5, "linear")
    net.add(kind="shortcut", **{"from": 2, "alpha": -1.5})
    first, second, _, fourth, _ = net.layers
    assert net.layers[4].describe() == "from 2 -1.5a 1b"
    x = rng.standard_normal((2, 4)).astype(np.float32)
    assert_close(net.predict(x), net.reference_predict(x), kind="shortcut network")
    weights = rng.standard_normal((2, 5))

    def loss(w0):
        from darknet_softmax.layers.connected import reference_forward as connected

        a = connected(x, w0, first.biases, "tanh")
        b = connected(a, second.weights, second.biases, "logistic")
        s = shortcut_layer.reference_forward(b, a, (1, 1, 3), (1, 1, 5), 0.5, 2.0, "tanh")
        d = connected(s, fourth.weights, fourth.biases, "linear")
        out = shortcut_layer.reference_forward(d, s, (1, 1, 5), (1, 1, 3), -1.5, 1.0, "linear")
        return float(np.sum(weights * out))

    net.forward(x, train=True)
    net.layers[-1].delta[:] = -weights
    net.backward()
    expected = numeric_gradient(loss, first.weights.astype(np.float64))
    assert_close(-first.weight_updates, expected, atol=1e-5, rtol=1e-4, kind="shortcut gradient")


@pytest.mark.parametrize(
    "source, words",
    [
        ("from=3", "from: 3 is not a layer before this one \\(layer 2\\)"),
        ("from=-3", "from: -3 is not a layer before this one"),
        ("from=2", "from: 2 is not a layer before this one"),
        ("from=a", "from=a: expected a layer index"),
        ("", "from is required"),
        ("from=-1\nalpha=x", "alpha=x: expected a number"),
        ("from=-1\nactivation=swish", "activation=swish: expected one of"),
    ],
)
def test_bad_options_name_the_option(source, words):
    text = f"[net]\ninputs=3\n[connected]\noutput=2\n[connected]\noutput=2\n[shortcut]\n{source}\n"
    with pytest.raises(ValueError, match=words):
        ds.Network.from_cfg(text)


def test_shapes_that_scale_differently_are_refused():
    net = ds.Network(height=4, width=4, channels=4)
    net.add_crop(4, 4)
    net.add_crop(2, 4)
    with pytest.raises(
        ValueError, match="from: the layer's 4 x 4 output and the previous layer's 4 x 2"
    ):
        net.add_shortcut(0)
    assert len(net.layers) == 2


def test_bad_arguments(rng):
    from_output = rng.standard_normal((2, 6)).astype(np.float32)
    with pytest.raises(ValueError, match="from_output must hold 24 floats"):
        ShortcutLayer(2, (1, 1, 6), (1, 1, 12), from_output)
    with pytest.raises(ValueError, match="from_delta and from_output|from_output and from_delta"):
        checked_call(ShortcutLayer, 2, (1, 1, 6), (1, 1, 6), from_output, from_output)
    with pytest.raises(ValueError, match="must scale alike"):
        ShortcutLayer(1, (2, 4, 1), (4, 4, 1), np.zeros(16, np.float32))
    with pytest.raises(ValueError, match="alpha must be finite"):
        ShortcutLayer(2, (1, 1, 6), (1, 1, 6), from_output, alpha=np.inf)
    with pytest.raises(ValueError, match="activation must be one of"):
        ShortcutLayer(2, (1, 1, 6), (1, 1, 6), from_output, activation="swish")
    with pytest.raises(TypeError, match="shape must be a \\(height, width, channels\\)"):
        ShortcutLayer(2, (6,), (1, 1, 6), from_output)
    layer = ShortcutLayer(2, (1, 1, 6), (1, 1, 6), from_output)
    with pytest.raises(ValueError, match="net.input must hold 12 floats"):
        layer.forward(ds.NetworkContext(np.zeros((2, 5), np.float32)))
    net_delta = np.zeros((2, 5), np.float32)
    with pytest.raises(ValueError, match="net.delta must hold 12 floats"):
        layer.backward(ds.NetworkContext(np.zeros((2, 6), np.float32), delta=net_delta))
    with pytest.raises(ValueError, match="net.delta and layer.delta must be different"):
        layer.backward(ds.NetworkContext(np.zeros((2, 6), np.float32), delta=layer.delta))
    assert not layer.output.any() and not net_delta.any()
    with pytest.raises(ValueError, match="built without index"):
        layer.reference(from_output, [])
    layer.close()
    assert repr(layer) == "ShortcutLayer(closed)"
