"""Darknet .cfg files (darknet_softmax.cfg)."""

import inspect

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import darknet_softmax as ds
from darknet_softmax import parse_network_cfg
from darknet_softmax.cfg import options_of
from darknet_softmax.layers import LAYER_TYPES, ConnectedLayer, CostLayer, DropoutLayer

MINIMAL = "[net]\ninputs=4\n[connected]\n[softmax]\n[cost]\n[dropout]\n"


def test_every_default_is_darknets():
    net = parse_network_cfg(MINIMAL)
    assert (net.batch, net.learning_rate, net.momentum, net.decay, net.max_batches) == (
        1,
        0.001,
        0.9,
        0.0001,
        0,
    )
    assert net.inputs == 4 and net.shape == (1, 1, 4)
    connected, softmax, cost, dropout = net.layers
    assert isinstance(connected, ConnectedLayer) and connected.outputs == 1
    assert connected.activation == "logistic"
    assert isinstance(softmax, ds.SoftmaxLayer)
    assert (
        softmax.groups,
        softmax.temperature,
        softmax.tree,
        softmax.noloss,
        softmax.spatial,
        softmax.exact,
    ) == (1, 1.0, None, False, False, False)
    assert isinstance(cost, CostLayer) and cost.type == "sse" and cost.scale == 1.0
    assert isinstance(dropout, DropoutLayer) and dropout.probability == pytest.approx(0.5)
    # the table the parser reads holds the same defaults
    assert {key: option.default for key, option in options_of("softmax").items()} == {
        "groups": 1,
        "temperature": 1.0,
        "tree": None,
        "spatial": False,
        "noloss": False,
        "exact": False,
    }
    assert options_of("net")["inputs"].default is None  # height*width*channels


@pytest.mark.parametrize("kind", ["net", *LAYER_TYPES])
def test_an_option_has_its_constructors_default(kind):
    """A cfg option's default is that of the constructor's parameter of the
    same name, where there is one: a cfg and a call that leave it out agree."""
    parameters = inspect.signature(ds.Network if kind == "net" else LAYER_TYPES[kind]).parameters
    options = options_of(kind)
    shared = [name for name in options if name in parameters]
    assert {name: options[name].default for name in shared} == {
        name: parameters[name].default for name in shared
    }


def test_every_option_is_read():
    net = parse_network_cfg("""
[network]
batch=8
learning_rate=.25
momentum=0.5
decay=1e-3
height=2
width=3
channels=2
max_batches=77

[conn]
output=6
activation=relu

[dropout]
probability=0.2

[connected]
output=4
activation=tanh

[soft]
groups=2
temperature=0.5
noloss=1

[cost]
type=L1
scale=0.3
""")
    assert (net.batch, net.learning_rate, net.momentum, net.decay, net.max_batches) == (
        8,
        0.25,
        0.5,
        0.001,
        77,
    )
    assert net.inputs == 12 and net.shape == (2, 3, 2)
    first, dropout, second, softmax, cost = net.layers
    assert (first.inputs, first.outputs, first.activation, first.batch) == (12, 6, "relu", 8)
    assert dropout.probability == pytest.approx(0.2) and dropout.output is first.output
    assert (second.outputs, second.activation) == (4, "tanh")
    assert (softmax.groups, softmax.temperature, softmax.noloss) == (2, 0.5, True)
    assert (cost.type, cost.scale) == ("L1", pytest.approx(0.3))


@pytest.mark.parametrize("name", ["sse", "masked", "smooth", "L1"])
def test_every_cost_type(name):
    assert parse_network_cfg(f"[net]\ninputs=2\n[cost]\ntype={name}\n").layers[0].type == name


@pytest.mark.parametrize("name", ["linear", "relu", "leaky", "logistic", "tanh"])
def test_every_activation(name):
    text = f"[net]\ninputs=2\n[connected]\nactivation={name}\n"
    assert parse_network_cfg(text).layers[0].activation == name


def test_comments_blank_lines_and_whitespace_as_darknet():
    net = parse_network_cfg(
        "# a comment\n\n[ net ]\n  batch = 2 \n;another\n#batch=9\n"
        "in puts=3\r\n\t\n[connected]\noutput =\t5\n"
    )
    assert net.batch == 2 and net.inputs == 3 and net.layers[0].outputs == 5


