"""The workload that tools/valgrind.sh runs under memcheck: every C entry point,
on good and bad input, many times, so a leak per call adds up and shows.

    python tools/memcheck_workload.py [--rounds 1000] [--tree darknet_softmax/data/9k.tree]
"""

import argparse
import pathlib
import tempfile

import numpy as np

import darknet_softmax as ds

# (batch, inputs, groups, temperature): a 1-element group, odd sizes, a wide row.
SHAPES = [(1, 1, 1, 1.0), (3, 10, 2, 0.5), (7, 15, 5, 1.0), (2, 1000, 1, 2.0), (4, 64, 64, 1.0)]


def layer_round(i, rng):
    """Create a layer, forward with a truth, backward, free it. Every other
    round takes the exact mode, every fifth the spatial one."""
    batch, inputs, groups, temperature = SHAPES[i % len(SHAPES)]
    x = rng.standard_normal((batch, inputs)).astype(np.float32)
    truth = np.zeros_like(x)
    truth[:, 0] = 1
    net_delta = np.zeros_like(x)
    spatial = {"spatial": True, "shape": (1, 1, inputs)} if i % 5 == 4 else {}
    layer = ds.SoftmaxLayer(
        batch,
        inputs,
        1 if spatial else groups,
        temperature,
        noloss=bool(i % 7 == 0),
        exact=bool(i % 2),
        **spatial,
    )
    net = ds.NetworkContext(x, truth, net_delta)
    layer.forward(net)
    layer.backward(net)
    kept = layer.output if i % 3 == 0 else None  # a view that outlives close()
    layer.close() if i % 2 else None  # or let the garbage collector free it
    del layer
    return float(kept.sum()) if kept is not None else 0.0


def pool_round(rng):
    """Arrays large enough for the kernels' thread pool: a layer, and the
    functional API on a tall array of small groups."""
    x = rng.standard_normal((64, 4096)).astype(np.float32)
    truth = np.zeros_like(x)
    truth[:, 7] = 1
    net_delta = np.zeros_like(x)
    with ds.SoftmaxLayer(64, 4096, groups=4, exact=True) as layer:
        net = ds.NetworkContext(x, truth, net_delta)
        layer.forward(net)
        layer.backward(net)
    probs = ds.softmax(x.reshape(-1, 8), groups=2)
    ds.softmax_x_ent(probs, truth.reshape(-1, 8))
    return ds.sum_array(probs)


def functional_round(rng):
    x = rng.standard_normal((4, 12)).astype(np.float32)
    probs = ds.softmax(x, groups=3, temperature=0.7)
    truth = np.zeros_like(x)
    truth[:, 1] = 1
    delta, error = ds.softmax_x_ent(probs, truth)
    out = np.zeros(48, np.float32)
    ds.softmax_cpu(x.ravel(), 4, 4, 12, 3, 4, 1, 1.0, out)
    ds.axpy(0.5, delta.ravel(), out)
    return ds.sum_array(error)


def bad_round():
    """Error paths: each must free whatever it allocated before failing."""
    for call in (
        lambda: ds.SoftmaxLayer(2**20, 2**30),  # calloc fails
        lambda: ds.Tree(list("abcde"), [-1, -1, 0, 1, 0]),  # split siblings
        lambda: ds.softmax(np.zeros(6, np.float32), groups=4),
    ):
        try:
            call()
        except (MemoryError, ValueError):
            pass
        else:
            raise AssertionError("a bad call did not raise")


def tree_round(tree_path, rng):
    """Read the tree, run a tree layer and the hierarchy helpers; read a bad file."""
    tree = ds.read_tree(tree_path)
    x = rng.standard_normal((2, tree.n)).astype(np.float32)
    truth = np.zeros_like(x)
    truth[:, tree.n - 1] = 1
    truth = ds.fill_hierarchy(truth, tree)
    with ds.SoftmaxLayer(2, tree.n, tree=tree) as layer:
        layer.forward(ds.NetworkContext(x, truth))
        ds.hierarchy_predictions(layer.output, tree)
        ds.hierarchy_top_prediction(layer.output, tree, thresh=0.5)
    with tempfile.TemporaryDirectory() as folder:
        bad = pathlib.Path(folder) / "bad.tree"
        bad.write_text("a -1\nb 0\nc -1\n")
        for path in (bad, bad.with_name("missing.tree")):
            try:
                ds.read_tree(str(path))
            except (OSError, ValueError):
                pass
            else:
                raise AssertionError(f"{path} was read")
    return tree.n


CFG = """[net]
batch=4
inputs=12
learning_rate=0.1
[connected]
output=8
activation=leaky
[dropout]
probability=0.2
[connected]
output=6
activation=linear
[softmax]
groups=2
"""


def network_round(rng):
    """Build a network from a cfg, train a step, predict, free it; a bad cfg."""
    network = ds.parse_network_cfg(CFG, seed=int(rng.integers(100)))
    x = rng.standard_normal((4, 12)).astype(np.float32)
    truth = np.zeros((4, 6), np.float32)
    truth[:, [0, 3]] = 1
    network.train_batch(x, truth)
    network.predict(x)
    try:
        ds.parse_network_cfg(CFG.replace("output=6", "output=0"))
    except ValueError:
        pass
    else:
        raise AssertionError("a bad cfg was read")
    return network.cost


def write_tree(path, n, rng):
    """A valid tree file: each node's children stand on consecutive lines."""
    parents, queue = [-1] * 5, list(range(5))
    while len(parents) < n and queue:
        parent = queue.pop(0)
        children = int(rng.integers(1, 8))
        queue += range(len(parents), len(parents) + children)
        parents += [parent] * children
    pathlib.Path(path).write_text("".join(f"n{i:08d} {p}\n" for i, p in enumerate(parents)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--tree-rounds", type=int, default=5)
    parser.add_argument("--network-rounds", type=int, default=100)
    parser.add_argument("--pool-rounds", type=int, default=20)
    parser.add_argument("--tree", help="a .tree file (default: a generated one of 2000 nodes)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    generated = tempfile.TemporaryDirectory()
    if args.tree is None:
        args.tree = str(pathlib.Path(generated.name) / "generated.tree")
        write_tree(args.tree, 2000, rng)
    for i in range(args.rounds):
        layer_round(i, rng)
        functional_round(rng)
        if i % 10 == 0:
            bad_round()
    tree_nodes = [tree_round(args.tree, rng) for _ in range(args.tree_rounds)]
    for _ in range(args.network_rounds):
        network_round(rng)
    for _ in range(args.pool_rounds):
        pool_round(rng)
    generated.cleanup()
    print(
        f"memcheck workload: {args.rounds} layer rounds, {args.rounds} functional rounds, "
        f"{len(range(0, args.rounds, 10))} rounds of bad calls, "
        f"{len(tree_nodes)} tree rounds of {tree_nodes[0] if tree_nodes else 0} nodes, "
        f"{args.network_rounds} network training rounds, {args.pool_rounds} rounds on the "
        f"thread pool"
    )


if __name__ == "__main__":
    main()
