"""MaxpoolLayer (darknet_softmax.layers.maxpool) against the float64
reference and Darknet's rules: the options' defaults, the output size, the
window's origin, -FLT_MAX outside the input, `>` for the winner."""

import gc

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import assert_close, bad_call, checked_call, numeric_gradient
from darknet_softmax.layers import MaxpoolLayer
from darknet_softmax.layers import maxpool as maxpool_layer

FLT_MAX = np.finfo(np.float32).max

# (batch, h, w, c, size, stride, padding): Darknet's cases (2/2 as darknet19,
# 2/1 as yolov2-tiny, 3/1 and 3/2), odd sizes, a window larger than the
# input, stride above size, padding 0, 1, odd and above size, batch 1 and 1
# channel.
CASES = [
    (1, 1, 1, 1, 1, 1, 0),
    (1, 1, 1, 1, 2, 2, 1),
    (2, 8, 8, 3, 2, 2, 1),
    (1, 13, 13, 2, 2, 1, 1),
    (3, 7, 9, 5, 3, 1, 2),
    (2, 9, 7, 4, 3, 2, 2),
    (1, 5, 5, 1, 5, 1, 4),
    (1, 3, 4, 2, 6, 2, 5),
    (2, 4, 3, 3, 5, 3, 0),
    (1, 10, 11, 3, 2, 5, 0),
    (1, 6, 7, 2, 3, 4, 1),
    (2, 5, 6, 3, 2, 2, 3),
    (1, 7, 5, 17, 4, 3, 7),
    (4, 3, 3, 1, 1, 1, 0),
    (1, 2, 2, 1, 1, 1, 3),
    (1, 1, 9, 1, 4, 4, 0),
]
# The finite differences call the reference twice an input: the small cases.
SMALL_CASES = [case for case in CASES if case[0] * case[1] * case[2] * case[3] <= 200]


def run(rng, batch, h, w, c, size, stride, padding, x=None):
    layer = MaxpoolLayer(batch, (h, w, c), size, stride, padding)
    if x is None:
        x = rng.standard_normal((batch, h * w * c)).astype(np.float32)
    layer.forward(ds.NetworkContext(x))
    return layer, x


@pytest.mark.parametrize("batch, h, w, c, size, stride, padding", CASES)
def test_forward_matches_reference(rng, batch, h, w, c, size, stride, padding):
    layer, x = run(rng, batch, h, w, c, size, stride, padding)
    output, indexes = maxpool_layer.reference_forward(x, (h, w, c), size, stride, padding)
    assert layer.output.shape == output.shape == (batch, c * layer.out_h * layer.out_w)
    assert_close(layer.output, output, kind="maxpool")
    assert np.array_equal(layer.indexes, indexes)
    # Every output is its winner's value, or -FLT_MAX where none won.
    won = indexes >= 0
    assert np.array_equal(layer.output[won], x.ravel()[indexes[won]])
    assert np.all(layer.output[~won] == -FLT_MAX)


@pytest.mark.parametrize("batch, h, w, c, size, stride, padding", CASES)
def test_backward_matches_reference_and_adds(rng, batch, h, w, c, size, stride, padding):
    layer, x = run(rng, batch, h, w, c, size, stride, padding)
    layer.delta[:] = rng.standard_normal(layer.delta.shape)
    before = rng.standard_normal(x.shape).astype(np.float32)
    net_delta = before.copy()
    layer.backward(ds.NetworkContext(x, delta=net_delta))
    added = maxpool_layer.reference_backward(x, layer.delta, (h, w, c), size, stride, padding)
    assert_close(net_delta, before + added, kind="maxpool backward")


@pytest.mark.parametrize("batch, h, w, c, size, stride, padding", SMALL_CASES)
def test_finite_difference(rng, batch, h, w, c, size, stride, padding):
    """Random inputs (no ties): net.delta after backward is the gradient of
    sum(g * output) for the g written into delta (over the outputs that have
    a winner: the others are -FLT_MAX whatever the input)."""
    layer, x = run(rng, batch, h, w, c, size, stride, padding)
    shape = (h, w, c)
    g = rng.standard_normal(layer.delta.shape) * (layer.indexes >= 0)
    layer.delta[:] = g
    net_delta = np.zeros_like(x)
    layer.backward(ds.NetworkContext(x, delta=net_delta))

    def loss(inputs):
        output = maxpool_layer.reference_forward(inputs, shape, size, stride, padding)[0]
        return float(np.sum(np.where(g != 0, g * output, 0.0)))

    numeric = numeric_gradient(loss, x)
    assert_close(net_delta, numeric, atol=1e-5, kind="finite-difference gradient")
    assert np.abs(numeric).max() > 1e-3 or not g.any()  # the check had something to check


