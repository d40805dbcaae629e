"""darknet_softmax.Tree built from names and parents."""
import numpy as np
import pytest

import darknet_softmax as ds


def test_groups_are_runs_of_equal_parents():
    tree = ds.Tree(["a", "b", "c", "d", "e", "f"], [-1, -1, 0, 0, 1, 2])
    assert (tree.n, tree.groups) == (6, 4)
    assert tree.group_offset.tolist() == [0, 2, 4, 5]
    assert tree.group_size.tolist() == [2, 2, 1, 1]
    assert tree.group.tolist() == [0, 0, 1, 1, 2, 3]
    assert tree.child.tolist() == [1, 2, 3, -1, -1, -1]
    assert tree.leaf.tolist() == [0, 0, 0, 1, 1, 1]
    assert tree.parent.tolist() == [-1, -1, 0, 0, 1, 2]
    assert tree.name == list("abcdef")


@pytest.mark.parametrize("parents, words", [
    ([-1, 1], "parent"),                 # a node is its own parent
    ([-1, 2, 0], "parent"),              # a later node as parent
    ([-1, -2], "parent"),
    ([-1, -1, 0, 1, 0], "node 4"),       # the children of node 0 are split over two runs
])
def test_bad_parents(parents, words):
    with pytest.raises(ValueError, match=words):
        ds.Tree([str(i) for i in range(len(parents))], parents)


def test_arrays_are_read_only():
    tree = ds.Tree(["a"], [-1])
    with pytest.raises(ValueError):
        tree.parent[0] = 3
