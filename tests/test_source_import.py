"""Importing from a source checkout whose package folder has no compiled
extension (as after `pip install .`, not -e, when Python runs in the
checkout's root, where the source folder shadows the installed copy) is an
ImportError that says what to do, not "No module named 'darknet_softmax._lib'"."""

import pathlib
import shutil
import subprocess
import sys

import darknet_softmax

PACKAGE = pathlib.Path(darknet_softmax.__file__).resolve().parent
ROOT = pathlib.Path(__file__).resolve().parent.parent  # the checkout, with pyproject.toml


def copy_without_extension(destination):
    shutil.copytree(
        PACKAGE,
        destination / "darknet_softmax",
        ignore=shutil.ignore_patterns("*.so", "*.pyd", "_lib.c", "_lib.o", "__pycache__"),
    )
    assert not list((destination / "darknet_softmax").glob("_lib*"))


# An editable install's finder would lend the copy the checkout's extension;
# without it, this is what a regular install sees from a folder that shadows it.
IMPORT = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in str(f).lower()]
import darknet_softmax
"""


def import_in(folder):
    return subprocess.run(
        [sys.executable, "-c", IMPORT], cwd=folder, capture_output=True, text=True
    )


def test_a_checkout_without_the_extension_says_what_to_do(tmp_path):
    checkout = tmp_path / "checkout"
    copy_without_extension(checkout)
    shutil.copy(ROOT / "pyproject.toml", checkout)
    result = import_in(checkout)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"ImportError: darknet_softmax is imported from the source folder {checkout}, "
        "which has no compiled extension: run `pip install -e .` there, or run Python "
        "outside the folder"
    )
    assert "No module named" not in result.stderr


def test_an_installed_copy_without_the_extension_says_so(tmp_path):
    site = tmp_path / "site"
    copy_without_extension(site)
    result = import_in(site)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"ImportError: darknet_softmax in {site / 'darknet_softmax'} has no compiled extension"
    )
    assert "reinstall" in last


def test_another_missing_module_is_not_hidden(tmp_path):
    """Only the extension's absence is explained: any other import error stays."""
    checkout = tmp_path / "checkout"
    copy_without_extension(checkout)
    binding = checkout / "darknet_softmax" / "binding.py"
    binding.write_text("import no_such_module_here\n" + binding.read_text())
    result = import_in(checkout)
    assert "No module named 'no_such_module_here'" in result.stderr
