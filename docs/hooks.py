"""MkDocs hooks: the tables that the layer table writes, so the manual cannot
drift from the code. A page asks for one with a marker line."""

from darknet_softmax.cfg import IMAGE_OPTIONS, NET_OPTIONS, NET_SECTIONS
from darknet_softmax.layers import LAYER_TYPES


def _value(default):
    if isinstance(default, bool):
        return str(int(default))
    if isinstance(default, tuple):
        return ",".join(map(str, default))
    return f"{default:g}" if isinstance(default, float) else str(default)


def _options(options):
    return ", ".join(
        f"`{name}`" if option.default in (None, ()) else f"`{name}={_value(option.default)}`"
        for name, option in options.items()
    )


def cfg_sections_table():
    """One row a section: its names and its options with Darknet's defaults."""
    rows = ["| section | options, with Darknet's defaults |", "| --- | --- |"]
    net = {name: option for name, option in NET_OPTIONS.items() if name not in IMAGE_OPTIONS}
    rows.append(f"| {', '.join(f'`[{name}]`' for name in NET_SECTIONS)} | {_options(net)} |")
    for layer in LAYER_TYPES.values():
        names = ", ".join(f"`[{name}]`" for name in layer.sections)
        rows.append(f"| {names} | {_options(layer.options)} |")
    return "\n".join(rows)


MARKERS = {"<!-- cfg-sections -->": cfg_sections_table}


def on_page_markdown(markdown, **kwargs):
    for marker, table in MARKERS.items():
        if marker in markdown:
            markdown = markdown.replace(marker, table())
    return markdown
