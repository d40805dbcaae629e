"""The network context a layer runs in, the base of every layer held in C,
and the softmax layer.

A layer's buffers are NumPy views of C memory. Each view keeps that memory
alive, so a view taken before `close()` stays valid; the memory goes with the
last view.

A layer may be shared by threads: a lock lets one call at a time use it, so
every call sees and leaves whole buffers. The buffers are still shared state
(they hold the last call's results), so threads that need their own results
use their own layers, which run in parallel (C runs without the GIL)."""
import threading

import numpy as np

from .binding import (check_distinct, check_size, check_status, count, ffi, flag,
                      float_array, float_ptr, lib, locked, temperature_value)
from .tree import Tree


class NetworkContext:
    """What a layer sees of the network: `input`, `truth` (or None), `delta`
    (the previous layer's delta, or None) and `train`. It keeps the arrays, so
    their memory outlives every C call that uses it. Arrays are float32 and
    C-contiguous, shaped (batch, inputs) or flat; each layer checks the sizes."""

    def __init__(self, input, truth=None, delta=None, train=True):
        self._input = float_array("input", input)
        self._truth = None if truth is None else float_array("truth", truth)
        self._delta = None if delta is None else float_array("delta", delta, writable=True)
        self._struct = ffi.new("network *")
        self._struct.input = float_ptr(input)
        self._struct.truth = ffi.NULL if truth is None else float_ptr(truth)
        self._struct.delta = ffi.NULL if delta is None else float_ptr(delta)
        self._struct.train = bool(train)
        self._batch = input.shape[0] if input.ndim > 1 else 1

    input = property(lambda self: self._input)
    truth = property(lambda self: self._truth)
    delta = property(lambda self: self._delta)
    train = property(lambda self: bool(self._struct.train))
    batch = property(lambda self: self._batch)


class CLayer:
    """Base of a layer held in C. A subclass sets `_layer` (an `ffi.gc`
    pointer) and maps its buffers with `_map`."""

    _layer = None

    def __new__(cls, *args, **kwargs):
        self = super().__new__(cls)
        self._lock = threading.Lock()
        return self

    def _map(self, nbytes, buffers):
        """Views of `buffers`, {name: (C pointer, shape)}, all inside the
        `nbytes` that start at the struct."""
        block = ffi.buffer(self._layer, nbytes)
        start = int(ffi.cast("uintptr_t", self._layer))
        self._views = {}
        for name, (pointer, shape) in buffers.items():
            offset = int(ffi.cast("uintptr_t", pointer)) - start
            view = np.frombuffer(block, np.float32, int(np.prod(shape)), offset)
            self._views[name] = view.reshape(shape)

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
        self._views = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    batch = property(lambda self: int(self._open().batch))
    inputs = property(lambda self: int(self._open().inputs))
    outputs = property(lambda self: int(self._open().outputs))

    def _check_net(self, net, backward=False):
        """The context's arrays must hold this layer's sizes; in backward,
        net.delta must not overlap this layer's own buffers."""
        if not isinstance(net, NetworkContext):
            raise TypeError(f"net must be a NetworkContext, not {type(net).__name__}")
        size = self.batch * self.inputs
        check_size("net.input", net.input, size)
        if net.truth is not None:
            check_size("net.truth", net.truth, self.batch * self.outputs)
        if backward and net.delta is not None:
            check_size("net.delta", net.delta, size)
        return net


