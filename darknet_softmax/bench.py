"""The speed benchmark: the workloads W1 to W5 of SPEC section 6, a spatial
case, the fused loss (CE1 to CE3) and log_softmax over axis 1 (LSM), at one
thread and at all cores, against the memory floor (a plain copy of the same
array; for softmax_backward, which reads two arrays, an axpy too), NumPy,
Darknet's scalar loop and PyTorch (when installed).
W1 to W4 also run log_softmax (W1-log ...) and softmax_backward (W1-bwd ...),
and W1 and W5 the exact layer's forward and backward against the default
layer's (W1-exact, W5-exact); a name W1 to W5 runs all of its rows.

Each implementation is checked against the float64 reference before it is
timed; one that is wrong is reported, never timed. Every figure is the median
of many calls (at one thread, the implementations taking turns), and
every ratio compares two figures from the same run.

    python benchmarks/bench.py [--quick] [--workloads W1,W3] [--json FILE] [--plot FILE]
    darknet-softmax bench ...      (the same)
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from typing import Any

import numpy as np
from tqdm import tqdm

from . import bench_gemm, kernels, reference, runtime
from .arguments import ArgumentParser, fail, integer
from .layers import NetworkContext, SoftmaxLayer
from .tree import YOLO9000_TREE, read_tree

torch: Any = None  # PyTorch, when installed: imported by run(), as it is slow to import

# The speed targets: this project's time over the other's, at all cores.
TARGETS = {
    "W1": [("torch", 0.6)],
    "W2": [("torch", 0.6)],
    "W3": [("torch", 0.1)],
    "W4": [("torch", 0.6), ("copy", 1.1)],
    "W5": [("torch", 0.1)],
    **{
        f"W{i}-{kind}": [("torch", 0.1 if i == 3 else 0.6)]
        for kind in ("log", "bwd")
        for i in range(1, 5)
    },
    # the exact layer's forward and backward against the default layer's
    "W1-exact": [("default", 1.25)],
    "W5-exact": [("default", 1.25)],
    # the fused loss forward and backward, and log_softmax over axis 1
    "CE1": [("torch", 0.5)],
    "CE2": [("torch", 0.5)],
    "CE3": [("torch", 0.5)],
    "LSM": [("torch", 0.5)],
    **bench_gemm.TARGETS,
}
RATIO_TO = ["copy", "axpy", "numpy", "scalar", "torch", "default"]
# The memory floors, measured at each thread count (the ratios to them are
# to their figure at all cores): a plain copy of the input, and for
# softmax_backward (two arrays read, one written) an axpy.
FLOORS = ("copy", "axpy")
# Peers, each compared at its best thread count: their threads can lose on a busy machine.
AT_BEST = ("numpy", "torch")


# --- workloads: each gives its input, a float64 reference, and implementations ---


def numpy_log_softmax(x, out, axis):
    np.subtract(x, x.max(axis=axis, keepdims=True), out=out)
    out -= np.log(np.exp(out).sum(axis=axis, keepdims=True))


def numpy_softmax(x, out, axis):
    """NumPy's best in float32: max, subtract and exp in place, sum, divide."""
    np.subtract(x, x.max(axis=axis, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=axis, keepdims=True)


class Workload:
    """A named softmax problem over a float32 array `x` of `size` values.
    `implementations(threads)` maps a name to a call that writes `out`."""

    def __init__(self, name, label, x):
        self.name, self.label, self.x = name, label, x
        self.out = np.empty_like(x)
        self.size = x.size

    def expected(self):
        raise NotImplementedError

    def error(self, expected):
        """The worst error of the last call, in units of the tolerance."""
        return reference.worst_error(self.actual(), expected)

    def actual(self):
        """What the last call computed, to check against expected()."""
        return self.out

    def implementations(self):
        raise NotImplementedError

    def floors(self):
        """The memory floors' calls, by name: what a kernel that reads and
        writes these arrays through the cache cannot beat."""
        return {"copy": lambda: runtime.copy(self.x, self.out)}


class Grouped(Workload):
    """(batch, inputs, groups): a softmax over each of `groups` slices of a row."""

    kernel, numpy_kernel, torch_kernel = (
        staticmethod(kernels.softmax),
        staticmethod(numpy_softmax),
        "_softmax",
    )

    def __init__(self, name, batch, inputs, groups, rng):
        super().__init__(
            name,
            f"{name} ({batch}, {inputs}, {groups})",
            rng.standard_normal((batch, inputs), dtype=np.float32) * 3,
        )
        self.groups = groups
        self.grouped = (batch, groups, inputs // groups)

    def expected(self):
        return reference.softmax(self.x, self.groups)

    def implementations(self):
        x, out, groups, grouped = self.x, self.out, self.groups, self.grouped
        calls = {
            "darknet_softmax": lambda: self.kernel(x, groups, out=out),
            "numpy": lambda: self.numpy_kernel(x.reshape(grouped), out.reshape(grouped), -1),
        }
        if torch is not None:
            tx, tout = torch.from_numpy(x).view(grouped), torch.from_numpy(out).view(grouped)
            theirs = getattr(torch.ops.aten, self.torch_kernel).out
            calls["torch"] = lambda: theirs(tx, -1, False, out=tout)
        return calls


class GroupedLog(Grouped):
    """log_softmax over the groups of a Grouped workload."""

    kernel, numpy_kernel = staticmethod(kernels.log_softmax), staticmethod(numpy_log_softmax)
    torch_kernel = "_log_softmax"

    def expected(self):
        return reference.log_softmax(self.x, self.groups)


class GroupedBackward(Grouped):
    """softmax_backward over the groups of a Grouped workload: y its softmax,
    dy random. Each call makes its result, as PyTorch's
    _softmax_backward_data does (ours starts from zeros, out=None)."""

    def __init__(self, name, batch, inputs, groups, rng):
        super().__init__(name, batch, inputs, groups, rng)
        self.y = kernels.softmax(self.x, groups)
        self.dy = rng.standard_normal(self.x.shape, dtype=np.float32)
        self.last = None
        self.sink = self.y.copy()  # the axpy's, which adds 0 * dy to it

    def expected(self):
        return reference.softmax_backward(self.y, self.dy, self.groups)

    def actual(self):
        return self.last

    def implementations(self):
        y, dy, groups, grouped = self.y, self.dy, self.groups, self.grouped

        def ours():
            self.last = kernels.softmax_backward(y, dy, groups)

        def numpy_backward():
            gy, gdy = y.reshape(grouped), dy.reshape(grouped)
            product = gdy - (gdy * gy).sum(axis=-1, keepdims=True)
            self.last = np.multiply(product, gy, out=product).reshape(y.shape)

        calls = {"darknet_softmax": ours, "numpy": numpy_backward}
        if torch is not None:
            ty, tdy = torch.from_numpy(y).view(grouped), torch.from_numpy(dy).view(grouped)

            def theirs():
                self.last = torch._softmax_backward_data(tdy, ty, -1, torch.float32).view(y.shape)

            calls["torch"] = theirs
        return calls

    def floors(self):
        """The copy, and an axpy, which reads dy and y (its copy) and writes
        y, as the backward reads y and dy and writes dx: in place, it saves
        the read of a new line that a third array costs, so it is a floor."""
        return {**super().floors(), "axpy": lambda: kernels.axpy(0.0, self.dy, self.sink)}


class ExactLayer(Workload):
    """The exact softmax layer's forward and backward (with its loss) against
    the default layer's, over the groups of W1 or the tree of W5, each group's
    truth one-hot: both then give delta = truth - output, which is checked."""

    def __init__(self, name, batch, inputs, rng, tree=None):
        super().__init__(
            name,
            f"{name} exact layer ({batch}, {inputs})",
            rng.standard_normal((batch, inputs), dtype=np.float32) * 3,
        )
        self.tree = tree
        self.truth = np.zeros_like(self.x)
        offsets, sizes = (tree.group_offset, tree.group_size) if tree else ([0], [inputs])
        for offset, size in zip(offsets, sizes):
            self.truth[np.arange(batch), offset + rng.integers(0, size, batch)] = 1
        self.net = NetworkContext(self.x, truth=self.truth, delta=np.zeros_like(self.x))
        self.layers = {
            exact: SoftmaxLayer(batch, inputs, tree=tree, exact=exact) for exact in (True, False)
        }
        self.last = None

    def expected(self):
        if self.tree is None:
            return self.truth - reference.softmax(self.x)
        tree = self.tree
        return self.truth - reference.tree_softmax(self.x, tree.group_offset, tree.group_size)

    def actual(self):
        return self.last

    def implementations(self):
        def step(layer):
            def call():
                layer.forward(self.net)
                layer.backward(self.net)
                self.last = layer.delta

            return call

        return {"darknet_softmax": step(self.layers[True]), "default": step(self.layers[False])}


class Spatial(Workload):
    """(batch, c, h, w): a softmax over the c channels at every position."""

    def __init__(self, name, batch, c, h, w, rng):
        super().__init__(
            name,
            f"{name} spatial ({batch}, {c}, {h}, {w})",
            rng.standard_normal((batch, c, h * w), dtype=np.float32) * 3,
        )

    def expected(self):
        return np.moveaxis(reference.softmax(np.moveaxis(self.x, 1, -1)), -1, 1)

    def implementations(self):
        x, out = self.x, self.out
        batch, c, positions = x.shape
        calls = {
            "darknet_softmax": lambda: kernels.softmax_cpu(
                x.ravel(), c, batch, c * positions, positions, 1, positions, 1.0, out.ravel()
            ),
            "numpy": lambda: numpy_softmax(x, out, 1),
        }
        if torch is not None:
            tx, tout = torch.from_numpy(x), torch.from_numpy(out)
            calls["torch"] = lambda: torch.ops.aten._softmax.out(tx, 1, False, out=tout)
        return calls


class TreeGroups(Workload):
    """A batch over every group of a WordTree, through the softmax layer."""

    def __init__(self, name, batch, tree, rng):
        super().__init__(
            name,
            f"{name} tree ({batch}, {tree.n}, {tree.groups} groups)",
            rng.standard_normal((batch, tree.n), dtype=np.float32) * 3,
        )
        self.tree = tree
        self.layer = SoftmaxLayer(batch, tree.n, tree=tree)
        self.out = self.layer.output
        self.net = NetworkContext(self.x)

    def expected(self):
        return reference.tree_softmax(self.x, self.tree.group_offset, self.tree.group_size)

    def implementations(self):
        x, out, tree = self.x, self.out, self.tree
        buckets = [
            np.add.outer(tree.group_offset[tree.group_size == size], np.arange(size))
            for size in np.unique(tree.group_size)
        ]
        calls = {
            "darknet_softmax": lambda: self.layer.forward(self.net),
            "numpy": lambda: numpy_tree_softmax(x, buckets, out),
        }
        if torch is not None:
            calls["torch"] = torch_tree_softmax(x, out, tree.group)
        return calls


class CrossEntropy(Workload):
    """The fused loss, forward and backward, with integer labels along `axis`
    (ignore_index where given): its gradient is what is checked."""

    def __init__(self, name, shape, axis, ignore_index, rng):
        x = rng.standard_normal(shape, dtype=np.float32) * 3
        super().__init__(name, f"{name} loss {shape} axis {axis}", x)
        positions = shape[:axis] + shape[axis + 1 :]
        self.labels = rng.integers(0, shape[axis], positions)
        if ignore_index is not None:
            self.labels.reshape(-1)[::7] = ignore_index
        self.axis, self.ignore_index = axis, ignore_index
        self.last = None

    def expected(self):
        """The float64 gradient of the mean, built in place (a one-hot of
        4096 x 10000 in float64 would be 330 MB more)."""
        moved = np.ascontiguousarray(np.moveaxis(self.x, self.axis, -1))
        grad = reference.softmax(moved)
        labels = self.labels
        valid = labels != self.ignore_index if self.ignore_index is not None else labels >= 0
        flat = grad.reshape(-1, grad.shape[-1])
        rows = np.flatnonzero(valid.reshape(-1))
        flat[rows, labels.reshape(-1)[rows]] -= 1
        flat[~valid.reshape(-1)] = 0
        flat /= rows.size
        return np.moveaxis(grad, -1, self.axis)

    def actual(self):
        return self.last

    def implementations(self):
        x, labels, axis, ignore = self.x, self.labels, self.axis, self.ignore_index

        def ours():
            self.last = kernels.softmax_cross_entropy(x, labels, axis=axis, ignore_index=ignore)[1]

        calls = {"darknet_softmax": ours}
        if torch is not None:
            tx = torch.from_numpy(x).requires_grad_()
            tlabels = torch.from_numpy(labels)
            options = {} if ignore is None else {"ignore_index": ignore}

            def theirs():
                tx.grad = None
                torch.nn.functional.cross_entropy(tx, tlabels, **options).backward()
                self.last = tx.grad.numpy()

            calls["torch"] = theirs
        return calls


class LogSoftmaxAxis(Workload):
    """log_softmax over axis 1 of (batch, classes, positions): the SSD head."""

    def __init__(self, name, shape, rng):
        super().__init__(
            name, f"{name} log_softmax {shape} axis 1", rng.standard_normal(shape, np.float32) * 3
        )

    def expected(self):
        return reference.log_softmax_along(self.x, axis=1)

    def implementations(self):
        x, out = self.x, self.out
        calls = {
            "darknet_softmax": lambda: kernels.log_softmax(x, out=out, axis=1),
            "numpy": lambda: numpy_log_softmax(x, out, 1),
        }
        if torch is not None:
            tx, tout = torch.from_numpy(x), torch.from_numpy(out)
            calls["torch"] = lambda: torch.ops.aten._log_softmax.out(tx, 1, False, out=tout)
        return calls


def numpy_tree_softmax(x, buckets, out):
    """Tree groups bucketed by size: one vectorised softmax per group size."""
    for columns in buckets:
        block = x[:, columns]
        numpy_softmax(block, block, -1)
        out[:, columns] = block


def torch_tree_softmax(x, out, group):
    """Tree groups with PyTorch's segment operations (scatter_reduce, gather)."""
    tx, tout = torch.from_numpy(x), torch.from_numpy(out)
    # torch.tensor copies: from_numpy of the tree's read-only group warns.
    index = torch.tensor(group, dtype=torch.long).expand(x.shape[0], -1).contiguous()
    groups = int(group.max()) + 1
    largest = torch.empty((x.shape[0], groups), dtype=torch.float32)
    sums = torch.empty_like(largest)

    def call():
        largest.fill_(-float("inf")).scatter_reduce_(1, index, tx, "amax")
        torch.sub(tx, largest.gather(1, index), out=tout)
        tout.exp_()
        sums.zero_().scatter_add_(1, index, tout)
        tout.div_(sums.gather(1, index))

    return call


GROUPED = {
    "W1": (128, 1000, 1),
    "W2": (256, 4096, 16),
    "W3": (1024, 1000, 200),
    "W4": (4096, 10000, 1),
}
# What a name of W1 to W5 runs: softmax, then its other kernels' rows.
FAMILY = {
    **{name: [name, f"{name}-log", f"{name}-bwd"] for name in GROUPED},
    "W5": ["W5", "W5-exact"],
}
FAMILY["W1"].append("W1-exact")


def workloads(quick, names, tree, darknet19):
    """The workloads named, in order; `tree` is the WordTree of W5 (None when
    W5 is not among them), `darknet19` the cfg of D19. Each draws its data
    from bench_gemm.seeded(its name)."""
    scale = 8 if quick else 1
    seeded = bench_gemm.seeded

    def grouped(kind, name, suffix=""):
        batch, inputs, groups = GROUPED[name]
        batch //= scale**2 if name == "W4" else scale
        return lambda: kind(name + suffix, batch, inputs, groups, seeded(name + suffix))

    make = {
        **{name: grouped(Grouped, name) for name in GROUPED},
        **{f"{name}-log": grouped(GroupedLog, name, "-log") for name in GROUPED},
        **{f"{name}-bwd": grouped(GroupedBackward, name, "-bwd") for name in GROUPED},
        "W1-exact": lambda: ExactLayer("W1-exact", 128 // scale, 1000, seeded("W1-exact")),
        "W5": lambda: TreeGroups("W5", 64 // scale, tree, seeded("W5")),
        "W5-exact": lambda: ExactLayer("W5-exact", 64 // scale, tree.n, seeded("W5-exact"), tree),
        "S": lambda: Spatial("S", 16 // scale, 21, 64, 64, seeded("S")),
        "CE1": lambda: CrossEntropy("CE1", (128 // scale, 1000), 1, None, seeded("CE1")),
        "CE2": lambda: CrossEntropy("CE2", (4096 // scale**2, 10000), 1, None, seeded("CE2")),
        "CE3": lambda: CrossEntropy("CE3", (8 // scale, 21, 128, 128), 1, 255, seeded("CE3")),
        "LSM": lambda: LogSoftmaxAxis("LSM", (32 // scale, 81, 8732), seeded("LSM")),
        **bench_gemm.workloads(quick, darknet19, torch),
    }
    for name in names:
        for member in FAMILY.get(name, [name]):
            yield make[member]()


# --- checking and timing ---


def untimed(call, seconds):
    """`call` again and again until `seconds` have passed (not at all for 0)."""
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        call()


def medians(times):
    """Each name's median and count of its timed calls ({name: seconds})."""
    return {name: (statistics.median(kept), len(kept)) for name, kept in times.items()}


def median_seconds(call, repeats, budget, warm_up):
    """The median of `repeats` timed calls (fewer if they pass `budget` seconds),
    after warm-up calls that also let other thread pools go back to sleep."""
    untimed(call, warm_up)
    times: list[float] = []
    begin = time.perf_counter()
    while len(times) < repeats and (len(times) < 5 or time.perf_counter() - begin < budget):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def alternated_medians(calls, repeats, budget, warm_up, run=3):
    """For `calls` ({name: call}), each one's median and count of up to
    `repeats` timed calls (at least 5, fewer once the rounds pass `budget`
    seconds a call), after warm-up calls of each. The implementations take
    turns, `run` timed calls at a time, each run after one untimed call that
    brings its data back into cache (a call right after another
    implementation's would find its own evicted, and time that): on a shared
    machine whose speed changes from one second to the next, the change then
    falls on every implementation alike, where timing one after the other
    lets it fall on one."""
    for call in calls.values():
        untimed(call, warm_up)
    times: dict = {name: [] for name in calls}
    begin = time.perf_counter()
    while any(len(kept) < repeats for kept in times.values()) and (
        min(map(len, times.values())) < 5 or time.perf_counter() - begin < budget * len(calls)
    ):
        for name, call in calls.items():
            call()
            for _ in range(min(run, repeats - len(times[name]))):
                t0 = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - t0)
    return medians(times)


def rounds_medians(calls, repeats, budget, settle, rounds=3):
    """For `calls` ({name: call}) at more than one thread, each one's median
    and count of up to `repeats` timed calls: `rounds` rounds in which the
    implementations take turns, each timing up to repeats/rounds calls
    (fewer once budget/rounds seconds pass, two at least) after untimed calls
    that fill `settle` seconds, long enough for the threads of the peer
    before it, which spin for a while after its calls, to go back to sleep.
    A slow spell of the shared machine (a core taken for a second) then
    falls on one turn of one implementation, not on all of its calls."""
    times: dict = {name: [] for name in calls}
    share = -(-repeats // rounds)
    for _ in range(rounds):
        for name, call in calls.items():
            untimed(call, settle)
            begin = time.perf_counter()
            for count in range(min(share, repeats - len(times[name]))):
                if count >= 2 and time.perf_counter() - begin > budget / rounds:
                    break
                t0 = time.perf_counter()
                call()
                times[name].append(time.perf_counter() - t0)
    return medians(times)


def set_threads(threads):
    runtime.set_num_threads(threads)
    bench_gemm.set_blas_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)


def measure(workload, thread_counts, cores, repeats, timing, progress, isas=()):
    """Rows of results for one workload: each implementation at each thread count,
    darknet_softmax again with each of `isas` (named "isa=NAME"), the
    scalar path (one thread, as Darknet), and the floors. At one thread the
    implementations take turns a few calls at a time (alternated_medians);
    at more, in a few long turns (rounds_medians), since a peer's threads
    spin for a while after its call and would take cores from the next one.
    `timing` holds the budget, warm-up and settle seconds."""
    budget, warm_up, settle = timing
    expected = workload.expected()
    calls = workload.implementations()
    rows = []

    def checked(name, threads, call, check=True):
        """The row of one implementation, its result checked, not yet timed."""
        progress.set_postfix_str(f"{workload.name} {name} {threads}t")
        workload.out.fill(np.nan)
        call()
        error = workload.error(expected) if check else 0.0
        row = {
            "workload": workload.name,
            "label": workload.label,
            "implementation": name,
            "threads": threads,
            "elements": workload.size,
            "flops": getattr(workload, "flops", None),
            "error": error,
            "ok": error <= 1,
        }
        rows.append(row)
        return row

    def timed(row, figures):
        row.update(seconds=figures[0], repeats=figures[1])

    def run(name, threads, call, check=True):
        row = checked(name, threads, call, check)
        if row["ok"]:
            timed(row, median_seconds(call, repeats, budget, warm_up))

    with runtime.settings(kernel="scalar"):
        run("scalar", 1, calls["darknet_softmax"])
    for threads in thread_counts:
        set_threads(threads)
        for name, call in workload.floors().items():
            run(name, threads, call, check=False)
        group = {name: checked(name, threads, call) for name, call in calls.items()}
        ok = {name: call for name, call in calls.items() if group[name]["ok"]}
        if threads == 1:
            results = alternated_medians(ok, repeats, budget, warm_up)
        else:
            results = rounds_medians(ok, repeats, budget, settle)
        for name, figures in results.items():
            timed(group[name], figures)
        for isa in isas:
            with runtime.settings(instruction_set=isa):
                run(f"isa={isa}", threads, calls["darknet_softmax"])
    set_threads(cores)
    return rows


def isa_summary(rows):
    """Each instruction set's time over the default one's, from the same run."""
    lines = []
    for row in rows:
        name = row["implementation"]
        if not name.startswith("isa=") or "seconds" not in row:
            continue
        default = [
            r
            for r in rows
            if r["workload"] == row["workload"]
            and r["threads"] == row["threads"]
            and r["implementation"] == "darknet_softmax"
            and "seconds" in r
        ]
        if default:
            lines.append(
                f"  {row['workload']} {row['threads']} thr {name} / darknet_softmax: "
                f"{row['seconds'] / default[0]['seconds']:.3f}"
            )
    return "\n".join(["instruction sets (time over the default's):", *lines]) if lines else ""


def compared_with(other, theirs, ours, cores):
    """Whether `theirs`, a row of implementation `other`, is one that `ours`
    is compared with: a floor at all cores, the scalar path (one thread),
    another implementation at ours' thread count, and a peer (AT_BEST) at
    fewer threads too, so that its best time up to ours' is taken."""
    if other in FLOORS:
        return theirs["threads"] == cores
    if other == "scalar" or theirs["threads"] == ours["threads"]:
        return True
    return other in AT_BEST and theirs["threads"] < ours["threads"]


def add_figures(rows):
    """ns per element, GB/s (one read and one write of every float) and the
    ratios to the floors at all cores, the scalar path, the default layer at
    the same threads, and NumPy and PyTorch at their best thread count up to
    this row's: at one thread their one thread, at all cores the faster of
    one and all."""
    cores = max((row["threads"] for row in rows), default=1)
    for row in rows:
        if "seconds" not in row:
            continue
        row["ms"] = row["seconds"] * 1e3
        row["ns_per_element"] = row["seconds"] / row["elements"] * 1e9
        row["gb_per_s"] = 8 * row["elements"] / row["seconds"] / 1e9
        for other in RATIO_TO:
            match = [
                r["seconds"]
                for r in rows
                if r["workload"] == row["workload"]
                and r["implementation"] == other
                and "seconds" in r
                and compared_with(other, r, row, cores)
            ]
            if match:
                row[f"x_{other}"] = row["seconds"] / min(match)
    return rows


def format_table(rows):
    header = (
        f"{'workload':<38} {'impl':<16} {'thr':>3} {'ms':>9} {'ns/elem':>8} {'GB/s':>6} "
        + " ".join(f"{'x' + other:>8}" for other in RATIO_TO)
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        start = f"{row['label']:<38} {row['implementation']:<16} {row['threads']:>3} "
        if not row["ok"]:
            lines.append(start + f"WRONG: error {row['error']:.3g} x tolerance; not timed")
            continue
        ratios = " ".join(
            f"{row[f'x_{o}']:>8.3f}" if f"x_{o}" in row else f"{'-':>8}" for o in RATIO_TO
        )
        lines.append(
            start + f"{row['ms']:>9.3f} {row['ns_per_element']:>8.3f} "
            f"{row['gb_per_s']:>6.1f} {ratios}"
        )
    return "\n".join(lines)


def target_summary(rows, thread_counts, quick=False):
    """Each speed target: the ratio measured and whether it is met, at one
    thread and at all cores. Against a floor (on all cores) only all cores
    are judged; other thread counts, and a quick run's small arrays, are shown
    for reference. A target against NumPy or PyTorch not met is set beside
    the workload's floor at the same thread count (its time over the same
    peer's), which says how far the memory alone is from the target."""
    lines = [
        "targets (darknet_softmax time / other time; the copy at all cores, "
        f"{' and '.join(AT_BEST)} at their best thread count up to the row's):"
    ]
    judged = {1, max(thread_counts)}
    verdicts = []
    for workload, targets in TARGETS.items():
        for threads in thread_counts:
            ours = [
                r
                for r in rows
                if r["workload"] == workload
                and r["threads"] == threads
                and r["implementation"] == "darknet_softmax"
            ]
            for other, limit in targets if ours else []:
                ratio = ours[0].get(f"x_{other}")
                floor = floor_ratio(rows, ours[0], other, ratio)
                verdict = (
                    "for reference"
                    if quick
                    or threads not in judged
                    or (other in FLOORS and threads != max(thread_counts))
                    else "n/a"
                    if ratio is None
                    else "met"
                    if ratio <= limit
                    else "NOT met"
                )
                verdicts.append(
                    {
                        "workload": workload,
                        "threads": threads,
                        "against": other,
                        "target": limit,
                        "ratio": ratio,
                        "verdict": verdict,
                        "floor": floor,
                    }
                )
                shown = "-" if ratio is None else f"{ratio:.3f}"
                if floor is not None and verdict == "NOT met":
                    verdict += f" (the floor alone: {floor:.3f})"
                lines.append(
                    f"  {workload} {threads} thr vs {other:<6} target <= {limit:<5} "
                    f"measured {shown:>6}  {verdict}"
                )
    return "\n".join(lines), verdicts


def floor_ratio(rows, ours, other, ratio):
    """The workload's floor (its axpy, else its copy) at ours' thread count
    over the time of `other` (NumPy or PyTorch) that `ratio` was measured
    against; None without them, or against another row of ours."""
    if other not in AT_BEST or ratio is None:
        return None
    floors = {
        r["implementation"]: r["seconds"]
        for r in rows
        if r["workload"] == ours["workload"]
        and r["implementation"] in FLOORS
        and r["threads"] == ours["threads"]
        and "seconds" in r
    }
    if not floors:
        return None
    return ratio * floors.get("axpy", floors.get("copy")) / ours["seconds"]


def plot(rows, path):
    """ns per element of each implementation, one panel per thread count."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("--plot needs matplotlib (pip install matplotlib)", file=sys.stderr)
        return False
    timed = [r for r in rows if "seconds" in r]
    thread_counts = sorted({r["threads"] for r in timed if r["implementation"] != "scalar"})
    workloads = list(dict.fromkeys(r["workload"] for r in timed))
    names = list(dict.fromkeys(r["implementation"] for r in timed))
    figure, axes = plt.subplots(
        1, len(thread_counts), figsize=(6 * len(thread_counts), 4.5), squeeze=False
    )
    width = 0.8 / len(names)
    for axis, threads in zip(axes[0], thread_counts):
        for i, name in enumerate(names):
            values = []
            for workload in workloads:
                match = [
                    r
                    for r in timed
                    if r["workload"] == workload
                    and r["implementation"] == name
                    and (name == "scalar" or r["threads"] == threads)
                ]
                values.append(match[0]["ns_per_element"] if match else np.nan)
            axis.bar(np.arange(len(workloads)) + i * width, values, width, label=name)
        axis.set_xticks(np.arange(len(workloads)) + 0.4 - width / 2, workloads)
        axis.set_yscale("log")
        axis.set_ylabel("ns per element (lower is faster)")
        axis.set_title(f"{threads} thread{'s' if threads > 1 else ''}")
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return True


# The default run; D19 reads Darknet's cfg from beside the package, so it runs when named.
SOFTMAX_WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "S", "CE1", "CE2", "CE3", "LSM")
WORKLOADS_ALL = SOFTMAX_WORKLOADS + bench_gemm.PRODUCTS
# One row of a family alone: W1-log, W5-exact, ...
WORKLOAD_ROWS = tuple(member for name in FAMILY for member in FAMILY[name] if member != name)
WORKLOADS = (*WORKLOADS_ALL, "D19", *WORKLOAD_ROWS)


def build_parser(parser=None):
    parser = parser or ArgumentParser(
        prog="bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS_ALL),
        help="comma-separated, from "
        + " ".join((*WORKLOADS_ALL, "D19"))
        + " (default: all but D19); W1 to W5 run their other rows too, which can be named "
        + "alone: "
        + " ".join(WORKLOAD_ROWS),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller arrays and fewer repeats: a smoke run, not a measurement",
    )
    parser.add_argument(
        "--repeats",
        type=integer(1),
        default=None,
        help="timed calls per figure (default 200, or 5 with --quick)",
    )
    parser.add_argument(
        "--threads",
        type=integer(1, runtime.MAX_THREADS),
        default=None,
        help="the 'all cores' thread count (default: the CPUs available)",
    )
    parser.add_argument(
        "--isa",
        default="",
        help="comma-separated instruction sets (from runtime.instruction_sets()) to time "
        "darknet_softmax with too, beside the default one",
    )
    parser.add_argument("--tree", default=str(YOLO9000_TREE), help="the .tree file for W5")
    parser.add_argument(
        "--darknet19",
        default=bench_gemm.DARKNET19,
        help="the cfg of D19 (default: Darknet's darknet19.cfg, shipped with the package)",
    )
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--plot", metavar="FILE", help="write a PNG chart (needs matplotlib)")
    parser.set_defaults(bench_prog=parser.prog)
    return parser


def import_torch():
    global torch
    try:
        import torch
    except ImportError:  # PyTorch stays optional
        torch = None


def check_arguments(args):
    """What run() needs, checked before any timing: (workload names, the W5
    tree or None, the instruction sets of --isa), or an error message naming
    the option."""
    names = [name.strip() for name in args.workloads.split(",") if name.strip()]
    if not names:
        return f"--workloads: name at least one of {', '.join(WORKLOADS)}, not {args.workloads!r}"
    unknown = [name for name in names if name not in WORKLOADS]
    if unknown:
        return f"--workloads: unknown {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}"
    isas = [isa.strip() for isa in args.isa.split(",") if isa.strip()]
    unknown = [isa for isa in isas if isa not in runtime.instruction_sets()]
    if unknown:
        return (
            f"--isa: {', '.join(unknown)} not available; choose from "
            f"{', '.join(runtime.instruction_sets())}"
        )
    tree = None
    if "W5" in names or "W5-exact" in names:
        try:
            tree = read_tree(args.tree)
        except (OSError, ValueError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            return f"--tree {args.tree} (for W5): {reason}"
    if "D19" in names and not os.path.isfile(args.darknet19):
        return f"--darknet19 {args.darknet19} (for D19): no such file"
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return "--plot needs matplotlib (pip install matplotlib)"
    for option, path in (("--json", args.json), ("--plot", args.plot)):
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder and not os.path.isdir(folder):
            return f"{option} {path}: the folder {folder} does not exist"
    return names, tree, isas


def run(args):
    checked = check_arguments(args)
    if isinstance(checked, str):
        return fail(getattr(args, "bench_prog", "bench"), checked, status=2)
    names, tree, isas = checked
    import_torch()
    cores = args.threads or runtime.get_num_threads()
    thread_counts = sorted({1, cores})
    repeats = args.repeats or (5 if args.quick else 200)
    # The settle outlasts the peers' spinning threads: 20 ms after NumPy's
    # last call our 2-thread product still took twice its time, a quarter
    # second after it, its usual time (64x3136x576, Zen 4, 2026-12-02).
    timing = (0.01, 0.001, 0.001) if args.quick else (1.0, 0.02, 0.25)
    saved = runtime.get_kernel(), runtime.get_num_threads()
    rows = []
    with tqdm(
        total=sum(len(FAMILY.get(name, [name])) for name in names),
        unit="workload",
        file=sys.stderr,
        leave=False,
    ) as progress:
        for workload in workloads(args.quick, names, tree, args.darknet19):
            rows += measure(workload, thread_counts, cores, repeats, timing, progress, isas)
            progress.update()
    runtime.set_kernel(saved[0])
    runtime.set_num_threads(saved[1])
    add_figures(rows)
    print(
        f"darknet_softmax, instruction set {runtime.get_instruction_set()}, {cores} cores; "
        f"{platform.processor() or platform.machine()}; numpy {np.__version__}; "
        f"torch {torch.__version__ if torch else 'not installed'}; median of up to {repeats}"
    )
    print(
        "ratios are this row's time over the other's (the copy and axpy: all cores; scalar: "
        "Darknet's loop, 1 thread)"
    )
    print(f"numpy's BLAS: {bench_gemm.numpy_blas()}")
    print(format_table(rows))
    print(bench_gemm.gflops_table(rows))
    summary, verdicts = target_summary(rows, thread_counts, args.quick)
    print(summary)
    if isa_summary(rows):
        print(isa_summary(rows))
    if args.json:
        with open(args.json, "w") as stream:
            json.dump(
                {
                    "cores": cores,
                    "instruction_set": runtime.get_instruction_set(),
                    "torch": torch.__version__ if torch else None,
                    "numpy": np.__version__,
                    "machine": platform.machine(),
                    "cpus": os.cpu_count(),
                    "rows": rows,
                    "targets": verdicts,
                },
                stream,
                indent=1,
            )
        print(f"wrote {args.json}")
    if args.plot and plot(rows, args.plot):
        print(f"wrote {args.plot}")
    return 0 if all(row["ok"] for row in rows) else 1


def main(argv=None):
    return run(build_parser().parse_args(argv))
