"""What the connected, cost and dropout layers share: a C struct and its
buffers in one allocation, exposed as NumPy views, and the checks a layer
makes on the network context before C runs.

A view keeps the whole allocation alive, so a view taken before `close()`
stays valid; the memory goes with the last view. Like SoftmaxLayer, a layer
takes one call at a time (a lock each), so threads may share it."""
import threading

import numpy as np

from .binding import check_size, ffi, locked
from .layers import NetworkContext


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
