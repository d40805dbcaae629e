"""The build itself: the library exports its API and nothing else, and an
sdist carries the C."""

import pathlib
import shutil
import subprocess
import sys

import pytest

import darknet_softmax._lib
from darknet_softmax.binding import ffi, lib

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.skipif(
    shutil.which("nm") is None or not sys.platform.startswith("linux"),
    reason="needs nm and an ELF library",
)
def test_exports_are_the_declared_functions():
    """Built with -fvisibility=hidden, the library exports the functions its
    cdef declares (DS_API) and cffi's module entry, no internal one."""
    listing = subprocess.run(
        ["nm", "-D", "--defined-only", darknet_softmax._lib.__file__],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # "ADDRESS TYPE NAME"; T, W and i are code, the others data.
    exported = {
        fields[2]
        for fields in map(str.split, listing.splitlines())
        if len(fields) == 3 and fields[1] in {"T", "W", "i"}
    }
    declared = {name for name in dir(lib) if callable(getattr(lib, name))}
    assert "softmax_cpu" in declared and "forward_softmax_layer" in declared
    assert exported == declared | {"PyInit__lib"}


def test_sizes_are_size_t():
    assert ffi.typeof("softmax_layer").fields[0][1].type.cname == "size_t"
    assert ffi.sizeof("size_t") == ffi.sizeof("void *")


def test_constants():
    assert lib.SECRET_NUM == -1234 and lib.DS_OK == 0


@pytest.mark.skipif(not (ROOT / "setup.py").exists(), reason="needs the source tree")
def test_sdist_carries_the_c_sources(sdist_names):
    for path in [*(ROOT / "csrc").glob("*.c"), *(ROOT / "csrc").glob("*.h")]:
        assert f"csrc/{path.name}" in sdist_names
    assert "build_ffi.py" in sdist_names
