"""The package as users get it: its version, its license, the README's promises,
the wheel's tag and what the sdist carries."""

import importlib.metadata
import pathlib
import re
import subprocess
import sys

import pytest

import darknet_softmax
from darknet_softmax import cli

ROOT = pathlib.Path(__file__).resolve().parent.parent
source_tree = pytest.mark.skipif(not (ROOT / "setup.py").exists(), reason="needs the source tree")


def test_version_is_the_installed_metadata():
    version = importlib.metadata.version("darknet_softmax")
    assert darknet_softmax.__version__ == version
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", version)


def test_version_on_the_command_line(capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out == f"darknet-softmax {darknet_softmax.__version__}\n"


def test_version_from_the_installed_command():
    result = subprocess.run(
        [sys.executable, "-m", "darknet_softmax", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split() == ["darknet-softmax", darknet_softmax.__version__]


def test_license_metadata():
    metadata = importlib.metadata.metadata("darknet_softmax")
    assert metadata["License-Expression"] == "Unlicense"
    assert "LICENSE" in metadata.get_all("License-File")


@source_tree
def test_license_file_is_the_unlicense():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith(
        "This is free and unencumbered software released into the public domain."
    )


@source_tree
def test_readme_is_a_short_front_page():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    assert not re.search(r"\bissues?\s*#?\d+|#\d+\b", text, re.I), "an issue number"
    assert not re.search(r"\bthe spec\b|SPEC\.md", text, re.I)


@source_tree
def test_readme_opens_with_the_two_commands():
    """The first block installs and runs the main job, the second the tests,
    whose steps .ci/run runs in the same order (other checks start between
    them)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first, second = re.findall(r"```sh\n(.*?)\n```", text, re.S)[:2]
    assert first.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install . ")
    assert "darknet-softmax train" in first
    assert second == (
        "python3 -m venv .venv && . .venv/bin/activate && "
        'pip install -e ".[test]" && python -m pytest'
    )
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    code = "\n".join(line for line in run if not line.lstrip().startswith("#"))
    places = [code.find(step) for step in second.split(" && ")]
    assert -1 not in places and places == sorted(places)


@source_tree
def test_wheel_is_tagged_abi3_and_holds_an_abi3_library():
    """cffi builds the extension against the limited API, so the wheel's tag
    must say abi3 too, from the oldest Python the package supports."""
    assert pathlib.Path(darknet_softmax._lib.__file__).name.startswith("_lib.abi3.")
    code = (
        "import setuptools\nfrom distutils.core import run_setup\n"
        "command = run_setup('setup.py', stop_after='config').get_command_obj('bdist_wheel')\n"
        "command.ensure_finalized()\nprint(*command.get_tag()[:2])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    python_tag, abi_tag = result.stdout.split()[-2:]
    assert (python_tag, abi_tag) == ("cp39", "abi3")
    requires = importlib.metadata.metadata("darknet_softmax")["Requires-Python"]
    assert requires == ">=3.9"


@source_tree
def test_sdist_carries_the_docs_benchmarks_and_tools(sdist_names):
    for path in [
        "LICENSE",
        "README.md",
        "CONTRIBUTING.md",
        "mkdocs.yml",
        "docs/index.md",
        "benchmarks/bench.py",
        "tools/sanitize.sh",
        "tools/valgrind.sh",
        "tools/fuzz.sh",
        "tools/cpython.supp",
        "examples/tree_example.py",
        "darknet_softmax/data/digits.csv.gz",
        "darknet_softmax/data/9k.tree",
        "darknet_softmax/data/darknet19.cfg",
    ]:
        assert path in sdist_names, path
    assert not [name for name in sdist_names if "__pycache__" in name or name.endswith(".so")]


@source_tree
def test_what_train_writes_is_ignored_by_git():
    """`darknet-softmax train` in a checkout leaves digits.weights; mkdocs
    leaves site/. Neither may show up as an untracked file."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(
        ["git", "check-ignore", "digits.weights", "site/index.html"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.stdout.split() == ["digits.weights", "site/index.html"]
