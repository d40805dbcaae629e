"""Darknet's [softmax] layer (csrc/softmax_layer.c) and its float64 reference."""

from typing import Optional

import numpy as np

from .. import reference
from ..binding import (
    SECRET_NUM,
    check_distinct,
    check_size,
    check_status,
    count,
    ffi,
    flag,
    groups_of,
    image_shape,
    lib,
    locked,
    temperature_value,
)
from ..tree import Tree
from .base import CLayer, NetworkContext, Option, integer, real, switch, tree_file


class SoftmaxLayer(CLayer):
    """Darknet's [softmax] layer over `batch` items of `inputs` floats.

    `output`, `delta` and `loss` are (batch, inputs) float32 views of the C
    buffers; `delta` is the NEGATIVE gradient, as in Darknet. `forward(net)`
    computes the output and, when `net.truth` (or `net.labels`, one class
    label per item, for a layer of one group with no tree, not spatial) is
    set and `noloss` is not, the loss and delta; `backward(net)` ADDS the
    layer's `delta` (the fused softmax and cross-entropy gradient, a NEGATIVE
    gradient) into `net.delta` (the caller zeroes it), or nothing when
    `net.delta` is None.

    The softmax groups are `groups` equal slices of each item, or the groups
    of `tree`, or, with `spatial=True`, the `c` channels at each of the `h*w`
    positions of an item laid out (c, h, w), `shape` being (h, w, c).

    `exact=False` gives Darknet's numbers. `exact=True` fixes Darknet where it
    is wrong (SPEC section 4): the loss is -truth*log(output) and its delta is
    (truth - output*sum(truth))/temperature per group, i.e. (truth - output)/
    temperature for labels that sum to 1; and with `noloss`, backward applies
    the softmax Jacobian to the delta that whoever feeds the layer wrote into
    `layer.delta` (a negative gradient, -dL/doutput), adding
    output*(delta - sum(delta*output))/temperature per group (-dL/dinput) into
    `net.delta`. With a tree, a truth of SECRET_NUM masks its value in both.

    Parameters
    ----------
    batch : int
        Items a pass (at least 1).
    inputs : int
        Floats in one item, and in its output (at least 1).
    groups : int, default 1
        Equal slices of an item, each its own softmax; `inputs` must divide by
        it.
    temperature : float, default 1.0
        The logits are divided by it (finite, above 0 in float32).
    tree : Tree, optional
        A WordTree of `inputs` nodes, whose groups replace `groups`.
    noloss : bool, default False
        Compute no loss, even with a truth.
    spatial : bool, default False
        A softmax over the `c` channels at each position (needs `shape`; no
        tree, one group).
    shape : tuple of int, optional
        The input's (h, w, c), each at least 1, h*w*c equal to `inputs`.
    exact : bool, default False
        The exact loss and gradient (SPEC section 4), or Darknet's numbers.

    Raises
    ------
    TypeError
        If an argument has the wrong type, or `tree` is not a Tree.
    ValueError
        If a size is below 1, `inputs` does not divide by `groups`, the tree's
        nodes are not `inputs`, the temperature is not above 0, or `w`, `h`,
        `c` are partly given, do not multiply to `inputs`, or are missing (or
        meet a tree or groups) with `spatial`.
    """

    kind = "softmax"
    sections = ("softmax", "soft")
    options = {
        "groups": Option(integer(1), 1),
        "temperature": Option(real(lambda v: v > 0, "a number above 0"), 1.0),
        "tree": Option(tree_file, None),
        "spatial": Option(switch, False),
        "noloss": Option(switch, False),
        "exact": Option(switch, False),
    }
    buffers = "loss"
    fields = {int: "groups", bool: "noloss spatial exact", float: "cost"}

    def __init__(
        self,
        batch: int,
        inputs: int,
        groups: int = 1,
        temperature: float = 1.0,
        tree: Optional[Tree] = None,
        noloss: bool = False,
        spatial: bool = False,
        shape: Optional[tuple] = None,
        exact: bool = False,
    ) -> None:
        batch, inputs = count("batch", batch), count("inputs", inputs)
        groups = groups_of(inputs, groups)
        if tree is not None and not isinstance(tree, Tree):
            raise TypeError(f"tree must be a darknet_softmax.Tree, not {type(tree).__name__}")
        if tree is not None and tree.n != inputs:
            raise ValueError(f"tree has {tree.n} nodes but inputs is {inputs}; they must be equal")
        temperature = temperature_value(temperature)
        spatial, exact = flag("spatial", spatial), flag("exact", exact)
        shape = _spatial_shape(inputs, shape, spatial)
        if spatial and (tree is not None or groups != 1):
            raise ValueError(
                "spatial takes its groups from shape: give neither tree "
                "nor groups with spatial=True"
            )
        layer = self._make(batch, inputs, groups)
        layer.temperature = temperature
        layer.noloss = flag("noloss", noloss)
        layer.spatial = spatial
        layer.shape.h, layer.shape.w, layer.shape.c = shape or (0, 0, 0)
        layer.exact = exact
        self._tree = tree
        if tree is not None:
            layer.softmax_tree = tree._tree
        views = (batch, inputs)
        self._map(views, loss=(layer.loss, views))

    def close(self):
        """Release the C layer and the tree; views already taken keep their memory."""
        super().close()
        self._tree = None

    @property
    def shape(self) -> Optional[tuple]:
        """The input's (h, w, c), or None when not given."""
        layer = self._open().shape
        return (layer.h, layer.w, layer.c) if layer.c else None

    tree = property(lambda self: (self._open(), self._tree)[1])

    @property
    def temperature(self):
        return float(self._open().temperature)

    @temperature.setter
    def temperature(self, value):
        value = temperature_value(value)
        with self._lock:
            self._open().temperature = value

    @locked
    def forward(self, net: NetworkContext) -> None:
        """Darknet's forward_softmax_layer: the softmax of `net.input` into
        `output`, and, with a truth and not `noloss`, the loss.

        With `net.truth` (or `net.labels`), `delta` becomes the NEGATIVE
        gradient of the loss with respect to the layer's input (Darknet's
        truth - output, over the temperature when exact), `loss` each value's
        loss and `cost` their sum. A truth of SECRET_NUM under a tree gives no
        delta and no loss.

        Parameters
        ----------
        net : NetworkContext
            `input` (batch, inputs); `truth` (batch, inputs) or `labels`
            (batch,) optional.

        Raises
        ------
        TypeError
            If `net` is not a NetworkContext.
        ValueError
            If the layer is closed, an array of `net` has the wrong size,
            `net.input` overlaps `output`, or labels are given to a layer that
            does not take them, or are outside [0, inputs).
        """
        layer = self._open()
        self._check_net(net)
        # In place (`net.input` being `output`) is allowed.
        check_distinct(("net.input", net.input), ("layer.output", self.output))
        self._call("forward", layer, net)
        if net.labels is not None and net.truth is None and not layer.noloss:
            self._label_loss(layer, net.labels)

    def takes_labels(self) -> bool:
        """Whether the layer takes integer class labels in place of one-hot
        truths: one group, no tree, not spatial."""
        return self.groups == 1 and self._tree is None and not self.spatial

    def _label_loss(self, layer, labels):
        if not self.takes_labels():
            raise ValueError(
                "integer labels need a softmax layer of one group, with no tree and not "
                "spatial; give this one one-hot truths"
            )
        check_size("net.labels", labels, self.batch)
        check_status(
            lib.softmax_layer_label_loss(layer, ffi.from_buffer("int64_t[]", labels)),
            "softmax_layer_label_loss (a label outside [0, inputs))",
        )

    @classmethod
    def plan(cls, options, params):
        return params.shape, 4 * 3 * params.batch * params.inputs

    @classmethod
    def build(cls, options, params):
        """A spatial softmax takes its input's shape."""
        # The network's exact switch covers the softmax's exact paths too.
        keywords = dict(options, exact=options["exact"] or params.exact)
        shape = params.shape if keywords["spatial"] else None
        return cls(params.batch, params.inputs, shape=shape, **keywords)

    def reference(self, input, outputs):
        return reference_forward(
            input,
            self.groups,
            self.temperature,
            self._tree,
            spatial=self.spatial,
            shape=self.shape,
        )["output"]

    def describe(self):
        return f"groups {self.groups}"


