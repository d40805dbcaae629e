"""The darknet-softmax command line."""

import subprocess
import sys

import pytest

import darknet_softmax as ds
from conftest import darknet_cfg
from darknet_softmax import cli


def test_parity_report(capsys):
    assert cli.main(["parity"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.rsplit(maxsplit=2) for line in lines[1:-2]]
    names = [row[0].split()[0] for row in rows]
    cases = len(cli.PARITY_CASES)
    assert names == ["softmax"] * cases + ["log_softmax"] * cases + ["softmax_backward"] * cases + [
        "tree"
    ]
    for row in rows:
        assert float(row[2]) <= 1e-5, row
    assert lines[-1].startswith("parity: OK")


def test_module_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "darknet_softmax", "parity", "--seed", "3"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "parity: OK" in result.stdout


def test_unknown_command_is_an_error():
    result = subprocess.run(
        [sys.executable, "-m", "darknet_softmax", "nonsense"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "invalid choice" in result.stderr


# --- darknet-softmax tree FILE ---

NINE_K = ds.YOLO9000_TREE


def test_tree_summary_of_the_nine_k_tree(capsys):
    assert cli.main(["tree", str(NINE_K), "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{NINE_K}: a valid tree"
    assert lines[1:6] == [
        "nodes   9418",
        "groups  1846 (sizes 1 to 149, mean 5.10)",
        "leaves  7573",
        "roots   4",
        "depth   16",
    ]
    assert lines[6] == "largest groups:" and len(lines) == 10
    assert lines[7].split()[2:5] == ["149", "nodes", "under"]
    assert [int(line.split()[2]) for line in lines[7:]] == [149, 100, 100]


def test_tree_summary_of_bad_files(tmp_path):
    bad = tmp_path / "bad.tree"
    bad.write_text("a -1\nb 0\nc 7\n")
    for path, words in (
        (bad, f"{bad}:3: parent 7 is not -1"),
        (tmp_path / "missing.tree", "No such file or directory"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "darknet_softmax", "tree", str(path)],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 1 and result.stdout == ""
        assert words in result.stderr and "Traceback" not in result.stderr


# -- train and predict ------------------------------------------------------


@pytest.mark.slow
def test_train_with_no_arguments_then_predict(tmp_path, capsys):
    """The README's first command: the bundled cfg on the bundled digits,
    in the working folder, then predict from the weights it saved."""
    result = subprocess.run(
        [sys.executable, "-m", "darknet_softmax", "train"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "loss=" in result.stderr and "100%" in result.stderr  # the progress bar
    line = next(line for line in result.stdout.splitlines() if "held-out accuracy" in line)
    accuracy = float(line.split()[2].rstrip("%"))
    # the convolutional digits.cfg: at most 3 of the 359 held-out images wrong
    assert accuracy >= 99.0 and "of 359 images" in line, result.stdout
    weights = tmp_path / "digits.weights"
    # biases, scales, rolling mean and variance (batch normalised), then weights
    conv = [(32, 1 * 9, True), (32, 32 * 9, True), (64, 32 * 9, True), (10, 64, False)]
    floats = sum(f * (4 if norm else 1) + f * k for f, k, norm in conv)
    assert weights.stat().st_size == 20 + 4 * floats
    assert cli.main(["predict", "--weights", str(weights), "--show", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("row") and "predicted" in lines[0]
    assert lines[-1].startswith(f"held-out accuracy {accuracy:.2f}%")


def test_predict_without_weights_is_an_error(tmp_path, capsys):
    assert cli.main(["predict", "--weights", str(tmp_path / "none.weights")]) == 1
    assert "none.weights" in capsys.readouterr().err


def test_train_rejects_a_cfg_that_does_not_fit_the_data(tmp_path, capsys):
    cfg = tmp_path / "wrong.cfg"
    cfg.write_text("[net]\ninputs=10\n[connected]\noutput=10\n[softmax]\n")
    assert cli.main(["train", "--cfg", str(cfg), "--quiet"]) == 1
    assert "has 64 features" in capsys.readouterr().err
    cfg.write_text("[net]\ninputs=64\n[lstm]\n")
    assert cli.main(["train", "--cfg", str(cfg), "--quiet"]) == 1
    assert "line 3: unknown section [lstm]" in capsys.readouterr().err


def test_summary_prints_darknets_table_and_what_the_cfg_takes(capsys):
    assert cli.main(["summary", str(darknet_cfg("go.cfg"))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("network: 361 inputs, batch 1")
    assert lines[2].split()[:5] == ["0", "convolutional", "256", "3", "x"]
    assert lines[-2].split()[1:3] == ["softmax", "groups"]
    assert lines[-1].startswith("memory: ") and "for one item" in lines[-1]


def test_summary_of_a_bad_cfg_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.cfg"
    bad.write_text("[net]\ninputs=3\n[convolutional]\nfilters=0\n")
    assert cli.main(["summary", str(bad)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"{bad}: line 4: filters=0" in error
