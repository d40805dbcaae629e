"""The `darknet-softmax` command line."""

import csv
import gzip
import math
import os
import pathlib
import sys
import time
import zlib

import numpy as np
from tqdm import tqdm

from . import bench, kernels, reference
from ._version import __version__
from .arguments import ArgumentParser, fail, integer, real
from .layers import NetworkContext, SoftmaxLayer
from .network import Network
from .tree import YOLO9000_TREE, read_tree

# (batch, inputs, groups, temperature) cases for the parity report, four a row.
PARITY_CASES = [
    *((1, 1, 1, 1.0), (64, 1000, 1, 1.0), (32, 1000, 200, 1.0), (16, 4096, 16, 0.5)),
    *((8, 9418, 1, 2.0), (64, 17, 17, 1.0), (5, 15, 3, 1e-3), (3, 7, 1, 10.0)),
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


def cfg_summary(args):
    """Build a cfg's network for one item (as Darknet's classifier does to
    predict) and print its table; then what the cfg's own batch would take."""
    try:
        network = Network.from_cfg(args.cfg, batch=1)
        full = Network.cfg_nbytes(args.cfg)
    except (OSError, ValueError, MemoryError) as error:
        print(f"darknet-softmax summary: {error}", file=sys.stderr)
        return 1
    print(network.summary())
    one = Network.cfg_nbytes(args.cfg, batch=1)
    print(f"memory: {one / 2**20:.1f} MiB for one item; {full / 2**20:.1f} MiB at the cfg's batch")
    return 0


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
    for group in np.argsort(-sizes, kind="stable")[: args.top]:
        parent = tree.parent[tree.group_offset[group]]
        under = "the roots" if parent < 0 else f"{tree.name[parent]} (node {parent})"
        print(f"  group {group:>5}: {sizes[group]:>5} nodes under {under}")
    return 0


# -- train and predict: a Darknet network on the bundled digits -------------

DATA = pathlib.Path(__file__).resolve().parent / "data"

# A seed: NumPy's generators take any integer from 0; the network's fits in 64 bits.
SEED = integer(0, 2**64 - 1)


def load_labelled(path, scale):
    """Rows of a CSV (.gz or plain) whose last column is the class: returns
    (features / scale as float32, labels as int). Blank lines are skipped; a
    bad file raises ValueError "FILE:LINE: what is wrong", lines counted from
    1, or "FILE: what" when no line is to blame."""
    table, labels, lines = read_labelled(path)
    return _scaled(table, scale, path, lines), labels


def _scaled(table, scale, path, lines):
    """table / scale as float32, every value finite."""
    with np.errstate(over="ignore"):
        features = np.ascontiguousarray(table / scale, dtype=np.float32)
    finite = np.isfinite(features).all(axis=1)
    if not finite.all():
        row = int(np.argmin(finite))
        raise ValueError(
            f"{path}:{lines[row]}: a feature divided by --scale {scale:g} is too large for float32"
        )
    return features


def read_labelled(path):
    """(features as float64 rows, labels as int64, the file line of each row)
    from a CSV whose last column is the class, checked cell by cell."""
    opener = gzip.open if str(path).endswith(".gz") else open
    rows, labels, lines = [], [], []
    width = first = line = 0
    try:
        with opener(path, "rb") as file:
            reader = csv.reader(_text_lines(file, path))
            for cells in reader:
                line = reader.line_num
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue
                if not width:
                    width, first = len(cells), line
                    if width < 2:
                        raise ValueError(
                            f"{path}:{line}: a row needs the features and then the class, "
                            f"but this one has {width} column"
                        )
                elif len(cells) != width:
                    raise ValueError(
                        f"{path}:{line}: {len(cells)} columns, but line {first} has {width}"
                    )
                rows.append(
                    [_cell(path, line, column, cell) for column, cell in enumerate(cells[:-1], 1)]
                )
                labels.append(_label(path, line, width, cells[-1]))
                lines.append(line)
    except csv.Error as error:
        raise ValueError(f"{path}:{line + 1}: {error}") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        where = f"{path}:{line + 1}" if line else str(path)
        raise ValueError(f"{where}: not a readable gzip file ({error})") from None
    if not rows:
        raise ValueError(f"{path}: the file holds no rows")
    return np.array(rows, np.float64), np.array(labels, np.int64), lines


def _text_lines(file, path):
    """The lines of a binary file as text, each decoded alone so that an error
    names its line."""
    for number, raw in enumerate(file, 1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(
                f"{path}:{number}: not UTF-8 text ({error.reason} at byte {error.start + 1})"
            ) from None


def _cell(path, line, column, text):
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{path}:{line}: column {column}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{path}:{line}: column {column}: {text!r} is not a finite number")
    return value


def _label(path, line, column, text):
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and 0 <= value < 2**31 and value.is_integer()):
        raise ValueError(
            f"{path}:{line}: column {column}, the class, must be a whole number 0, 1, 2, ..., "
            f"not {text!r}"
        )
    return int(value)


def split(count, test_fraction, seed):
    """(train rows, held-out rows): a seeded shuffle, the same for train and
    predict. A test_fraction above 0 holds out at least one row; 0 holds out none."""
    order = np.random.default_rng(seed).permutation(count)
    held_out = max(1, int(round(count * test_fraction))) if test_fraction > 0 else 0
    return order[held_out:], order[:held_out]


def _network_and_data(args):
    network = Network.from_cfg(args.cfg, seed=args.seed)
    table, labels, lines = read_labelled(args.data)
    if table.shape[1] != network.inputs:
        raise ValueError(
            f"{args.data} has {table.shape[1]} features, but {args.cfg} takes "
            f"{network.inputs} inputs"
        )
    if labels.max() >= network.outputs:
        row = int(np.argmax(labels >= network.outputs))
        raise ValueError(
            f"{args.data}:{lines[row]}: class {labels[row]}, but {args.cfg} gives "
            f"{network.outputs} outputs (classes 0 to {network.outputs - 1})"
        )
    return network, _scaled(table, args.scale, args.data, lines), labels


def _accuracy(network, features, labels):
    predicted = network.predict(features).argmax(axis=1)
    return float(np.mean(predicted == labels)), predicted


class _Diverged(Exception):
    """The loss went NaN or infinite: training stops, nothing is saved."""


def _check_writable(path):
    """Raise OSError if `path` cannot be written (checked before training)."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(folder):
        raise OSError(f"--weights {path}: the folder {folder} does not exist")
    if os.path.isdir(path):
        raise OSError(f"--weights {path}: is a folder")


def train(args):
    """Train the cfg's network on the training rows, report the held-out accuracy, save."""
    prog = "darknet-softmax train"
    try:
        network, features, labels = _network_and_data(args)
        _check_writable(args.weights)
    except (OSError, ValueError, MemoryError) as error:
        return fail(prog, str(error))
    train_rows, test_rows = split(len(labels), args.test_fraction, args.seed)
    truth = np.eye(network.outputs, dtype=np.float32)[labels]
    steps = len(train_rows) // network.batch
    if steps == 0:
        return fail(prog, f"{len(train_rows)} training rows is less than one batch")
    epochs = args.epochs or max(1, -(-network.max_batches // steps))
    print(network.summary())
    start = time.perf_counter()
    with tqdm(total=epochs * steps, unit="batch", desc="train", disable=args.quiet) as bar:
        average: list[float] = []

        def report(loss):
            if not math.isfinite(loss):
                raise _Diverged(f"the loss is {loss} at step {bar.n + 1} of {epochs * steps}")
            # Darknet's running figure: avg = .9*avg + .1*loss.
            average[:] = [loss if not average else 0.9 * average[0] + 0.1 * loss]
            bar.set_postfix(loss=f"{loss:.4f}", avg=f"{average[0]:.4f}", refresh=False)
            bar.update()

        try:
            losses = network.train(
                features[train_rows],
                truth[train_rows],
                epochs=epochs,
                seed=args.seed,
                callback=report,
            )
        except _Diverged as error:
            bar.close()
            return fail(
                prog,
                f"{error}: training diverged, weights not saved (try a smaller "
                f"learning_rate in {args.cfg})",
            )
    seconds = time.perf_counter() - start
    try:
        network.save_weights(args.weights)
    except OSError as error:
        return fail(prog, f"--weights {args.weights}: {error.strerror or error}")
    print(
        f"trained {len(train_rows)} images, {epochs} epochs of {steps} batches, in "
        f"{seconds:.2f} s; final loss {losses[-1]:.4f}"
    )
    if len(test_rows):
        accuracy, _ = _accuracy(network, features[test_rows], labels[test_rows])
        print(
            f"held-out accuracy {accuracy:.2%} ({round(accuracy * len(test_rows))} of "
            f"{len(test_rows)} images)"
        )
    else:
        print("no rows held out (--test-fraction 0), so no accuracy is reported")
    print(f"weights saved to {args.weights}")
    return 0


def predict(args):
    """Load the weights into the cfg's network and report its held-out accuracy."""
    prog = "darknet-softmax predict"
    if not args.all and args.test_fraction == 0:
        return fail(
            prog,
            "--test-fraction 0 holds no rows out, so there is nothing held out to score "
            "(pass --all to score every row)",
        )
    try:
        network, features, labels = _network_and_data(args)
        network.load_weights(args.weights)
    except (OSError, ValueError, MemoryError) as error:
        return fail(prog, str(error))
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
            type=real(lambda value: value > 0, "a finite number above 0"),
            default=16.0,
            help="divide every feature by this (default 16, the digits' largest pixel value)",
        )
        command.add_argument(
            "--test-fraction",
            type=real(lambda value: 0 <= value < 1, "a number from 0 to below 1"),
            default=0.2,
            help="the share of rows held out of training, from 0 (none: train on every "
            "row and report no held-out accuracy) to below 1 (default 0.2)",
        )
        command.add_argument(
            "--seed",
            type=SEED,
            default=0,
            help="seeds the split, the weights, dropout and shuffling",
        )
        command.set_defaults(run=run)
        if name == "train":
            command.add_argument(
                "--epochs",
                type=integer(1),
                default=None,
                help="passes over the training rows (default: as many as "
                "the cfg's max_batches needs)",
            )
            command.add_argument("--quiet", action="store_true", help="no progress bar")
        else:
            command.add_argument(
                "--show", type=integer(0), default=0, help="print the first SHOW predictions"
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
    parser = ArgumentParser(prog="darknet-softmax", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("parity", help="check C against the NumPy reference")
    check.add_argument("--seed", type=SEED, default=0)
    check.set_defaults(run=parity)
    describe = commands.add_parser("tree", help="validate a .tree file and describe it")
    describe.add_argument("file", help="a Darknet .tree file (NAME PARENT on each line)")
    describe.add_argument(
        "--top", type=integer(0), default=5, help="how many of the largest groups"
    )
    describe.set_defaults(run=tree_summary)
    summary = commands.add_parser(
        "summary", help="print a cfg's network as Darknet's table, and what it takes"
    )
    summary.add_argument("cfg", help="a Darknet .cfg file")
    summary.set_defaults(run=cfg_summary)
    _add_network_commands(commands)
    _add_bench_command(commands)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
