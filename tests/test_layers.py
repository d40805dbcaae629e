"""SoftmaxLayer and NetworkContext (darknet_softmax.layers)."""

import gc

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import IMAGE_SHAPES, assert_close, make_tree, one_hot, sentinel
from darknet_softmax import reference
from darknet_softmax.layers import softmax as softmax_layer

SMALL_TREE = [-1, -1, 0, 0, 0, 1, 1]  # parents: 2 roots, 3 children of a, 2 of b
S = ds.SECRET_NUM


@pytest.mark.parametrize(
    "batch, inputs, groups, temperature",
    [
        (1, 1, 1, 1.0),
        (1, 17, 17, 1.0),
        (4, 10, 2, 1.0),
        (64, 1000, 1, 1.0),
        (7, 15, 5, 0.5),
        (2, 9418, 1, 10.0),
        (33, 16, 8, 1e-3),
    ],
)
def test_forward_matches_reference(rng, batch, inputs, groups, temperature):
    x = (rng.standard_normal((batch, inputs)) * 3).astype(np.float32)
    truth = one_hot(rng.integers(0, inputs // groups, (batch, groups)), inputs // groups)
    with ds.SoftmaxLayer(batch, inputs, groups, temperature) as layer:
        layer.forward(ds.NetworkContext(x, truth))
        expected = softmax_layer.reference_forward(x, groups, temperature, truth=truth)
        assert_close(layer.output, expected["output"])
        # The loss is -log of the float32 prediction, which underflows to 0 (loss inf)
        # where the true probability is below 1e-45; hold it to that prediction.
        delta, loss = reference.softmax_x_ent(layer.output, truth)
        assert_close(layer.delta, delta, kind="delta")
        assert_close(layer.loss, loss, kind="loss")
        assert layer.cost == pytest.approx(loss.sum(), rel=1e-5)


def test_forward_without_truth_leaves_delta_and_loss(rng):
    x = rng.standard_normal((2, 6)).astype(np.float32)
    layer = ds.SoftmaxLayer(2, 6)
    layer.forward(ds.NetworkContext(x))
    assert_close(layer.output, reference.softmax(x))
    assert not layer.delta.any() and not layer.loss.any() and layer.cost == 0


def test_noloss_skips_the_loss(rng):
    x = rng.standard_normal((2, 6)).astype(np.float32)
    layer = ds.SoftmaxLayer(2, 6, noloss=True)
    layer.forward(ds.NetworkContext(x, one_hot(rng.integers(0, 6, 2), 6)))
    assert not layer.delta.any() and layer.cost == 0


def test_backward_accumulates_into_net_delta(rng):
    x = rng.standard_normal((3, 8)).astype(np.float32)
    truth = one_hot(rng.integers(0, 4, (3, 2)), 4)
    previous = rng.standard_normal((3, 8)).astype(np.float32)
    net_delta = previous.copy()
    layer = ds.SoftmaxLayer(3, 8, groups=2)
    net = ds.NetworkContext(x, truth, net_delta)
    layer.forward(net)
    layer.backward(net)
    layer.backward(net)
    assert_close(net_delta, previous + 2 * (truth - reference.softmax(x, 2)), kind="delta")


def test_backward_without_net_delta_is_a_no_op(rng):
    x = rng.standard_normal((1, 4)).astype(np.float32)
    truth = one_hot(rng.integers(0, 4, 1), 4)
    layer = ds.SoftmaxLayer(1, 4)
    net = ds.NetworkContext(x, truth)
    layer.forward(net)
    assert layer.delta.any()
    before = [array.copy() for array in (x, truth, layer.output, layer.delta, layer.loss)]
    cost = layer.cost
    layer.backward(net)
    assert net.delta is None and layer.cost == cost
    for array, copy in zip((x, truth, layer.output, layer.delta, layer.loss), before):
        assert np.array_equal(array, copy)


def test_buffers_are_views_of_c_memory(rng):
    layer = ds.SoftmaxLayer(2, 5)
    output = layer.output
    assert not output.flags.owndata
    layer.forward(ds.NetworkContext(rng.standard_normal((2, 5)).astype(np.float32)))
    assert output is layer.output and output.sum() == pytest.approx(2.0)
    output[:] = 0.25  # writes go straight to C memory
    assert np.all(layer.output == 0.25)


def test_views_outlive_close(rng):
    x = rng.standard_normal((4, 100)).astype(np.float32)
    layer = ds.SoftmaxLayer(4, 100)
    layer.forward(ds.NetworkContext(x))
    output = layer.output
    layer.close()
    del layer
    gc.collect()
    junk = [np.full(400, 9.0, np.float32) for _ in range(1000)]
    assert junk and output.sum() == pytest.approx(4.0)


def test_context_keeps_its_arrays_alive(rng):
    net = ds.NetworkContext(np.full((2, 3), 1.0, np.float32), np.eye(2, 3, dtype=np.float32))
    gc.collect()
    layer = ds.SoftmaxLayer(2, 3)
    layer.forward(net)
    assert_close(layer.output, np.full((2, 3), 1 / 3))
    assert layer.cost == pytest.approx(2 * np.log(3), rel=1e-6)


def test_flat_arrays_are_accepted(rng):
    x = rng.standard_normal(12).astype(np.float32)
    layer = ds.SoftmaxLayer(3, 4)
    layer.forward(ds.NetworkContext(x))
    assert_close(layer.output, reference.softmax(x.reshape(3, 4)))


def test_in_place_input(rng):
    layer = ds.SoftmaxLayer(2, 6, groups=3)
    x = rng.standard_normal((2, 6)).astype(np.float32)
    layer.output[:] = x
    layer.forward(ds.NetworkContext(layer.output))
    assert_close(layer.output, reference.softmax(x, 3))


def test_temperature_can_change(rng):
    x = rng.standard_normal((2, 6)).astype(np.float32)
    layer = ds.SoftmaxLayer(2, 6)
    layer.temperature = 0.25
    layer.forward(ds.NetworkContext(x))
    assert_close(layer.output, reference.softmax(x, 1, 0.25))


@pytest.mark.parametrize("exact", [False, True])
def test_tree_groups_and_masking(rng, exact):
    """SECRET_NUM masks delta and loss in both modes, with one-hot and soft labels."""
    tree = make_tree(SMALL_TREE)
    x = rng.standard_normal((4, 7)).astype(np.float32)
    truth = np.array(
        [
            [1, 0, 0, 1, 0, S, S],
            [0, 1, S, S, S, 0, 1],
            [1, 0, 1, 0, 0, S, S],
            [0.9, 0.1, 0.8, 0.1, 0.1, S, S],
        ],
        np.float32,
    )
    layer = ds.SoftmaxLayer(4, 7, tree=tree, temperature=2.0, exact=exact)
    layer.forward(ds.NetworkContext(x, truth))
    expected = softmax_layer.reference_forward(
        x, temperature=2.0, tree=tree, truth=truth, exact=exact
    )
    assert_close(layer.output, expected["output"])
    assert_close(layer.delta, expected["delta"], kind="delta")
    assert_close(layer.loss, expected["loss"], kind="loss")
    assert np.all(layer.delta[truth == S] == 0)
    assert np.all(layer.loss[truth == S] == 0)
    assert layer.cost == pytest.approx(expected["cost"], rel=1e-5)


def test_repr_and_attributes():
    layer = ds.SoftmaxLayer(2, 6, groups=3, temperature=0.5, noloss=True)
    assert (layer.batch, layer.inputs, layer.outputs, layer.groups) == (2, 6, 6, 3)
    assert layer.noloss and layer.temperature == 0.5 and layer.tree is None
    assert "groups=3" in repr(layer)
    layer.close()
    assert repr(layer) == "SoftmaxLayer(closed)"


# --- bad input: a clear exception naming the argument, and nothing written ---


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(batch=0, inputs=4), ValueError, "batch"),
        (dict(batch=2, inputs=-1), ValueError, "inputs"),
        (dict(batch=2, inputs=10, groups=3), ValueError, "divide"),
        (dict(batch=2.5, inputs=10), TypeError, "batch"),
        (dict(batch=2, inputs=4, temperature=0), ValueError, "temperature"),
        (dict(batch=2, inputs=4, temperature=float("nan")), ValueError, "temperature"),
        (dict(batch=2, inputs=4, temperature=float("inf")), ValueError, "temperature"),
        (dict(batch=2, inputs=4, temperature=1e-50), ValueError, "temperature"),
        (dict(batch=2, inputs=4, tree="9k.tree"), TypeError, "tree"),
    ],
)
def test_bad_layer_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        ds.SoftmaxLayer(**kwargs)


