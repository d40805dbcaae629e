"""Darknet's softmax layer, its loss and its WordTree, in C, driven from NumPy."""
from . import reference
from .kernels import axpy, softmax, softmax_cpu, softmax_x_ent, sum_array
from .layers import NetworkContext, SoftmaxLayer
from .tree import Tree

SECRET_NUM = reference.SECRET_NUM

__all__ = ["NetworkContext", "SECRET_NUM", "SoftmaxLayer", "Tree", "axpy", "reference",
           "softmax", "softmax_cpu", "softmax_x_ent", "sum_array"]
