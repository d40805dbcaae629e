"""Network (darknet_softmax.network): wiring without copies, Darknet's
forward, backward and SGD step against the float64 reference, training."""

import gzip
import pathlib

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import assert_close, numeric_gradient, one_hot
from darknet_softmax import reference
from darknet_softmax.layers import connected as connected_layer
from darknet_softmax.layers import dropout as dropout_layer

DIGITS = pathlib.Path(ds.__file__).parent / "data" / "digits.csv.gz"


def small_network(batch=4, dropout=True, seed=0):
    net = ds.Network(inputs=6, batch=batch, learning_rate=0.5, momentum=0.9, decay=0.01, seed=seed)
    net.add_connected(5, "tanh")
    if dropout:
        net.add_dropout(0.25)
    net.add_connected(4, "linear")
    net.add_softmax(groups=2)
    return net


def one_hot_pairs(rng, batch):
    """Labels for the softmax's 2 groups of 2."""
    return one_hot(rng.integers(0, 2, (batch, 2)), 2)


def test_layers_share_buffers_without_copies(rng):
    net = small_network()
    first, dropout, second, softmax = net.layers
    assert dropout.output is first.output and dropout.delta is first.delta
    x = rng.standard_normal((4, 6)).astype(np.float32)
    net.forward(x, one_hot_pairs(rng, 4), train=True)
    for index in range(1, 4):
        context = net._context(index, True, True)
        assert np.shares_memory(context.input, net.layers[index - 1].output)
        assert np.shares_memory(context.delta, net.layers[index - 1].delta)
    assert net._context(0, True, True).delta is None
    assert net.output is softmax.output and not softmax.output.flags.owndata


def test_forward_backward_update_match_reference(rng):
    """Two training steps against the float64 reference, dropout included
    (through the draws the C made), momentum and decay carried across."""
    net = small_network()
    first, dropout, second, softmax = net.layers
    w1, b1 = first.weights.astype(np.float64), first.biases.astype(np.float64)
    w2, b2 = second.weights.astype(np.float64), second.biases.astype(np.float64)
    u1, ub1, u2, ub2 = np.zeros_like(w1), np.zeros_like(b1), np.zeros_like(w2), np.zeros_like(b2)
    for _ in range(2):
        x = rng.standard_normal((4, 6)).astype(np.float32)
        truth = one_hot_pairs(rng, 4)
        loss = net.train_batch(x, truth)
        hidden = connected_layer.reference_forward(x, w1, b1, "tanh")
        dropped = dropout_layer.reference_forward(hidden, dropout.rand, 0.25)
        probs = reference.softmax(connected_layer.reference_forward(dropped, w2, b2, "linear"), 2)
        assert_close(softmax.output, probs, atol=1e-5, kind="network")
        assert loss == pytest.approx(-(truth * np.log(probs)).sum() / 4, rel=1e-5)
        d2, db2, dw2, d_dropped = connected_layer.reference_backward(
            dropped, w2, probs, truth - probs, "linear"
        )
        d_hidden = dropout_layer.reference_backward(d_dropped, dropout.rand, 0.25)
        d1, db1, dw1, _ = connected_layer.reference_backward(x, w1, hidden, d_hidden, "tanh")
        w2, b2, u2, ub2 = reference.sgd_update(w2, b2, u2 + dw2, ub2 + db2, 4, 0.5, 0.9, 0.01)
        w1, b1, u1, ub1 = reference.sgd_update(w1, b1, u1 + dw1, ub1 + db1, 4, 0.5, 0.9, 0.01)
        for got, expected in (
            (second.weights, w2),
            (second.biases, b2),
            (first.weights, w1),
            (first.biases, b1),
            (first.weight_updates, u1),
            (second.bias_updates, ub2),
        ):
            assert_close(got, expected, atol=1e-5, kind="network")
    assert net.seen == 8


def test_delta_sign_lowers_the_loss(rng):
    """One step along Darknet's delta, with a small rate, lowers the loss."""
    net = small_network(dropout=False)
    net.momentum = net.decay = 0.0
    net.learning_rate = 0.05
    x = rng.standard_normal((4, 6)).astype(np.float32)
    truth = one_hot_pairs(rng, 4)
    before = net.train_batch(x, truth)
    net.forward(x, truth)
    assert net.cost / 4 < before


