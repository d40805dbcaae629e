"""Hierarchical softmax end to end: a linear model trained through a two-level
WordTree, then the top prediction walking down the tree.

    python examples/tree_example.py

The tree has two roots (animal, vehicle), each with its own group of children.
Some training items are labelled only "animal" or "vehicle": fill_hierarchy
masks the groups below them (SECRET_NUM), so those items teach the root group
and nothing else. A NumPy linear layer feeds SoftmaxLayer(tree=...), whose
delta (the negative gradient, as in Darknet) updates the weights."""

import numpy as np

import darknet_softmax as ds

TREE = [
    ("animal", -1),
    ("vehicle", -1),
    ("cat", 0),
    ("dog", 0),
    ("bird", 0),
    ("car", 1),
    ("bike", 1),
]
LEAVES = [2, 3, 4, 5, 6]
FEATURES = 6


def make_data(rng, centres, count, coarse_share=0.0):
    """Items near the centre of their leaf; a share labelled only by the leaf's parent."""
    leaf = rng.choice(LEAVES, count)
    x = centres[leaf] + rng.standard_normal((count, FEATURES))
    labels = leaf.copy()
    coarse = rng.random(count) < coarse_share
    labels[coarse] = [TREE[node][1] for node in leaf[coarse]]
    return x, leaf, labels


def with_bias(x):
    return np.hstack([x, np.ones((len(x), 1))]).astype(np.float32)


def train(tree, x, labels, steps=300, batch=32, rate=0.5, seed=0):
    """Plain SGD on the weights of logits = [x, 1] @ weights; the costs per step."""
    rng = np.random.default_rng(seed)
    weights = np.zeros((FEATURES + 1, tree.n), np.float32)
    layer = ds.SoftmaxLayer(batch, tree.n, tree=tree)
    costs = []
    for _ in range(steps):
        pick = rng.choice(len(x), batch)
        inputs = with_bias(x[pick])
        truth = np.zeros((batch, tree.n), np.float32)
        truth[np.arange(batch), labels[pick]] = 1
        ds.fill_hierarchy(truth, tree, out=truth)  # label ancestors, mask the rest
        logits = inputs @ weights
        net_delta = np.zeros_like(logits)
        net = ds.NetworkContext(logits, truth=truth, delta=net_delta)
        layer.forward(net)
        layer.backward(net)  # net_delta += layer.delta
        weights += rate / batch * (inputs.T @ net_delta)  # delta is -dLoss/dlogits
        costs.append(layer.cost / batch)
    return weights, costs


def predict(tree, weights, x):
    """The tree softmax's conditional probabilities for each item of x."""
    layer = ds.SoftmaxLayer(len(x), tree.n, tree=tree)
    layer.forward(ds.NetworkContext(with_bias(x) @ weights))
    return layer.output.copy()


def main(seed=0, verbose=True):
    say = print if verbose else (lambda *args: None)
    rng = np.random.default_rng(seed)
    tree = ds.Tree([name for name, _ in TREE], [parent for _, parent in TREE])
    centres = np.zeros((tree.n, FEATURES))
    centres[LEAVES] = rng.standard_normal((len(LEAVES), FEATURES)) * 4

    x, _, labels = make_data(rng, centres, 2000, coarse_share=0.3)
    weights, costs = train(tree, x, labels, seed=seed)
    say(f"cost per item: first step {costs[0]:.3f}, last 20 steps {np.mean(costs[-20:]):.3f}")

    test_x, test_leaf, _ = make_data(rng, centres, 500)
    probabilities = predict(tree, weights, test_x)
    top = ds.hierarchy_top_prediction(probabilities, tree, 0.0)
    accuracy = float(np.mean(top == test_leaf))
    say(f"leaf accuracy on 500 new items (thresh 0): {accuracy:.1%}")

    # An item halfway between cat and dog: sure it is an animal, not which one.
    between = (centres[2] + centres[3]) / 2
    probabilities = predict(tree, weights, between[None, :])[0]
    absolute = ds.hierarchy_predictions(probabilities, tree)
    say("an item halfway between cat and dog:")
    for node, (name, _) in enumerate(TREE):
        say(f"  {name:<8} conditional {probabilities[node]:.3f}  absolute {absolute[node]:.3f}")
    walk = {}
    for thresh in (0.0, 0.5, 0.7, 0.99):
        node = ds.hierarchy_top_prediction(probabilities, tree, thresh)
        walk[thresh] = tree.name[node]
        say(
            f"  top prediction at thresh {thresh:<5}: {tree.name[node]} (probability "
            f"{ds.get_hierarchy_probability(probabilities, tree, node):.3f})"
        )
    return {"costs": costs, "accuracy": accuracy, "absolute": absolute, "walk": walk}


if __name__ == "__main__":
    main()
