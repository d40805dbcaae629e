"""What the layers with weights (convolutional, connected) share: their
buffers, with those of Darknet's batch normalisation, what a rebuild keeps,
and Darknet's SGD step."""

from ..binding import check_status, count, lib, locked, number
from .base import CLayer

# The per-output buffers of batch normalisation, and those a .weights file holds.
BATCHNORM_BUFFERS = (
    "scales",
    "scale_updates",
    "mean",
    "variance",
    "mean_delta",
    "variance_delta",
    "rolling_mean",
    "rolling_variance",
)
BATCHNORM_SAVED = ("scales", "rolling_mean", "rolling_variance")


class WeightedLayer(CLayer):
    """Base of a layer with weights and biases, and with `batch_normalize`
    Darknet's batch normalisation in place of the plain biases."""

    fields = {bool: "batch_normalize exact"}
    buffers = "weights biases weight_updates bias_updates " + (
        "scales scale_updates rolling_mean rolling_variance mean variance x x_norm"
    )
    apart = None  # backward keeps net.delta apart from every buffer

    def _map_weighted(self, batch, outputs, weights_shape, per_output):
        """Map the buffers: (batch, outputs) output and delta, weights and
        weight_updates of `weights_shape`, biases and bias_updates of
        `per_output`, and, with batch_normalize, the batch normalisation's."""
        layer = self._layer
        buffers = {
            "weights": (layer.weights, weights_shape),
            "biases": (layer.biases, per_output),
            "weight_updates": (layer.weight_updates, weights_shape),
            "bias_updates": (layer.bias_updates, per_output),
        }
        if layer.batch_normalize:
            for name in BATCHNORM_BUFFERS:
                buffers[name] = (getattr(layer, name), per_output)
            buffers["x"] = (layer.x, (batch, outputs))
            buffers["x_norm"] = (layer.x_norm, (batch, outputs))
        self._map((batch, outputs), **buffers)

    def _view(self, name):
        self._open()
        if name not in self._views:
            raise AttributeError(f"this layer has no {name}: batch_normalize is off")
        return self._views[name]

    def _normalization(self):
        """(scales, rolling_mean, rolling_variance) for the reference, or None."""
        if not self.batch_normalize:
            return None
        return (self.scales, self.rolling_mean, self.rolling_variance)

    @property
    def state(self):  # type: ignore[override]
        plain = ("weights", "biases", "weight_updates", "bias_updates")
        if self.batch_normalize:
            return plain + ("scales", "scale_updates", "rolling_mean", "rolling_variance")
        return plain

    @locked
    def update(self, batch: int, learning_rate: float, momentum: float, decay: float) -> None:
        """Darknet's SGD step for updates summed over `batch` items:
        biases += learning_rate/batch * bias_updates (and the scales
        likewise with batch_normalize); weight_updates -=
        decay*batch*weights; weights += learning_rate/batch * weight_updates;
        then every update buffer is multiplied by `momentum`.

        Parameters
        ----------
        batch : int
            Items the updates were summed over (at least 1).
        learning_rate, momentum, decay : float
            Darknet's SGD settings (finite, at least 0).

        Raises
        ------
        TypeError
            If an argument has the wrong type.
        ValueError
            If the layer is closed or an argument is out of range.
        """
        layer = self._open()
        batch = count("batch", batch)
        learning_rate = number("learning_rate", learning_rate, minimum=0)
        momentum = number("momentum", momentum, minimum=0)
        decay = number("decay", decay, minimum=0)
        function = f"update_{self.kind}_layer"
        check_status(getattr(lib, function)(layer, batch, learning_rate, momentum, decay), function)