@pytest.mark.parametrize("exact", [True, False])
def test_finite_difference_through_a_network_at_temperature_2(rng, exact):
    """connected -> softmax(temperature=2): with exact=1 the weight updates are
    the negative gradient of the loss, by central differences on the float64
    reference; Darknet's fused delta (exact=0) ignores the temperature and is
    off by exactly that factor."""
    net = ds.Network.from_cfg(
        "[net]\nbatch=3\ninputs=4\n[connected]\noutput=5\n"
        f"activation=linear\n[softmax]\ntemperature=2\nexact={int(exact)}\n"
    )
    connected = net.layers[0]
    x = rng.standard_normal((3, 4)).astype(np.float32)
    truth = np.eye(3, 5, dtype=np.float32)
    net.forward(x, truth, train=True)
    net.backward()
    weights, biases = connected.weights.astype(np.float64), connected.biases.astype(np.float64)

    def loss(w):
        probs = reference.softmax(connected_layer.reference_forward(x, w, biases, "linear"), 1, 2.0)
        return float(-(truth * np.log(probs)).sum())

    numeric = numeric_gradient(loss, weights)
    factor = 1.0 if exact else 2.0
    assert_close(
        connected.weight_updates,
        -numeric * factor,
        atol=2e-6,
        rtol=2e-5,
        kind="finite-difference gradient",
    )


def test_predict_runs_any_number_of_rows(rng):
    net = small_network(batch=3)
    x = rng.standard_normal((7, 6)).astype(np.float32)
    got = net.predict(x)
    first, _, second, _ = net.layers
    hidden = connected_layer.reference_forward(x, first.weights, first.biases, "tanh")
    expected = reference.softmax(
        connected_layer.reference_forward(hidden, second.weights, second.biases, "linear"), 2
    )
    assert got.shape == (7, 4) and got.flags.owndata
    assert_close(got, expected, atol=1e-6, kind="network")
    assert_close(net.predict(x[2]), expected[2], atol=1e-6, kind="network")


def test_output_skips_cost_layers(rng):
    net = ds.Network(inputs=3, batch=2)
    net.add_connected(2, "linear")
    net.add_cost("sse")
    assert net.output is net.layers[0].output
    x = rng.standard_normal((2, 3)).astype(np.float32)
    truth = rng.standard_normal((2, 2)).astype(np.float32)
    net.forward(x, truth)
    out = connected_layer.reference_forward(
        x, net.layers[0].weights, net.layers[0].biases, "linear"
    )
    assert net.cost == pytest.approx(((truth - out) ** 2).sum(), rel=1e-5)


def test_cost_is_the_mean_over_layers_with_a_truth(rng):
    net = ds.Network(inputs=3, batch=2)
    net.add_connected(4, "linear")
    net.add_softmax()
    net.add_cost("sse")
    truth = np.eye(2, 4, dtype=np.float32)
    net.forward(rng.standard_normal((2, 3)).astype(np.float32), truth)
    assert net.cost == pytest.approx((net.layers[1].cost + net.layers[2].cost) / 2)
    net.forward(np.zeros((2, 3), np.float32))
    assert net.cost is None


def test_set_batch_keeps_weights(rng):
    net = small_network(batch=4)
    x = rng.standard_normal((5, 6)).astype(np.float32)
    before = net.predict(x)
    net.set_batch(5)
    assert net.batch == 5 and net.layers[0].output.shape == (5, 5)
    assert net.layers[1].output is net.layers[0].output
    assert_close(net.predict(x), before, kind="network")


def load_digits():
    table = np.loadtxt(gzip.open(DIGITS, "rt"), delimiter=",", dtype=np.float32)
    return np.ascontiguousarray(table[:, :64] / 16), table[:, 64].astype(int)


