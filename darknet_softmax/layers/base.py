"""What every layer shares: the network context it runs in, the base of a
layer held in C, and the options of a cfg section.

A layer's buffers are NumPy views of C memory. Each view keeps that memory
alive, so a view taken before `close()` stays valid; the memory goes with the
last view.

A layer may be shared by threads: a lock lets one call at a time use it, so
every call sees and leaves whole buffers. The buffers are still shared state
(they hold the last call's results), so threads that need their own results
use their own layers, which run in parallel (C runs without the GIL).

A layer class is also its row of the layer table (`darknet_softmax.layers`):
its `kind`, its cfg `sections`, its `options` with Darknet's defaults, its
`weights_layout` in files, and `build`, which makes it from those options."""

import inspect
import re
import threading
from typing import TYPE_CHECKING, Any, Callable, ClassVar, NamedTuple, Optional

import numpy as np

from ..binding import (
    Floats,
    check_distinct,
    check_size,
    check_status,
    count,
    ffi,
    float_array,
    float_ptr,
    lib,
    locked,
)

Shape = tuple  # (h, w, c) of one item


class NetworkContext:
    """What a layer sees of the network: `input`, `truth` (or None), `delta`
    (the previous layer's delta, or None), `train`, and `labels` (or None:
    one integer class label per item, which a softmax layer of one group
    takes in place of a one-hot truth). It keeps the arrays, so
    their memory outlives every C call that uses it. Arrays are float32 and
    C-contiguous, shaped (batch, inputs) or flat; each layer checks the sizes.

    Parameters
    ----------
    input : ndarray of float32
        The layer's input, (batch, inputs) or flat; `batch` is its first axis
        (1 when flat).
    truth : ndarray of float32, optional
        (batch, outputs) truths for a layer with a loss; None computes none.
    delta : ndarray of float32, optional
        Writable, (batch, inputs) or flat: where `backward` ADDS the layer's
        delta (the NEGATIVE gradient) with respect to `input`. None (the first
        layer) adds nothing.
    train : bool, default True
        Training mode.
    labels : ndarray of int, optional
        (batch,) class indices in place of `truth`, for a softmax layer of
        one group; converted to int64.

    Raises
    ------
    TypeError
        If an array is not a float32 ndarray.
    ValueError
        If an array is empty or not C-contiguous, or `delta` is read-only.
    """

    def __init__(
        self,
        input: Floats,
        truth: Optional[Floats] = None,
        delta: Optional[Floats] = None,
        train: bool = True,
        labels: Optional[np.ndarray] = None,
    ) -> None:
        self._input = float_array("input", input)
        # One class label per item (int64), in place of a one-hot truth: only
        # a softmax layer of one group takes them (SoftmaxLayer.forward).
        self._labels = None if labels is None else np.ascontiguousarray(labels, np.int64)
        self._truth = None if truth is None else float_array("truth", truth)
        self._delta = None if delta is None else float_array("delta", delta, writable=True)
        self._struct = ffi.new("network *")
        self._struct.input = float_ptr(input)
        self._struct.truth = ffi.NULL if truth is None else float_ptr(truth)
        self._struct.delta = ffi.NULL if delta is None else float_ptr(delta)
        self._struct.train = bool(train)
        self.batch = input.shape[0] if input.ndim > 1 else 1

    input = property(lambda self: self._input)
    truth = property(lambda self: self._truth)
    delta = property(lambda self: self._delta)
    labels = property(lambda self: self._labels)
    train = property(lambda self: bool(self._struct.train))


# --- the options of a cfg section: each parses the text after '=' ---


class Option(NamedTuple):
    """One cfg option: `parse` turns its text into a value (raising ValueError
    that says what it expected); `default` is Darknet's."""

    parse: Callable[[str], Any]
    default: Any


_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def integer(minimum):
    def parse(text):
        if not _INT.fullmatch(text) or int(text) < minimum:
            raise ValueError(f"expected an integer of at least {minimum}")
        return int(text)

    return parse


def real(check=lambda value: True, expected="a number"):
    def parse(text):
        if not _FLOAT.fullmatch(text) or not check(float(text)):
            raise ValueError(f"expected {expected}")
        return float(text)

    return parse


def choice(names):
    def parse(text):
        if text not in names:
            raise ValueError(f"expected one of {', '.join(names)}")
        return text

    return parse


def switch(text):
    if text not in ("0", "1"):
        raise ValueError("expected 0 or 1")
    return text == "1"


class LayerParams(NamedTuple):
    """What a layer type's `plan` and `build` know of the network it joins
    (Darknet's size_params): `batch` items of `inputs` floats shaped `shape`
    (h, w, c), the output `shapes` of the layers before it (and, in `build`
    only, the `layers` themselves), a `seed` for its random numbers, and
    whether the network computes `exact` gradients where Darknet's are wrong."""

    batch: int
    inputs: int
    shape: tuple
    layers: list
    shapes: list
    seed: int
    exact: bool = False

    @property
    def previous(self):
        """The layer before, or None for the first layer."""
        return self.layers[-1] if self.layers else None


