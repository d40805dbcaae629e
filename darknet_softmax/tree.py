"""Darknet's WordTree: groups of sibling nodes, each with its own softmax, the
reader of `.tree` files and the helpers of src/tree.c and src/data.c."""

import math
import numbers
import os
import pathlib
from collections.abc import Sequence
from typing import Optional, Union

import numpy as np

from .binding import (
    Floats,
    check_status,
    count,
    ffi,
    flag,
    float_ptr,
    lib,
    number,
    output_array,
    real_array,
)

# The YOLO9000 WordTree (9418 nodes), public domain, shipped with the package.
YOLO9000_TREE = pathlib.Path(__file__).resolve().parent / "data" / "9k.tree"


class Tree:
    """A tree from node names and parent indices (-1 for a root, otherwise an
    earlier node). Siblings must stand on consecutive nodes: each run of equal
    parents is one softmax group, and the roots are the first run.

    `parent`, `child` (the group of a node's children, or -1), `group`,
    `leaf`, `group_size` and `group_offset` are read-only int64 arrays, and
    `name` the list of names, as in Darknet's tree struct.

    Parameters
    ----------
    names : sequence of str
        One name a node (no NUL character).
    parents : sequence of int
        One parent a node, of `names`' length: -1 for a root, else the index
        of an earlier node.

    Raises
    ------
    TypeError
        If a parent is not an integer, or `parents` is an array of more than
        one axis.
    ValueError
        If the lengths differ, the tree is empty, a parent is out of range,
        the roots or a node's children do not stand on one run of consecutive
        nodes, or a name holds a NUL character (the message names the node).
    """

    parent: np.ndarray
    child: np.ndarray
    group: np.ndarray
    leaf: np.ndarray
    group_size: np.ndarray
    group_offset: np.ndarray
    name: list

    def __init__(self, names: Sequence[str], parents: Sequence[int]) -> None:
        names = [str(name) for name in names]
        if isinstance(parents, np.ndarray) and parents.ndim != 1:
            raise TypeError("parents must be a 1-D sequence of integers")
        values = list(parents)
        if len(names) != len(values):
            raise ValueError(f"names ({len(names)}) and parents ({len(values)}) differ in length")
        if not values:
            raise ValueError("a tree needs at least one node")
        # Every error about one node names it: "node N ('name')", N from 0.
        for node, parent in enumerate(values):
            if isinstance(parent, (bool, np.bool_)) or not isinstance(parent, numbers.Integral):
                raise TypeError(
                    f"{_node(node, names)}: parent must be an integer, not {type(parent).__name__}"
                )
            if not -1 <= parent < node:
                raise ValueError(_bad_parent(node, names, values))
            if "\0" in names[node]:
                raise ValueError(f"{_node(node, names)}: the name holds a NUL character")
        links = np.array(values, dtype=np.intc)
        encoded = [ffi.new("char[]", name.encode()) for name in names]
        out = ffi.new("tree **")
        bad_node = ffi.new("size_t *")
        status = lib.make_tree(
            links.size,
            ffi.from_buffer("int[]", links),
            ffi.new("char *[]", encoded),
            out,
            bad_node,
        )
        if status == lib.DS_ERR_FORMAT:
            raise ValueError(_bad_parent(bad_node[0], names, links))
        check_status(status, "make_tree")
        self._take(out[0], names)

    @classmethod
    def _from_c(cls, pointer):
        """A Tree that owns a `tree *` made in C, with its names."""
        self = cls.__new__(cls)
        names = [
            ffi.string(pointer.name[i]).decode("utf-8", "backslashreplace")
            for i in range(pointer.n)
        ]
        self._take(pointer, names)
        return self

    def _take(self, pointer, names):
        self._tree = ffi.gc(pointer, lib.free_tree)
        self.name = names
        t = self._tree
        for field, length, ctype in (
            ("parent", t.n, "int"),
            ("child", t.n, "int"),
            ("group", t.n, "int"),
            ("leaf", t.n, "int"),
            ("group_size", t.groups, "size_t"),
            ("group_offset", t.groups, "size_t"),
        ):
            dtype = np.intc if ctype == "int" else np.uintp
            array = np.frombuffer(
                ffi.buffer(getattr(t, field), length * ffi.sizeof(ctype)), dtype=dtype
            ).astype(np.int64)
            array.flags.writeable = False
            setattr(self, field, array)

    @property
    def n(self) -> int:
        return int(self._tree.n)

    @property
    def groups(self) -> int:
        return int(self._tree.groups)

    @property
    def depth(self) -> int:
        """The number of edges on the longest path from a root down to a leaf
        (0 when every node is a root)."""
        depth = [0] * self.n
        for node, parent in enumerate(self.parent.tolist()):
            depth[node] = 0 if parent < 0 else depth[parent] + 1
        return max(depth)

    def __repr__(self):
        return f"Tree(n={self.n}, groups={self.groups})"


