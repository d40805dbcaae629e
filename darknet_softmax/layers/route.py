"""Darknet's [route] layer (csrc/route_layer.c) and its float64 reference;
also the layer-index options that [route] and [shortcut] share."""

from collections.abc import Sequence
from typing import Optional

import numpy as np

from .. import reference
from ..binding import Floats, check_distinct, count, ffi, float_array, float_ptr
from .base import _INT, CLayer, Option, check_context

# --- layer indices, as Darknet's cfgs give them ---


def index(text):
    """One layer index: negative counts back from the layer that reads it
    (-1 is the layer before), otherwise it counts layers from 0."""
    if not _INT.fullmatch(text):
        raise ValueError("expected a layer index (an integer; negative counts back)")
    return int(text)


def index_list(text):
    """A comma-separated list of layer indices, as route's layers=-1,-4."""
    try:
        return tuple(index(item) for item in text.split(","))
    except ValueError:
        raise ValueError(
            "expected a comma-separated list of layer indices (integers; negative count back)"
        ) from None


def absolute_index(name, value, current):
    """The layer `value` names (relative when negative, as Darknet's parser
    takes it) for the layer numbered `current`: one of the layers before it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must hold integers (layer indices), not {type(value).__name__}")
    absolute = current + int(value) if value < 0 else int(value)
    if not 0 <= absolute < current:
        before = f"layers 0 to {current - 1} or -1 to -{current}" if current else "none"
        raise ValueError(
            f"{name}: {value} is not a layer before this one (layer {current}): it may name "
            f"{before}"
        )
    return absolute


def absolute_indices(name, value, current):
    """`value` (one index or a sequence of them) as a tuple of absolute indices."""
    if value is None:
        raise ValueError(f"{name} is required: the indices of the layers to read")
    if isinstance(value, str):
        value = index_list(value)
    if isinstance(value, (int, np.integer)):
        values = (value,)
    elif isinstance(value, (tuple, list, range, np.ndarray)):
        values = tuple(value)
    else:
        raise TypeError(f"{name} must hold integers (layer indices), not {type(value).__name__}")
    if not values:
        raise ValueError(f"{name} must name at least one layer")
    return tuple(absolute_index(name, item, current) for item in values)


class RouteLayer(CLayer):
    """Darknet's route: each item of `output` is the items of the source
    layers' outputs one after another, i.e. their channels concatenated, and
    backward adds each slice of `delta` into its source's delta.

    `outputs` are the sources' outputs and `deltas` their deltas (or None
    where a source has none, as a [crop]), float32 arrays of batch*size floats
    each; the layer keeps them (as Darknet keeps pointers to the layers).
    `layers` are their layer indices, for the summary and `reference`. The
    route reads neither net.input nor net.delta.

    Parameters
    ----------
    batch : int
        Items a pass (at least 1).
    outputs : sequence of ndarray of float32
        The sources' outputs (at least one), C-contiguous, each of
        batch*size floats.
    deltas : sequence of (ndarray of float32 or None), optional
        The sources' deltas, each of its output's shape, writable; None (all
        of them, or one) where a source has none.
    layers : sequence of int, optional
        The sources' layer indices, one for each output.

    Raises
    ------
    TypeError
        If an array is not a float32 ndarray.
    ValueError
        If `outputs` is empty, the counts differ, an output does not hold
        `batch` items, a delta's shape differs from its output's, a delta is
        read-only, or a delta overlaps an output or partly overlaps another
        delta.
    """

    kind = "route"
    sections = ("route",)
    options = {"layers": Option(index_list, None)}
    shown = "batch outputs layers sizes"
    apart = ()  # the route does not read net.delta

    def __init__(
        self,
        batch: int,
        outputs: Sequence[Floats],
        deltas: Optional[Sequence[Optional[Floats]]] = None,
        layers: Optional[Sequence[int]] = None,
    ) -> None:
        batch = count("batch", batch)
        outputs = [float_array(f"outputs[{i}]", array) for i, array in enumerate(outputs)]
        if not outputs:
            raise ValueError("outputs must hold at least one array")
        deltas = [None] * len(outputs) if deltas is None else list(deltas)
        if len(deltas) != len(outputs):
            raise ValueError(f"deltas must hold {len(outputs)} arrays (or None), not {len(deltas)}")
        sizes = []
        for i, (output, delta) in enumerate(zip(outputs, deltas)):
            if output.size % batch:
                raise ValueError(
                    f"outputs[{i}] must hold batch ({batch}) items, not {output.size} floats"
                )
            sizes.append(output.size // batch)
            if delta is not None:
                delta = float_array(f"deltas[{i}]", delta, writable=True)
                if delta.shape != output.shape:
                    raise ValueError(
                        f"deltas[{i}] must have the shape of outputs[{i}], {output.shape}"
                    )
                deltas[i] = delta
        named = [(f"outputs[{i}]", a) for i, a in enumerate(outputs)]
        named_deltas = [(f"deltas[{i}]", a) for i, a in enumerate(deltas) if a is not None]
        check_distinct(*named, *named_deltas)
        for pair in named_deltas:
            for other in named:
                check_distinct(pair, other, same_ok=False)
        self._layers = None if layers is None else tuple(int(i) for i in layers)
        if self._layers is not None and len(self._layers) != len(outputs):
            raise ValueError(f"layers must hold {len(outputs)} indices, not {len(self._layers)}")
        sources = ffi.new("route_source[]", len(outputs))
        for source, output, delta, size in zip(sources, outputs, deltas, sizes):
            source.output = float_ptr(output)
            source.delta = ffi.NULL if delta is None else float_ptr(delta)
            source.size = size
        self._make(batch, len(sources), sources)
        # The C layer points into these: they live as long as the layer.
        self._sources = (outputs, deltas)
        total = sum(sizes)
        self._map((batch, total))

    layers = property(lambda self: (self._open(), self._layers)[1])
    sizes = property(lambda self: [int(s.size) for s in self._open().sources[0 : self._layer.n]])

    def close(self):
        """Release the C layer and the sources it kept."""
        super().close()
        self._sources = ([], [])

    def _check_net(self, net, backward=False):
        """The route reads neither net.input nor net.delta: `net` is only
        checked to be a NetworkContext."""
        return check_context(net)

    def _check_input(self, net):
        pass

    @classmethod
    def plan(cls, options, params):
        layers = absolute_indices("layers", options["layers"], len(params.shapes))
        first = layers[0]
        height, width, _ = params.shapes[first]
        for i in layers[1:]:
            if tuple(params.shapes[i][:2]) != (height, width):
                h, w, _ = params.shapes[i]
                raise ValueError(
                    f"layers: layer {i} outputs {w} x {h} but layer {first} outputs "
                    f"{width} x {height}: the layers of a route must share width and height"
                )
        channels = sum(params.shapes[i][2] for i in layers)
        outputs = height * width * channels
        return (height, width, channels), 4 * 2 * params.batch * outputs + 24 * len(layers)

    @classmethod
    def build(cls, options, params):
        layers = absolute_indices("layers", options["layers"], len(params.layers))
        sources = [params.layers[i] for i in layers]
        return cls(
            params.batch,
            [source.output for source in sources],
            [source.delta for source in sources],
            layers,
        )

    def reference(self, input, outputs):
        if self._layers is None:
            raise ValueError("this route was built without layers: it cannot find its sources")
        return reference_forward([outputs[i] for i in self._layers])

    def describe(self):
        return " ".join(map(str, self._layers)) if self._layers else f"{len(self.sizes)} sources"


# --- the float64 reference of the layer ---


def reference_forward(sources):
    """Each item of the (batch, size_i) sources, one after another."""
    return np.concatenate([reference.f64(source) for source in sources], axis=1)


def reference_backward(delta, sizes):
    """The slices of the (batch, sum of sizes) delta that each source's delta gets."""
    delta = reference.f64(delta)
    return np.split(delta, np.cumsum(sizes)[:-1], axis=1)
