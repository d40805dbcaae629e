"""The `darknet-softmax` command line."""
import argparse
import sys
import time

import numpy as np

from . import kernels, reference

# (batch, inputs, groups, temperature) cases for the parity report.
PARITY_CASES = [(1, 1, 1, 1.0), (64, 1000, 1, 1.0), (32, 1000, 200, 1.0), (16, 4096, 16, 0.5),
                (8, 9418, 1, 2.0), (64, 17, 17, 1.0), (5, 15, 3, 1e-3), (3, 7, 1, 10.0)]


def parity(args):
    """C against the float64 reference over a few shapes, then one timing."""
    rng = np.random.default_rng(args.seed)
    print(f"{'batch':>6} {'inputs':>7} {'groups':>7} {'temp':>6} {'max abs err':>12} "
          f"{'max rel err':>12}")
    worst = 0.0
    for batch, inputs, groups, temperature in PARITY_CASES:
        x = (rng.standard_normal((batch, inputs)) * 3).astype(np.float32)
        got = kernels.softmax(x, groups, temperature).astype(np.float64)
        expected = reference.softmax(x, groups, temperature)
        error = np.abs(got - expected)
        relative = (error / np.maximum(expected, 1e-30)).max()
        worst = max(worst, (error / (1e-6 + 1e-5 * expected)).max())
        print(f"{batch:>6} {inputs:>7} {groups:>7} {temperature:>6g} {error.max():>12.3g} "
              f"{relative:>12.3g}")
    x = rng.standard_normal((128, 1000)).astype(np.float32)
    out = np.empty_like(x)
    c_time = _best_time(lambda: kernels.softmax(x, out=out))
    numpy_time = _best_time(lambda: reference.softmax(x))
    print(f"softmax (128, 1000): C {c_time * 1e3:.3f} ms, NumPy float64 reference "
          f"{numpy_time * 1e3:.3f} ms ({numpy_time / c_time:.1f}x)")
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
    from .tree import read_tree
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
    for group in np.argsort(-sizes, kind="stable")[:max(args.top, 0)]:
        parent = tree.parent[tree.group_offset[group]]
        under = "the roots" if parent < 0 else f"{tree.name[parent]} (node {parent})"
        print(f"  group {group:>5}: {sizes[group]:>5} nodes under {under}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="darknet-softmax", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("parity", help="check C against the NumPy reference")
    check.add_argument("--seed", type=int, default=0)
    check.set_defaults(run=parity)
    describe = commands.add_parser("tree", help="validate a .tree file and describe it")
    describe.add_argument("file", help="a Darknet .tree file (NAME PARENT on each line)")
    describe.add_argument("--top", type=int, default=5, help="how many of the largest groups")
    describe.set_defaults(run=tree_summary)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
