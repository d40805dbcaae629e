"""AvgpoolLayer (darknet_softmax.layers.avgpool) against the float64
reference: the mean over the positions of each channel, and delta/(h*w)
back to every position."""

import gc

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import IMAGE_SHAPES, assert_close, bad_call, checked_call, numeric_gradient
from darknet_softmax.layers import AvgpoolLayer
from darknet_softmax.layers import avgpool as avgpool_layer

# (batch, h, w, c): the shared sweep, a 7 x 7 x 1000 head as darknet19's,
# and a long channel.
SHAPES = [*IMAGE_SHAPES, (1, 1, 1, 5), (1, 13, 13, 7), (3, 7, 7, 1000), (1, 300, 301, 1)]


def run(rng, batch, h, w, c, x=None):
    layer = AvgpoolLayer(batch, (h, w, c))
    if x is None:
        x = rng.standard_normal((batch, h * w * c)).astype(np.float32)
    layer.forward(ds.NetworkContext(x))
    return layer, x


@pytest.mark.parametrize("batch, h, w, c", SHAPES)
def test_forward_matches_reference(rng, batch, h, w, c):
    layer, x = run(rng, batch, h, w, c)
    expected = avgpool_layer.reference_forward(x, (h, w, c))
    assert layer.output.shape == expected.shape == (batch, c)
    assert_close(layer.output, expected, kind="avgpool")


@pytest.mark.parametrize("batch, h, w, c", SHAPES)
def test_backward_matches_reference_and_adds(rng, batch, h, w, c):
    layer, x = run(rng, batch, h, w, c)
    layer.delta[:] = rng.standard_normal((batch, c))
    before = rng.standard_normal(x.shape).astype(np.float32)
    net_delta = before.copy()
    layer.backward(ds.NetworkContext(x, delta=net_delta))
    added = avgpool_layer.reference_backward(layer.delta, (h, w, c))
    assert_close(net_delta, before + added, kind="avgpool backward")


@pytest.mark.parametrize("batch, h, w, c", [(1, 1, 1, 1), (2, 3, 5, 2), (1, 4, 4, 3)])
def test_finite_difference(rng, batch, h, w, c):
    """net.delta after backward is the gradient of sum(g * output) for the g
    written into delta."""
    layer, x = run(rng, batch, h, w, c)
    g = rng.standard_normal((batch, c))
    layer.delta[:] = g
    net_delta = np.zeros_like(x)
    layer.backward(ds.NetworkContext(x, delta=net_delta))
    numeric = numeric_gradient(
        lambda inputs: float(np.sum(g * avgpool_layer.reference_forward(inputs, (h, w, c)))), x
    )
    assert_close(net_delta, numeric, atol=1e-6, kind="finite-difference gradient")


def test_channel_major_layout():
    """Each channel is a run of h*w values within an item, as Darknet lays them out."""
    x = np.array([[1, 2, 3, 4, 10, 20, 30, 40], [0, 0, 0, 4, -1, -1, -1, -1]], np.float32)
    layer, _ = run(None, 2, 2, 2, 2, x=x)
    assert layer.output.tolist() == [[2.5, 25], [1, -1]]


def test_extreme_inputs():
    """All equal (1e30 for 10000 positions stays 1e30: the sum is a double),
    ±1e30 cancelling, inf, inf - inf = NaN, NaN."""
    nan, inf = np.nan, np.inf
    rows = [
        [1e30] * 4,
        [1e30, -1e30, 1e30, -1e30],
        [-inf, 0, 1, 2],
        [inf, -inf, 0, 0],
        [nan, 1, 2, 3],
        [-1e30, -1e30, -1e30, 5],
    ]
    x = np.array(rows, np.float32).reshape(1, -1)
    layer, _ = run(None, 1, 2, 2, len(rows), x=x)
    with np.errstate(invalid="ignore"):
        expected = avgpool_layer.reference_forward(x, (2, 2, len(rows)))
    assert_close(layer.output, expected, kind="avgpool")
    assert np.isnan(layer.output[0, 3:5]).all() and layer.output[0, 2] == -inf
    long, _ = run(None, 1, 100, 100, 1, x=np.full((1, 10000), 1e30, np.float32))
    assert long.output[0, 0] == np.float32(1e30)