def test_tree_of_another_size_is_rejected():
    with pytest.raises(ValueError, match="tree has 3 nodes"):
        ds.SoftmaxLayer(1, 4, tree=make_tree([-1, -1, 0]))


@pytest.mark.parametrize(
    "make_net, words",
    [
        (lambda: ds.NetworkContext(sentinel((2, 5))), "net.input"),
        (lambda: ds.NetworkContext(sentinel((2, 4)), sentinel((2, 5))), "net.truth"),
        (lambda: ds.NetworkContext(sentinel((2, 4)), None, sentinel((3, 4))), "net.delta"),
        (lambda: "not a context", "NetworkContext"),
    ],
)
def test_bad_context_writes_nothing(make_net, words):
    layer = ds.SoftmaxLayer(2, 4)
    layer.output[:] = 3.0
    net = make_net()
    method = layer.backward if words == "net.delta" else layer.forward
    with pytest.raises((ValueError, TypeError), match=words):
        method(net)
    assert np.all(layer.output == 3.0)
    if isinstance(net, ds.NetworkContext):
        for array in (net.input, net.truth, net.delta):
            assert array is None or np.all(array == 3.0)


@pytest.mark.parametrize(
    "array, error, words",
    [
        (np.zeros((2, 4)), TypeError, "float32"),
        (np.zeros((2, 4), np.int32), TypeError, "float32"),
        ([[0.0] * 4] * 2, TypeError, "ndarray"),
        (np.zeros((4, 2), np.float32).T, ValueError, "C-contiguous"),
        (np.zeros((0, 4), np.float32), ValueError, "empty"),
        (
            np.frombuffer(bytes(33), np.float32, 8, 1).reshape(2, 4),
            ValueError,
            "aligned to 4 bytes",
        ),
    ],
)
def test_bad_context_arrays(array, error, words):
    with pytest.raises(error, match=f"input.*{words}|{words}"):
        ds.NetworkContext(array)