def test_short_training_run_learns_digits():
    """A small run: 600 training images, 8 epochs; held-out accuracy goes
    from chance to well above it, and the loss falls."""
    X, labels = load_digits()
    assert X.shape == (1797, 64) and set(labels) == set(range(10))
    Y = one_hot(labels, 10)
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:600], order[1500:]
    net = ds.Network.from_cfg(DIGITS.parent / "digits-mlp.cfg", seed=1)
    chance = np.mean(net.predict(X[test]).argmax(1) == labels[test])
    losses = net.train(X[train], Y[train], epochs=8, seed=0)
    accuracy = np.mean(net.predict(X[test]).argmax(1) == labels[test])
    assert chance < 0.3 and accuracy > 0.9, (chance, accuracy)
    assert losses[-1] < losses[0] / 5
    assert net.seen == 8 * (600 // 32) * 32


def test_train_with_another_batch(rng):
    net = small_network(batch=4)
    x = rng.standard_normal((10, 6)).astype(np.float32)
    losses = net.train(x, one_hot_pairs(rng, 10), epochs=2, batch=5)
    assert net.batch == 5 and len(losses) == 2 and net.seen == 20


def test_bad_arguments(rng):
    with pytest.raises(ValueError, match="inputs .* must equal height\\*width\\*channels"):
        ds.Network(inputs=5, height=2, width=2, channels=1)
    with pytest.raises(ValueError, match="inputs must be at least 1"):
        ds.Network()
    net = ds.Network(inputs=3, batch=2)
    with pytest.raises(ValueError, match="no layers"):
        net.predict(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="dropout cannot be the first layer"):
        net.add_dropout()
    net.add_connected(2)
    with pytest.raises(ValueError, match="input must have shape \\(2, 3\\)"):
        net.forward(np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="Y must have shape \\(4, 2\\)"):
        net.train(np.zeros((4, 3), np.float32), np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="fewer than one batch"):
        net.train(np.zeros((1, 3), np.float32), np.zeros((1, 2), np.float32))
    with pytest.raises(TypeError, match="X must hold real numbers"):
        net.predict(np.zeros((1, 3), complex))
    with pytest.raises(ValueError, match=r"Y\[1\] is 2, outside \[0, 2\)"):
        net.train(np.zeros((4, 3)), [0, 2, 1, 1], batch=2)
    with pytest.raises(ValueError, match="learning_rate must be finite"):
        ds.Network(inputs=1, learning_rate=-1)


def test_a_tree_softmax_network_learns(tmp_path, rng):
    """[softmax] tree=...: 2 roots with 3 leaves each. Truths filled by
    fill_hierarchy mask the other root's leaves; the network learns to put
    each item's own leaf first under hierarchy_top_prediction."""
    (tmp_path / "six.tree").write_text("a -1\nb -1\na1 0\na2 0\na3 0\nb1 1\nb2 1\nb3 1\n")
    (tmp_path / "tree.cfg").write_text(
        "[net]\nbatch=8\ninputs=6\nlearning_rate=0.5\n"
        "[connected]\noutput=8\nactivation=linear\n"
        "[softmax]\ntree=six.tree\n"
    )
    net = ds.Network.from_cfg(tmp_path / "tree.cfg", seed=2)
    tree = net.layers[1].tree
    leaves = np.array([2, 3, 4, 5, 6, 7])
    labels = rng.integers(0, 6, 64)
    X = (one_hot(labels, 6) + 0.1 * rng.standard_normal((64, 6))).astype(np.float32)
    truth = one_hot(leaves[labels], 8)
    ds.fill_hierarchy(truth, tree, out=truth)
    assert np.all(truth[labels < 3, 5:] == ds.SECRET_NUM)
    losses = net.train(X, truth, epochs=30, seed=0)
    assert losses[-1] < losses[0] / 4
    probs = net.predict(X)
    top = [ds.hierarchy_top_prediction(row, tree, 0.1) for row in probs]
    assert np.mean(np.array(top) == leaves[labels]) > 0.95


# --- planning before building ---

PLANNED = (
    "[net]\nbatch=64\nheight=4\nwidth=4\nchannels=2\n[connected]\noutput=300\n[dropout]\n"
    "[connected]\noutput=10\n[softmax]\n[cost]\n"
)


def test_the_plan_gives_each_layers_shape_and_memory_before_building():
    net = ds.Network.from_cfg(PLANNED)
    empty = ds.Network(height=4, width=4, channels=2, batch=64)
    rows = empty.plan([(kind, options) for kind, options in net._specs])
    assert [shape for shape, _ in rows] == net._shapes
    for (_, nbytes), layer in zip(rows, net.layers):
        assert nbytes == sum(view.nbytes for view in layer._views.values())


def test_a_network_too_large_for_the_memory_is_refused_before_it_allocates():
    with pytest.raises(
        MemoryError,
        match=r"<cfg text>: line 6: \[connected\] takes 0\.00 GiB, and the network 0\.00 GiB "
        r"at batch 64 and 4x4, more than the 0\.00 GiB allowed",
    ):
        ds.Network.from_cfg(PLANNED, max_bytes=100_000)
    assert ds.Network.from_cfg(PLANNED, max_bytes=10_000_000).batch == 64


def test_a_cfg_that_would_need_terabytes_names_its_size():
    text = "[net]\nbatch=4096\ninputs=100000\n[connected]\noutput=100000\n"
    with pytest.raises(MemoryError, match=r"line 4: \[connected\] takes \d+\.\d\d GiB"):
        ds.Network.from_cfg(text)


def test_from_cfg_overrides_batch_height_and_width():
    net = ds.Network.from_cfg(PLANNED, batch=1, height=2, width=3)
    assert (net.batch, net.shape, net.inputs) == (1, (2, 3, 2), 12)
    assert net.layers[0].inputs == 12 and net.layers[0].batch == 1


def test_the_network_reference_follows_every_layer_type(rng):
    """reference_predict chains each layer type's float64 reference: it
    agrees with predict, and it is not the identity."""
    net = ds.Network.from_cfg(PLANNED, batch=3)
    x = rng.standard_normal((3, net.inputs)).astype(np.float32)
    expected = net.reference_predict(x)
    assert_close(net.predict(x), expected, atol=1e-6, kind="network")
    assert expected.shape == (3, 10)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0)