def test_inputs_wins_when_consistent_and_is_checked():
    assert parse_network_cfg("[net]\ninputs=4\nheight=2\nwidth=2\nchannels=1\n[cost]\n").inputs == 4
    with pytest.raises(ValueError, match="line 1: \\[net\\]: inputs \\(5\\) must equal"):
        parse_network_cfg("[net]\ninputs=5\nheight=2\nwidth=2\nchannels=1\n[cost]\n")


def test_reads_a_file(tmp_path):
    path = tmp_path / "small.cfg"
    path.write_text(MINIMAL)
    assert len(ds.Network.from_cfg(path).layers) == 4
    assert len(ds.Network.from_cfg(str(path)).layers) == 4


def test_tree_option(tmp_path):
    tree_file = tmp_path / "small.tree"
    tree_file.write_text("a -1\nb -1\nc 0\nd 0\ne 0\n")
    (tmp_path / "net.cfg").write_text("[net]\ninputs=5\n[softmax]\ntree=small.tree\n")
    softmax = parse_network_cfg(tmp_path / "net.cfg").layers[0]
    assert softmax.tree.n == 5 and list(softmax.tree.group_size) == [2, 3]
    with pytest.raises(ValueError, match="line 3: \\[softmax\\]: .*missing.tree"):
        parse_network_cfg("[net]\ninputs=5\n[softmax]\ntree=missing.tree\n")


def test_spatial_and_exact_options(rng):
    """spatial takes its shape from [net]'s height, width, channels: a softmax
    over the 4 channels at each of the 2x3 positions."""
    net = parse_network_cfg(
        "[net]\nbatch=2\nheight=2\nwidth=3\nchannels=4\n[softmax]\nspatial=1\nexact=1\n"
    )
    softmax = net.layers[0]
    assert softmax.spatial and softmax.exact
    assert softmax.shape == (2, 3, 4)
    x = rng.standard_normal((2, 24)).astype(np.float32)
    expected = np.exp(x.reshape(2, 4, 6)) / np.exp(x.reshape(2, 4, 6)).sum(axis=1, keepdims=True)
    assert np.allclose(net.predict(x), expected.reshape(2, 24), atol=1e-6)
    # after a connected layer the shape is 1x1xoutputs, as in Darknet
    net = parse_network_cfg(
        "[net]\nheight=2\nwidth=3\nchannels=4\n[connected]\noutput=5\n[softmax]\nspatial=1\n"
    )
    assert net.layers[1].shape == (1, 1, 5)


HEAD = "[net]\ninputs=4\n"


@pytest.mark.parametrize(
    "text, message",
    [
        (HEAD + "[yolo]\nclasses=3\n", r"line 3: unknown section \[yolo\]"),
        (HEAD + "[connected]\nsize=3\n", "line 4: unknown option size in \\[connected\\]"),
        (HEAD + "[connected]\noutput=ten\n", "line 4: output=ten: expected an integer"),
        (HEAD + "[connected]\noutput=0\n", "line 4: output=0: expected an integer of at least 1"),
        (HEAD + "[connected]\nactivation=swish\n", "line 4: activation=swish: expected one of"),
        (
            HEAD + "[cost]\ntype=wgan\n",
            "line 4: type=wgan: expected one of sse, masked, L1, smooth",
        ),
        (HEAD + "[dropout]\nprobability=.5\n", "line 3: \\[dropout\\]: dropout cannot be"),
        (
            HEAD + "[connected]\n[dropout]\nprobability=1.5\n",
            "line 5: probability=1.5: expected a number in",
        ),
        (HEAD + "[softmax]\ntemperature=0\n", "line 4: temperature=0: expected a number above 0"),
        (
            HEAD + "[softmax]\ngroups=3\n",
            "line 3: \\[softmax\\]: inputs \\(4\\) must divide by groups \\(3\\)",
        ),
        (HEAD + "[softmax]\nnoloss=yes\n", "line 4: noloss=yes: expected 0 or 1"),
        ("[net]\nbatch=2.5\ninputs=4\n[cost]\n", "line 2: batch=2.5: expected an integer"),
        (
            "[net]\nlearning_rate=1_0\ninputs=4\n[cost]\n",
            "line 2: learning_rate=1_0: expected a number",
        ),
        ("[net]\nlearning_rate=nan\ninputs=4\n[cost]\n", "line 2: learning_rate=nan"),
        (HEAD + "\n[connected]\noutput=3\noutput=4\n", "line 6: output is already set on line 5"),
        ("batch=1\n[net]\n", "line 1: an option before any \\[section\\]"),
        (HEAD + "[connected]\noutput\n", "line 4: expected key=value"),
        (HEAD + "[connected]\noutput=\n", "line 4: expected key=value"),
        (HEAD + "[connected]\noutput=3#ten\n", "line 4: output=3#ten: expected an integer"),
        ("\n[connected]\n[net]\n", "line 2: the first section must be \\[net\\]"),
        (HEAD + "[connected]\n[net]\n", "line 4: a second \\[net\\] section"),
        ("[net]\nbatch=2\n[connected]\n", "line 1: \\[net\\]: inputs must be at least 1"),
        (HEAD + "", "has no layers"),
        ("# nothing\n\n[Net]\n", r"line 3: unknown section \[Net\]"),
    ],
)
def test_bad_cfg_names_the_line(text, message):
    with pytest.raises(ValueError, match=message):
        parse_network_cfg(text)