def _node(node, names):
    return f"node {node} ({names[node]!r})"


def _bad_parent(node, names, parents):
    """Why node `node` cannot take its parent: out of range, a second run of
    roots, or its parent's children split over two runs."""
    parent = int(parents[node])
    where = _node(node, names)
    if not -1 <= parent < node:
        if node == 0:
            return f"{where}: parent {parent} is not -1: node 0 has no earlier node"
        return f"{where}: parent {parent} is not -1 or an earlier node (0 to {node - 1})"
    if parent == -1:
        return f"{where}: a second run of roots; every root (parent -1) must come first"
    first = next(i for i in range(node) if int(parents[i]) == parent)
    return (
        f"{where}: the children of {_node(parent, names)} are split over two runs of nodes: "
        f"they start at node {first} and again here"
    )


def read_tree(path: Union[str, os.PathLike]) -> "Tree":
    """Reads a Darknet `.tree` file: one node a line, `NAME PARENT`, PARENT -1
    or the number of an earlier node, nodes counted from 0 (node N is the
    file's line N+1). A file that cannot be read raises OSError
    (FileNotFoundError, ...); a malformed one raises ValueError with
    "FILE:LINE: what is wrong", lines counted from 1, nodes named "node N".

    Parameters
    ----------
    path : str or os.PathLike
        The `.tree` file (`YOLO9000_TREE` is the YOLO9000 one).

    Returns
    -------
    Tree
        The tree.

    Raises
    ------
    OSError
        If the file cannot be read.
    ValueError
        If the file is malformed, or `path` holds a NUL character.
    """
    filename = os.fsencode(path)
    if b"\0" in filename:
        raise ValueError("path must not hold a NUL character")
    message = ffi.new("char[]", len(filename) + 512)
    out = ffi.new("tree **")
    status = lib.read_tree(filename, out, message, len(message))
    if status == lib.DS_ERR_IO:
        error = ffi.errno
        raise OSError(error, os.strerror(error), os.fsdecode(filename))
    if status == lib.DS_ERR_FORMAT:
        raise ValueError(ffi.string(message).decode("utf-8", "backslashreplace"))
    check_status(status, "read_tree")
    return Tree._from_c(out[0])


# --- the helpers of src/tree.c and src/data.c, over one vector or a batch ---


def _check_tree(tree):
    if not isinstance(tree, Tree):
        raise TypeError(f"tree must be a darknet_softmax.Tree, not {type(tree).__name__}")
    return tree


def _node_array(name, array, tree):
    """`array`, any array-like of real numbers (converted once to float32
    unless float32 C-contiguous already), of shape (tree.n,) or (batch, tree.n)."""
    array = real_array(name, array)
    if array.ndim not in (1, 2) or array.shape[-1] != tree.n:
        raise ValueError(
            f"{name} must have shape ({tree.n},) or (batch, {tree.n}) for a tree "
            f"of {tree.n} nodes, not {array.shape}"
        )
    return array


def _on_rows(function, name, source, tree, out, *args):
    """Darknet's `function`(row, n, tree, *args) in place on each row of a
    copy of `source` (the argument `name`, checked by `_node_array`): in
    `out`, checked against `source`, or in a new array."""
    out = output_array("out", out, source, reads=[(name, source)])
    np.copyto(out, source)
    for row in out.reshape(-1, tree.n):
        check_status(getattr(lib, function)(float_ptr(row), tree.n, tree._tree, *args), function)
    return out


def _threshold(value):
    value = number("thresh", value, finite=False)
    if math.isnan(value):
        raise ValueError("thresh must not be NaN")
    return value


def fill_hierarchy(truth: Floats, tree: Tree, out: Optional[Floats] = None) -> Floats:
    """Darknet's fill_hierarchy on each row of `truth` ((n,) or (batch, n)):
    labels (1) every ancestor of a labelled node, then sets each group with no
    label to SECRET_NUM, which the tree softmax layer masks.

    Parameters
    ----------
    truth : array_like
        (n,) or (batch, n) labels, n being `tree.n` (converted once to
        float32 unless float32 C-contiguous already).
    tree : Tree
        The WordTree.
    out : ndarray of float32, optional
        Where the filled truth goes, in place of a new array: writable,
        C-contiguous, of `truth`'s shape; it may be `truth`.

    Returns
    -------
    ndarray of float32
        The filled truth (`out` when given).

    Raises
    ------
    TypeError
        If `tree` is not a Tree, `truth` does not hold real numbers, or `out`
        is not a float32 ndarray.
    ValueError
        If a shape is wrong, or `out` is read-only, not C-contiguous or
        partly overlaps `truth`.
    """
    tree = _check_tree(tree)
    truth = _node_array("truth", truth, tree)
    return _on_rows("fill_hierarchy", "truth", truth, tree, out)