def test_read_only_delta_is_rejected():
    delta = sentinel((2, 4), writable=False)
    with pytest.raises(ValueError, match="delta must be writable"):
        ds.NetworkContext(sentinel((2, 4)), None, delta)


def test_calls_after_close_raise():
    layer = ds.SoftmaxLayer(2, 4)
    net = ds.NetworkContext(sentinel((2, 4)))
    layer.close()
    for call in (
        lambda: layer.forward(net),
        lambda: layer.backward(net),
        lambda: layer.output,
        lambda: layer.cost,
        lambda: setattr(layer, "temperature", 2.0),
    ):
        with pytest.raises(ValueError, match="closed"):
            call()
    layer.close()  # closing twice is harmless


# --- spatial, exact and the default mode ---

# (batch, h, w, c): the shared sweep of image shapes, and more channels.
SPATIAL_SHAPES = [*IMAGE_SHAPES, (2, 2, 3, 4), (3, 1, 5, 1), (4, 4, 4, 17)]


def channel_labels(rng, batch, h, w, c):
    """One-hot labels over the channels at every position, laid out (c, h, w)."""
    by_position = one_hot(rng.integers(0, c, (batch, h * w)), c).reshape(batch, h * w, c)
    return np.ascontiguousarray(by_position.transpose(0, 2, 1)).reshape(batch, c * h * w)