def test_darknets_output_size_and_window_origin():
    """(w + padding - size)/stride + 1, padding in total, the window from
    -padding/2: yolov2-tiny's 2/1 keeps the size; darknet19's 2/2 halves it
    (rounding up, from padding 1); truncation toward zero gives a window
    larger than the padded input one output, as Darknet's int division."""
    shapes = {
        (13, 2, 1, 1): 13,
        (224, 2, 2, 1): 112,
        (7, 2, 2, 1): 4,
        (7, 3, 2, 2): 4,
        (7, 2, 2, 0): 3,
        (5, 3, 1, 0): 3,
        (1, 3, 3, 0): 1,  # (1 - 3)/3 + 1 = 0 + 1 in C
        (1, 4, 5, 1): 1,
    }
    for (n, size, stride, padding), expected in shapes.items():
        assert maxpool_layer.pooled_size(n, size, stride, padding) == expected
        layer = MaxpoolLayer(1, (n, n, 1), size, stride, padding)
        assert (layer.out_h, layer.out_w) == (expected, expected)
    # padding 3: the window starts at -1 (3/2), so output 0 sees rows -1..1.
    x = np.arange(16, dtype=np.float32).reshape(1, 16)
    layer, _ = run(None, 1, 4, 4, 1, 3, 2, 3, x=x)
    assert (layer.out_h, layer.out_w) == (3, 3)
    assert layer.output.reshape(3, 3).tolist() == [[5, 7, 7], [13, 15, 15], [13, 15, 15]]


def test_ties_nan_inf_and_windows_without_a_winner():
    """Darknet's `val > max` from -FLT_MAX: the first of equal values wins;
    NaN never wins; a window of only -inf, NaN, -FLT_MAX or positions outside
    the input gives -FLT_MAX and no winner, and its delta goes nowhere
    (Darknet writes it at index -1, before net.delta)."""
    nan, inf = np.nan, np.inf
    x = np.array(
        [[3, 3, nan, 1, -inf, -inf, nan, nan, -FLT_MAX, 1e30, -1e30, inf, 2, nan, -1e30, -inf]],
        np.float32,
    )
    layer, _ = run(None, 1, 1, 16, 1, 2, 2, 0, x=x)
    expected = np.array([[3, 1, -FLT_MAX, -FLT_MAX, 1e30, inf, 2, -1e30]], np.float32)
    assert np.array_equal(layer.output, expected)
    assert layer.indexes.tolist() == [[0, 3, -1, -1, 9, 11, 12, 14]]
    output, indexes = maxpool_layer.reference_forward(x, (1, 16, 1), 2, 2, 0)
    assert_close(layer.output, output, kind="maxpool")
    assert np.array_equal(layer.indexes, indexes)
    # Windows wholly outside the input: padding 2 with size 1 puts the first
    # window at (-1, -1), so a 1 x 3 input gives 3 x 5, and only the middle
    # three of the middle row have a winner. Backward adds their deltas and
    # writes nothing outside net.delta (room[0] and room[4] stand guard).
    layer = MaxpoolLayer(1, (1, 3, 1), 1, 1, 2)
    layer.forward(ds.NetworkContext(np.array([[5, 6, 7]], np.float32)))
    assert (layer.out_h, layer.out_w) == (3, 5)
    expected_indexes = np.full((3, 5), -1)
    expected_indexes[1, 1:4] = [0, 1, 2]
    assert np.array_equal(layer.indexes.reshape(3, 5), expected_indexes)
    assert np.all(layer.output.reshape(3, 5)[expected_indexes < 0] == -FLT_MAX)
    room = np.full(5, 9.0, np.float32)
    layer.delta[:] = 1
    layer.backward(ds.NetworkContext(np.zeros((1, 3), np.float32), delta=room[1:4]))
    assert room.tolist() == [9.0, 10.0, 10.0, 10.0, 9.0]


