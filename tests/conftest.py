"""Shared test helpers. `assert_close` holds C results to the float64 reference
with the project's written tolerance and records the largest errors it saw,
which the run prints at its end.

Tests marked `slow` (the hypothesis fuzzers in test_fuzz.py, the 67 MB softmax
on every kernel path, the Dask tests on a local cluster, and the CLI's
training run) are skipped by a plain `python -m pytest`, for a quick local run.
CI runs them: they run whenever the environment sets CI (`.ci/run` sets
CI=true), or with `--runslow`. Locally, run everything with
`python -m pytest --runslow`, or only the slow ones with
`python -m pytest --runslow -m slow`."""

import importlib.util
import os
import pathlib
import subprocess
import sys
import tarfile

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import darknet_softmax as ds

# SPEC section 2: every path agrees with float64 to 1e-6 absolute plus 1e-5 relative.
from darknet_softmax.reference import ATOL, RTOL, log_softmax_along, softmax_along

# Relative error is reported where the expected value is a normal float32.
REL_FLOOR = 1e-30

# The sweeps the kernel tests share: group sizes around the vector width of 8,
# the temperatures of the spec, and inputs at the edges of float32.
GROUP_SIZES = [1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 1000, 9418]
TEMPERATURES = [1e-3, 0.5, 1.0, 2.0, 10.0]
# The sweep of image shapes the layer tests share, (batch, h, w, c): one
# element, one position of several channels, batch 1, odd sizes and
# non-multiples of 8.
IMAGE_SHAPES = [(1, 1, 1, 1), (1, 1, 1, 7), (2, 3, 5, 1), (1, 13, 13, 5), (2, 9, 17, 3)]
# softmax and log_softmax over an axis: each function, its float64
# reference and the kind its errors are reported under.
ALONG = [
    pytest.param(ds.softmax, softmax_along, "probabilities", id="softmax"),
    pytest.param(ds.log_softmax, log_softmax_along, "log_softmax", id="log_softmax"),
]
EXTREMES = [
    [88.0, 89.0, 90.0, -88.0, -89.0, -90.0],
    [1e30, -1e30, 0.0, 1e30],
    [-1e30, -1e30, -1e30],
    [5.0] * 9,
    [-1000.0, -1001.0, -1002.5],
    [-np.inf, 0.0, 1.0, -np.inf],
    [1e30, 1e30 * 0.999, -1e30],
]


def logits(rng, shape, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def numeric_gradient(loss, x, step=1e-6):
    """Central differences of a float64 scalar function of x."""
    x = x.astype(np.float64)
    gradient = np.empty_like(x)
    for index in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[index] += step
        down[index] -= step
        gradient[index] = (loss(up) - loss(down)) / (2 * step)
    return gradient


# kind -> [largest absolute error, largest relative error]
largest = {}


def assert_close(actual, expected, atol=ATOL, rtol=RTOL, kind="probabilities"):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape}"
    same = (actual == expected) | (np.isnan(actual) & np.isnan(expected))
    with np.errstate(invalid="ignore"):
        error = np.where(same, 0.0, np.abs(actual - expected))
    with np.errstate(invalid="ignore"):
        bad = ~same & ~(error <= atol + rtol * np.abs(expected))
    if bad.any():
        first = np.flatnonzero(bad)[:5]
        raise AssertionError(
            f"{bad.sum()} of {bad.size} values differ; largest error {np.nanmax(error):.3g}; "
            f"first at {first.tolist()}: got {actual.ravel()[first]}, "
            f"expected {expected.ravel()[first]}"
        )
    record = largest.setdefault(kind, [0.0, 0.0])
    finite = np.isfinite(error)
    if finite.any():
        record[0] = max(record[0], float(error[finite].max()))
        scaled = finite & (np.abs(expected) >= REL_FLOOR)
        if scaled.any():
            record[1] = max(record[1], float((error[scaled] / np.abs(expected[scaled])).max()))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# Every way the kernels can run (darknet_softmax.runtime): Darknet's scalar
# loop, and the vector kernels in each instruction set, on one thread and on
# two; those this build or CPU lacks are reported skipped.
def instruction_set_param(isa, value, id):
    lacking = isa not in ds.instruction_sets()
    reason = f"this build or CPU has no {isa}"
    return pytest.param(value, id=id, marks=pytest.mark.skipif(lacking, reason=reason))


KERNEL_PATHS = [pytest.param(("scalar", None, 1), id="scalar")] + [
    instruction_set_param(isa, ("vector", isa, threads), f"{isa}-{threads}-threads")
    for isa in ds.runtime.INSTRUCTION_SETS
    for threads in (1, 2)
]


@pytest.fixture(params=KERNEL_PATHS)
def kernel_path(request):
    """Runs the test once on each kernel path, restoring the settings after."""
    kernel, isa, threads = request.param
    with ds.runtime.settings(kernel=kernel, instruction_set=isa, num_threads=threads):
        yield request.param


def sentinel(shape, writable=True):
    """A float32 array full of 3.0, for calls that must not write to it."""
    array = np.full(shape, 3.0, np.float32)
    array.flags.writeable = writable
    return array


