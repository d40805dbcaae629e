"""Darknet's WordTree: groups of sibling nodes, each with its own softmax."""
import numpy as np

from .binding import check_status, ffi, lib


class Tree:
    """A tree from node names and parent indices (-1 for a root, otherwise an
    earlier node). Siblings must stand on consecutive nodes: each run of equal
    parents is one softmax group."""

    def __init__(self, names, parents):
        names = [str(name) for name in names]
        parents = np.asarray(parents)
        if parents.ndim != 1 or not np.issubdtype(parents.dtype, np.integer):
            raise TypeError("parents must be a 1-D sequence of integers")
        if len(names) != parents.size:
            raise ValueError(f"names ({len(names)}) and parents ({parents.size}) differ in length")
        if parents.size == 0:
            raise ValueError("a tree needs at least one node")
        if parents.min() < -1 or parents.max() >= parents.size:
            raise ValueError("parents must be -1 or the index of an earlier node")
        encoded = [ffi.new("char[]", name.encode()) for name in names]
        out = ffi.new("tree **")
        bad_node = ffi.new("size_t *")
        status = lib.make_tree(parents.size, ffi.from_buffer("int[]", parents.astype(np.intc)),
                               ffi.new("char *[]", encoded), out, bad_node)
        if status == lib.DS_ERR_FORMAT:
            node = bad_node[0]
            raise ValueError(f"node {node} ({names[node]!r}): its parent {parents[node]} is not "
                             "an earlier node, or its siblings are split over two runs")
        check_status(status, "make_tree")
        self._tree = ffi.gc(out[0], lib.free_tree)
        self.name = names
        self._copy_arrays()

    def _copy_arrays(self):
        t = self._tree
        for field, length, ctype in (("parent", t.n, "int"), ("child", t.n, "int"),
                                     ("group", t.n, "int"), ("leaf", t.n, "int"),
                                     ("group_size", t.groups, "size_t"),
                                     ("group_offset", t.groups, "size_t")):
            dtype = np.intc if ctype == "int" else np.uintp
            array = np.frombuffer(ffi.buffer(getattr(t, field), length * ffi.sizeof(ctype)),
                                  dtype=dtype).astype(np.int64)
            array.flags.writeable = False
            setattr(self, field, array)

    @property
    def n(self):
        return int(self._tree.n)

    @property
    def groups(self):
        return int(self._tree.groups)

    def __repr__(self):
        return f"Tree(n={self.n}, groups={self.groups})"
