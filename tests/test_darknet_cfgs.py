"""Darknet's own classifier cfgs (shared/data/darknet-cfg, as published
upstream): each builds and runs at its own input size with batch 1, as
Darknet's `classifier predict` sets it; and, made smaller, it agrees with the
float64 reference of the same network, weights and input, trains a step, and
saves and reloads its weights."""

import re

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import assert_close, darknet_cfg, one_hot

# The 26 classifiers: the cfgs that end in [softmax] and have no [rnn] or [gru].
CLASSIFIERS = [
    "alexnet", "cifar", "cifar.test", "darknet", "darknet19", "darknet19_448", "darknet53",
    "darknet53_448", "darknet9000", "densenet201", "extraction", "extraction.conv",
    "extraction22k", "go", "go.test", "resnet101", "resnet152", "resnet18", "resnet34",
    "resnet50", "resnext101-32x4d", "resnext152-32x4d", "resnext50", "strided", "tiny", "vgg-16",
]  # fmt: skip
# The input side of the smaller networks: the least that leaves every layer an
# output (go's board stays 19 x 19).
SMALL = {"alexnet": 96}


def settle(net, rng):
    """Batch normalisation's rolling statistics as trained weights hold them:
    Darknet starts the variance at 0, which outside training divides by 1e-6
    in every layer and overflows a deep network before any weights are loaded."""
    for layer in net.layers:
        if getattr(layer, "rolling_variance", None) is not None:
            layer.rolling_variance[...] = rng.uniform(0.5, 1.5, layer.rolling_variance.shape)
            layer.rolling_mean[...] = rng.normal(0, 0.1, layer.rolling_mean.shape)
    return net


def smaller(name):
    """The cfg's text made smaller, crops shrunk with it."""
    text = darknet_cfg(f"{name}.cfg").read_text()
    if name.startswith("go"):
        return text
    for key in ("height", "width", "crop_height", "crop_width"):
        text = re.sub(rf"^{key}\s*=.*$", f"{key}={SMALL.get(name, 32)}", text, flags=re.M)
    return text


def truth_for(net, rng, batch):
    """One label an item: a leaf and its ancestors, the rest masked, for the
    tree; one-hot otherwise."""
    tree = getattr(net.layers[-2], "tree", None) if net.layers[-1].kind == "cost" else None
    if tree is None:
        return one_hot(rng.integers(0, net.outputs, batch), net.outputs)
    truth = np.zeros((batch, net.outputs), np.float32)
    truth[np.arange(batch), rng.choice(np.flatnonzero(tree.leaf), batch)] = 1
    return ds.fill_hierarchy(truth, tree)


@pytest.mark.slow
@pytest.mark.parametrize("name", CLASSIFIERS)
def test_runs_at_its_own_size_with_batch_one(name, rng):
    net = settle(ds.Network.from_cfg(darknet_cfg(f"{name}.cfg"), batch=1), rng)
    x = rng.random((1, net.inputs), dtype=np.float32)
    output = net.predict(x)
    assert output.shape == (1, net.outputs) and np.isfinite(output).all()
    assert (output >= 0).all() and (output <= 1).all()
    if net.layers[-1].kind == "softmax" and net.layers[-1].tree is None:
        assert output.sum() == pytest.approx(1, abs=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", CLASSIFIERS)
def test_smaller_agrees_with_the_reference_trains_and_reloads(name, rng, tmp_path):
    net = settle(ds.Network.from_cfg(smaller(name), batch=2), rng)
    x = rng.random((2, net.inputs), dtype=np.float32)
    assert_close(
        net.predict(x), net.reference_predict(x), atol=1e-5, rtol=1e-4, kind="Darknet's classifiers"
    )
    # Deep networks' probabilities saturate, so hold the logits (what the
    # softmax takes) to the reference too, relative to the largest of them.
    outputs: list = []
    for layer in net.layers:
        outputs.append(layer.reference(outputs[-1] if outputs else x.astype(np.float64), outputs))
    logits = max(i for i, layer in enumerate(net.layers) if layer.kind not in ("softmax", "cost"))
    net.forward(x)
    error = np.abs(net.layers[logits].output.reshape(2, -1) - outputs[logits]).max()
    assert error <= 1e-4 * np.abs(outputs[logits]).max(), (error, np.abs(outputs[logits]).max())
    loss = net.train_batch(x, truth_for(net, rng, 2))
    assert np.isfinite(loss) and loss > 0
    trained = net.predict(x)
    net.save_weights(tmp_path / "net.weights")
    again = settle(ds.Network.from_cfg(smaller(name), batch=2, seed=1), rng)
    assert not np.array_equal(again.predict(x), trained)
    again.load_weights(tmp_path / "net.weights")
    for ours, theirs in zip(net.layers, again.layers):
        for buffer in ours.weights_layout:
            np.testing.assert_array_equal(getattr(theirs, buffer), getattr(ours, buffer))
    np.testing.assert_array_equal(again.predict(x), trained)


@pytest.mark.slow
def test_the_9k_tree_network_trains_on_filled_truths_and_decodes(rng):
    """darknet9000.cfg, smaller: its tree softmax and masked cost mask the same
    values (fill_hierarchy's SECRET_NUM), training raises the probability of
    the labelled leaves, and the output decodes with the tree helpers."""
    # 64 x 64 leaves the last convolutions 2 x 2 positions: over a batch of 2,
    # batch normalisation's statistics are then not those of two values.
    net = settle(ds.Network.from_cfg(smaller("darknet9000"), batch=2, height=64, width=64), rng)
    softmax, cost = net.layers[-2], net.layers[-1]
    tree = softmax.tree
    assert tree.n == 9418 and cost.type == "masked"
    x = rng.random((2, net.inputs), dtype=np.float32)
    truth = np.zeros((2, tree.n), np.float32)
    leaves = rng.choice(np.flatnonzero(tree.leaf), 2, replace=False)
    truth[[0, 1], leaves] = 1
    truth = ds.fill_hierarchy(truth, tree)
    masked = truth == ds.SECRET_NUM
    assert 0.5 < masked.mean() < 1

    def leaf_probability():
        out = net.predict(x)
        return [ds.get_hierarchy_probability(out[i], tree, int(leaves[i])) for i in range(2)]

    before = leaf_probability()
    for _ in range(3):
        net.train_batch(x, truth)
    assert (softmax.delta[masked] == 0).all() and (cost.delta[masked] == 0).all()
    assert (softmax.delta[~masked] != 0).any()
    after = leaf_probability()
    assert after[0] > before[0] and after[1] > before[1]
    absolute = ds.hierarchy_predictions(net.predict(x), tree)
    roots = tree.group_offset[0], tree.group_offset[0] + tree.group_size[0]
    np.testing.assert_allclose(absolute[:, roots[0] : roots[1]].sum(axis=1), 1, rtol=1e-5)
    top = ds.hierarchy_top_prediction(net.predict(x), tree, 0.5)
    assert top.shape == (2,) and ((0 <= top) & (top < tree.n)).all()
