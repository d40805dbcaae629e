"""Every ```python block of README.md and docs/**/*.md runs, each on its own:
in a fresh interpreter, from an empty temporary folder, so that a block that
leans on an earlier block's imports, or on files of the checkout, fails.
Shell blocks are not run."""

import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```(\S*)\n(.*?)^```\s*$", re.S | re.M)
# The languages a block may be marked with; only python is run.
LANGUAGES = {"python", "sh", "text"}


def fenced_blocks():
    """(page, line, language, code) for every fenced block of every page."""
    for page in PAGES:
        if page.exists():
            text = page.read_text(encoding="utf-8")
            for match in FENCE.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                yield page.relative_to(ROOT), line, match.group(1), match.group(2)


PYTHON_BLOCKS = [
    pytest.param(code, id=f"{page}:{line}")
    for page, line, language, code in fenced_blocks()
    if language == "python"
]


@pytest.mark.skipif(not (ROOT / "docs").is_dir(), reason="needs the source tree")
def test_every_page_has_its_blocks_found():
    """The extraction finds the examples (a changed fence would otherwise skip
    them silently), and every block is marked with a known language."""
    blocks = list(fenced_blocks())
    pages = {page for page, _, language, _ in blocks if language == "python"}
    assert pathlib.Path("README.md") in pages
    assert len(pages) >= 6 and len(PYTHON_BLOCKS) >= 15
    unmarked = [
        f"{page}:{line} ({language or 'no language'})"
        for page, line, language, _ in blocks
        if language not in LANGUAGES
    ]
    assert not unmarked, unmarked


@pytest.mark.parametrize("code", PYTHON_BLOCKS)
def test_example_runs_on_its_own(code, tmp_path):
    # The package must come from the installed (or sanitized) build, never
    # from the folder the block runs in.
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
