"""Darknet's softmax layer, its loss and its WordTree, in C, driven from NumPy."""
from . import reference
from .kernels import axpy, softmax, softmax_cpu, softmax_x_ent, sum_array
from .kernels import log_softmax, softmax_backward
from .layers import NetworkContext, SoftmaxLayer
from .runtime import (get_instruction_set, get_kernel, get_num_threads, instruction_sets,
                      set_instruction_set, set_kernel, set_num_threads)
from .tree import Tree

SECRET_NUM = reference.SECRET_NUM

__all__ = ["NetworkContext", "SECRET_NUM", "SoftmaxLayer", "Tree", "axpy", "reference",
           "softmax", "softmax_cpu", "softmax_x_ent", "sum_array"]

# The WordTree: the .tree reader and the helpers of src/tree.c and src/data.c.
from .tree import (fill_hierarchy, get_hierarchy_probability, hierarchy_predictions,  # noqa: E402
                   hierarchy_top_prediction, read_tree)

__all__ += ["fill_hierarchy", "get_hierarchy_probability", "hierarchy_predictions",
            "hierarchy_top_prediction", "read_tree"]
__all__ += ["log_softmax", "softmax_backward"]

# The network: Darknet's connected, cost and dropout layers, the Network that
# runs them with the softmax layer, and its .cfg and .weights files.
from .connected import ConnectedLayer  # noqa: E402
from .cost import CostLayer  # noqa: E402
from .dropout import DropoutLayer  # noqa: E402
from .network import Network  # noqa: E402
from .parser import load_weights, parse_network_cfg, save_weights  # noqa: E402

__all__ += ["ConnectedLayer", "CostLayer", "DropoutLayer", "Network", "load_weights",
            "parse_network_cfg", "save_weights"]
__all__ += ["get_instruction_set", "get_kernel", "get_num_threads", "instruction_sets",
            "set_instruction_set", "set_kernel", "set_num_threads"]
