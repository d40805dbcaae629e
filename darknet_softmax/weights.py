"""Darknet's .weights files (src/parser.c's save_weights and load_weights).

The file holds a header, then, for each layer with weights in network order,
the buffers its type's `weights_layout` names, float32, little-endian."""

import pathlib
import struct

import numpy as np

# Darknet's header: major, minor, revision as int32, then `seen` as size_t
# (64 bits) from version 0.2 on, as int32 before.
MAJOR, MINOR, REVISION = 0, 2, 0


def _buffers(layers):
    """(layer, buffer name) of every buffer a .weights file holds, in order."""
    return [(layer, name) for layer in layers for name in layer.weights_layout]


def save_weights(layers, seen, path):
    """Darknet's save_weights: the header (version 0.2.0 and `seen`), then
    each layer's weights in its layout."""
    with open(path, "wb") as file:
        file.write(struct.pack("<iiiQ", MAJOR, MINOR, REVISION, seen))
        for layer, name in _buffers(layers):
            file.write(getattr(layer, name).astype("<f4").tobytes())


def _header(data, path):
    """(seen, where the weights start, whether old matrices are transposed).
    `seen` is 64-bit when major*10 + minor >= 2 and both are below 1000, else
    32-bit; when major or minor is above 1000 the file holds the matrices its
    layers name as `old_transposed` transposed, as Darknet's oldest files do."""
    if len(data) < 16:
        raise ValueError(f"{path}: {len(data)} bytes is too short for a Darknet weights header")
    major, minor, _revision = struct.unpack_from("<iii", data)
    if major * 10 + minor >= 2 and major < 1000 and minor < 1000:
        if len(data) < 20:
            raise ValueError(
                f"{path}: {len(data)} bytes is too short for a version {major}.{minor} header"
            )
        return struct.unpack_from("<Q", data, 12)[0], 20, False
    return struct.unpack_from("<i", data, 12)[0], 16, major > 1000 or minor > 1000


def load_weights(layers, path):
    """Darknet's load_weights into `layers`, in order; returns `seen`. A file
    shorter or longer than these layers need raises ValueError, and then
    nothing has been changed."""
    data = pathlib.Path(path).read_bytes()
    seen, offset, transpose = _header(data, path)
    buffers = _buffers(layers)
    expected = offset + 4 * sum(getattr(layer, name).size for layer, name in buffers)
    if len(data) != expected:
        count = sum(1 for layer in layers if layer.weights_layout)
        raise ValueError(
            f"{path}: holds {len(data)} bytes, but the weights of this network's "
            f"{count} layers with weights take {expected} with this header"
        )
    values = []
    for layer, name in buffers:
        target = getattr(layer, name)
        value = np.frombuffer(data, "<f4", target.size, offset)
        offset += 4 * target.size
        if transpose and name == layer.old_transposed:
            value = value.reshape(target.shape[::-1]).T
        values.append(value.reshape(target.shape))
    for (layer, name), value in zip(buffers, values):
        getattr(layer, name)[...] = value
    return max(seen, 0)
