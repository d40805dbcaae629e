"""Darknet's softmax layer, its loss and its WordTree, in C, driven from NumPy."""
from . import reference
from .kernels import axpy, softmax, softmax_cpu, softmax_x_ent, sum_array
from .kernels import log_softmax, softmax_backward
from .layers import NetworkContext, SoftmaxLayer
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
