"""The cffi build script (API mode, out of line): `setup.py` names it in cffi_modules."""

import pathlib
import sys

from cffi import FFI

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The public headers, in dependency order. Their declarations are the cdef.
HEADERS = [
    "status.h",
    "network.h",
    "tree.h",
    "blas.h",
    "softmax_layer.h",
    "activations.h",
    "gemm.h",
    "connected_layer.h",
    "cost_layer.h",
    "dropout_layer.h",
    "runtime.h",
]


def read_cdef():
    """The headers less their preprocessor lines, which cffi does not parse."""
    lines = []
    for header in HEADERS:
        text = (ROOT / "csrc" / header).read_text()
        lines += [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return "\n".join(lines)


def compile_args():
    """Portable code generation: csrc/vector_kernels_avx2.c asks for AVX2 itself,
    and runs only where the CPU has it. The pool needs POSIX threads."""
    if sys.platform == "win32":
        return ["/O2"]
    return ["-O3", "-std=c11", "-Wall", "-Wextra", "-pthread"]


def link_args():
    return [] if sys.platform == "win32" else ["-pthread"]


ffibuilder = FFI()
ffibuilder.cdef(read_cdef())
ffibuilder.set_source(
    "darknet_softmax._lib",
    "\n".join(f'#include "{header}"' for header in HEADERS),
    sources=sorted(f"csrc/{path.name}" for path in (ROOT / "csrc").glob("*.c")),
    include_dirs=["csrc"],
    extra_compile_args=compile_args(),
    extra_link_args=link_args(),
    libraries=[] if sys.platform == "win32" else ["m"],
)