def owner(array):
    """The array whose memory `array` is a view of (itself when it owns it)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def checked_call(function, *args, **kwargs):
    """Returns function(*args, **kwargs). When that raises TypeError or
    ValueError, first checks that every array passed, and the whole buffer
    each is a view of, holds what it held before the call; then re-raises."""
    arrays = [owner(arg) for arg in (*args, *kwargs.values()) if isinstance(arg, np.ndarray)]
    before = [array.copy() for array in arrays]
    try:
        return function(*args, **kwargs)
    except (TypeError, ValueError):
        for array, copy in zip(arrays, before):
            np.testing.assert_array_equal(array, copy, err_msg="a refused call wrote to an array")
        raise


def bad_call(name, error, words, function, *args, **kwargs):
    """A case for a test of refused calls: function(*args, **kwargs) must raise
    `error` with `words` in its message, through checked_call."""
    return pytest.param(error, words, function, args, kwargs, id=name)


def one_hot(labels, n):
    """Float32 labels: integer labels below n of shape (batch,) or (batch,
    groups) give (batch, groups*n), a 1 at each group's label."""
    labels = np.asarray(labels)
    return np.eye(n, dtype=np.float32)[labels].reshape(len(labels), -1)


def make_tree(parents):
    """A Tree over `parents` whose node i is named n{i}."""
    return ds.Tree([f"n{i}" for i in range(len(parents))], parents)


def tree_with_sizes(sizes):
    """A tree whose groups have the given sizes: group i's nodes are children
    of node i-1 (the first group are roots), so no two groups share a parent."""
    parents = []
    for i, size in enumerate(sizes):
        parents += [i - 1] * size
    return make_tree(parents)


@st.composite
def tree_parents(draw, max_groups=12, max_size=6):
    """Parents of a random valid tree: a first run of roots, then each group
    under a node that has no children yet."""
    parents = [-1] * draw(st.integers(1, max_size))
    childless = list(range(len(parents)))
    for _ in range(draw(st.integers(0, max_groups))):
        parent = childless.pop(draw(st.integers(0, len(childless) - 1)))
        size = draw(st.integers(1, max_size))
        childless += range(len(parents), len(parents) + size)
        parents += [parent] * size
    return parents


def pytest_terminal_summary(terminalreporter):
    if largest:
        terminalreporter.write_line(
            "largest error of C against the float64 reference "
            f"(relative where |expected| >= {REL_FLOOR:g}):"
        )
    for kind, (absolute, relative) in sorted(largest.items()):
        terminalreporter.write_line(
            f"  {kind:<28} absolute {absolute:.3g}  relative {relative:.3g}"
        )


def pytest_addoption(parser):
    parser.addoption(
        "--runslow",
        action="store_true",
        help="run the tests marked slow too (CI, where CI is set, always does)",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow") or os.environ.get("CI", "").lower() not in ("", "0", "false"):
        return
    skip = pytest.mark.skip(reason="slow: runs in CI, or with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# Darknet's own cfg files, in the shared folder beside the checkout (CI lays
# it there too); tests that need them skip without it.
DARKNET_CFG = pathlib.Path(__file__).resolve().parent.parent.parent / "shared/data/darknet-cfg"


def darknet_cfg(name):
    """The path of one of Darknet's cfg files, or a skip."""
    path = DARKNET_CFG / name
    if not path.is_file():
        pytest.skip(f"Darknet's cfg files are not at {DARKNET_CFG}")
    return path


ROOT = pathlib.Path(__file__).resolve().parent.parent


def load_example(name):
    """The module of examples/<name>.py in the source tree."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def sdist_names(tmp_path_factory):
    """The paths an sdist of the source tree carries, below its top folder."""
    folder = tmp_path_factory.mktemp("sdist")
    subprocess.run(
        [sys.executable, "setup.py", "-q", "sdist", "-d", str(folder)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (archive,) = folder.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        return {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}


def softmax_sweep(batch, groups, sizes=GROUP_SIZES[:-1], temperatures=TEMPERATURES, scaled=True):
    """hypothesis's given() for a sweep of softmax shapes: batch (up to batch)
    items of groups (up to groups) groups of n (from sizes), a temperature, a
    seed and, when scaled, the logits' scale."""
    draws = {
        "batch": st.integers(1, batch),
        "n": st.sampled_from(sizes),
        "groups": st.integers(1, groups),
        "temperature": st.sampled_from(temperatures),
        "seed": st.integers(0, 2**32 - 1),
    }
    if scaled:
        draws["scale"] = st.sampled_from([0.1, 3.0, 30.0])
    return given(**draws)


def check_layer_gradients(layer, x, g, loss, params, train):
    """Runs the layer forward and backward on x with delta = -g, the NEGATIVE
    gradient of loss = sum(g * output), and holds the input's delta and the
    updates to the finite differences of loss(input, weights, biases, scales)
    at params = (weights, biases, scales), float64; scales None checks no
    scale updates."""
    net_delta = np.zeros_like(x)
    net = ds.NetworkContext(x, delta=net_delta, train=train)
    layer.forward(net)
    layer.delta[:] = -g
    layer.backward(net)
    point = [x.astype(np.float64), *params]
    checks = [net_delta, layer.weight_updates, layer.bias_updates]
    if params[2] is not None:
        checks.append(layer.scale_updates)
    for i, got in enumerate(checks):

        def moved(value, i=i):
            return loss(*point[:i], value, *point[i + 1 :])

        expected = numeric_gradient(moved, point[i])
        assert_close(got, -expected, atol=5e-5, rtol=2e-4, kind="finite-difference gradient")
