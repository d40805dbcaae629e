"""Darknet's .cfg files (src/parser.c): the text read into sections, each
section's options parsed and checked against the layer table.

A cfg is read as Darknet reads it: all whitespace is taken out of each line;
a line that is then empty or starts with '#' or ';' is a comment; '[name]'
starts a section; anything else is key=value. Where Darknet warns and guesses
(an unknown section, option or value; an option given twice) or crashes (an
option before any section), this raises ValueError naming the line.

This module only reads: `darknet_softmax.Network.from_cfg` builds the network
from what `parse_cfg` returns."""

import os
import pathlib
import re
from typing import NamedTuple

from .layers import SECTIONS
from .layers.base import Option, choice, integer, real, switch, tree_file
from .policy import POLICIES
from .tree import YOLO9000_TREE, read_tree

NET_SECTIONS = ("net", "network")


def number_list(parse):
    """A comma-separated list, as Darknet's steps= and scales=."""

    def parse_list(text):
        try:
            return tuple(parse(item) for item in text.split(","))
        except ValueError as error:
            raise ValueError(f"expected a comma-separated list, each {error}") from None

    return parse_list


# [net]: name -> Option. The default of inputs is height*width*channels,
# which the network fills in. `batch` is Darknet's: the items of one update,
# which each forward takes `subdivisions` parts of.
_NON_NEGATIVE = real(lambda v: v >= 0, "a number >= 0")
NET_OPTIONS = {
    "batch": Option(integer(1), 1),
    "subdivisions": Option(integer(1), 1),
    "learning_rate": Option(_NON_NEGATIVE, 0.001),
    "momentum": Option(_NON_NEGATIVE, 0.9),
    "decay": Option(_NON_NEGATIVE, 0.0001),
    "inputs": Option(integer(1), None),
    "height": Option(integer(0), 0),
    "width": Option(integer(0), 0),
    "channels": Option(integer(0), 0),
    "max_batches": Option(integer(0), 0),
    "policy": Option(choice(POLICIES), "constant"),
    "step": Option(integer(1), 1),
    "scale": Option(real(), 1.0),
    "steps": Option(number_list(integer(0)), ()),
    "scales": Option(number_list(real()), ()),
    "gamma": Option(real(), 1.0),
    "power": Option(real(), 4.0),
    "burn_in": Option(integer(0), 0),
    "exact": Option(switch, False),
}
# Options only Darknet's image loader reads: accepted, kept, and listed by the
# summary as unused by this engine.
IMAGE_OPTIONS = (
    "angle",
    "aspect",
    "saturation",
    "exposure",
    "hue",
    "jitter",
    "min_crop",
    "max_crop",
    "min_ratio",
    "max_ratio",
    "center",
)
NET_OPTIONS.update({name: Option(real(), None) for name in IMAGE_OPTIONS})


class Section:
    """One [section] of a cfg: its kind ("net" or a layer kind), its line and
    its options as {key: (value text, line)}."""

    def __init__(self, kind, line):
        self.kind, self.line, self.options = kind, line, {}


class LayerSection(NamedTuple):
    kind: str
    options: dict  # every option of the layer type, defaults filled in
    line: int


class Cfg(NamedTuple):
    """A parsed cfg: the [net] options and each layer's, with their lines."""

    source: str
    net: dict
    net_line: int
    layers: list


def _section_names():
    return sorted(f"[{name}]" for name in (*NET_SECTIONS, *SECTIONS))


def read_cfg(text, source="<cfg>"):
    """The sections of a cfg's text, checked for unknown sections, malformed
    lines and repeated options (Darknet's read_cfg, which checks none)."""
    sections = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"\s", "", raw)
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            name = line[1:-1] if line.endswith("]") else None
            if name not in NET_SECTIONS and name not in SECTIONS:
                raise ValueError(
                    f"{source}: line {number}: unknown section {line}; this "
                    f"project reads {', '.join(_section_names())}"
                )
            sections.append(Section("net" if name in NET_SECTIONS else SECTIONS[name].kind, number))
            continue
        if not sections:
            raise ValueError(f"{source}: line {number}: an option before any [section]")
        key, equals, value = line.partition("=")
        if not equals or not key or not value:
            raise ValueError(f"{source}: line {number}: expected key=value, not {raw.strip()!r}")
        options = sections[-1].options
        if key in options:
            raise ValueError(
                f"{source}: line {number}: {key} is already set on line {options[key][1]}"
            )
        options[key] = (value, number)
    return sections


def options_of(kind):
    """{name: Option} of a section kind."""
    return NET_OPTIONS if kind == "net" else SECTIONS[kind].options


def _values(section, source, cfg_path):
    """{option: value} for every option of the section's kind, defaults filled in."""
    known = options_of(section.kind)
    values = {}
    for key, (text, number) in section.options.items():
        if key not in known:
            raise ValueError(
                f"{source}: line {number}: unknown option {key} in "
                f"[{section.kind}]; it takes {', '.join(known)}"
            )
        try:
            values[key] = known[key].parse(text)
        except ValueError as error:
            raise ValueError(f"{source}: line {number}: {key}={text}: {error}") from None
    for key, option in known.items():
        values.setdefault(key, option.default)
        if option.parse is tree_file and values[key] is not None:
            try:
                values[key] = _read_tree(values[key], cfg_path)
            except (OSError, ValueError) as error:
                raise ValueError(
                    f"{source}: line {section.line}: [{section.kind}]: {error}"
                ) from None
    return values


def _read_tree(path, cfg_path):
    """Darknet opens the tree relative to the working folder; a tree beside the
    cfg is found too, and else one of that name that ships with the package
    (darknet9000.cfg's `data/9k.tree` is the YOLO9000 tree)."""
    candidate = pathlib.Path(path)
    if not candidate.is_absolute() and not candidate.exists():
        places = [pathlib.Path(cfg_path).parent / candidate] if cfg_path is not None else []
        places.append(YOLO9000_TREE.parent / candidate.name)
        candidate = next((place for place in places if place.is_file()), candidate)
    return read_tree(str(candidate))


def _is_text(path_or_text):
    return isinstance(path_or_text, str) and (
        "\n" in path_or_text or path_or_text.lstrip().startswith("[")
    )


def _text_and_source(path_or_text) -> tuple:
    """(text, the name errors give, the cfg's path or None)."""
    if _is_text(path_or_text):
        return path_or_text, "<cfg text>", None
    if isinstance(path_or_text, (str, os.PathLike)):
        cfg_path = os.fspath(path_or_text)
        return pathlib.Path(cfg_path).read_text(), cfg_path, cfg_path
    raise TypeError(f"path_or_text must be a path or cfg text, not {type(path_or_text).__name__}")


def parse_cfg(path_or_text):
    """A Darknet cfg file (a path) or its text (anything with a newline or a
    '[' is taken as text), read and checked. The first section must be [net]
    or [network]; then the layer sections in any order."""
    text, source, cfg_path = _text_and_source(path_or_text)
    sections = read_cfg(text, source)
    if not sections or sections[0].kind != "net":
        line = sections[0].line if sections else 1
        raise ValueError(f"{source}: line {line}: the first section must be [net] or [network]")
    if len(sections) == 1:
        raise ValueError(f"{source}: the cfg has no layers after [net]")
    layers = []
    for section in sections[1:]:
        if section.kind == "net":
            raise ValueError(f"{source}: line {section.line}: a second [net] section")
        layers.append(LayerSection(section.kind, _values(section, source, cfg_path), section.line))
    return Cfg(source, _values(sections[0], source, cfg_path), sections[0].line, layers)
