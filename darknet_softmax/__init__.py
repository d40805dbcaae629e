"""Darknet's softmax layer, its loss and its WordTree, in C, driven from NumPy."""
from importlib import metadata as _metadata

from . import reference
from .connected import ConnectedLayer
from .cost import CostLayer
from .dropout import DropoutLayer
from .kernels import (axpy, log_softmax, softmax, softmax_backward, softmax_cpu, softmax_x_ent,
                      sum_array)
from .layers import NetworkContext, SoftmaxLayer
from .network import Network
from .parser import load_weights, parse_network_cfg, save_weights
from .runtime import (get_instruction_set, get_kernel, get_num_threads, instruction_sets,
                      set_instruction_set, set_kernel, set_num_threads)
from .tree import (YOLO9000_TREE, Tree, fill_hierarchy, get_hierarchy_probability,
                   hierarchy_predictions, hierarchy_top_prediction, read_tree)

SECRET_NUM = reference.SECRET_NUM

try:
    __version__ = _metadata.version("darknet_softmax")
except _metadata.PackageNotFoundError:   # a bare build in a checkout, never installed
    __version__ = "0+unknown"

__all__ = [
    # the kernels of Darknet's src/blas.c, and the exact extras
    "axpy", "log_softmax", "softmax", "softmax_backward", "softmax_cpu", "softmax_x_ent",
    "sum_array",
    # the softmax layer and the context it runs in
    "NetworkContext", "SECRET_NUM", "SoftmaxLayer",
    # the WordTree: the .tree reader and the helpers of src/tree.c and src/data.c
    "Tree", "YOLO9000_TREE", "fill_hierarchy", "get_hierarchy_probability",
    "hierarchy_predictions", "hierarchy_top_prediction", "read_tree",
    # the network: connected, cost and dropout layers, .cfg and .weights files
    "ConnectedLayer", "CostLayer", "DropoutLayer", "Network", "load_weights",
    "parse_network_cfg", "save_weights",
    # kernel, instruction set and thread settings
    "get_instruction_set", "get_kernel", "get_num_threads", "instruction_sets",
    "set_instruction_set", "set_kernel", "set_num_threads",
    "reference",
]
