"""The build itself: the extension matches its headers, and an sdist carries the C."""
import pathlib
import re
import subprocess
import sys
import tarfile

import pytest

from darknet_softmax import _build
from darknet_softmax.binding import ffi, lib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def declared_functions():
    code = re.sub(r"/\*.*?\*/|//[^\n]*", " ", _build.read_cdef(), flags=re.S)
    names = re.findall(r"\b(\w+)\s*\([^;{]*\)\s*;", code)
    return sorted(set(names))


def test_every_declared_function_is_compiled():
    names = declared_functions()
    assert "softmax_cpu" in names and "forward_softmax_layer" in names
    for name in names:
        assert callable(getattr(lib, name)), name


def test_every_header_is_in_the_cdef():
    on_disk = {path.name for path in (ROOT / "csrc").glob("*.h")}
    assert set(_build.HEADERS) <= on_disk


def test_sizes_are_size_t():
    assert ffi.typeof("softmax_layer").fields[0][1].type.cname == "size_t"
    assert ffi.sizeof("size_t") == ffi.sizeof("void *")


def test_constants():
    assert lib.SECRET_NUM == -1234 and lib.DS_OK == 0


@pytest.mark.skipif(not (ROOT / "setup.py").exists(), reason="needs the source tree")
def test_sdist_carries_the_c_sources(tmp_path):
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path)], cwd=ROOT,
                   check=True, capture_output=True)
    (archive,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        names = {pathlib.PurePosixPath(name).relative_to(pathlib.PurePosixPath(name).parts[0])
                 for name in tar.getnames() if "/" in name}
    for path in [*(ROOT / "csrc").glob("*.c"), *(ROOT / "csrc").glob("*.h")]:
        assert pathlib.PurePosixPath("csrc", path.name) in names
    assert pathlib.PurePosixPath("darknet_softmax/_build.py") in names
