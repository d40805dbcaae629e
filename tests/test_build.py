"""The build itself: the library exports its API and nothing else, and an
sdist carries the C."""

import pathlib
import platform
import shutil
import subprocess
import sys

import pytest

import darknet_softmax as ds
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
    assert all(field.type.cname == "size_t" for _, field in ffi.typeof("layer_shape").fields)
    assert ffi.sizeof("size_t") == ffi.sizeof("void *")


def test_every_layer_struct_starts_with_its_shape():
    """free_layer and layer_bytes read any layer through its shape."""
    kinds = [name for name in ffi.list_types()[0] if name.endswith("_layer")]
    assert len(kinds) >= 11
    for kind in kinds:
        assert ffi.offsetof(kind, "shape") == 0, kind


def test_layer_bytes_cover_the_buffers_and_no_more():
    layer = ds.MaxpoolLayer(2, (5, 7, 3), size=2, stride=2)
    start = int(ffi.cast("uintptr_t", layer._layer))
    end = int(ffi.cast("uintptr_t", layer._layer.indexes)) + 8 * layer.batch * layer.outputs
    assert end - start <= lib.layer_bytes(layer._layer) < end - start + 64


def test_constants():
    assert lib.SECRET_NUM == -1234 and lib.DS_OK == 0


@pytest.mark.skipif(not (ROOT / "setup.py").exists(), reason="needs the source tree")
def test_sdist_carries_the_c_sources(sdist_names):
    for path in [*(ROOT / "csrc").glob("*.c"), *(ROOT / "csrc").glob("*.h")]:
        assert f"csrc/{path.name}" in sdist_names
    assert "build_ffi.py" in sdist_names


def functions_of(library):
    """{name: its instructions' mnemonics and operands} of each function in
    the library's disassembly (objdump -d)."""
    listing = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", library], check=True, capture_output=True, text=True
    ).stdout
    functions: dict[str, list[str]] = {}
    body: list[str] = []
    for line in listing.splitlines():
        if line.endswith(">:"):
            body = functions.setdefault(line.split("<", 1)[1][:-2], [])
        elif "\t" in line:
            body.append(line.split("\t", 1)[1])
    return functions


def uses_avx(instructions):
    """VEX-encoded instructions (vaddps, vmovups, ...) or a ymm register."""
    return any(i.startswith("v") or "%ymm" in i for i in instructions)


@pytest.mark.skipif(
    shutil.which("objdump") is None or platform.machine() != "x86_64",
    reason="needs objdump and an x86-64 library",
)
def test_portable_kernels_are_sse2_alone():
    """The portable kernels (every function named *_portable, clones
    included) are what x86-64 CPUs without AVX2 run: the baseline build has
    no AVX instruction in them, while the AVX2 kernels beside them have."""
    functions = functions_of(darknet_softmax._lib.__file__)
    portable = {name for name in functions if "_portable" in name}
    avx2 = {name for name in functions if "_avx2" in name}
    if not portable:
        pytest.skip("the library carries no symbol table")
    assert "softmax_row_portable" in portable and "softmax_row_avx2" in avx2
    assert [name for name in portable if uses_avx(functions[name])] == []
    assert uses_avx(functions["softmax_row_avx2"])


@pytest.mark.skipif(
    shutil.which("objdump") is None or platform.machine() != "x86_64",
    reason="needs objdump and an x86-64 library",
)
def test_only_the_avx512_kernels_use_its_registers():
    """AVX2 CPUs run the AVX2 kernels: no 512-bit register in them (nor in
    the portable ones), while the AVX-512 row kernels have them."""
    functions = functions_of(darknet_softmax._lib.__file__)
    if "softmax_row_avx512" not in functions:
        pytest.skip("the library carries no symbol table")
    uses_zmm = {name for name, body in functions.items() if any("%zmm" in i for i in body)}
    assert "softmax_row_avx512" in uses_zmm
    assert [name for name in uses_zmm if "_avx2" in name or "_portable" in name] == []