def test_bad_cfg_file_names_the_file(tmp_path):
    path = tmp_path / "bad.cfg"
    path.write_text("[net]\ninputs=2\n[lstm]\n")
    with pytest.raises(ValueError, match="bad.cfg: line 3: unknown section"):
        parse_network_cfg(path)
    with pytest.raises(FileNotFoundError):
        parse_network_cfg(tmp_path / "none.cfg")
    with pytest.raises(TypeError, match="path_or_text must be"):
        parse_network_cfg(3)


# -- any spacing, any comments ----------------------------------------------

LINES = [
    "[net]",
    "batch=3",
    "learning_rate=0.25",
    "inputs=8",
    "[connected]",
    "output=6",
    "activation=leaky",
    "[dropout]",
    "probability=.3",
    "[connected]",
    "output=4",
    "[softmax]",
    "groups=2",
    "temperature=0.5",
    "[cost]",
    "type=masked",
    "scale=2",
]


def describe(net):
    return [
        (
            type(layer).__name__,
            layer.inputs,
            layer.outputs,
            getattr(layer, "groups", None),
            getattr(layer, "activation", None),
            getattr(layer, "type", None),
        )
        for layer in net.layers
    ] + [net.batch, net.learning_rate, net.inputs]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(" \t", max_size=2),
            st.text(" \t", max_size=2),
            st.sampled_from(["", "#", ";"]),
            st.booleans(),
        ),
        min_size=len(LINES),
        max_size=len(LINES),
    )
)
def test_spacing_and_comments_change_nothing(decorations):
    """Whitespace anywhere in a line, comment lines and blank lines between
    them: the same network as the plain text."""
    lines = []
    for line, (before, inside, comment, blank) in zip(LINES, decorations):
        if comment:
            lines.append(before + comment + " batch=99 [convolutional]")
        if blank:
            lines.append(inside)
        lines.append(before + line.replace("=", inside + "=" + inside, 1) + inside)
    plain = parse_network_cfg("\n".join(LINES))
    assert describe(parse_network_cfg("\n".join(lines))) == describe(plain)


def test_a_tree_not_found_is_the_one_the_package_ships(tmp_path, monkeypatch):
    """darknet9000.cfg names data/9k.tree, relative to where Darknet runs; with
    no such file there or beside the cfg, the shipped YOLO9000 tree is read."""
    monkeypatch.chdir(tmp_path)
    net = parse_network_cfg("[net]\ninputs=9418\n[softmax]\ntree=data/9k.tree\n")
    assert net.layers[0].tree.n == 9418 and net.layers[0].tree.groups == 1846
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "9k.tree").write_text("a -1\nb -1\n")
    with pytest.raises(ValueError, match="tree has 2 nodes"):
        parse_network_cfg("[net]\ninputs=9418\n[softmax]\ntree=data/9k.tree\n")
