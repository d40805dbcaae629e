"""Darknet's softmax layer, its loss and its WordTree, in C, driven from NumPy."""

from . import reference
from ._version import __version__ as __version__
from .binding import SECRET_NUM
from .kernels import (
    axpy,
    log_softmax,
    softmax,
    softmax_backward,
    softmax_cpu,
    softmax_cross_entropy,
    softmax_x_ent,
    sum_array,
)
from .layers import (
    LAYER_TYPES,
    AvgpoolLayer,
    ConnectedLayer,
    ConvolutionalLayer,
    CostLayer,
    CropLayer,
    DropoutLayer,
    MaxpoolLayer,
    NetworkContext,
    ReorgLayer,
    RouteLayer,
    ShortcutLayer,
    SoftmaxLayer,
)
from .network import Network, load_weights, parse_network_cfg, save_weights
from .runtime import (
    get_instruction_set,
    get_kernel,
    get_num_threads,
    instruction_sets,
    set_instruction_set,
    set_kernel,
    set_num_threads,
)
from .tree import (
    YOLO9000_TREE,
    Tree,
    fill_hierarchy,
    get_hierarchy_probability,
    hierarchy_predictions,
    hierarchy_top_prediction,
    read_tree,
)

__all__ = [
    # the kernels of Darknet's src/blas.c, and the exact extras
    "axpy",
    "log_softmax",
    "softmax",
    "softmax_backward",
    "softmax_cpu",
    "softmax_cross_entropy",
    "softmax_x_ent",
    "sum_array",
    # the layers, the table of layer types, and the context a layer runs in
    "AvgpoolLayer",
    "ConnectedLayer",
    "ConvolutionalLayer",
    "CostLayer",
    "CropLayer",
    "DropoutLayer",
    "LAYER_TYPES",
    "MaxpoolLayer",
    "NetworkContext",
    "ReorgLayer",
    "RouteLayer",
    "SECRET_NUM",
    "ShortcutLayer",
    "SoftmaxLayer",
    # the WordTree: the .tree reader and the helpers of src/tree.c and src/data.c
    "Tree",
    "YOLO9000_TREE",
    "fill_hierarchy",
    "get_hierarchy_probability",
    "hierarchy_predictions",
    "hierarchy_top_prediction",
    "read_tree",
    # the network, .cfg and .weights files
    "Network",
    "load_weights",
    "parse_network_cfg",
    "save_weights",
    # kernel, instruction set and thread settings
    "get_instruction_set",
    "get_kernel",
    "get_num_threads",
    "instruction_sets",
    "set_instruction_set",
    "set_kernel",
    "set_num_threads",
    "reference",
]