def test_extreme_inputs_match_reference(rng):
    x = rng.choice(
        np.array([1e30, -1e30, 0, -np.inf, np.inf, np.nan, 5, 5, -FLT_MAX], np.float32),
        (2, 7 * 6 * 3),
    )
    for size, stride, padding in ((2, 2, 1), (3, 1, 2), (3, 2, 0), (5, 3, 4)):
        layer, _ = run(rng, 2, 7, 6, 3, size, stride, padding, x=x)
        output, indexes = maxpool_layer.reference_forward(x, (7, 6, 3), size, stride, padding)
        assert_close(layer.output, output, kind="maxpool")
        assert np.array_equal(layer.indexes, indexes)
        assert not np.isnan(layer.output).any()  # NaN never wins


def test_darknets_defaults_through_a_cfg():
    """stride 1, size = stride, padding = size - 1, read as Darknet's parse_maxpool."""
    head = "[net]\nheight=9\nwidth=8\nchannels=2\n"
    for text, (size, stride, padding) in {
        "[maxpool]\n": (1, 1, 0),
        "[maxpool]\nstride=2\n": (2, 2, 1),
        "[max]\nsize=3\n": (3, 1, 2),
        "[maxpool]\nsize=3\nstride=2\npadding=0\n": (3, 2, 0),
    }.items():
        layer = ds.parse_network_cfg(head + text).layers[0]
        assert isinstance(layer, MaxpoolLayer)
        assert (layer.size, layer.stride, layer.padding) == (size, stride, padding)
        assert layer.describe() == f"{size} x {size} / {stride}"
    net = ds.Network(height=9, width=8, channels=2)
    assert net.add_maxpool(stride=2).out_h == 5
    assert net.add("maxpool", 2, 1).padding == 1


def test_plan_is_what_build_takes(rng):
    net = ds.Network(height=9, width=7, channels=3, batch=2)
    for options in ({"size": 3, "stride": 2}, {"size": 2, "stride": 1}, {"padding": 4}):
        layer = net.add_maxpool(**options)
        full = {"size": None, "stride": 1, "padding": None, **options}
        params = net._shapes[-2] if len(net._shapes) > 1 else net.shape
        [(shape, nbytes)] = ds.Network(
            height=params[0], width=params[1], channels=params[2], batch=2
        ).plan([("maxpool", full)])
        assert shape == net._shapes[-1] == (layer.out_h, layer.out_w, 3)
        assert nbytes == sum(view.nbytes for view in layer._views.values())


def test_cfg_round_trip_predicts_as_the_reference(rng, tmp_path):
    text = (
        "[net]\nbatch=3\nheight=6\nwidth=5\nchannels=3\n"
        "[maxpool]\nsize=2\nstride=2\n[avgpool]\n[connected]\noutput=4\nactivation=leaky\n"
        "[softmax]\n"
    )
    net = ds.Network.from_cfg(text, seed=3)
    assert [layer.kind for layer in net.layers] == ["maxpool", "avgpool", "connected", "softmax"]
    assert net._shapes == [(3, 3, 3), (1, 1, 3), (1, 1, 4), (1, 1, 4)]
    assert "maxpool       2 x 2 / 2" in net.summary()
    X = rng.standard_normal((3, 90)).astype(np.float32)
    assert_close(net.predict(X), net.reference_predict(X), kind="network")
    net.save_weights(tmp_path / "pool.weights")
    again = ds.Network.from_cfg(text, seed=4)
    again.load_weights(tmp_path / "pool.weights")
    assert np.array_equal(again.predict(X), net.predict(X))
    truth = np.eye(3, 4, dtype=np.float32)
    assert np.isfinite(net.train_batch(X, truth))


def test_views_are_c_memory_and_outlive_close(rng):
    layer, x = run(rng, 2, 4, 4, 2, 2, 2, 1)
    output, indexes = layer.output, layer.indexes
    assert output.shape == layer.delta.shape == indexes.shape == (2, 8)
    assert indexes.dtype == np.int64 and not indexes.flags.writeable
    assert not output.flags.owndata
    layer.close()
    gc.collect()
    assert np.array_equal(output, maxpool_layer.reference_forward(x, (4, 4, 2), 2, 2, 1)[0])
    assert repr(layer) == "MaxpoolLayer(closed)"
    with pytest.raises(ValueError, match="closed"):
        layer.forward(ds.NetworkContext(x))


