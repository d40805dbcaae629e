"""Darknet's .cfg and .weights files (src/parser.c): `parse_network_cfg`,
`save_weights` and `load_weights`.

A cfg is read as Darknet reads it: all whitespace is taken out of each line;
a line that is then empty or starts with '#' or ';' is a comment; '[name]'
starts a section; anything else is key=value. Where Darknet warns and guesses
(an unknown section, option or value; an option given twice) or crashes (an
option before any section), this raises ValueError naming the line."""
import os
import pathlib
import re
import struct

import numpy as np

from .activations import ACTIVATIONS
from .connected import ConnectedLayer
from .cost import COST_TYPES
from .network import Network

SECTIONS = {"[net]": "net", "[network]": "net", "[connected]": "connected",
            "[conn]": "connected", "[softmax]": "softmax", "[soft]": "softmax",
            "[cost]": "cost", "[dropout]": "dropout"}

_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _int(minimum):
    def parse(text):
        if not _INT.fullmatch(text) or int(text) < minimum:
            raise ValueError(f"expected an integer of at least {minimum}")
        return int(text)
    return parse


def _float(check=lambda value: True, expected="a number"):
    def parse(text):
        if not _FLOAT.fullmatch(text) or not check(float(text)):
            raise ValueError(f"expected {expected}")
        return float(text)
    return parse


def _choice(names):
    def parse(text):
        if text not in names:
            raise ValueError(f"expected one of {', '.join(names)}")
        return text
    return parse


def _flag(text):
    if text not in ("0", "1"):
        raise ValueError("expected 0 or 1")
    return text == "1"


# Each section's options: name -> (parse, Darknet's default). The [net]
# default of inputs is height*width*channels, filled in below.
_NON_NEGATIVE = _float(lambda v: v >= 0, "a number >= 0")
OPTIONS = {
    "net": {"batch": (_int(1), 1), "learning_rate": (_NON_NEGATIVE, .001),
            "momentum": (_NON_NEGATIVE, .9), "decay": (_NON_NEGATIVE, .0001),
            "inputs": (_int(1), None), "height": (_int(0), 0), "width": (_int(0), 0),
            "channels": (_int(0), 0), "max_batches": (_int(0), 0)},
    "connected": {"output": (_int(1), 1), "activation": (_choice(ACTIVATIONS), "logistic")},
    "softmax": {"groups": (_int(1), 1),
                "temperature": (_float(lambda v: v > 0, "a number above 0"), 1.0),
                "tree": (str, None), "spatial": (_flag, False), "noloss": (_flag, False),
                "exact": (_flag, False)},
    "cost": {"type": (_choice(COST_TYPES), "sse"), "scale": (_float(), 1.0)},
    "dropout": {"probability": (_float(lambda v: 0 <= v < 1, "a number in [0, 1)"), .5)},
}


class Section:
    """One [section] of a cfg: its kind, its line and its options as
    {key: (value text, line)}."""

    def __init__(self, kind, line):
        self.kind, self.line, self.options = kind, line, {}


def read_cfg(text, source="<cfg>"):
    """The sections of a cfg's text, checked for unknown sections, malformed
    lines and repeated options (Darknet's read_cfg, which checks none)."""
    sections = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"\s", "", raw)
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            if line not in SECTIONS:
                raise ValueError(f"{source}: line {number}: unknown section {line}; this "
                                 f"project reads {', '.join(sorted(set(SECTIONS)))}")
            sections.append(Section(SECTIONS[line], number))
            continue
        if not sections:
            raise ValueError(f"{source}: line {number}: an option before any [section]")
        key, equals, value = line.partition("=")
        if not equals or not key or not value:
            raise ValueError(f"{source}: line {number}: expected key=value, not {raw.strip()!r}")
        options = sections[-1].options
        if key in options:
            raise ValueError(f"{source}: line {number}: {key} is already set on line "
                             f"{options[key][1]}")
        options[key] = (value, number)
    return sections


def _values(section, source):
    """{option: value} for every option of the section's kind, defaults filled in."""
    known = OPTIONS[section.kind]
    values = {}
    for key, (text, number) in section.options.items():
        if key not in known:
            raise ValueError(f"{source}: line {number}: unknown option {key} in "
                             f"[{section.kind}]; it takes {', '.join(known)}")
        try:
            values[key] = known[key][0](text)
        except ValueError as error:
            raise ValueError(f"{source}: line {number}: {key}={text}: {error}") from None
    for key, (_, default) in known.items():
        values.setdefault(key, default)
    return values


def _read_tree(path, cfg_path):
    """Darknet opens the tree relative to the working folder; a tree beside the
    cfg is found too."""
    import darknet_softmax
    read_tree = getattr(darknet_softmax, "read_tree", None)
    if read_tree is None:
        raise ValueError("tree= needs darknet_softmax.read_tree, which this build lacks")
    candidate = pathlib.Path(path)
    if not candidate.is_absolute() and not candidate.exists() and cfg_path is not None:
        beside = pathlib.Path(cfg_path).parent / candidate
        if beside.exists():
            candidate = beside
    return read_tree(str(candidate))


