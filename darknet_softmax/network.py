"""A Darknet network: a list of layers run as Darknet's src/network.c runs
them, forward, backward and update, with its SGD and its delta sign.

Each layer sees the network through a NetworkContext whose `input` is the
previous layer's `output` view and whose `delta` is the previous layer's
`delta` view (Darknet's `net.input = l.output`), so nothing is copied between
layers: data is copied once, into the network's input and truth buffers."""

import functools
import math
import os
import threading
from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

import numpy as np
from numpy.typing import ArrayLike

from . import reference, weights
from .binding import Floats, check_shape, count, counts, flag, locked, number, real_array
from .cfg import IMAGE_OPTIONS, parse_cfg
from .layers import LAYER_TYPES, NetworkContext
from .layers.base import CLayer, LayerParams
from .policy import LearningRatePolicy

# The kind of truth of a forward that got one integer class label per item.
LABELS = "labels"


class Network:
    """A network over items of `inputs` floats, run `batch` items at a time.

    Build it layer by layer with `add(kind, **options)` or its spelling
    `add_<kind>(**options)` (`add_connected`, `add_softmax`, ...: one for each
    type of `darknet_softmax.layers.LAYER_TYPES`, taking the options of its cfg
    section; each layer takes its inputs from the one before) or from a
    Darknet cfg with `Network.from_cfg`.

    `batch` is what one forward takes (Darknet's net->batch, the cfg's batch
    divided by its subdivisions); the weights update after every
    `subdivisions` forwards. `learning_rate`, `momentum` and `decay` drive
    Darknet's SGD (see `ConnectedLayer.update`), the rate moving by `policy`
    (with `step`, `scale`, `steps`, `scales`, `gamma`, `power`, `burn_in`;
    see `darknet_softmax.policy.LearningRatePolicy`) over `max_batches`
    updates. `height`, `width` and `channels` give the input its spatial
    shape; `inputs` defaults to their product. `seed` starts the weights and
    every random draw. `exact` computes the true gradient where Darknet's is
    wrong. `unused` holds the [net] options only Darknet's image loader reads.
    `seen` counts the items trained on, as Darknet's weights files record.

    Parameters
    ----------
    inputs : int, optional
        Floats in one item (at least 1); by default height*width*channels.
    batch : int, default 1
        Items one forward takes (Darknet's net->batch).
    learning_rate : float, default 0.001
        The base learning rate (finite, at least 0).
    momentum : float, default 0.9
        SGD momentum (finite, at least 0).
    decay : float, default 0.0001
        Weight decay (finite, at least 0).
    max_batches : int, default 0
        The updates of the whole training (the poly policy needs at least 1).
    height, width, channels : int, default 0
        The input's spatial shape; all 0 for a flat input of `inputs` floats.
    seed : int, default 0
        Starts the weights and every random draw (at least 0).
    subdivisions : int, default 1
        Forwards a weight update waits for (at least 1).
    policy : {"constant", "step", "steps", "exp", "poly", "sig", "random"}
        How the learning rate moves; "constant" by default.
    step, scale, steps, scales, gamma, power, burn_in
        The policy's options, as Darknet's [net] spells them ("steps" needs
        as many `steps` as `scales`, and at least one).
    exact : bool, default False
        Every layer computes the true gradient where Darknet's is wrong (its
        layers' own `exact`); Darknet's numbers otherwise.
    unused : dict, optional
        [net] options kept only to be shown in `summary`.

    Raises
    ------
    TypeError
        If an option has the wrong type.
    ValueError
        If an option is out of range, `inputs` differs from
        height*width*channels, the policy is unknown, or "poly" has no
        `max_batches`.
    """

    def __init__(
        self,
        inputs: Optional[int] = None,
        batch: int = 1,
        learning_rate: float = 0.001,
        momentum: float = 0.9,
        decay: float = 0.0001,
        max_batches: int = 0,
        height: int = 0,
        width: int = 0,
        channels: int = 0,
        seed: int = 0,
        subdivisions: int = 1,
        policy: str = "constant",
        step: int = 1,
        scale: float = 1.0,
        steps: Sequence[int] = (),
        scales: Sequence[float] = (),
        gamma: float = 1.0,
        power: float = 4.0,
        burn_in: int = 0,
        exact: bool = False,
        unused: Optional[dict] = None,
    ) -> None:
        height, width, channels = counts(0, height=height, width=width, channels=channels)
        spatial = height * width * channels
        inputs = count("inputs", spatial if inputs is None else inputs)
        if spatial and inputs != spatial:
            raise ValueError(f"inputs ({inputs}) must equal height*width*channels ({spatial})")
        self.inputs = inputs
        self.shape = (height, width, channels) if spatial else (1, 1, inputs)
        self.learning_rate = number("learning_rate", learning_rate, minimum=0.0)
        self.momentum = number("momentum", momentum, minimum=0.0)
        self.decay = number("decay", decay, minimum=0.0)
        self.max_batches = count("max_batches", max_batches, minimum=0)
        self.subdivisions = count("subdivisions", subdivisions)
        self.policy = LearningRatePolicy.checked(
            policy, step, scale, steps, scales, gamma, power, burn_in
        )
        if self.policy.policy == "poly" and not self.max_batches:
            raise ValueError("the poly policy needs max_batches of at least 1")
        self.exact = flag("exact", exact)
        self.unused = dict(unused or {})
        self.seen = 0
        # One public call at a time, so threads may share a network (README,
        # "Safety"); re-entrant, since train and predict call the others.
        self._lock = threading.RLock()
        self.layers: list[CLayer] = []
        # (kind, options) for each layer, to rebuild at another batch
        self._specs: list[tuple[str, dict]] = []
        self._shapes: list[tuple] = []  # each layer's output shape (h, w, c)
        self._rng = np.random.default_rng(count("seed", seed, minimum=0))
        self._allocate(count("batch", batch))

    def _allocate(self, batch):
        self.batch = batch
        self._input = np.zeros((batch, self.inputs), np.float32)
        self._truth = None
        self._labels = np.zeros(batch, np.int64)
        self._contexts = {}
        # (train, with_truth) of the last forward; with_truth is False, True
        # (one-hot or soft truths) or LABELS (one class label per item).
        self._last = (False, False)

    # -- building ---------------------------------------------------------

    @locked
    def add(self, kind: str, *args: Any, **options: Any) -> CLayer:
        """Append a layer of type `kind` with the options of its cfg section.

        The layer takes its input from the layer before (or the network's
        input); options not given take Darknet's defaults.

        Parameters
        ----------
        kind : str
            A key of `LAYER_TYPES` ("connected", "softmax", ...).
        *args
            Options in the order of the layer type's `options` table.
        **options
            Options by name, as the cfg spells them.

        Returns
        -------
        CLayer
            The new layer, also appended to `layers`.

        Raises
        ------
        TypeError
            If there are too many options, one is unknown or given twice, or
            one has the wrong type.
        ValueError
            If `kind` is unknown or an option is out of range for this
            network.
        MemoryError
            If the layer's C memory cannot be allocated.
        """
        layer_type = LAYER_TYPES.get(kind)
        if layer_type is None:
            raise ValueError(f"kind must be one of {', '.join(LAYER_TYPES)}, not {kind!r}")
        names = list(layer_type.options)
        if len(args) > len(names):
            raise TypeError(
                f"{kind} takes at most {len(names)} options ({', '.join(names)}), not {len(args)}"
            )
        given = dict(zip(names, args))
        for key in options:
            if key not in layer_type.options or key in given:
                raise TypeError(
                    f"{kind} takes the options {', '.join(names)}; {key!r} is "
                    f"{'given twice' if key in given else 'not one of them'}"
                )
        given.update(options)
        options = {
            key: given.get(key, option.default) for key, option in layer_type.options.items()
        }
        layer, shape = self._make(kind, options, self.batch)
        self.layers.append(layer)
        self._specs.append((kind, options))
        self._shapes.append(shape)
        self._truth = None
        self._contexts = {}
        return layer

    def __getattr__(self, name):
        """`add_<kind>`: `add` with the kind filled in."""
        kind = name[4:] if name.startswith("add_") else None
        if kind not in LAYER_TYPES:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return functools.partial(self.add, kind)

    def __dir__(self):
        return [*super().__dir__(), *(f"add_{kind}" for kind in LAYER_TYPES)]

    def _make(self, kind, options, batch):
        """The layer after the last one, for `batch` items, and the (h, w, c)
        of its output."""
        shapes = self._shapes[: len(self.layers)]
        shape = shapes[-1] if shapes else self.shape
        params = LayerParams(
            batch=batch,
            inputs=math.prod(shape),
            shape=shape,
            layers=list(self.layers),
            shapes=shapes,
            seed=int(self._rng.integers(2**63)),
            exact=self.exact,
        )
        layer_type = LAYER_TYPES[kind]
        shape, _ = layer_type.plan(options, params)
        return layer_type.build(options, params), shape

    @locked
    def set_batch(self, batch: int) -> None:
        """Rebuild every layer for `batch` items at a time (Darknet's
        set_batch_network).

        The weights and the momentum are kept; the input and truth buffers
        and every layer's output and delta are new (views of the old ones no
        longer follow the network).

        Parameters
        ----------
        batch : int
            Items one forward takes (at least 1).

        Raises
        ------
        TypeError
            If `batch` is not an integer.
        ValueError
            If `batch` is below 1.
        """
        batch = count("batch", batch)
        if batch == self.batch:
            return
        old_layers = self.layers
        self._allocate(batch)
        self.layers = []
        for (kind, options), old in zip(self._specs, old_layers):
            layer, _ = self._make(kind, options, batch)
            for name in layer.state:
                getattr(layer, name)[...] = getattr(old, name)
            self.layers.append(layer)

    # -- what it holds ----------------------------------------------------

    @property
    def outputs(self):
        """Floats per item out of the last layer (the network's inputs if none)."""
        return self.layers[-1].outputs if self.layers else self.inputs

    @property
    def output(self):
        """The (batch, outputs) view of the last layer that is not a cost
        layer: Darknet's get_network_output."""
        self._require_layers()
        for layer in reversed(self.layers[1:]):
            if layer.kind != "cost":
                return layer.output
        return self.layers[0].output

    @property
    def cost(self):
        """The mean of the costs of the layers that saw a truth in the last
        forward (Darknet's calc_network_cost), summed over the batch; None
        when none did."""
        train, with_truth = self._last
        costs = [
            layer.cost
            for i, layer in enumerate(self.layers)
            if layer.cost is not None
            and with_truth
            and (
                self._context(i, train, with_truth).truth is not None
                or self._context(i, train, with_truth).labels is not None
            )
        ]
        return sum(costs) / len(costs) if costs else None

    # -- running ----------------------------------------------------------

    def _require_layers(self):
        if not self.layers:
            raise ValueError("the network has no layers")

    def _truth_buffer(self):
        if self._truth is None:
            self._truth = np.zeros((self.batch, self.outputs), np.float32)
        return self._truth

    def _context(self, index, train, with_truth):
        """What layer `index` sees: Darknet's net with input and delta pointed
        at the previous layer. The first layer gets no delta, as in Darknet."""
        key = (train, with_truth)
        if key not in self._contexts:
            self._contexts[key] = [
                self._make_context(i, train, with_truth) for i in range(len(self.layers))
            ]
        return self._contexts[key][index]

    def _make_context(self, index, train, with_truth):
        previous = self.layers[index - 1] if index else None
        layer = self.layers[index]
        # A layer whose size differs from the truth's (a softmax inside the
        # network, say) sees none; Darknet would read past the truth.
        truth = labels = None
        if with_truth and layer.outputs == self.outputs:
            if with_truth is LABELS:
                labels = self._labels
            else:
                truth = self._truth_buffer()
        return NetworkContext(
            previous.output if previous else self._input,
            truth=truth,
            delta=previous.delta if previous else None,
            train=train,
            labels=labels,
        )

    def _targets(self, name, Y, rows):
        """(kind, Y): integer class labels of shape (rows,) as (LABELS, int64
        labels), checked to be in [0, outputs) and taken by the output layer;
        else (True, float32 truths of shape (rows, outputs)). Any array-like,
        converted once."""
        try:
            values = Y if isinstance(Y, np.ndarray) else np.asarray(Y)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a rectangular array of numbers") from None
        if values.dtype.kind not in "iu" or values.ndim != 1:
            truth = real_array(name, values)
            check_shape(name, truth, (rows, self.outputs))
            return True, truth
        check_shape(name, values, (rows,))
        bad = np.flatnonzero((values < 0) | (values >= self.outputs))
        if bad.size:
            raise ValueError(
                f"{name}[{bad[0]}] is {values[bad[0]]}, outside [0, {self.outputs}): "
                "integer labels are class indices"
            )
        for layer in self.layers:
            if layer.outputs != self.outputs:
                continue
            takes_labels = getattr(layer, "takes_labels", None)
            if layer.kind == "cost" or (takes_labels is not None and not takes_labels()):
                raise ValueError(
                    f"integer labels need every layer that sees the truth to be a softmax "
                    f"layer of one group (no tree, not spatial); this network's {layer.kind} "
                    f"layer needs one-hot rows in {name}"
                )
        return LABELS, np.ascontiguousarray(values, np.int64)

    def _load(self, input, truth):
        """Copies one batch in; returns the kind of truth (see _targets)."""
        self._require_layers()
        input = real_array("input", input)
        check_shape("input", input, (self.batch, self.inputs))
        self._input[...] = input
        if truth is None:
            return False
        kind, truth = self._targets("truth", truth, self.batch)
        if kind is LABELS:
            self._labels[...] = truth
        else:
            self._truth_buffer()[...] = truth
        return kind

    def _forward(self, train, with_truth):
        for index, layer in enumerate(self.layers):
            if layer.delta is not None:  # a [crop] has none
                layer.delta.fill(0)
            layer.forward(self._context(index, train, with_truth))
        self._last = (train, with_truth)

    @locked
    def forward(self, input: Floats, truth: Optional[Floats] = None, train: bool = False) -> Floats:
        """Darknet's forward_network on one batch.

        Copies `input` and `truth` into the network's buffers, zeroes each
        layer's delta and runs each layer's `forward`.

        Parameters
        ----------
        input : array_like
            (batch, inputs) real numbers, converted once to float32 unless
            float32 C-contiguous already.
        truth : array_like, optional
            (batch, outputs) one-hot or soft truths, or (batch,) integer class
            labels (the layers that see the truth must then be softmax layers
            of one group). Without it no layer computes a loss.
        train : bool, default False
            Training mode (dropout drops, batch normalization uses the batch's
            statistics).

        Returns
        -------
        ndarray of float32
            The (batch, outputs) `output` view of the last layer that is not a
            cost layer; the next call overwrites it.

        Raises
        ------
        TypeError
            If an array does not hold real numbers.
        ValueError
            If the network has no layers, a shape is wrong, a label is outside
            [0, outputs), or labels are given to a layer that does not take
            them.
        """
        self._forward(train, self._load(input, truth))
        return self.output

    @locked
    def backward(self) -> None:
        """Darknet's backward_network, after a `forward`.

        Each layer, last first, runs its `backward`: it ADDS its delta (the
        NEGATIVE gradient of the loss), carried back through itself, into the
        delta of the layer before it, and sums its weights' updates. The first
        layer has no delta to add into. The deltas start from the loss the
        last forward computed from its truth; `forward` zeroes them.

        Raises
        ------
        ValueError
            If the network has no layers.
        """
        self._require_layers()
        train, with_truth = self._last
        for index in reversed(range(len(self.layers))):
            self.layers[index].backward(self._context(index, train, with_truth))

    @property
    def current_batch(self) -> int:
        """Darknet's get_current_batch: the updates so far, seen / (batch *
        subdivisions)."""
        return self.seen // (self.batch * self.subdivisions)

    @property
    def current_rate(self) -> float:
        """The learning rate the next update uses (Darknet's
        get_current_rate at the current batch); see `policy`."""
        return self.policy.rate(self.learning_rate, self.current_batch, self.max_batches, self._rng)

    @locked
    def update(self) -> None:
        """Darknet's update_network: one SGD step of every layer with weights.

        Each layer's `update` runs at `current_rate`, with the network's
        `momentum` and `decay`, over the batch * subdivisions items whose
        updates the layers have summed since the last step. `train_batch` and
        `train` call it after every `subdivisions` forwards.
        """
        rate = self.current_rate
        for layer in self.layers:
            layer.update(self.batch * self.subdivisions, rate, self.momentum, self.decay)

    @locked
    def train_batch(self, input: ArrayLike, truth: ArrayLike) -> float:
        """Darknet's train_network_datum: forward in training, backward,
        update.

        Parameters
        ----------
        input : array_like
            (batch, inputs) real numbers, converted once to float32 unless
            float32 C-contiguous already.
        truth : array_like
            (batch, outputs) one-hot or soft truths, or (batch,) integer class
            labels (which reach the loss with no one-hot array; the output
            layer must then be a softmax layer of one group, no tree, not
            spatial).

        Returns
        -------
        float
            The cost per item (Darknet's training loss figure).

        Raises
        ------
        TypeError
            If an array does not hold real numbers.
        ValueError
            If a shape is wrong, a label is outside [0, outputs), or labels
            are given to a network whose output layer does not take them.
        """
        return self._train_loaded(self._load(input, truth))

    def _train_loaded(self, with_truth=True):
        # Darknet counts the items before it computes the rate, and updates
        # after every `subdivisions` forwards.
        self.seen += self.batch
        self._forward(True, with_truth)
        self.backward()
        if (self.seen // self.batch) % self.subdivisions == 0:
            self.update()
        cost = self.cost
        return math.nan if cost is None else cost / self.batch

    @locked
    def train(
        self,
        X: ArrayLike,
        Y: ArrayLike,
        epochs: int = 1,
        batch: Optional[int] = None,
        shuffle: bool = True,
        seed: Optional[int] = None,
        callback: Optional[Callable[[float], Any]] = None,
    ) -> list[float]:
        """Train on the rows of `X` against `Y`.

        Each epoch runs n // batch steps over a fresh shuffle of the rows (the
        remainder waits for another epoch's shuffle).

        Parameters
        ----------
        X : array_like
            (n, inputs) real numbers. Converted once per call (not per batch)
            to float32, unless float32 C-contiguous already.
        Y : array_like
            (n, outputs) one-hot or soft truths (converted the same way), or
            (n,) integer class labels, which reach the loss with no one-hot
            array (the output layer must then be a softmax layer of one
            group, no tree, not spatial).
        epochs : int, default 1
        batch : int, optional
            Items a step; another value than the network's rebuilds it for
            that batch (set_batch).
        shuffle : bool, default True
        seed : int, optional
            The shuffle's seed.
        callback : callable, optional
            `callback(loss)` runs after every step.

        Returns
        -------
        list of float
            Each epoch's mean loss per item.

        Raises
        ------
        TypeError
            If `X` or `Y` does not hold real numbers.
        ValueError
            If a shape is wrong, a label is outside [0, outputs), labels are
            given to a network whose output layer does not take them, or `X`
            has fewer rows than one batch.
        """
        self._require_layers()
        if batch is not None:
            self.set_batch(batch)
        X = real_array("X", X)
        if X.ndim != 2 or X.shape[1] != self.inputs:
            raise ValueError(f"X must have shape (n, {self.inputs}), not {X.shape}")
        kind, Y = self._targets("Y", Y, X.shape[0])
        epochs = count("epochs", epochs)
        steps = X.shape[0] // self.batch
        if steps == 0:
            raise ValueError(f"X has {X.shape[0]} rows, fewer than one batch of {self.batch}")
        rng = np.random.default_rng(seed)
        truth = self._labels if kind is LABELS else self._truth_buffer()
        losses = []
        for _ in range(epochs):
            order = rng.permutation(X.shape[0]) if shuffle else np.arange(X.shape[0])
            total = 0.0
            for step in range(steps):
                rows = order[step * self.batch : (step + 1) * self.batch]
                np.take(X, rows, axis=0, out=self._input)
                np.take(Y, rows, axis=0, out=truth)
                loss = self._train_loaded(kind)
                total += loss
                if callback is not None:
                    callback(loss)
            losses.append(total / steps)
        return losses

    @locked
    def predict(self, X: Floats) -> Floats:
        """Darknet's network_predict: the output for each row of `X`.

        Runs a batch at a time, not training and with no truth; a last,
        partial batch is padded with zeros.

        Parameters
        ----------
        X : array_like
            (n, inputs) real numbers, or one item (inputs,); converted once to
            float32 unless float32 C-contiguous already.

        Returns
        -------
        ndarray of float32
            A new (n, outputs) array (or (outputs,) for one item): the output
            of the last layer that is not a cost layer.

        Raises
        ------
        TypeError
            If `X` does not hold real numbers.
        ValueError
            If the network has no layers or `X` has the wrong shape.
        """
        self._require_layers()
        X = real_array("X", X)
        single = X.ndim == 1
        rows = X.reshape(1, -1) if single else X
        if rows.ndim != 2 or rows.shape[1] != self.inputs:
            raise ValueError(
                f"X must have shape (n, {self.inputs}) or ({self.inputs},), not {X.shape}"
            )
        result = np.empty((rows.shape[0], self.output.shape[1]), np.float32)
        for start in range(0, rows.shape[0], self.batch):
            chunk = rows[start : start + self.batch]
            self._input[: len(chunk)] = chunk
            self._input[len(chunk) :] = 0
            self._forward(False, False)
            result[start : start + len(chunk)] = self.output[: len(chunk)]
        return result[0] if single else result

    def reference_predict(self, X: Floats) -> np.ndarray:
        """The float64 reference of `predict` for one batch of rows.

        Each layer's `reference` with its current parameters, outside
        training.

        Parameters
        ----------
        X : array_like
            (batch, inputs) real numbers.

        Returns
        -------
        ndarray of float64
            (batch, outputs): the output of the last layer that is not a cost
            layer.

        Raises
        ------
        ValueError
            If the network has no layers.
        """
        self._require_layers()
        outputs: list = []
        current = reference.f64(X)
        for layer in self.layers:
            current = layer.reference(current, outputs)
            outputs.append(current)
        last = max(i for i, layer in enumerate(self.layers) if i == 0 or layer.kind != "cost")
        return outputs[last]

    # -- files ------------------------------------------------------------

    @classmethod
    def from_cfg(
        cls,
        path_or_text: Union[str, os.PathLike],
        seed: int = 0,
        batch: Optional[int] = None,
        height: Optional[int] = None,
        width: Optional[int] = None,
        max_bytes: Optional[int] = None,
    ) -> "Network":
        """A network from a Darknet .cfg file, or from its text (anything with
        a newline or a '[' is taken as text). A bad cfg raises ValueError
        naming its file and line; a layer too large to allocate raises
        MemoryError naming them too. A bad `seed` is the caller's, not the
        cfg's: it raises before the cfg is read.

        `batch` replaces what one forward takes (the cfg's batch divided by
        its subdivisions), as Darknet's classifier sets batch 1 to predict;
        `height` and `width` replace the cfg's input size. Before it
        allocates, the network adds up what its layers take: above
        `max_bytes` (by default, the memory this machine has free) it raises
        MemoryError saying how much it needs.

        Parameters
        ----------
        path_or_text : str or os.PathLike
            The cfg's path, or its text.
        seed : int, default 0
            Starts the weights and every random draw (at least 0).
        batch : int, optional
            Items one forward takes, in place of the cfg's batch/subdivisions.
        height, width : int, optional
            The input's size, in place of the cfg's.
        max_bytes : int, optional
            The most memory the network may take; by default the memory this
            machine has free (no limit where that is unknown).

        Returns
        -------
        Network
            The network, its layers built and their weights initialized.

        Raises
        ------
        TypeError
            If `seed` or `max_bytes` is not an integer, or `path_or_text` is
            neither a path nor text.
        ValueError
            If `seed` is below 0, or the cfg is bad (naming its file and
            line).
        MemoryError
            If the network would take more than `max_bytes`, or a layer cannot
            be allocated.
        OSError
            If the file cannot be read.
        """
        seed = count("seed", seed, minimum=0)
        cfg = parse_cfg(path_or_text)
        network = cls._from_net_section(cfg, seed, batch, height, width)
        network._check_memory(cfg, max_bytes)
        for kind, layer_options, line in cfg.layers:
            try:
                network.add(kind, **layer_options)
            except (TypeError, ValueError) as error:
                raise ValueError(f"{cfg.source}: line {line}: [{kind}]: {error}") from None
            except MemoryError as error:
                raise MemoryError(f"{cfg.source}: line {line}: [{kind}]: {error}") from None
        return network

    @classmethod
    def _from_net_section(cls, cfg, seed, batch, height, width):
        """The network of a parsed cfg's [net], with no layers yet."""
        options = {key: value for key, value in cfg.net.items() if key not in IMAGE_OPTIONS}
        options["unused"] = {key: cfg.net[key] for key in IMAGE_OPTIONS if cfg.net[key] is not None}
        for name, value in (("height", height), ("width", width)):
            if value is not None:
                options[name], options["inputs"] = value, None
        try:
            # Darknet's net->batch: what one forward takes.
            options["batch"], remainder = divmod(options["batch"], options["subdivisions"])
            if not options["batch"]:
                raise ValueError(
                    f"batch ({remainder}) must be at least subdivisions ({options['subdivisions']})"
                )
            if batch is not None:
                options["batch"] = batch
            return cls(seed=seed, **options)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{cfg.source}: line {cfg.net_line}: [net]: {error}") from None
        except MemoryError as error:
            raise MemoryError(f"{cfg.source}: line {cfg.net_line}: [net]: {error}") from None

    @classmethod
    def cfg_nbytes(
        cls,
        path_or_text: Union[str, os.PathLike],
        batch: Optional[int] = None,
        height: Optional[int] = None,
        width: Optional[int] = None,
    ) -> int:
        """The bytes of memory `from_cfg` with the same arguments would take
        for its layers and buffers, found without building the network.

        Parameters
        ----------
        path_or_text : str or os.PathLike
            The cfg's path, or its text.
        batch, height, width : int, optional
            As `from_cfg`'s.

        Returns
        -------
        int
            The bytes.

        Raises
        ------
        ValueError
            If the cfg is bad (naming its file and line).
        """
        cfg = parse_cfg(path_or_text)
        return cls._from_net_section(cfg, 0, batch, height, width)._plan_cfg(cfg)[0]

    def plan(self, sections: Sequence[tuple]) -> list[tuple]:
        """What layers added after this network's own would be, without
        allocating anything.

        Parameters
        ----------
        sections : sequence of (str, dict)
            (kind, options) for each layer, every option of the kind given
            (as `add` fills them in).

        Returns
        -------
        list of ((int, int, int), int)
            For each layer, the (h, w, c) of its output and the bytes of C
            memory it takes.

        Raises
        ------
        ValueError
            If an option is bad.
        """
        shapes = list(self._shapes)
        return [self._plan_one(kind, options, shapes) for kind, options in sections]

    def _plan_one(self, kind, options, shapes):
        """Plans one layer after `shapes`, and appends its output shape to them."""
        shape = shapes[-1] if shapes else self.shape
        params = LayerParams(self.batch, math.prod(shape), shape, [], list(shapes), 0, self.exact)
        shape, nbytes = LAYER_TYPES[kind].plan(options, params)
        shapes.append(shape)
        return shape, nbytes

    def _plan_cfg(self, cfg):
        """(the bytes the cfg's layers and the network's buffers take, and a
        row (shape, bytes, kind, line) a layer); a section that cannot be
        planned is an error naming its line."""
        shapes = list(self._shapes)
        rows = []
        for kind, options, line in cfg.layers:
            try:
                rows.append((*self._plan_one(kind, options, shapes), kind, line))
            except (TypeError, ValueError) as error:
                raise ValueError(f"{cfg.source}: line {line}: [{kind}]: {error}") from None
        return sum(row[1] for row in rows) + 8 * self.batch * self.inputs, rows

    def _check_memory(self, cfg, max_bytes):
        """Refuse a cfg whose layers would take more than `max_bytes`, naming
        the line of its largest section."""
        needed, rows = self._plan_cfg(cfg)
        limit = _free_memory() if max_bytes is None else count("max_bytes", max_bytes)
        if limit is not None and needed > limit:
            _, largest, kind, line = max(rows, key=lambda row: row[1])
            raise MemoryError(
                f"{cfg.source}: line {line}: [{kind}] takes {largest / 2**30:.2f} GiB, and "
                f"the network {needed / 2**30:.2f} GiB at batch {self.batch} and "
                f"{self.shape[0]}x{self.shape[1]}, more than the {limit / 2**30:.2f} GiB "
                f"{'free' if max_bytes is None else 'allowed'}; build it with a smaller batch, "
                f"height or width (from_cfg's batch=, height=, width=)"
            )

    @locked
    def save_weights(self, path: Union[str, os.PathLike]) -> None:
        """Write a Darknet .weights file.

        The header (version 0.2.0 and `seen`), then each layer's weights in its
        type's layout (for a connected layer, its biases, then its (outputs,
        inputs) weights), little-endian float32.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (replaced if it exists).

        Raises
        ------
        OSError
            If the file cannot be written.
        """
        weights.save_weights(self.layers, self.seen, path)

    @locked
    def load_weights(self, path: Union[str, os.PathLike]) -> None:
        """Read a Darknet .weights file into the layers, in order, and `seen`
        from its header (see darknet_softmax.weights.load_weights).

        Parameters
        ----------
        path : str or os.PathLike
            The file to read: any of Darknet's header versions.

        Raises
        ------
        ValueError
            If the file is shorter or longer than these layers need; then
            nothing has been changed.
        OSError
            If the file cannot be read.
        """
        self.seen = weights.load_weights(self.layers, path)

    def summary(self) -> str:
        """Darknet's table of the network as it builds it: for each layer its
        index, type, detail (filters, size, activation, ...) and its input and
        output shapes, height x width x channels; then the [net] options that
        only Darknet's image loader reads, which this engine keeps unused.

        Returns
        -------
        str
            The table, one line a row.
        """
        lines = [
            f"network: {self.inputs} inputs, batch {self.batch} "
            f"(subdivisions {self.subdivisions}), policy {self.policy.policy}",
            f"{'layer':>5} {'type':<14}{'detail':<26}{'input':>18}     {'output':>18}",
        ]
        shape = self.shape
        for index, (layer, out) in enumerate(zip(self.layers, self._shapes)):
            lines.append(
                f"{index:>5} {layer.kind:<14}{layer.describe():<26}{_dims(shape):>18}  -> "
                f"{_dims(out):>18}"
            )
            shape = out
        if self.unused:
            options = ", ".join(f"{key}={value:g}" for key, value in self.unused.items())
            lines.append(f"unused by this engine (Darknet's image loader reads them): {options}")
        return "\n".join(lines)

    def __repr__(self):
        return (
            f"Network(inputs={self.inputs}, batch={self.batch}, "
            f"layers=[{', '.join(kind for kind, _ in self._specs)}])"
        )


def parse_network_cfg(path_or_text, seed=0):
    """Darknet's name for `Network.from_cfg`.

    Parameters
    ----------
    path_or_text : str or os.PathLike
        The cfg's path, or its text.
    seed : int, default 0
        Starts the weights and every random draw.

    Returns
    -------
    Network
        As `Network.from_cfg(path_or_text, seed=seed)`, which lists what it
        raises.
    """
    return Network.from_cfg(path_or_text, seed=seed)


def save_weights(network, path):
    """Darknet's name for `network.save_weights(path)`.

    Parameters
    ----------
    network : Network
        The network whose weights are written.
    path : str or os.PathLike
        The .weights file to write.

    Raises
    ------
    OSError
        If the file cannot be written.
    """
    network.save_weights(path)


def load_weights(network, path):
    """Darknet's name for `network.load_weights(path)`.

    Parameters
    ----------
    network : Network
        The network whose layers take the weights (and `seen`).
    path : str or os.PathLike
        The .weights file to read.

    Raises
    ------
    ValueError
        If the file's size does not fit the network's layers; then nothing
        has been changed.
    OSError
        If the file cannot be read.
    """
    network.load_weights(path)


def _dims(shape):
    """(h, w, c) as Darknet prints it."""
    height, width, channels = shape
    return f"{height:>4} x{width:>4} x{channels:>5}"


def _free_memory():
    """The bytes of memory this machine has free (Linux's MemAvailable), or
    None where it cannot say."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