def test_indexes_start_without_a_winner(rng):
    """Before a forward, no output has a winner, so backward adds nothing."""
    layer = MaxpoolLayer(1, (2, 2, 1), 2, 2, 0)
    assert layer.indexes.tolist() == [[-1]]
    layer.delta[:] = 1
    net_delta = np.zeros((1, 4), np.float32)
    layer.backward(ds.NetworkContext(np.zeros((1, 4), np.float32), delta=net_delta))
    assert not net_delta.any()


def test_c_refuses_an_index_outside_the_input(rng):
    layer, x = run(rng, 1, 2, 2, 1, 1, 1, 0)
    layer._layer.indexes[2] = 4
    net_delta = np.zeros_like(x)
    with pytest.raises(ValueError, match="backward_maxpool_layer"):
        layer.backward(ds.NetworkContext(x, delta=net_delta))
    assert not net_delta.any()


@pytest.mark.parametrize(
    "error, words, function, args, kwargs",
    [
        bad_call("batch 0", ValueError, "batch must be at least 1", MaxpoolLayer, 0, (2, 2, 1)),
        bad_call("h 0", ValueError, r"shape\[0\] must be at least 1", MaxpoolLayer, 1, (0, 2, 1)),
        bad_call(
            "c float", TypeError, r"shape\[2\] must be an integer", MaxpoolLayer, 1, (2, 2, 1.0)
        ),
        bad_call("size 0", ValueError, "size must be at least 1", MaxpoolLayer, 1, (2, 2, 1), 0),
        bad_call(
            "stride 0", ValueError, "stride must be at least 1", MaxpoolLayer, 1, (2, 2, 1), 2, 0
        ),
        bad_call(
            "padding -1",
            ValueError,
            "padding must be at least 0",
            MaxpoolLayer,
            1,
            (2, 2, 1),
            2,
            1,
            -1,
        ),
        bad_call(
            "size above int",
            ValueError,
            "size must be at most 2147483647",
            MaxpoolLayer,
            1,
            (2, 2, 1),
            2**31,
        ),
        bad_call(
            "output below 1",
            ValueError,
            r"size=4 stride=1 padding=0 over a 2 x 2 input gives a -1 x -1 output",
            MaxpoolLayer,
            1,
            (2, 2, 1),
            4,
            1,
            0,
        ),
    ],
)
def test_bad_arguments(error, words, function, args, kwargs):
    with pytest.raises(error, match=words):
        checked_call(function, *args, **kwargs)


def test_bad_calls_write_nothing(rng):
    layer, x = run(rng, 2, 3, 3, 1, 2, 1, 1)
    with pytest.raises(ValueError, match="net.input must hold 18 floats"):
        checked_call(layer.forward, ds.NetworkContext(np.zeros((2, 8), np.float32)))
    with pytest.raises(ValueError, match="net.delta"):
        checked_call(layer.backward, ds.NetworkContext(x, delta=layer.output))
    with pytest.raises(TypeError, match="net must be a NetworkContext"):
        layer.forward(x)


@pytest.mark.parametrize(
    "section, message",
    [
        ("[maxpool]\nsize=0\n", "line 6: size=0: expected an integer of at least 1"),
        ("[maxpool]\nstride=two\n", "line 6: stride=two: expected an integer"),
        ("[maxpool]\npadding=-1\n", "line 6: padding=-1: expected an integer of at least 0"),
        (
            "[max]\nfilters=3\n",
            r"line 6: unknown option filters in \[maxpool\]; it takes size, stride, padding",
        ),
        (
            "[maxpool]\nsize=9\npadding=0\nstride=2\n",
            r"line 5: \[maxpool\]: size=9 stride=2 padding=0 over a 3 x 4 input gives a -2 x -1",
        ),
    ],
)
def test_bad_cfg_options(section, message):
    with pytest.raises(ValueError, match=message):
        ds.Network.from_cfg("[net]\nheight=3\nwidth=4\nchannels=2\n" + section)
