"""The WordTree: darknet_softmax.Tree, read_tree on good and bad files, the tree
helpers against their float64 references, and the tree softmax layer on the
YOLO9000 tree (darknet_softmax/data/9k.tree)."""

import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import darknet_softmax as ds
from conftest import (
    assert_close,
    bad_call,
    checked_call,
    load_example,
    make_tree,
    numeric_gradient,
    one_hot,
    sentinel,
    tree_parents,
)
from darknet_softmax import reference
from darknet_softmax.binding import ffi, float_ptr, lib
from darknet_softmax.layers import softmax as softmax_layer

NINE_K = ds.YOLO9000_TREE
SECRET = float(ds.SECRET_NUM)
NINE_NODES = [-1, -1, -1, 0, 0, 1, 1, 1, 3]  # the parents of a small tree of 9 nodes


@pytest.fixture(scope="module")
def nine_k():
    return ds.read_tree(NINE_K)


def write(tmp_path, text, name="t.tree"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def tree_file_text(names, parents, newline="\n"):
    return "".join(f"{name} {parent}{newline}" for name, parent in zip(names, parents))


def tree_probabilities(rng, tree, batch, scale=3.0):
    """Conditional probabilities, as the tree softmax layer gives them."""
    x = (rng.standard_normal((batch, tree.n)) * scale).astype(np.float32)
    return reference.tree_softmax(x, tree.group_offset, tree.group_size).astype(np.float32)


def assert_same_tree(tree, names, parents):
    links = reference.tree_links(parents)
    assert tree.n == len(parents) and tree.name == list(names)
    assert tree.parent.tolist() == list(parents)
    assert tree.groups == links["group_offset"].size
    for field, expected in links.items():
        assert getattr(tree, field).tolist() == expected.tolist(), field


# --- Tree from names and parents ---


def test_groups_are_runs_of_equal_parents():
    tree = ds.Tree(["a", "b", "c", "d", "e", "f"], [-1, -1, 0, 0, 1, 2])
    assert (tree.n, tree.groups, tree.depth) == (6, 4, 2)
    assert tree.group_offset.tolist() == [0, 2, 4, 5]
    assert tree.group_size.tolist() == [2, 2, 1, 1]
    assert tree.group.tolist() == [0, 0, 1, 1, 2, 3]
    assert tree.child.tolist() == [1, 2, 3, -1, -1, -1]
    assert tree.leaf.tolist() == [0, 0, 0, 1, 1, 1]
    assert tree.parent.tolist() == [-1, -1, 0, 0, 1, 2]
    assert tree.name == list("abcdef")


@pytest.mark.parametrize(
    "parents, words",
    [
        ([-1, 1], "parent 1 is not -1 or an earlier node"),  # a node is its own parent
        ([-1, 2, 0], "parent 2 is not -1 or an earlier node"),  # a later node as parent
        ([-1, -2], r"node 1 \('n1'\): parent -2 is not -1 or an earlier node \(0 to 0\)"),
        ([-1, -1, 0, 1, 0], r"node 4 .* children of node 0 \('n0'\) are split"),
        ([-1, 0, -1], "node 2 .* second run of roots"),
    ],
)
def test_bad_parents(parents, words):
    with pytest.raises(ValueError, match=words):
        make_tree(parents)


def test_arrays_are_read_only():
    tree = make_tree([-1])
    assert tree.depth == 0
    with pytest.raises(ValueError):
        tree.parent[0] = 3


@settings(max_examples=80, deadline=None)
@given(parents=tree_parents())
def test_links_match_reference_and_file_round_trip(tmp_path_factory, parents):
    names = [f"n{i}" for i in range(len(parents))]
    built = ds.Tree(names, parents)
    assert_same_tree(built, names, parents)
    path = tmp_path_factory.mktemp("round") / "t.tree"
    path.write_text(tree_file_text(names, parents))
    assert_same_tree(ds.read_tree(path), names, parents)


# --- read_tree on the YOLO9000 tree ---


def test_nine_k_tree(nine_k):
    assert (nine_k.n, nine_k.groups) == (9418, 1846)
    assert (nine_k.group_size.min(), nine_k.group_size.max()) == (1, 149)
    assert nine_k.group_size.mean() == pytest.approx(5.1, abs=0.01)
    assert nine_k.depth == 16
    assert nine_k.group_size.sum() == nine_k.n
    names, parents = reference.read_tree_file(NINE_K)
    assert_same_tree(nine_k, names, parents)
    assert nine_k.name[:2] == ["n00002452", "n00020827"]


def test_crlf_and_a_last_line_without_newline(tmp_path, nine_k):
    text = NINE_K.read_text().replace("\n", "\r\n")
    crlf = ds.read_tree(write(tmp_path, text))
    assert crlf.name == nine_k.name and crlf.parent.tolist() == nine_k.parent.tolist()
    tree = ds.read_tree(write(tmp_path, "a -1\nb\t0\r\nc 0  "))
    assert tree.name == ["a", "b", "c"] and tree.parent.tolist() == [-1, 0, 0]


def test_names_of_any_length(tmp_path):
    long_name = "x" * 100_000
    tree = ds.read_tree(write(tmp_path, f"{long_name} -1\n{'y' * 300} 0\n"))
    assert tree.name == [long_name, "y" * 300]


def test_path_types(tmp_path):
    path = write(tmp_path, "a -1\n")
    for form in (path, str(path), os.fsencode(path)):
        assert ds.read_tree(form).name == ["a"]
    with pytest.raises(ValueError, match="path must not hold a NUL"):
        ds.read_tree(str(path) + "\0.txt")
    with pytest.raises(TypeError):
        ds.read_tree(3)


BAD_FILES = [
    ("", None, "the file is empty"),
    ("\n", 1, "blank line"),
    ("a -1\n\nb 0\n", 2, "blank line"),
    ("a -1\nb 0\n\n", 3, "blank line"),
    ("a -1\n \t\n", 2, "blank line"),
    ("a -1\r\n\r\n", 2, "blank line"),
    ("a\n", 1, "expected NAME PARENT, found 1 field"),
    ("a -1 extra\n", 1, "expected NAME PARENT, found 3 fields"),
    ("a -1\nb zero\n", 2, "the parent is not an integer"),
    ("a -1\nb 0.5\n", 2, "the parent is not an integer"),
    ("a -1\nb 0x0\n", 2, "the parent is not an integer"),
    ("a 99999999999999999999\n", 1, "the parent is not an integer"),
    ("a -1\nb 2147483648\n", 2, "the parent is not an integer"),
    ("a 0\n", 1, "parent 0 is not -1: the first line is node 0, which has no earlier node"),
    ("a -1\nb -2\n", 2, "parent -2 is not -1 or an earlier node: this line is node 1 "),
    ("a -1\nb 1\n", 2, "parent 1 is not -1"),
    ("a -1\nb 0\nc 5\n", 3, "parent 5 is not -1"),
    (
        "a -1\nb -1\nc 0\nd 1\ne 0\n",
        5,
        r"the children of node 0 \(a, line 1\) are split: they start on line 3",
    ),
    ("a -1\nb 0\nc -1\n", 3, "a second run of roots"),
    ("a -1\nb\x000\n", 2, "the line holds a NUL byte"),
]


@pytest.mark.parametrize("text, line, words", BAD_FILES)
def test_bad_files(tmp_path, text, line, words):
    path = write(tmp_path, text)
    where = f"{path}:{line}: " if line else f"{path}: "
    with pytest.raises(ValueError, match="^" + re.escape(where) + words):
        ds.read_tree(path)


def test_a_bad_line_deep_in_a_big_file(tmp_path):
    lines = NINE_K.read_text().splitlines()
    lines[5000] = lines[5000].split()[0] + " 9000"
    with pytest.raises(ValueError, match=r":5001: parent 9000 is not -1"):
        ds.read_tree(write(tmp_path, "\n".join(lines)))


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.tree"):
        ds.read_tree(tmp_path / "nothing.tree")


def test_a_directory_is_not_a_file(tmp_path):
    with pytest.raises(IsADirectoryError):
        ds.read_tree(tmp_path)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file(tmp_path):
    path = write(tmp_path, "a -1\n")
    path.chmod(0)
    with pytest.raises(PermissionError):
        ds.read_tree(path)


def test_read_tree_message_buffer_is_cut_safely(tmp_path):
    path = write(tmp_path, "a -1\nb 7\n")
    out, message = ffi.new("tree **"), ffi.new("char[]", 12)
    assert lib.read_tree(os.fsencode(path), out, message, 12) == lib.DS_ERR_FORMAT
    assert out[0] == ffi.NULL and ffi.string(message) == os.fsencode(path)[:11]


# --- the tree softmax layer on the 9k tree ---


@pytest.mark.parametrize("temperature", [1.0, 0.5, 3.0])
def test_layer_forward_over_a_batch_of_64(rng, nine_k, temperature):
    x = (rng.standard_normal((64, nine_k.n)) * 4).astype(np.float32)
    layer = ds.SoftmaxLayer(64, nine_k.n, tree=nine_k, temperature=temperature)
    layer.forward(ds.NetworkContext(x))
    expected = softmax_layer.reference_forward(x, temperature=temperature, tree=nine_k)
    assert_close(layer.output, expected["output"])
    sums = np.add.reduceat(layer.output.astype(np.float64), nine_k.group_offset, axis=1)
    assert_close(sums, np.ones_like(sums), kind="group sums")


def test_fill_hierarchy_on_a_labelled_leaf(nine_k):
    leaf = int(np.flatnonzero(nine_k.leaf)[-1])
    truth = np.zeros(nine_k.n, np.float32)
    truth[leaf] = 1
    filled = ds.fill_hierarchy(truth, nine_k)
    path = [leaf]
    while nine_k.parent[path[-1]] >= 0:
        path.append(int(nine_k.parent[path[-1]]))
    assert np.flatnonzero(filled == 1).tolist() == sorted(path)
    open_groups = set(nine_k.group[path].tolist())
    for g, (offset, size) in enumerate(zip(nine_k.group_offset, nine_k.group_size)):
        values = filled[offset : offset + size]
        if g in open_groups:
            assert np.all((values == 0) | (values == 1)) and values.sum() == 1
        else:
            assert np.all(values == SECRET)
    assert truth.sum() == 1  # the input is left alone


def test_training_step_with_masked_groups(rng, nine_k):
    batch = 64
    x = (rng.standard_normal((batch, nine_k.n)) * 2).astype(np.float32)
    truth = ds.fill_hierarchy(one_hot(rng.integers(0, nine_k.n, batch), nine_k.n), nine_k)
    masked = truth == SECRET
    assert masked.mean() > 0.9
    net_delta = np.full_like(x, 0.25)
    layer = ds.SoftmaxLayer(batch, nine_k.n, tree=nine_k)
    net = ds.NetworkContext(x, truth=truth, delta=net_delta)
    layer.forward(net)
    layer.backward(net)
    assert np.all(layer.delta[masked] == 0) and np.all(layer.loss[masked] == 0)
    expected = softmax_layer.reference_forward(x, tree=nine_k, truth=truth)
    assert_close(layer.delta, expected["delta"], kind="delta")
    assert_close(layer.loss, expected["loss"], atol=1e-5, kind="loss")
    labelled_loss = -np.log(expected["output"][truth == 1]).sum()
    assert layer.cost == pytest.approx(labelled_loss, rel=1e-5)
    assert_close(net_delta, 0.25 + expected["delta"], kind="delta")


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_exact_layer_over_a_batch_not_a_multiple_of_eight(rng, nine_k, kernel_path, temperature):
    """The exact layer's softmax and loss in one pass over the nine_k tree:
    masked groups, soft labels, a last block of five rows, -inf and a value
    of 1e30 in one row."""
    batch = 13
    x = (rng.standard_normal((batch, nine_k.n)) * 3).astype(np.float32)
    x[0, 5], x[1, 7] = -np.inf, 1e30
    truth = ds.fill_hierarchy(one_hot(rng.integers(0, nine_k.n, batch), nine_k.n), nine_k)
    truth[truth == 1] = rng.uniform(0.2, 1.0, int((truth == 1).sum()))
    layer = ds.SoftmaxLayer(batch, nine_k.n, tree=nine_k, temperature=temperature, exact=True)
    layer.forward(ds.NetworkContext(x, truth=truth))
    expected = softmax_layer.reference_forward(
        x, temperature=temperature, tree=nine_k, truth=truth, exact=True
    )
    for name in ("output", "delta", "loss"):
        assert_close(getattr(layer, name), expected[name], kind=name)
    assert np.all(layer.delta[truth == SECRET] == 0)


def test_masked_delta_is_the_gradient_of_the_labelled_loss(rng):
    """-delta is the float64 finite-difference gradient of the loss over the
    labelled groups only (temperature 1, one label a group)."""
    tree = make_tree(NINE_NODES)
    x = rng.standard_normal((2, tree.n)).astype(np.float32)
    truth = np.zeros((2, tree.n), np.float32)
    truth[0, 8] = truth[1, 6] = 1
    truth = ds.fill_hierarchy(truth, tree)
    layer = ds.SoftmaxLayer(2, tree.n, tree=tree)
    layer.forward(ds.NetworkContext(x, truth=truth))

    def cost(values):
        return softmax_layer.reference_forward(values, tree=tree, truth=truth)["cost"]

    gradient = numeric_gradient(cost, x)
    assert_close(-layer.delta, gradient, atol=1e-6, kind="finite-difference gradient")
    assert np.all(gradient[truth == SECRET] == 0)


# --- the helpers against their references ---


@settings(max_examples=60, deadline=None)
@given(parents=tree_parents(), batch=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_helpers_match_references_over_random_trees(parents, batch, seed):
    check_helpers(np.random.default_rng(seed), make_tree(parents), batch)


def test_helpers_match_references_on_nine_k(rng, nine_k):
    check_helpers(rng, nine_k, 64, nodes=rng.integers(0, nine_k.n, 20))


def check_helpers(rng, tree, batch, nodes=None):
    pred = tree_probabilities(rng, tree, batch)
    for only_leaves in (False, True):
        assert_close(
            ds.hierarchy_predictions(pred, tree, only_leaves),
            reference.hierarchy_predictions(pred, tree, only_leaves),
        )
    for c in range(tree.n) if nodes is None else nodes:
        assert_close(
            ds.get_hierarchy_probability(pred, tree, c),
            reference.get_hierarchy_probability(pred, tree, c),
        )
        assert ds.get_hierarchy_probability(pred[0], tree, c) == pytest.approx(
            reference.get_hierarchy_probability(pred[0], tree, c), rel=1e-5, abs=1e-6
        )
    for thresh in (0, 0.05, 0.3, 0.5, 0.9, 1):
        top = ds.hierarchy_top_prediction(pred, tree, thresh)
        assert top.tolist() == reference.hierarchy_top_prediction(pred, tree, thresh).tolist()
        assert ds.hierarchy_top_prediction(pred[0], tree, thresh) == top[0]
    truth = np.where(
        rng.random((batch, tree.n)) < 3 / tree.n, rng.choice([1.0, 0.5, SECRET], (batch, tree.n)), 0
    ).astype(np.float32)
    filled = ds.fill_hierarchy(truth, tree)
    assert np.array_equal(filled, reference.fill_hierarchy(truth, tree))
    assert np.array_equal(ds.fill_hierarchy(filled, tree), filled)  # filling is idempotent


@pytest.mark.parametrize(
    "row",
    [
        lambda n: np.zeros(n),
        lambda n: np.ones(n),
        lambda n: np.full(n, 0.5),
        lambda n: np.full(n, -np.inf),
        lambda n: np.full(n, 1e30),
        lambda n: np.where(np.arange(n) % 3 == 0, -1e30, 1e-30),
        lambda n: np.where(np.arange(n) % 2 == 0, np.inf, 0.0),
    ],
)
def test_helpers_on_extreme_inputs(nine_k, row):
    pred = row(nine_k.n).astype(np.float32)
    for thresh in (-1.0, 0.0, 0.5, 2.0):
        assert ds.hierarchy_top_prediction(
            pred, nine_k, thresh
        ) == reference.hierarchy_top_prediction(pred, nine_k, thresh)
    if np.all((pred >= 0) & (pred <= 1)):
        assert_close(
            ds.hierarchy_predictions(pred, nine_k), reference.hierarchy_predictions(pred, nine_k)
        )


def test_top_prediction_of_an_all_zero_group_is_the_group_not_node_0():
    tree = make_tree([-1, -1, 1, 1, 1])
    pred = np.array([0.2, 0.8, 0, 0, 0], np.float32)
    assert ds.hierarchy_top_prediction(pred, tree, 0.5) == 1  # stops at b
    assert ds.hierarchy_top_prediction(pred, tree, -1.0) == 2  # takes c, b's first child


def path_to(tree, node):
    path = [node]
    while tree.parent[path[-1]] >= 0:
        path.append(int(tree.parent[path[-1]]))
    return path[::-1]


@pytest.mark.parametrize(
    "thresh, steps", [(0.0, None), (0.5, 6), (0.52, 6), (0.54, 5), (0.8, 2), (0.85, 1), (0.95, 1)]
)
def test_top_prediction_walks_the_nine_k_tree(nine_k, thresh, steps):
    """Along a path of 17 nodes each conditional probability is 0.9 and the
    rest of each group shares 0.1, so the product after k steps is 0.9**k; the
    walk stops at the last node whose product is above thresh (the best root
    when even that is not)."""
    leaf = next(
        node for node in np.flatnonzero(nine_k.leaf) if len(path_to(nine_k, int(node))) == 17
    )
    path = path_to(nine_k, int(leaf))
    pred = np.zeros(nine_k.n, np.float32)
    for offset, size in zip(nine_k.group_offset, nine_k.group_size):
        pred[offset : offset + size] = 1.0 / size
    for node in path:
        offset, size = (
            nine_k.group_offset[nine_k.group[node]],
            nine_k.group_size[nine_k.group[node]],
        )
        pred[offset : offset + size] = 0.1 / max(size - 1, 1)
        pred[node] = 0.9
    expected = path[-1] if steps is None else path[steps - 1]
    assert ds.hierarchy_top_prediction(pred, nine_k, thresh) == expected
    assert reference.hierarchy_top_prediction(pred, nine_k, thresh) == expected
    absolute = ds.hierarchy_predictions(pred, nine_k)
    assert absolute[expected] == pytest.approx(0.9 ** len(path_to(nine_k, expected)), rel=1e-5)
    assert ds.get_hierarchy_probability(pred, nine_k, expected) == pytest.approx(
        absolute[expected], rel=1e-6
    )


def test_strided_c_helpers_match_references(rng, nine_k):
    """Darknet's region layer reads a node vector at index*stride: column j of
    an (n, positions) array."""
    positions = 7
    columns = tree_probabilities(rng, nine_k, positions)
    laid_out = np.ascontiguousarray(columns.T)  # (n, positions)
    absolute = laid_out.copy()
    probability = ffi.new("float *")
    for j in range(positions):
        assert (
            lib.hierarchy_predictions(float_ptr(absolute) + j, nine_k.n, nine_k._tree, 1, positions)
            == lib.DS_OK
        )
        assert (
            lib.get_hierarchy_probability(
                float_ptr(laid_out) + j, nine_k._tree, 9000, positions, probability
            )
            == lib.DS_OK
        )
        assert probability[0] == pytest.approx(
            reference.get_hierarchy_probability(columns[j], nine_k, 9000), rel=1e-5, abs=1e-7
        )
        assert lib.hierarchy_top_prediction(
            float_ptr(laid_out) + j, nine_k._tree, 0.3, positions
        ) == reference.hierarchy_top_prediction(columns[j], nine_k, 0.3)
    assert_close(absolute.T, reference.hierarchy_predictions(columns, nine_k, only_leaves=True))


def test_c_rejects_bad_helper_arguments(nine_k):
    values = np.zeros(nine_k.n, np.float32)
    probability = ffi.new("float *")
    assert lib.fill_hierarchy(float_ptr(values), nine_k.n - 1, nine_k._tree) == lib.DS_ERR_ARG
    assert (
        lib.hierarchy_predictions(float_ptr(values), nine_k.n + 1, nine_k._tree, 0, 1)
        == lib.DS_ERR_ARG
    )
    assert (
        lib.hierarchy_predictions(float_ptr(values), nine_k.n, nine_k._tree, 0, 0) == lib.DS_ERR_ARG
    )
    for c in (-1, nine_k.n):
        assert (
            lib.get_hierarchy_probability(float_ptr(values), nine_k._tree, c, 1, probability)
            == lib.DS_ERR_ARG
        )
    assert np.all(values == 0)


# --- bad arguments to the helpers: a clear exception, and nothing written ---


def bad_helper_calls():
    tree = make_tree(NINE_NODES)
    good = np.full((2, tree.n), 0.5, np.float32)
    out = sentinel((2, tree.n))
    read_only = good.copy()
    read_only.flags.writeable = False
    yield bad_call(
        "fill tree str", TypeError, "tree must be", ds.fill_hierarchy, good, "9k.tree", out=out
    )
    yield bad_call(
        "fill complex",
        TypeError,
        "truth must hold real numbers",
        ds.fill_hierarchy,
        good.astype(complex),
        tree,
        out=out,
    )
    yield bad_call(
        "fill short",
        ValueError,
        r"truth must have shape \(9,\)",
        ds.fill_hierarchy,
        good[:, :-1].copy(),
        tree,
        out=out,
    )
    yield bad_call(
        "fill 3-D",
        ValueError,
        "truth must have shape",
        ds.fill_hierarchy,
        good.reshape(2, 1, -1),
        tree,
        out=out,
    )
    yield bad_call(
        "fill out read-only",
        ValueError,
        "out must be writable",
        ds.fill_hierarchy,
        good,
        tree,
        out=read_only,
    )
    yield bad_call(
        "fill out shape",
        ValueError,
        "out must have shape",
        ds.fill_hierarchy,
        good,
        tree,
        out=out[:1],
    )
    yield bad_call(
        "fill out float64",
        TypeError,
        "out must have dtype",
        ds.fill_hierarchy,
        good,
        tree,
        out=out.astype(np.float64),
    )
    yield bad_call(
        "predictions only_leaves",
        TypeError,
        "only_leaves",
        ds.hierarchy_predictions,
        good,
        tree,
        only_leaves="yes",
        out=out,
    )
    yield bad_call(
        "predictions strided",
        ValueError,
        "pred must have shape",
        ds.hierarchy_predictions,
        good[:, ::2],
        tree,
        out=out,
    )
    yield bad_call(
        "predictions ragged",
        ValueError,
        "pred must be an array of real numbers",
        ds.hierarchy_predictions,
        [list(good[0]), [1.0]],
        tree,
        out=out,
    )
    yield bad_call(
        "probability c past",
        ValueError,
        r"c must be a node of the tree \(0 to 8\)",
        ds.get_hierarchy_probability,
        good,
        tree,
        tree.n,
    )
    yield bad_call(
        "probability c -1",
        ValueError,
        "c must be at least 0",
        ds.get_hierarchy_probability,
        good,
        tree,
        -1,
    )
    yield bad_call(
        "probability c float",
        TypeError,
        "c must be an integer",
        ds.get_hierarchy_probability,
        good,
        tree,
        1.0,
    )
    yield bad_call(
        "top thresh nan",
        ValueError,
        "thresh must not be NaN",
        ds.hierarchy_top_prediction,
        good,
        tree,
        float("nan"),
    )
    yield bad_call(
        "top thresh str",
        TypeError,
        "thresh must be a number",
        ds.hierarchy_top_prediction,
        good,
        tree,
        "0.5",
    )
    yield bad_call(
        "top shape",
        ValueError,
        "pred must have shape",
        ds.hierarchy_top_prediction,
        np.zeros((2, 3), np.float32),
        tree,
        0.5,
    )


@pytest.mark.parametrize("error, words, function, args, kwargs", list(bad_helper_calls()))
def test_bad_helper_arguments(error, words, function, args, kwargs):
    with pytest.raises(error, match=words):
        checked_call(function, *args, **kwargs)


def test_out_may_be_the_input():
    tree = make_tree([-1, -1, 0, 0])
    truth = np.array([[0, 0, 1, 0], [0, 0, 0, 0]], np.float32)
    assert ds.fill_hierarchy(truth, tree, out=truth) is truth
    assert truth.tolist() == [[1, 0, 1, 0], [SECRET] * 4]
    pred = np.array([0.25, 0.75, 0.5, 0.5], np.float32)
    assert ds.hierarchy_predictions(pred, tree, only_leaves=True, out=pred) is pred
    assert pred.tolist() == [0, 0.75, 0.125, 0.125]
    shared = np.zeros(6, np.float32)
    with pytest.raises(ValueError, match="overlap"):
        ds.hierarchy_predictions(shared[:4], tree, out=shared[2:])
    assert np.all(shared == 0)


# --- the example stays runnable ---

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "tree_example.py"


@pytest.mark.skipif(not EXAMPLE.exists(), reason="needs the source tree")
def test_tree_example_trains_and_walks_the_tree():
    example = load_example("tree_example")
    result = example.main(verbose=False)
    assert np.mean(result["costs"][-20:]) < 0.5 * result["costs"][0]
    assert result["accuracy"] > 0.8
    assert result["walk"][0.0] in ("cat", "dog") and result["walk"][0.99] == "animal"
    assert result["absolute"][example.LEAVES].sum() == pytest.approx(1, abs=1e-5)
    run = subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True, check=True)
    assert "top prediction at thresh 0.99 : animal" in run.stdout