class SoftmaxLayer(CLayer):
    """Darknet's [softmax] layer over `batch` items of `inputs` floats.

    `output`, `delta` and `loss` are (batch, inputs) float32 views of the C
    buffers; `delta` is the NEGATIVE gradient, as in Darknet. `forward(net)`
    computes the output and, when `net.truth` is set and `noloss` is not, the
    loss and delta; `backward(net)` adds the layer's gradient into `net.delta`.

    The softmax groups are `groups` equal slices of each item, or the groups
    of `tree`, or, with `spatial=True`, the `c` channels at each of the `w*h`
    positions of an item laid out (c, h, w); `w`, `h` and `c` give the input's
    shape (all three or none) and are required with `spatial`.

    `exact=False` gives Darknet's numbers. `exact=True` fixes Darknet where it
    is wrong (SPEC section 4): the loss is -truth*log(output) and its delta is
    (truth - output*sum(truth))/temperature per group, i.e. (truth - output)/
    temperature for labels that sum to 1; and with `noloss`, backward applies
    the softmax Jacobian to the delta that whoever feeds the layer wrote into
    `layer.delta` (a negative gradient, -dL/doutput), adding
    output*(delta - sum(delta*output))/temperature per group (-dL/dinput) into
    `net.delta`. With a tree, a truth of SECRET_NUM masks its value in both."""

    def __init__(self, batch, inputs, groups=1, temperature=1.0, tree=None, noloss=False,
                 spatial=False, w=None, h=None, c=None, exact=False):
        batch, inputs, groups = count("batch", batch), count("inputs", inputs), count("groups", groups)
        if inputs % groups:
            raise ValueError(f"inputs ({inputs}) must divide by groups ({groups})")
        if tree is not None and not isinstance(tree, Tree):
            raise TypeError(f"tree must be a darknet_softmax.Tree, not {type(tree).__name__}")
        if tree is not None and tree.n != inputs:
            raise ValueError(f"tree has {tree.n} nodes but inputs is {inputs}; they must be equal")
        temperature = temperature_value(temperature)
        spatial, exact = flag("spatial", spatial), flag("exact", exact)
        shape = _spatial_shape(inputs, w, h, c, spatial)
        if spatial and (tree is not None or groups != 1):
            raise ValueError("spatial takes its groups from w, h and c: give neither tree "
                             "nor groups with spatial=True")
        out = ffi.new("softmax_layer **")
        check_status(lib.make_softmax_layer(batch, inputs, groups, out), "make_softmax_layer")
        self._layer = ffi.gc(out[0], lib.free_softmax_layer)
        self._layer.temperature = temperature
        self._layer.noloss = flag("noloss", noloss)
        self._layer.spatial = spatial
        self._layer.w, self._layer.h, self._layer.c = shape or (0, 0, 0)
        self._layer.exact = exact
        self._tree = tree
        if tree is not None:
            self._layer.softmax_tree = tree._tree
        shape = (batch, inputs)
        layer = self._layer
        self._map(lib.softmax_layer_bytes(layer), {"output": (layer.output, shape),
                                                   "delta": (layer.delta, shape),
                                                   "loss": (layer.loss, shape)})

    def close(self):
        """Release the C layer and the tree; views already taken keep their memory."""
        super().close()
        self._tree = None

    output = property(lambda self: self._view("output"))
    delta = property(lambda self: self._view("delta"))
    loss = property(lambda self: self._view("loss"))
    groups = property(lambda self: int(self._open().groups))
    noloss = property(lambda self: bool(self._open().noloss))
    spatial = property(lambda self: bool(self._open().spatial))
    exact = property(lambda self: bool(self._open().exact))
    w = property(lambda self: int(self._open().w) or None)
    h = property(lambda self: int(self._open().h) or None)
    c = property(lambda self: int(self._open().c) or None)
    tree = property(lambda self: (self._open(), self._tree)[1])
    cost = property(lambda self: float(self._open().cost))

    @property
    def temperature(self):
        return float(self._open().temperature)

    @temperature.setter
    def temperature(self, value):
        value = temperature_value(value)
        with self._lock:
            self._open().temperature = value

    @locked
    def forward(self, net):
        layer = self._open()
        self._check_net(net)
        check_distinct(("net.input", net.input), ("layer.output", self._views["output"]))
        check_status(lib.forward_softmax_layer(layer, net._struct), "forward_softmax_layer")

    @locked
    def backward(self, net):
        layer = self._open()
        self._check_net(net, backward=True)
        if net.delta is not None:
            for name in ("output", "delta"):
                check_distinct(("net.delta", net.delta), (f"layer.{name}", self._views[name]),
                               same_ok=False)
        check_status(lib.backward_softmax_layer(layer, net._struct), "backward_softmax_layer")

    def __repr__(self):
        if self._layer is None:
            return "SoftmaxLayer(closed)"
        return (f"SoftmaxLayer(batch={self.batch}, inputs={self.inputs}, groups={self.groups}, "
                f"temperature={self.temperature}, tree={self._tree!r}, noloss={self.noloss}, "
                f"spatial={self.spatial}, w={self.w}, h={self.h}, c={self.c}, exact={self.exact})")


def _spatial_shape(inputs, w, h, c, spatial):
    """(w, h, c) checked against `inputs`, or None when none is given."""
    given = [value is not None for value in (w, h, c)]
    if not any(given):
        if spatial:
            raise ValueError("spatial=True needs w, h and c (the input's width, height "
                             "and channels)")
        return None
    if not all(given):
        raise ValueError("give all of w, h and c, or none of them")
    w, h, c = count("w", w), count("h", h), count("c", c)
    if w * h * c != inputs:
        raise ValueError(f"w*h*c ({w}*{h}*{c} = {w * h * c}) must equal inputs ({inputs})")
    return w, h, c