def generator_seed(seed):
    """The seed of a layer's C generator: `seed` (at least 0) modulo 2**64,
    or fresh entropy when None."""
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
    return count("seed", seed, minimum=0) & (2**64 - 1)


def tree_file(text):
    """A .tree file's path: the cfg reader reads the tree, looking beside the
    cfg too."""
    return text


def check_context(net):
    if not isinstance(net, NetworkContext):
        raise TypeError(f"net must be a NetworkContext, not {type(net).__name__}")
    return net


# The sizes every C layer struct holds in its `shape` (csrc/layer.h).
SHAPE_FIELDS = frozenset(name for name, _ in ffi.typeof("layer_shape").fields)


def _field(name, kind=int):
    """A read-only property: the C struct's field `name` (in its `shape` for
    the sizes every layer shares), as `kind`."""

    def get(self):
        layer = self._open()
        return kind(getattr(layer.shape if name in SHAPE_FIELDS else layer, name))

    return property(get)


def _buffer(name):
    """A read-only property: the view of the C buffer `name`."""
    return property(lambda self: self._view(name))


class CLayer:
    """Base of a layer held in C. A subclass makes its struct with `_make`
    and maps its buffers with `_map`, and fills in its row of the layer
    table (the class attributes below).

    `forward` and `backward` are written here once: they check `net`, then
    call Darknet's `forward_X_layer` or `backward_X_layer`, X being `kind`.
    A subclass names what differs: `apart`, and `_check_input` or
    `_check_delta` where its checks differ."""

    kind: ClassVar[str]  # the name the network and summary use
    sections: ClassVar[tuple] = ()  # its cfg section names, without brackets
    options: ClassVar[dict] = {}  # name -> Option, as a cfg spells them
    weights_layout: ClassVar[tuple] = ()  # buffers in a .weights file, in order
    old_transposed: ClassVar[Optional[str]] = None  # the buffer old files hold transposed
    state: ClassVar[tuple] = ()  # buffers a rebuild at another batch keeps
    cost: Optional[float] = None  # a layer with a loss overrides this
    # The C struct's fields that become read-only properties: {type: "name ..."}.
    fields: ClassVar[dict] = {}
    # The buffers that become read-only properties, views of C memory: "name ...".
    buffers: ClassVar[str] = ""
    # The attributes `repr` shows, in order; by default the constructor's
    # parameters but `seed` (a layer keeps its generator, not what started it).
    shown: ClassVar[str]
    # The buffers backward keeps `net.delta` apart from, in order; None: all.
    apart: ClassVar[Optional[tuple]] = ("output", "delta")

    _layer: Any = None  # the C struct, an ffi.gc pointer; None once closed
    _views: dict = {}  # name -> NumPy view of a C buffer
    _lock: threading.Lock

    if TYPE_CHECKING:
        # The properties of `fields` and `buffers`, made by __init_subclass__.
        def __getattr__(self, name: str) -> Any: ...

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for kind, names in cls.__dict__.get("fields", {}).items():
            for name in names.split():
                setattr(cls, name, _field(name, kind))
        for name in cls.__dict__.get("buffers", "").split():
            setattr(cls, name, _buffer(name))
        if "shown" not in cls.__dict__ and "__init__" in cls.__dict__:
            parameters = inspect.signature(cls.__init__).parameters
            cls.shown = " ".join(name for name in parameters if name not in ("self", "seed"))

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        self._lock = threading.Lock()
        return self

    @classmethod
    def plan(cls, options: dict, params: "LayerParams") -> tuple:
        """What the layer would be, from its `options` (every one of
        `cls.options`) and what it knows of the network (`params`, whose
        `layers` it must not read), without allocating: (the (h, w, c) of its
        output, the bytes its C memory takes). Bad options raise ValueError."""
        raise NotImplementedError

    @classmethod
    def build(cls, options: dict, params: "LayerParams") -> "CLayer":
        """The layer for a network, from the same arguments as `plan`."""
        raise NotImplementedError

    @property
    def output(self) -> Floats:
        """The (batch, outputs) view of the layer's output."""
        return self._view("output")

    @property
    def delta(self) -> Floats:
        """The (batch, outputs) view of the layer's delta, the NEGATIVE gradient."""
        return self._view("delta")

    @locked
    def forward(self, net: NetworkContext) -> None:
        """Darknet's forward_X_layer, X being the layer's `kind` (the class
        says what it computes): reads `net.input` (and `net.truth` and
        `net.train`, where the layer uses them) and writes `output`.

        Parameters
        ----------
        net : NetworkContext
            `input` (batch, inputs); an image's items channel-major, (c, h, w).

        Raises
        ------
        TypeError
            If `net` is not a NetworkContext.
        ValueError
            If the layer is closed, an array of `net` has the wrong size, or
            `net.input` overlaps `output` (a cost layer takes any input; a
            dropout layer's must be the output given to `share`).
        """
        layer = self._open()
        self._check_net(net)
        self._check_input(net)
        self._call("forward", layer, net)

    @locked
    def backward(self, net: NetworkContext) -> None:
        """Darknet's backward_X_layer, X being the layer's `kind` (the class
        says what it computes): from `delta`, the NEGATIVE gradient with
        respect to `output`, it ADDS the NEGATIVE gradient with respect to the
        input into `net.delta` when that is set.

        Parameters
        ----------
        net : NetworkContext
            `input` (batch, inputs) as forward saw it; `delta` (batch, inputs)
            or None.

        Raises
        ------
        TypeError
            If `net` is not a NetworkContext.
        ValueError
            If `net.delta` overlaps one of the layer's buffers (a dropout
            layer's must be the delta given to `share`), an array of `net` has
            the wrong size, or the layer is closed.
        """
        layer = self._open()
        self._check_net(net, backward=True)
        self._check_delta(net)
        self._call("backward", layer, net)

    def _check_input(self, net):
        check_distinct(("net.input", net.input), ("layer.output", self.output), same_ok=False)

    def _check_delta(self, net):
        if net.delta is None:
            return
        for name in self._views if self.apart is None else self.apart:
            check_distinct(
                ("net.delta", net.delta), (f"layer.{name}", self._views[name]), same_ok=False
            )

    def _call(self, step, layer, net):
        """Darknet's `step`_X_layer on the layer's struct and `net`."""
        function = f"{step}_{self.kind}_layer"
        check_status(getattr(lib, function)(layer, net._struct), function)

    def reference(self, input: np.ndarray, outputs: list) -> np.ndarray:
        """The float64 reference of the layer's forward pass outside training,
        with its current parameters: `input` is the (batch, inputs) float64
        output of the layer before, `outputs` those of every layer before (a
        route or shortcut reads them). Returns (batch, outputs) float64."""
        raise NotImplementedError

    def describe(self):
        """The detail of the layer's line in a network's summary."""
        return ""

    def update(self, batch: int, learning_rate: float, momentum: float, decay: float) -> None:
        """Darknet's SGD step; a layer without weights has nothing to update."""

    def _make(self, *args):
        """Darknet's make_X_layer(*args), X being `kind`: the struct, freed by
        free_layer when the last view of its memory goes."""
        out = ffi.new(f"{self.kind}_layer **")
        check_status(getattr(lib, f"make_{self.kind}_layer")(*args, out), f"make_{self.kind}_layer")
        self._layer = ffi.gc(out[0], lib.free_layer)
        return self._layer

    def _map(self, shape=None, **buffers):
        """Views of the struct's `output` and `delta` of `shape` (batch,
        outputs) where it is given, and of `buffers`, name=(C pointer, shape[,
        dtype]), float32 unless a dtype is given, all inside the struct's block."""
        layer = self._layer
        if shape is not None:
            buffers = {"output": (layer.output, shape), "delta": (layer.delta, shape), **buffers}
        block = ffi.buffer(layer, lib.layer_bytes(layer))
        start = int(ffi.cast("uintptr_t", layer))
        self._views = {}
        for name, (pointer, size, *dtype) in buffers.items():
            offset = int(ffi.cast("uintptr_t", pointer)) - start
            kind = dtype[0] if dtype else np.float32
            view = np.frombuffer(block, kind, int(np.prod(size)), offset)
            self._views[name] = view.reshape(size)

    def _open(self):
        if self._layer is None:
            raise ValueError(f"this {type(self).__name__} is closed")
        return self._layer

    def _view(self, name):
        self._open()
        return self._views[name]

    @locked
    def close(self):
        """Release the C layer; views already taken keep their memory. Waits
        for a call running in another thread."""
        self._layer = None
        self._views = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    batch, inputs, outputs = _field("batch"), _field("inputs"), _field("outputs")

    def _check_net(self, net, backward=False):
        """The context's arrays must hold this layer's sizes."""
        check_context(net)
        size = self.batch * self.inputs
        check_size("net.input", net.input, size)
        if net.truth is not None:
            check_size("net.truth", net.truth, self.batch * self.outputs)
        if backward and net.delta is not None:
            check_size("net.delta", net.delta, size)
        return net

    def _fields(self):
        """The attributes `repr` shows, {name: value}."""
        return {name: getattr(self, name) for name in self.shown.split()}

    def __repr__(self):
        """`Name(field=value, ...)`, or `Name(closed)`."""
        name = type(self).__name__
        if self._layer is None:
            return f"{name}(closed)"
        return f"{name}({', '.join(f'{key}={value!r}' for key, value in self._fields().items())})"
