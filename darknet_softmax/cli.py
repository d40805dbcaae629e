"""The `darknet-softmax` command line."""

import argparse
import gzip
import pathlib
import sys
import time

import numpy as np
from tqdm import tqdm

from . import bench, kernels, reference
from ._version import __version__
from .layers import NetworkContext, SoftmaxLayer
from .network import Network
from .tree import YOLO9000_TREE, read_tree

# (batch, inputs, groups, temperature) cases for the parity report.
PARITY_CASES = [
    (1, 1, 1, 1.0),
    (64, 1000, 1, 1.0),
    (32, 1000, 200, 1.0),
    (16, 4096, 16, 0.5),
    (8, 9418, 1, 2.0),
    (64, 17, 17, 1.0),
    (5, 15, 3, 1e-3),
    (3, 7, 1, 10.0),
]


def _parity_kernels():
    """Each grouped kernel with its reference: (name, C, reference), each
    called as f(x, groups, temperature)."""

    def backward(module):
        def call(x, groups, temperature):
            y = reference.softmax(x, groups, temperature).astype(np.float32)
            dy = np.random.default_rng(x.size).standard_normal(x.shape).astype(np.float32)
            return module.softmax_backward(y, dy, groups, temperature)

        return call

    return [
        ("softmax", kernels.softmax, reference.softmax),
        ("log_softmax", kernels.log_softmax, reference.log_softmax),
        ("softmax_backward", backward(kernels), backward(reference)),
    ]


def _parity_row(name, shape, got, expected):
    """Prints one row; returns its worst error in units of the tolerance."""
    error = np.abs(got.astype(np.float64) - expected)
    relative = (error / np.maximum(np.abs(expected), 1e-30)).max()
    print(f"{name:<17} {shape:<24} {error.max():>12.3g} {relative:>12.3g}")
    return reference.worst_error(got, expected)


def parity(args):
    """C against the float64 reference: every grouped kernel over a few shapes
    and the layer over the YOLO9000 tree, then one timing."""
    rng = np.random.default_rng(args.seed)
    print(
        f"{'kernel':<17} {'batch, inputs, groups, T':<24} {'max abs err':>12} {'max rel err':>12}"
    )
    worst = 0.0
    for name, ours, theirs in _parity_kernels():
        for batch, inputs, groups, temperature in PARITY_CASES:
            x = (rng.standard_normal((batch, inputs)) * 3).astype(np.float32)
            shape = f"{batch}, {inputs}, {groups}, {temperature:g}"
            worst = max(
                worst,
                _parity_row(
                    name, shape, ours(x, groups, temperature), theirs(x, groups, temperature)
                ),
            )
    tree = read_tree(YOLO9000_TREE)
    x = (rng.standard_normal((64, tree.n)) * 3).astype(np.float32)
    with SoftmaxLayer(64, tree.n, tree=tree) as layer:
        layer.forward(NetworkContext(x))
        expected = reference.tree_softmax(x, tree.group_offset, tree.group_size)
        worst = max(
            worst,
            _parity_row(
                "tree (9k.tree)", f"64, {tree.n}, {tree.groups}, 1", layer.output, expected
            ),
        )
    x = rng.standard_normal((128, 1000)).astype(np.float32)
    out = np.empty_like(x)
    c_time = _best_time(lambda: kernels.softmax(x, out=out))
    numpy_time = _best_time(lambda: reference.softmax(x))
    print(
        f"softmax (128, 1000): C {c_time * 1e3:.3f} ms, NumPy float64 reference "
        f"{numpy_time * 1e3:.3f} ms ({numpy_time / c_time:.1f}x)"
    )
    ok = worst <= 1.0
    print("parity: OK, within 1e-6 absolute + 1e-5 relative" if ok else "parity: FAILED")
    return 0 if ok else 1


def _best_time(call, repeats=20):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best


