"""Darknet's softmax and its loss over Dask arrays (the `dask` extra).

Every block goes to the in-memory kernel of `darknet_softmax`, whose C runs
with the GIL released, so Dask's threaded scheduler keeps every core busy and
a `dask.distributed` cluster runs the same calls on its workers. Each row is
computed exactly as in memory, so the results are the same, bit for bit.

`softmax` and `log_softmax` need every row whole in one block (a group may
span any columns): an array whose last axis is split is rechunked to one block
along it, keeping its batch chunks. The loss is elementwise and takes any chunks.

The arguments are checked when the graph is built, with the in-memory API's
errors; nothing is computed until you ask (`.compute()`, `da.store`, ...).
"""

import math

import dask.array as da
import numpy as np

from . import kernels
from .binding import groups_along, temperature_value


def softmax(x, groups=1, temperature=1.0):
    """Softmax over each of `groups` equal slices of the last axis, as
    `darknet_softmax.softmax`: `x` is a Dask array of real numbers (float32,
    or converted block by block) of one or more axes. Returns a float32 Dask
    array of probabilities."""
    return _per_row(kernels.softmax, x, groups, temperature)


def log_softmax(x, groups=1, temperature=1.0):
    """log(softmax), as `darknet_softmax.log_softmax`: finite where softmax
    underflows to 0. `x` as for `softmax`."""
    return _per_row(kernels.log_softmax, x, groups, temperature)


def softmax_x_ent(pred, truth):
    """Darknet's softmax cross-entropy, as `darknet_softmax.softmax_x_ent`:
    returns Dask arrays (delta, error), delta = truth - pred and
    error = -log(pred) where truth != 0. Computing both together (for
    instance `dask.compute(delta, error)`) runs the kernel once per block."""
    pred = _float_dask_array("pred", pred)
    truth = _float_dask_array("truth", truth)
    if truth.shape != pred.shape:
        raise ValueError(f"truth must have shape {pred.shape}, not {truth.shape}")
    # Both results come from one call per block, stacked on a new first axis.
    index = "abcdefghijklmnopqrstuvwxyz"[: pred.ndim]
    both = da.blockwise(
        _x_ent_block,
        "_" + index,
        pred,
        index,
        truth,
        index,
        new_axes={"_": 2},
        dtype=np.float32,
        meta=np.empty((0,) * (pred.ndim + 1), np.float32),
    )
    return both[0], both[1]


def _per_row(kernel, x, groups, temperature):
    x = _float_dask_array("x", x)
    if x.ndim == 0:
        raise ValueError("x must have at least one axis (it is a scalar)")
    groups = groups_along("x", x.ndim - 1, _inputs_of(x), groups)
    temperature = temperature_value(temperature)
    return _whole_rows(x).map_blocks(
        _row_block,
        kernel=kernel,
        groups=groups,
        temperature=temperature,
        dtype=np.float32,
        meta=np.empty((0,) * x.ndim, np.float32),
    )


def _float_dask_array(name, array):
    """A Dask array of real numbers; each block is converted to float32 (as
    the in-memory API converts) unless it is float32 already."""
    if not isinstance(array, da.Array):
        raise TypeError(
            f"{name} must be a dask.array.Array of real numbers, not "
            f"{type(array).__name__} (wrap it with dask.array.from_array)"
        )
    if array.dtype.kind not in "fiu":
        raise TypeError(
            f"{name} must hold real numbers (a float or integer dtype), not {array.dtype}"
        )
    return array


def _inputs_of(x):
    inputs = x.shape[-1]
    if math.isnan(inputs):
        raise ValueError(
            "x has an unknown number of inputs (its last axis has unknown chunk "
            "sizes), so its groups cannot be checked nor its rows gathered; "
            "call x.compute_chunk_sizes() first"
        )
    return inputs


def _whole_rows(x):
    """x with each row in a single block: a softmax group may span any columns."""
    if len(x.chunks[-1]) <= 1:
        return x
    return x.rechunk({x.ndim - 1: -1})


def _c_array(block):
    """The block as C takes it: contiguous, and aligned, which a block that
    distributed deserialized straight from a network frame may not be."""
    return np.require(block, np.float32, requirements=["C_CONTIGUOUS", "ALIGNED"])


def _row_block(block, kernel, groups, temperature):
    if block.size == 0:  # the in-memory API refuses empty arrays; an empty block is no error
        return np.empty(block.shape, np.float32)
    return kernel(_c_array(block), groups, temperature)


def _x_ent_block(pred, truth):
    both = np.empty((2,) + pred.shape, np.float32)
    if pred.size:
        kernels.softmax_x_ent(_c_array(pred), _c_array(truth), both[0, ...], both[1, ...])
    return both