def _spatial_shape(inputs, shape, spatial):
    """(h, w, c) checked against `inputs`, or None when not given."""
    if shape is None:
        if spatial:
            raise ValueError("spatial=True needs shape, the input's (h, w, c)")
        return None
    h, w, c = image_shape("shape", shape)
    if h * w * c != inputs:
        raise ValueError(f"h*w*c ({h}*{w}*{c} = {h * w * c}) must equal inputs ({inputs})")
    return h, w, c


# --- the float64 reference of the layer ---


def reference_forward(
    input,
    groups=1,
    temperature=1.0,
    tree=None,
    truth=None,
    noloss=False,
    spatial=False,
    shape=None,
    exact=False,
):
    """The layer's forward pass on (batch, inputs) data: a dict of output and,
    when there is a truth and not noloss, delta, loss and cost. With a tree,
    values whose truth is SECRET_NUM give no delta and no loss. The groups are
    those of `layer_groups`; `exact` takes the loss of `softmax_x_ent_exact`."""
    input = reference.f64(input)
    index = layer_groups(input.shape[-1], groups, tree, spatial, shape)
    output = np.empty_like(input)
    for group in index:
        output[:, group] = reference.softmax(input[:, group], 1, temperature)
    result = {"output": output}
    if truth is not None and not noloss:
        truth = reference.f64(truth).reshape(input.shape)
        if exact:
            delta, loss = np.empty_like(input), np.empty_like(input)
            for group in index:
                delta[:, group], loss[:, group] = reference.softmax_x_ent_exact(
                    output[:, group], truth[:, group], 1, temperature
                )
        else:
            delta, loss = reference.softmax_x_ent(output, truth)
            if tree is not None:
                masked = truth == SECRET_NUM
                delta[masked] = 0
                loss[masked] = 0
        result.update(delta=delta, loss=loss, cost=float(loss.sum()))
    return result