def hierarchy_predictions(
    pred: Floats, tree: Tree, only_leaves: bool = False, out: Optional[Floats] = None
) -> Floats:
    """Darknet's hierarchy_predictions on each row of `pred` ((n,) or (batch, n)):
    conditional probabilities (the tree softmax's output) to absolute ones, each
    node times its parent's absolute probability; with `only_leaves`, inner nodes
    are 0. Returns the result, in `out` when given (`out` may be `pred`).

    Parameters
    ----------
    pred : array_like
        (n,) or (batch, n) conditional probabilities, n being `tree.n`
        (converted once to float32 unless float32 C-contiguous already).
    tree : Tree
        The WordTree.
    only_leaves : bool, default False
        Set the inner nodes to 0.
    out : ndarray of float32, optional
        Where the result goes: writable, C-contiguous, of `pred`'s shape.

    Returns
    -------
    ndarray of float32
        The absolute probabilities, of `pred`'s shape (`out` when given).

    Raises
    ------
    TypeError
        If `tree` is not a Tree, `pred` does not hold real numbers,
        `only_leaves` is not a bool, or `out` is not a float32 ndarray.
    ValueError
        If a shape is wrong, or `out` is read-only, not C-contiguous or
        partly overlaps `pred`.
    """
    tree = _check_tree(tree)
    pred = _node_array("pred", pred, tree)
    only_leaves = flag("only_leaves", only_leaves)
    return _on_rows("hierarchy_predictions", "pred", pred, tree, out, only_leaves, 1)


def get_hierarchy_probability(x: Floats, tree: Tree, c: int) -> Union[float, Floats]:
    """Darknet's get_hierarchy_probability: the product of the conditional
    probabilities in `x` from node `c` up to its root. A float for x of shape
    (n,); a float32 array of one probability a row for (batch, n).

    Parameters
    ----------
    x : array_like
        The conditional probabilities, (n,) or (batch, n) for the n nodes of
        `tree`, the WordTree.
    tree : Tree
    c : int
        The node, in [0, n).

    Returns
    -------
    float or ndarray of float32
        The probability of `c`, or one a row.

    Raises
    ------
    TypeError
        If `tree` is not a Tree, `x` does not hold real numbers, or `c` is not
        an integer.
    ValueError
        If `x` has the wrong shape or `c` is not a node of the tree.
    """
    tree = _check_tree(tree)
    x = _node_array("x", x, tree)
    rows = x.reshape(-1, tree.n)
    c = count("c", c, minimum=0)
    if c >= tree.n:
        raise ValueError(f"c must be a node of the tree (0 to {tree.n - 1}), not {c}")
    result = np.empty(rows.shape[0], np.float32)
    probability = ffi.new("float *")
    for index, row in enumerate(rows):
        check_status(
            lib.get_hierarchy_probability(float_ptr(row), tree._tree, c, 1, probability),
            "get_hierarchy_probability",
        )
        result[index] = probability[0]
    return float(result[0]) if x.ndim == 1 else result


def hierarchy_top_prediction(pred: Floats, tree: Tree, thresh: float) -> Union[int, np.ndarray]:
    """Darknet's hierarchy_top_prediction: from the root group down, take each
    group's most probable node while the product of the conditional
    probabilities in `pred` stays above `thresh`; the node where that stops. An
    int for pred of shape (n,); an int64 array of one node a row for (batch, n).

    Parameters
    ----------
    pred : array_like
        (n,) or (batch, n) conditional probabilities, n being `tree.n`.
    tree : Tree
        The WordTree.
    thresh : float
        The probability the product must stay above (any number but NaN).

    Returns
    -------
    int or ndarray of int64
        The node index, or one a row.

    Raises
    ------
    TypeError
        If `tree` is not a Tree, `pred` does not hold real numbers, or
        `thresh` is not a number.
    ValueError
        If `pred` has the wrong shape or `thresh` is NaN.
    """
    tree = _check_tree(tree)
    pred = _node_array("pred", pred, tree)
    rows = pred.reshape(-1, tree.n)
    thresh = _threshold(thresh)
    result = np.array(
        [lib.hierarchy_top_prediction(float_ptr(row), tree._tree, thresh, 1) for row in rows],
        dtype=np.int64,
    )
    return int(result[0]) if pred.ndim == 1 else result