def tree_summary(args):
    """Validate a .tree file and describe it; a bad file is an error message."""
    try:
        tree = read_tree(args.file)
    except (OSError, ValueError) as error:
        print(f"darknet-softmax tree: {error}", file=sys.stderr)
        return 1
    sizes = tree.group_size
    print(f"{args.file}: a valid tree")
    print(f"nodes   {tree.n}")
    print(f"groups  {tree.groups} (sizes {sizes.min()} to {sizes.max()}, mean {sizes.mean():.2f})")
    print(f"leaves  {int(tree.leaf.sum())}")
    print(f"roots   {int((tree.parent < 0).sum())}")
    print(f"depth   {tree.depth}")
    print("largest groups:")
    for group in np.argsort(-sizes, kind="stable")[: max(args.top, 0)]:
        parent = tree.parent[tree.group_offset[group]]
        under = "the roots" if parent < 0 else f"{tree.name[parent]} (node {parent})"
        print(f"  group {group:>5}: {sizes[group]:>5} nodes under {under}")
    return 0


# -- train and predict: a Darknet network on the bundled digits -------------

DATA = pathlib.Path(__file__).resolve().parent / "data"


def load_labelled(path, scale):
    """Rows of a CSV (.gz or plain) whose last column is the class: returns
    (features / scale as float32, labels as int)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as file:
        table = np.loadtxt(file, delimiter=",", ndmin=2)
    labels = table[:, -1]
    if table.shape[1] < 2 or np.any(labels != np.round(labels)) or labels.min() < 0:
        raise ValueError(f"{path}: the last column must hold class numbers 0, 1, 2, ...")
    features = np.ascontiguousarray(table[:, :-1] / scale, dtype=np.float32)
    return features, labels.astype(np.int64)


def split(count, test_fraction, seed):
    """(train rows, held-out rows): a seeded shuffle, the same for train and predict."""
    order = np.random.default_rng(seed).permutation(count)
    held_out = max(1, int(round(count * test_fraction)))
    return order[held_out:], order[:held_out]


def _network_and_data(args):
    network = Network.from_cfg(args.cfg, seed=args.seed)
    features, labels = load_labelled(args.data, args.scale)
    if features.shape[1] != network.inputs or labels.max() >= network.outputs:
        raise ValueError(
            f"{args.data} has {features.shape[1]} features and classes up to "
            f"{labels.max()}, but {args.cfg} takes {network.inputs} inputs and "
            f"gives {network.outputs} outputs"
        )
    return network, features, labels


def _accuracy(network, features, labels):
    predicted = network.predict(features).argmax(axis=1)
    return float(np.mean(predicted == labels)), predicted


def train(args):
    """Train the cfg's network on the training rows, report the held-out accuracy, save."""
    try:
        network, features, labels = _network_and_data(args)
    except (OSError, ValueError) as error:
        print(f"darknet-softmax train: {error}", file=sys.stderr)
        return 1
    train_rows, test_rows = split(len(labels), args.test_fraction, args.seed)
    truth = np.eye(network.outputs, dtype=np.float32)[labels]
    steps = len(train_rows) // network.batch
    if steps == 0:
        print(
            f"darknet-softmax train: {len(train_rows)} training rows is less than one batch",
            file=sys.stderr,
        )
        return 1
    epochs = args.epochs or max(1, -(-network.max_batches // steps))
    print(network.summary())
    start = time.perf_counter()
    with tqdm(total=epochs * steps, unit="batch", desc="train", disable=args.quiet) as bar:
        average: list[float] = []

        def report(loss):
            # Darknet's running figure: avg = .9*avg + .1*loss.
            average[:] = [loss if not average else 0.9 * average[0] + 0.1 * loss]
            bar.set_postfix(loss=f"{loss:.4f}", avg=f"{average[0]:.4f}", refresh=False)
            bar.update()

        losses = network.train(
            features[train_rows], truth[train_rows], epochs=epochs, seed=args.seed, callback=report
        )
    seconds = time.perf_counter() - start
    accuracy, _ = _accuracy(network, features[test_rows], labels[test_rows])
    network.save_weights(args.weights)
    print(
        f"trained {len(train_rows)} images, {epochs} epochs of {steps} batches, in "
        f"{seconds:.2f} s; final loss {losses[-1]:.4f}"
    )
    print(
        f"held-out accuracy {accuracy:.2%} ({round(accuracy * len(test_rows))} of "
        f"{len(test_rows)} images)"
    )
    print(f"weights saved to {args.weights}")
    return 0


def predict(args):
    """Load the weights into the cfg's network and report its held-out accuracy."""
    try:
        network, features, labels = _network_and_data(args)
        network.load_weights(args.weights)
    except (OSError, ValueError) as error:
        print(f"darknet-softmax predict: {error}", file=sys.stderr)
        return 1
    rows = (
        np.arange(len(labels)) if args.all else split(len(labels), args.test_fraction, args.seed)[1]
    )
    accuracy, predicted = _accuracy(network, features[rows], labels[rows])
    for row, guess in list(zip(rows, predicted))[: args.show]:
        print(f"row {row:>5}: predicted {guess}, labelled {labels[row]}")
    which = "all" if args.all else "held-out"
    print(
        f"{which} accuracy {accuracy:.2%} ({int(np.sum(predicted == labels[rows]))} of "
        f"{len(rows)} images), weights from {args.weights} (seen {network.seen} images)"
    )
    return 0


def _add_network_commands(commands):
    for name, run, help in (
        (
            "train",
            train,
            "train a Darknet cfg (the bundled digits network by default) and save its weights",
        ),
        ("predict", predict, "load weights and report accuracy"),
    ):
        command = commands.add_parser(name, help=help)
        command.add_argument(
            "--cfg",
            default=str(DATA / "digits.cfg"),
            help="a Darknet .cfg (default: the bundled digits.cfg)",
        )
        command.add_argument(
            "--data",
            default=str(DATA / "digits.csv.gz"),
            help="CSV, optionally gzipped, the class in the last column "
            "(default: the bundled UCI digits)",
        )
        command.add_argument(
            "--weights", default="digits.weights", help="the Darknet .weights file to write or read"
        )
        command.add_argument(
            "--scale",
            type=float,
            default=16.0,
            help="divide every feature by this (default 16, the digits' largest pixel value)",
        )
        command.add_argument(
            "--test-fraction",
            type=float,
            default=0.2,
            help="the share of rows held out of training",
        )
        command.add_argument(
            "--seed",
            type=int,
            default=0,
            help="seeds the split, the weights, dropout and shuffling",
        )
        command.set_defaults(run=run)
        if name == "train":
            command.add_argument(
                "--epochs",
                type=int,
                default=0,
                help="passes over the training rows (default: as many as "
                "the cfg's max_batches needs)",
            )
            command.add_argument("--quiet", action="store_true", help="no progress bar")
        else:
            command.add_argument(
                "--show", type=int, default=0, help="print the first SHOW predictions"
            )
            command.add_argument(
                "--all", action="store_true", help="every row, not only the held-out ones"
            )


def _add_bench_command(commands):
    """`bench`: the speed benchmark of darknet_softmax/bench.py, whose
    arguments are the harness's own (it imports PyTorch only when it runs)."""
    command = commands.add_parser(
        "bench", help="time the kernels against a copy, NumPy, Darknet's loop and PyTorch"
    )
    bench.build_parser(command)
    command.set_defaults(run=bench.run)


def build_parser():
    parser = argparse.ArgumentParser(prog="darknet-softmax", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("parity", help="check C against the NumPy reference")
    check.add_argument("--seed", type=int, default=0)
    check.set_defaults(run=parity)
    describe = commands.add_parser("tree", help="validate a .tree file and describe it")
    describe.add_argument("file", help="a Darknet .tree file (NAME PARENT on each line)")
    describe.add_argument("--top", type=int, default=5, help="how many of the largest groups")
    describe.set_defaults(run=tree_summary)
    _add_network_commands(commands)
    _add_bench_command(commands)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
