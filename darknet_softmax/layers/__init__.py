"""The layers, one module a layer type (as csrc/ has one `*_layer.c` each),
and the layer table: the one place that lists the layer types.

Each class is its own row (see `base.CLayer`): its kind, cfg section names,
options with Darknet's defaults, weights layout, `build` and summary line.
The network, the cfg reader, the weights files, the summary, the fuzzers and
the docs read this table; nothing else names a layer type."""

from .avgpool import AvgpoolLayer
from .base import CLayer, NetworkContext, Option
from .connected import ConnectedLayer
from .convolutional import ConvolutionalLayer
from .cost import CostLayer
from .crop import CropLayer
from .dropout import DropoutLayer
from .maxpool import MaxpoolLayer
from .reorg import ReorgLayer
from .route import RouteLayer
from .shortcut import ShortcutLayer
from .softmax import SoftmaxLayer

# One type a line, so that adding one is a line of its own.
LAYER_TYPES = {
    layer.kind: layer
    for layer in (
        ConvolutionalLayer,
        ConnectedLayer,
        MaxpoolLayer,
        AvgpoolLayer,
        SoftmaxLayer,
        CostLayer,
        DropoutLayer,
        RouteLayer,
        ShortcutLayer,
        CropLayer,
        ReorgLayer,
    )
}

# cfg section name -> layer type, every spelling Darknet accepts
SECTIONS = {section: layer for layer in LAYER_TYPES.values() for section in layer.sections}

# The table's classes, and what they share.
__all__ = [layer.__name__ for layer in LAYER_TYPES.values()]
__all__ += ["CLayer", "LAYER_TYPES", "NetworkContext", "Option", "SECTIONS"]