@pytest.mark.parametrize("batch, h, w, c", SPATIAL_SHAPES)
@pytest.mark.parametrize("exact", [False, True])
def test_spatial_forward_matches_reference(rng, batch, h, w, c, exact):
    inputs = h * w * c
    x = (rng.standard_normal((batch, inputs)) * 3).astype(np.float32)
    truth = channel_labels(rng, batch, h, w, c)
    with ds.SoftmaxLayer(
        batch, inputs, temperature=0.5, spatial=True, shape=(h, w, c), exact=exact
    ) as layer:
        layer.forward(ds.NetworkContext(x, truth))
        expected = softmax_layer.reference_forward(
            x, temperature=0.5, truth=truth, spatial=True, shape=(h, w, c), exact=exact
        )
        assert_close(layer.output, expected["output"])
        # The softmax runs down the channels: at each position they sum to 1.
        channel_sums = layer.output.astype(np.float64).reshape(batch, c, h * w).sum(axis=1)
        assert_close(channel_sums, np.ones_like(channel_sums), kind="group sums")
        # The same, taken position by position with the channels last.
        by_position = reference.softmax(x.reshape(batch, c, h * w).transpose(0, 2, 1), 1, 0.5)
        assert_close(layer.output, by_position.transpose(0, 2, 1).reshape(batch, inputs))
        # The loss of the float32 output, position by position (from the float64
        # output, 1 - p and -log(p) would differ by float32's rounding of p near 1).
        for group in softmax_layer.layer_groups(inputs, spatial=True, shape=(h, w, c)):
            output, labels = layer.output[:, group], truth[:, group]
            delta, loss = (
                reference.softmax_x_ent_exact(output, labels, 1, 0.5)
                if exact
                else reference.softmax_x_ent(output, labels)
            )
            assert_close(layer.delta[:, group], delta, kind="delta")
            assert_close(layer.loss[:, group], loss, kind="loss")


@pytest.mark.parametrize("layout", [dict(groups=3), dict(spatial=True, shape=(3, 2, 2))])
def test_exact_noloss_backward_matches_reference(rng, layout):
    x = rng.standard_normal((3, 12)).astype(np.float32)
    upstream = rng.standard_normal((3, 12)).astype(np.float32)
    previous = rng.standard_normal((3, 12)).astype(np.float32)
    net_delta = previous.copy()
    layer = ds.SoftmaxLayer(3, 12, temperature=2.0, noloss=True, exact=True, **layout)
    net = ds.NetworkContext(x, None, net_delta)
    layer.forward(net)
    layer.delta[:] = upstream
    layer.backward(net)
    expected = softmax_layer.reference_backward(
        upstream, previous, layer.output, noloss=True, exact=True, temperature=2.0, **layout
    )
    assert_close(net_delta, expected, kind="delta")


def test_exact_tree_noloss_backward_matches_reference(rng):
    tree = make_tree(SMALL_TREE)
    x = rng.standard_normal((2, 7)).astype(np.float32)
    upstream = rng.standard_normal((2, 7)).astype(np.float32)
    net_delta = np.zeros((2, 7), np.float32)
    layer = ds.SoftmaxLayer(2, 7, tree=tree, temperature=0.5, noloss=True, exact=True)
    net = ds.NetworkContext(x, None, net_delta)
    layer.forward(net)
    layer.delta[:] = upstream
    layer.backward(net)
    expected = softmax_layer.reference_backward(
        upstream,
        np.zeros((2, 7)),
        layer.output,
        noloss=True,
        exact=True,
        temperature=0.5,
        tree=tree,
    )
    assert_close(net_delta, expected, kind="delta")
    # Each tree group of the product sums to 0 (its softmax sums to 1).
    for offset, size in zip(tree.group_offset, tree.group_size):
        assert_close(
            net_delta[:, offset : offset + size].astype(np.float64).sum(axis=1),
            np.zeros(2),
            kind="Jacobian group sums",
        )


