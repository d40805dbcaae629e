"""One numbering in every tree error: a file's lines count from 1 (FILE:LINE),
nodes count from 0 and are always called "node N" (node N stands on line N+1),
and a PARENT in a file is a node number. Tree(names, parents) names the node,
by index and name, in every error about one node."""

import re

import numpy as np
import pytest

import darknet_softmax as ds


def read_error(tmp_path, text):
    path = tmp_path / "t.tree"
    path.write_text(text)
    with pytest.raises(ValueError) as caught:
        ds.read_tree(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:")
    return message[len(str(path)) :]


@pytest.mark.parametrize(
    "text, expected",
    [
        # the brief's cycle: line 2 is node 1, whose parent 2 is itself later
        (
            "a -1\nb 2\n",
            ":2: parent 2 is not -1 or an earlier node: this line is node 1 "
            "(nodes count from 0: node N is on line N+1)",
        ),
        (
            "a -1\nb -2\n",
            ":2: parent -2 is not -1 or an earlier node: this line is node 1 "
            "(nodes count from 0: node N is on line N+1)",
        ),
        ("a 0\n", ":1: parent 0 is not -1: the first line is node 0, which has no earlier node"),
        (
            "a -1\nb -1\nc 0\nd 1\ne 0\n",
            ":5: the children of node 0 (a, line 1) are split: they start on line 3 and again here",
        ),
    ],
)
def test_read_tree_messages_number_lines_from_1_and_nodes_from_0(tmp_path, text, expected):
    assert read_error(tmp_path, text) == expected


def test_no_tree_message_says_earlier_line(tmp_path):
    """The old message called a node number a line ("an earlier line (0 to 0)")."""
    for text in ("a -1\nb 2\n", "a 0\n", "a -1\nb -5\n"):
        assert "earlier line" not in read_error(tmp_path, text)


NAMES = ["root", "b", "c", "d"]


@pytest.mark.parametrize(
    "parents, expected",
    [
        ([-1, -2, 0, 0], "node 1 ('b'): parent -2 is not -1 or an earlier node (0 to 0)"),
        ([-1, 0, 7, 0], "node 2 ('c'): parent 7 is not -1 or an earlier node (0 to 1)"),
        ([-1, 0, 2, 0], "node 2 ('c'): parent 2 is not -1 or an earlier node (0 to 1)"),
        ([0, 0, 0, 0], "node 0 ('root'): parent 0 is not -1: node 0 has no earlier node"),
        ([-1, 0, 0, 2**64], f"node 3 ('d'): parent {2**64} is not -1 or an earlier node (0 to 2)"),
        (
            [-1, 0, -1, 0],
            "node 2 ('c'): a second run of roots; every root (parent -1) must come first",
        ),
        (
            [-1, 0, 1, 0],
            "node 3 ('d'): the children of node 0 ('root') are split over two runs "
            "of nodes: they start at node 1 and again here",
        ),
    ],
)
def test_tree_names_the_node_in_every_error(parents, expected):
    with pytest.raises(ValueError) as caught:
        ds.Tree(NAMES, parents)
    assert str(caught.value) == expected


def test_tree_names_the_node_with_a_bad_name_or_a_parent_that_is_no_integer():
    with pytest.raises(ValueError, match=re.escape("node 2 ('c\\x00'): the name holds a NUL")):
        ds.Tree(["a", "b", "c\0", "d"], [-1, 0, 0, 0])
    with pytest.raises(
        TypeError, match=re.escape("node 1 ('b'): parent must be an integer, not float")
    ):
        ds.Tree(["a", "b"], [-1, 0.0])
    with pytest.raises(
        TypeError, match=re.escape("node 1 ('b'): parent must be an integer, not bool")
    ):
        ds.Tree(["a", "b"], [-1, False])


def test_tree_still_takes_numpy_parents():
    for dtype in (np.int8, np.int64, np.intc):
        tree = ds.Tree(["a", "b", "c"], np.array([-1, 0, 0], dtype))
        assert tree.parent.tolist() == [-1, 0, 0]
    with pytest.raises(TypeError, match="parents must be a 1-D sequence of integers"):
        ds.Tree(["a", "b"], np.array([[-1, 0]]))