def test_plan_build_describe_and_cfg():
    net = ds.Network.from_cfg("[net]\nbatch=2\nheight=5\nwidth=3\nchannels=4\n[avg]\n")
    layer = net.layers[0]
    assert isinstance(layer, AvgpoolLayer) and layer.kind == "avgpool"
    assert (layer.h, layer.w, layer.c, layer.inputs, layer.outputs) == (5, 3, 4, 60, 4)
    assert net._shapes == [(1, 1, 4)]
    assert layer.describe() == ""
    [(shape, nbytes)] = ds.Network(height=5, width=3, channels=4, batch=2).plan([("avgpool", {})])
    assert shape == (1, 1, 4) and nbytes == sum(v.nbytes for v in layer._views.values())
    assert repr(layer) == "AvgpoolLayer(batch=2, shape=(5, 3, 4))"
    with pytest.raises(ValueError, match=r"line 6: unknown option size in \[avgpool\]"):
        ds.Network.from_cfg("[net]\nheight=5\nwidth=3\nchannels=4\n[avgpool]\nsize=2\n")


def test_network_round_trip_and_training(rng):
    text = (
        "[net]\nbatch=2\nheight=4\nwidth=6\nchannels=3\n[connected]\noutput=48\n"
        "activation=relie\n[maxpool]\nsize=2\nstride=2\n[avgpool]\n[connected]\noutput=3\n"
        "activation=linear\n[softmax]\n"
    )
    net = ds.Network.from_cfg(text, seed=1)
    # the connected layer's 48 outputs are 1 x 1 x 48: each channel a single
    # position, which the two pools pass through
    assert net._shapes[1:3] == [(1, 1, 48), (1, 1, 48)]
    X = rng.standard_normal((2, 72)).astype(np.float32)
    assert_close(net.predict(X), net.reference_predict(X), kind="network")
    before = net.layers[0].weights.copy()
    net.train_batch(X, np.eye(2, 3, dtype=np.float32))
    assert not np.array_equal(net.layers[0].weights, before)  # the delta came back through


def test_views_outlive_close(rng):
    layer, x = run(rng, 2, 3, 3, 2)
    output = layer.output
    layer.close()
    gc.collect()
    assert_close(output, avgpool_layer.reference_forward(x, (3, 3, 2)), kind="avgpool")
    with pytest.raises(ValueError, match="closed"):
        layer.forward(ds.NetworkContext(x))


@pytest.mark.parametrize(
    "error, words, function, args, kwargs",
    [
        bad_call("batch 0", ValueError, "batch must be at least 1", AvgpoolLayer, 0, (2, 2, 1)),
        bad_call("w 0", ValueError, r"shape\[1\] must be at least 1", AvgpoolLayer, 1, (2, 0, 1)),
        bad_call(
            "h str", TypeError, r"shape\[0\] must be an integer", AvgpoolLayer, 1, ("2", 2, 1)
        ),
        bad_call(
            "shape 2",
            TypeError,
            r"shape must be a \(height, width, channels\) tuple",
            AvgpoolLayer,
            1,
            (2, 2),
        ),
        bad_call(
            "too large", MemoryError, "make_avgpool_layer", AvgpoolLayer, 2**62, (2**62, 2, 1)
        ),
    ],
)
def test_bad_arguments(error, words, function, args, kwargs):
    with pytest.raises(error, match=words):
        checked_call(function, *args, **kwargs)


def test_bad_calls_write_nothing(rng):
    layer, x = run(rng, 2, 3, 3, 1)
    with pytest.raises(ValueError, match="net.input must hold 18 floats"):
        checked_call(layer.forward, ds.NetworkContext(np.zeros((2, 8), np.float32)))
    with pytest.raises(ValueError, match="net.delta must hold 18 floats"):
        checked_call(layer.backward, ds.NetworkContext(x, delta=np.zeros(4, np.float32)))
