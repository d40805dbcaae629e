"""The cffi build script (API mode, out of line): `setup.py` names it in cffi_modules.

It lives at the repository root, not in the package: it reads csrc/, which a
wheel does not carry.

DS_WERROR=1 in the environment turns GCC's and Clang's warnings (-Wall
-Wextra) into errors (-Werror), as CI builds. It is off by default, so that
a newer compiler's new warnings cannot break `pip install`."""

import os
import pathlib
import re
import sys

from cffi import FFI

ROOT = pathlib.Path(__file__).resolve().parent
# The headers whose declarations are the cdef: the base ones in dependency
# order, then every layer's, which build only on them.
BASE_HEADERS = [
    "status.h",
    "network.h",
    "layer.h",
    "tree.h",
    "blas.h",
    "activations.h",
    "gemm.h",
    "runtime.h",
    "im2col.h",
    "col2im.h",
]
HEADERS = BASE_HEADERS + sorted(path.name for path in (ROOT / "csrc").glob("*_layer.h"))


def read_cdef():
    """The headers less what cffi does not parse: preprocessor lines, and the
    DS_API mark on each exported function (status.h)."""
    lines = []
    for header in HEADERS:
        text = re.sub(r"\bDS_API\s+", "", (ROOT / "csrc" / header).read_text())
        lines += [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return "\n".join(lines)


def compile_args():
    """Portable code generation: csrc/vector_kernels_avx2.c asks for AVX2 itself,
    and runs only where the CPU has it. The pool needs POSIX threads. Only the
    functions marked DS_API are exported. -ffp-contract=off: a multiply and an
    add stay two roundings on every instruction set (the compiler would fuse
    them where FMA exists), so every path gives the same numbers, overflow
    included; the kernels call FMA by name where they want it.
    -fno-trapping-math: no caller reads the floating-point exception flags,
    so the compiler may evaluate both sides of a float comparison and keep
    one (a leaky activation, a maxpool window) in vector code; the values are
    the same IEEE results. DS_OPT replaces -O3 (tools/sanitize.sh sets -O0,
    and says why)."""
    if sys.platform == "win32":
        return ["/O2"]
    werror = ["-Werror"] if os.environ.get("DS_WERROR") == "1" else []
    return [
        os.environ.get("DS_OPT", "-O3"),
        "-std=c11",
        "-Wall",
        "-Wextra",
        "-pthread",
        "-fvisibility=hidden",
        "-ffp-contract=off",
        "-fno-trapping-math",
        *werror,
    ]


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
