"""The build itself: the extension's types, and an sdist that carries the C."""
import pathlib
import subprocess
import sys
import tarfile

import pytest

from darknet_softmax.binding import ffi, lib

ROOT = pathlib.Path(__file__).resolve().parent.parent


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
    assert pathlib.PurePosixPath("build_ffi.py") in names