@pytest.mark.parametrize("temperature", [0.25, 1.0, 3.0])
def test_default_mode_keeps_darknets_numbers(rng, temperature):
    """exact=False: delta = truth - output at any temperature, -log(output)
    wherever truth != 0 whatever its size, and backward passes delta straight
    through, with noloss too."""
    x = rng.standard_normal((4, 10)).astype(np.float32)
    truth = one_hot(rng.integers(0, 5, (4, 2)), 5) * np.float32(0.7)
    truth[0, :5] = 0.2  # soft labels, unweighted in the loss
    previous = rng.standard_normal((4, 10)).astype(np.float32)
    net_delta = previous.copy()
    layer = ds.SoftmaxLayer(4, 10, groups=2, temperature=temperature)
    net = ds.NetworkContext(x, truth, net_delta)
    layer.forward(net)
    assert np.array_equal(layer.delta, truth - layer.output)
    # C's logf and NumPy's log may round differently by one unit.
    assert_close(
        layer.loss, np.where(truth != 0, -np.log(layer.output.astype(np.float64)), 0), kind="loss"
    )
    assert np.all((layer.loss == 0) == (truth == 0))
    layer.backward(net)
    assert np.array_equal(net_delta, previous + layer.delta)

    noloss = ds.SoftmaxLayer(4, 10, groups=2, temperature=temperature, noloss=True)
    net_delta[:] = previous
    noloss.forward(net)
    noloss.delta[:] = truth  # fed in from above
    noloss.backward(net)
    assert np.array_equal(net_delta, previous + truth)


def test_spatial_and_exact_attributes():
    layer = ds.SoftmaxLayer(2, 24, spatial=True, shape=(3, 4, 2), exact=True)
    assert layer.spatial and layer.exact and layer.shape == (3, 4, 2)
    assert "spatial=True" in repr(layer) and "exact=True" in repr(layer)
    plain = ds.SoftmaxLayer(2, 24, shape=(3, 4, 2))  # the shape alone changes nothing
    assert not plain.spatial and not plain.exact and plain.shape == (3, 4, 2)
    assert ds.SoftmaxLayer(1, 5).shape is None


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(spatial=True), ValueError, r"spatial=True needs shape, the input's \(h, w, c\)"),
        (dict(spatial=True, shape=(2, 2)), TypeError, "shape must be a .height, width, channels"),
        (dict(shape=2), TypeError, "shape must be a .height, width, channels"),
        (
            dict(spatial=True, shape=(2, 2, 2)),
            ValueError,
            r"h\*w\*c \(2\*2\*2 = 8\) must equal inputs \(12\)",
        ),
        (dict(shape=(2, 3, 3)), ValueError, "must equal inputs"),
        (dict(spatial=True, shape=(2, 0, 6)), ValueError, r"shape\[1\] must be at least 1"),
        (dict(spatial=True, shape=(2, 2.0, 3)), TypeError, r"shape\[1\] must be an integer"),
        (dict(spatial=True, shape=(2, 2, 3), groups=3), ValueError, "neither tree nor groups"),
        (
            dict(spatial=True, shape=(2, 2, 3), tree=make_tree([-1] * 12)),
            ValueError,
            "neither tree nor groups",
        ),
        (dict(spatial=1, shape=(2, 2, 3)), TypeError, "spatial must be True or False, not int"),
        (dict(exact=1), TypeError, "exact must be True or False, not int"),
        (dict(exact="yes"), TypeError, "exact must be True or False, not str"),
        (dict(noloss=1), TypeError, "noloss must be True or False, not int"),
        (dict(exact=None), TypeError, "exact must be True or False"),
    ],
)
def test_bad_spatial_and_exact_arguments(kwargs, error, words):
    with pytest.raises(error, match=words):
        ds.SoftmaxLayer(2, 12, **kwargs)


def test_net_delta_may_not_be_a_layer_buffer(rng):
    layer = ds.SoftmaxLayer(2, 4, noloss=True, exact=True)
    layer.delta[:] = 3.0
    x = sentinel((2, 4))
    layer.forward(ds.NetworkContext(x))
    before = layer.output.copy()
    for buffer in (layer.delta, layer.output):
        with pytest.raises(ValueError, match="must be different arrays"):
            layer.backward(ds.NetworkContext(x, None, buffer))
    assert np.all(layer.delta == 3.0) and np.array_equal(layer.output, before)


def test_the_networks_exact_switch_reaches_the_softmax():
    for text, expected in (("", False), ("exact=1\n", True)):
        net = ds.Network.from_cfg(f"[net]\ninputs=4\n{text}[softmax]\n")
        assert net.layers[0].exact is expected
    assert ds.Network(inputs=4, exact=True).add_softmax().exact is True
    assert ds.Network.from_cfg("[net]\ninputs=4\n[softmax]\nexact=1\n").layers[0].exact