def reference_backward(
    layer_delta, net_delta, output=None, noloss=False, exact=False, temperature=1.0, **layout
):
    """net_delta plus the layer's contribution: the layer's delta itself (the
    fused gradient, Darknet's), or with `exact` and `noloss` the softmax
    Jacobian applied to it group by group (which needs the layer's `output`),
    the groups being those of `layer_groups` for `layout`."""
    net_delta = reference.f64(net_delta)
    layer_delta = reference.f64(layer_delta).reshape(net_delta.shape)
    if not (exact and noloss):
        return net_delta + layer_delta
    output = reference.f64(output).reshape(net_delta.shape)
    flat = net_delta.reshape(-1, net_delta.shape[-1]).copy()
    for group in layer_groups(flat.shape[-1], **layout):
        flat[:, group] += reference.softmax_backward(
            output.reshape(flat.shape)[:, group],
            layer_delta.reshape(flat.shape)[:, group],
            1,
            temperature,
        )
    return flat.reshape(net_delta.shape)


def layer_groups(inputs, groups=1, tree=None, spatial=False, shape=None):
    """The softmax groups of one item of a layer, as index arrays: the tree's
    groups, or with `spatial` the c channels at each of the h*w positions of a
    (c, h, w) item, `shape` being (h, w, c), or `groups` equal slices."""
    if tree is not None:
        return [
            np.arange(offset, offset + size)
            for offset, size in zip(tree.group_offset, tree.group_size)
        ]
    if spatial:
        h, w, c = shape
        positions = h * w
        return [position + positions * np.arange(c) for position in range(positions)]
    n = inputs // groups
    return [g * n + np.arange(n) for g in range(groups)]