# --- integer labels and any array-like ---


@pytest.mark.parametrize("exact", [False, True])
def test_integer_labels_train_as_one_hot_rows_do(rng, exact):
    """Labels reach the softmax layer's loss with no one-hot array: the same
    losses and weights as one-hot rows, and the network's truth buffer is
    never made."""
    X = rng.standard_normal((12, 3)).astype(np.float32)
    labels = rng.integers(0, 2, 12)
    nets = []
    for Y in (one_hot(labels, 2), labels):
        net = ds.Network(inputs=3, batch=4, learning_rate=0.1, seed=3)
        net.add_connected(5, activation="relu")
        net.add_connected(2)
        net.add_softmax(temperature=2.0, exact=exact)
        losses = net.train(X, Y, epochs=2, seed=5)
        nets.append((net, losses))
    (one_hot_net, one_hot_losses), (label_net, label_losses) = nets
    assert label_net._truth is None
    assert_close(label_losses, one_hot_losses, kind="network")
    for a, b in zip(one_hot_net.layers[:2], label_net.layers[:2]):
        assert_close(b.weights, a.weights, kind="network")
    cost = label_net.train_batch(X[:4], labels[:4].tolist())
    assert cost == pytest.approx(one_hot_net.train_batch(X[:4], one_hot(labels[:4], 2)), rel=1e-5)
    assert_close(label_net.layers[-1].delta, one_hot_net.layers[-1].delta, kind="delta")


def test_the_network_takes_any_array_converted_once(rng, monkeypatch):
    X = rng.standard_normal((8, 3))
    labels = rng.integers(0, 2, 8)
    net = ds.Network(inputs=3, batch=4, seed=1)
    net.add_connected(2)
    net.add_softmax()
    conversions = []
    real_array = ds.network.real_array
    monkeypatch.setattr(
        ds.network, "real_array", lambda *args: conversions.append(1) or real_array(*args)
    )
    net.train(X.tolist(), labels.astype(np.uint8), epochs=3)
    assert len(conversions) == 1  # X, once per call; the labels are no floats
    net.train(np.asfortranarray(X), one_hot(labels, 2).astype(np.float64), epochs=3)
    assert len(conversions) == 3
    assert net.predict(X.tolist()).shape == (8, 2)


def test_labels_are_refused_where_no_layer_takes_them(rng):
    X = np.zeros((4, 6), np.float32)
    net = ds.Network(inputs=6, batch=4)
    net.add_softmax(groups=2)
    with pytest.raises(ValueError, match="softmax layer of one group"):
        net.train(X, [0, 1, 2, 3])
    net = ds.Network(inputs=6, batch=4)
    net.add_softmax()
    net.add_cost()
    with pytest.raises(ValueError, match="cost layer needs one-hot rows in Y"):
        net.train(X, [0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"Y must have shape \(4,\)"):
        net.train(X, [0, 1, 2])