def _is_text(path_or_text):
    return isinstance(path_or_text, str) and ("\n" in path_or_text
                                              or path_or_text.lstrip().startswith("["))


def parse_network_cfg(path_or_text, seed=0):
    """A Network from a Darknet cfg file (a path) or its text. The first
    section must be [net] or [network]; then [connected], [softmax], [cost]
    and [dropout] in any order."""
    if _is_text(path_or_text):
        text, source, cfg_path = path_or_text, "<cfg text>", None
    elif isinstance(path_or_text, (str, os.PathLike)):
        cfg_path = os.fspath(path_or_text)
        text, source = pathlib.Path(cfg_path).read_text(), cfg_path
    else:
        raise TypeError(f"path_or_text must be a path or cfg text, not "
                        f"{type(path_or_text).__name__}")
    sections = read_cfg(text, source)
    if not sections or sections[0].kind != "net":
        line = sections[0].line if sections else 1
        raise ValueError(f"{source}: line {line}: the first section must be [net] or [network]")
    if len(sections) == 1:
        raise ValueError(f"{source}: the cfg has no layers after [net]")
    net_options = _values(sections[0], source)
    try:
        network = Network(seed=seed, **net_options)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source}: line {sections[0].line}: [net]: {error}") from None
    for section in sections[1:]:
        values = _values(section, source)
        if section.kind == "net":
            raise ValueError(f"{source}: line {section.line}: a second [net] section")
        try:
            if section.kind == "softmax" and values["tree"] is not None:
                values["tree"] = _read_tree(values["tree"], cfg_path)
            getattr(network, "add_" + section.kind)(**values)
        except (TypeError, ValueError, OSError) as error:
            raise ValueError(f"{source}: line {section.line}: [{section.kind}]: {error}") from None
    return network


# -- .weights ---------------------------------------------------------------

# Darknet's header: major, minor, revision as int32, then `seen` as size_t
# (64 bits) from version 0.2 on, as int32 before. Files are little-endian.
MAJOR, MINOR, REVISION = 0, 2, 0


def _connected(network):
    return [layer for layer in network.layers if isinstance(layer, ConnectedLayer)]


def save_weights(network, path):
    """Darknet's save_weights: the header (version 0.2.0 and `seen`), then
    each connected layer's biases followed by its (outputs, inputs) weights,
    float32, in layer order."""
    with open(path, "wb") as file:
        file.write(struct.pack("<iiiQ", MAJOR, MINOR, REVISION, network.seen))
        for layer in _connected(network):
            file.write(layer.biases.astype("<f4").tobytes())
            file.write(layer.weights.astype("<f4").tobytes())


def load_weights(network, path):
    """Darknet's load_weights into the network's connected layers, in order.
    `seen` is 64-bit when major*10 + minor >= 2 and both are below 1000, else
    32-bit; when major or minor is above 1000 the file holds each weight matrix
    transposed, (inputs, outputs), as Darknet's oldest files do. A file shorter
    or longer than these layers need raises ValueError, and then nothing has
    been changed."""
    data = pathlib.Path(path).read_bytes()
    if len(data) < 16:
        raise ValueError(f"{path}: {len(data)} bytes is too short for a Darknet weights header")
    major, minor, _revision = struct.unpack_from("<iii", data)
    if major * 10 + minor >= 2 and major < 1000 and minor < 1000:
        if len(data) < 20:
            raise ValueError(f"{path}: {len(data)} bytes is too short for a version "
                             f"{major}.{minor} header")
        seen, offset = struct.unpack_from("<Q", data, 12)[0], 20
    else:
        seen, offset = struct.unpack_from("<i", data, 12)[0], 16
    transpose = major > 1000 or minor > 1000
    layers = _connected(network)
    expected = offset + 4 * sum(layer.outputs * (layer.inputs + 1) for layer in layers)
    if len(data) != expected:
        raise ValueError(f"{path}: holds {len(data)} bytes, but the weights of this network's "
                         f"{len(layers)} connected layers take {expected} with this header "
                         f"(version {major}.{minor})")
    values = []
    for layer in layers:
        biases = np.frombuffer(data, "<f4", layer.outputs, offset)
        offset += 4 * layer.outputs
        weights = np.frombuffer(data, "<f4", layer.outputs * layer.inputs, offset)
        offset += 4 * weights.size
        if transpose:
            weights = weights.reshape(layer.inputs, layer.outputs).T
        values.append((biases, weights.reshape(layer.outputs, layer.inputs)))
    for layer, (biases, weights) in zip(layers, values):
        layer.biases[...] = biases
        layer.weights[...] = weights
    network.seen = max(seen, 0)
