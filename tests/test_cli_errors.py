"""What a new user hits in the first hour of the command line: every bad
option or file is ONE line on stderr that names the option (or the file and
line), with a non-zero exit status and no traceback; garbage is never
accepted with exit status 0, and weights are never saved from a run whose loss
went NaN."""

import gzip
import json
import re
import subprocess
import sys

import pytest

from darknet_softmax import bench, cli


def run(capsys, *argv):
    """cli.main(argv) in this process: (exit status, stdout, stderr)."""
    try:
        status = cli.main([str(arg) for arg in argv])
    except SystemExit as exit:
        status = exit.code
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(capsys, argv, *words):
    status, out, err = run(capsys, *argv)
    lines = err.strip().splitlines()
    assert status not in (0, None), (argv, out, err)
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


# --- item 2: bad options, one line, the option named -------------------------


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "--epochs", "-1"], ["--epochs", "at least 1", "-1"]),
        (["train", "--epochs", "0"], ["--epochs", "at least 1", "0"]),
        (["train", "--epochs", "two"], ["--epochs", "an integer", "'two'"]),
        (["train", "--test-fraction", "nan"], ["--test-fraction", "0 to below 1", "nan"]),
        (["train", "--test-fraction", "-0.1"], ["--test-fraction", "0 to below 1", "-0.1"]),
        (["train", "--test-fraction", "1"], ["--test-fraction", "0 to below 1"]),
        (["predict", "--test-fraction", "inf"], ["--test-fraction", "0 to below 1", "inf"]),
        (["train", "--seed", "-5"], ["--seed", "at least 0", "-5"]),
        (["predict", "--seed", "-5"], ["--seed", "at least 0", "-5"]),
        (["train", "--seed", str(2**64)], ["--seed", "at most"]),
        (["train", "--scale", "0"], ["--scale", "finite number above 0", "'0'"]),
        (["train", "--scale", "-16"], ["--scale", "finite number above 0"]),
        (["train", "--scale", "nan"], ["--scale", "finite number above 0", "nan"]),
        (["train", "--scale", "inf"], ["--scale", "finite number above 0", "inf"]),
        (["predict", "--scale", "0"], ["--scale", "finite number above 0"]),
        (["predict", "--show", "-2"], ["--show", "at least 0"]),
        (["parity", "--seed", "-1"], ["--seed", "at least 0"]),
        (["tree", "x.tree", "--top", "-1"], ["--top", "at least 0"]),
        (["bench", "--quick", "--threads", "-3"], ["--threads", "at least 1", "-3"]),
        (["bench", "--quick", "--threads", "0"], ["--threads", "at least 1"]),
        (["bench", "--quick", "--threads", "100000"], ["--threads", "at most"]),
        (["bench", "--quick", "--repeats", "0"], ["--repeats", "at least 1"]),
        (["bench", "--quick", "--isa", "sse9"], ["--isa", "sse9", "portable"]),
        (["nonsense"], ["invalid choice"]),
    ],
)
def test_a_bad_option_is_one_line_naming_it(capsys, argv, words):
    line = assert_one_line_error(capsys, argv, *words)
    assert line.startswith("darknet-softmax")


def test_the_seed_is_not_blamed_on_the_cfg(capsys):
    import darknet_softmax as ds

    with pytest.raises(ValueError) as caught:
        ds.Network.from_cfg(str(cli.DATA / "digits.cfg"), seed=-5)
    assert str(caught.value) == "seed must be at least 0, not -5"


def test_a_cfg_too_large_to_build_names_the_file_and_line(capsys, tmp_path):
    cfg = tmp_path / "big.cfg"
    cfg.write_text("[net]\ninputs=64\n\n[connected]\noutput=99999999999\n[softmax]\n")
    line = assert_one_line_error(capsys, ["train", "--cfg", cfg, "--quiet"], f"{cfg}: line 4:")
    assert "[connected] takes" in line and "GiB free" in line


def test_the_brief_commands_print_no_traceback(tmp_path):
    """The commands of the report, as a user types them."""
    cfg = tmp_path / "big.cfg"
    cfg.write_text("[net]\ninputs=64\n[connected]\noutput=99999999999\n[softmax]\n")
    for argv in (
        ["train", "--epochs", "-1"],
        ["train", "--test-fraction", "nan"],
        ["bench", "--quick", "--threads", "-3"],
        ["train", "--cfg", str(cfg)],
        ["train", "--seed", "-5"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "darknet_softmax", *argv],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert result.returncode != 0, argv
        # tools/sanitize.sh's AddressSanitizer warns of the huge allocation it refuses.
        lines = [
            line
            for line in result.stderr.strip().splitlines()
            if not re.match(r"==\d+==WARNING: AddressSanitizer failed to allocate", line)
        ]
        assert len(lines) == 1, (argv, result.stderr)
        assert "Traceback" not in result.stderr
        assert not (tmp_path / "digits.weights").exists()


# --- item 3: no garbage accepted, no weights from a NaN loss -----------------


def write_csv(tmp_path, rows, name="data.csv"):
    path = tmp_path / name
    path.write_text("".join(",".join(str(cell) for cell in row) + "\n" for row in rows))
    return path


def digits_rows():
    with gzip.open(cli.DATA / "digits.csv.gz", "rt") as file:
        return [line.strip().split(",") for line in file]


@pytest.mark.parametrize("cell", ["nan", "inf", "-inf", "NaN"])
def test_a_data_cell_that_is_not_finite_is_refused(capsys, tmp_path, cell):
    rows = digits_rows()[:200]
    rows[6][3] = cell
    data = write_csv(tmp_path, rows)
    weights = tmp_path / "w.weights"
    assert_one_line_error(
        capsys,
        ["train", "--data", data, "--weights", weights, "--quiet", "--epochs", "1"],
        f"{data}:7: column 4: '{cell}' is not a finite number",
    )
    assert not weights.exists()


def test_a_loss_that_goes_nan_saves_no_weights(capsys, tmp_path):
    """A learning rate so large that the loss overflows: no weights, an error."""
    cfg = tmp_path / "wild.cfg"
    text = (
        (cli.DATA / "digits-mlp.cfg").read_text().replace("learning_rate=0.1", "learning_rate=1e30")
    )
    cfg.write_text(text)
    weights = tmp_path / "w.weights"
    line = assert_one_line_error(
        capsys,
        ["train", "--cfg", cfg, "--weights", weights, "--quiet", "--epochs", "3"],
        "darknet-softmax train: the loss is",
        "weights not saved",
    )
    assert "nan" in line or "inf" in line
    assert not weights.exists()


def test_scale_overflowing_float32_is_refused(capsys, tmp_path):
    weights = tmp_path / "w.weights"
    assert_one_line_error(
        capsys,
        ["train", "--scale", "1e-40", "--weights", weights, "--quiet", "--epochs", "1"],
        "digits.csv.gz:1: a feature divided by --scale 1e-40 is too large for float32",
    )
    assert not weights.exists()
    data = write_csv(tmp_path, [[1, 2, 0], [3, 1e300, 1]])
    with pytest.raises(ValueError, match=f"^{data}:2: a feature divided by --scale 16 is too"):
        cli.load_labelled(data, 16.0)


def test_test_fraction_zero_trains_on_everything(capsys, tmp_path):
    weights = tmp_path / "w.weights"
    status, out, err = run(
        capsys,
        "train",
        "--test-fraction",
        "0",
        "--weights",
        weights,
        "--quiet",
        "--epochs",
        "1",
    )
    assert status == 0, err
    assert "trained 1797 images" in out
    assert "held-out accuracy" not in out
    assert "no rows held out (--test-fraction 0)" in out
    assert weights.exists()
    # predict has nothing held out to score...
    line = assert_one_line_error(
        capsys,
        ["predict", "--weights", weights, "--test-fraction", "0"],
        "darknet-softmax predict: --test-fraction 0 holds no rows out",
        "--all",
    )
    assert "accuracy" not in line
    # ...unless asked for every row.
    status, out, err = run(capsys, "predict", "--weights", weights, "--test-fraction", "0", "--all")
    assert status == 0 and "all accuracy" in out and "of 1797 images" in out


def test_a_small_test_fraction_still_holds_out_rows(capsys, tmp_path):
    weights = tmp_path / "w.weights"
    status, out, err = run(
        capsys, "train", "--test-fraction", "0.01", "--weights", weights, "--quiet", "--epochs", "1"
    )
    assert status == 0, err
    assert "trained 1779 images" in out and "of 18 images" in out


def test_an_unwritable_weights_file_is_one_line_before_training(capsys, tmp_path):
    weights = tmp_path / "no such folder" / "w.weights"
    status, out, err = run(capsys, "train", "--weights", weights, "--quiet", "--epochs", "1")
    assert status == 1 and len(err.strip().splitlines()) == 1
    assert str(weights.parent) in err and "trained" not in out


# --- item 4: CSV errors are FILE:LINE: what ---------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1,2,0\n3,4,1\n5,6,0\n7,8,1\nabc,9,0\n", ":5: column 1: 'abc' is not a number"),
        ("1,2,0\n3,4,1\n\n5,x,1\n", ":4: column 2: 'x' is not a number"),
        ("1,2,0\n3,4,1\n5,6\n", ":3: 2 columns, but line 1 has 3"),
        ("1,2,0\n3,4,1,7\n", ":2: 4 columns, but line 1 has 3"),
        ("1\n2\n", ":1: a row needs the features and then the class, but this one has 1 column"),
        (
            "1,2,0\n3,4,1.5\n",
            ":2: column 3, the class, must be a whole number 0, 1, 2, ..., not '1.5'",
        ),
        (
            "1,2,0\n3,4,-1\n",
            ":2: column 3, the class, must be a whole number 0, 1, 2, ..., not '-1'",
        ),
        ("1,2,0\n3,nan,1\n", ":2: column 2: 'nan' is not a finite number"),
        (
            "1,2,0\n3,4,1e300\n",
            ":2: column 3, the class, must be a whole number 0, 1, 2, ..., not '1e300'",
        ),
        ("", ": the file holds no rows"),
        ("\n\n", ": the file holds no rows"),
    ],
)
def test_csv_errors_name_the_file_and_line(tmp_path, text, expected):
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(ValueError) as caught:
        cli.load_labelled(path, 16.0)
    assert str(caught.value) == f"{path}{expected}"


def test_csv_errors_in_a_gzipped_file(tmp_path):
    path = tmp_path / "d.csv.gz"
    with gzip.open(path, "wt") as file:
        file.write("1,2,0\n3,4,1\n3,4\n")
    with pytest.raises(ValueError, match=f"^{path}:3: 2 columns, but line 1 has 3$"):
        cli.load_labelled(path, 16.0)
    path.write_bytes(b"not gzip at all\n")
    with pytest.raises(ValueError, match=f"^{path}: "):
        cli.load_labelled(path, 16.0)
    with gzip.open(path, "wb") as file:
        file.write(b"1,2,0\n" * 1000)
    path.write_bytes(path.read_bytes()[:-20])  # truncated
    with pytest.raises(ValueError, match=f"^{path}:"):
        cli.load_labelled(path, 16.0)


def test_csv_that_is_not_text(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"1,2,0\n\xff\xfe,1,2\n")
    with pytest.raises(ValueError, match=f"^{path}:2: "):
        cli.load_labelled(path, 16.0)


def test_the_bundled_data_still_loads():
    features, labels = cli.load_labelled(cli.DATA / "digits.csv.gz", 16.0)
    assert features.shape == (1797, 64) and features.dtype.name == "float32"
    assert labels.tolist()[:3] == [0, 1, 2] and features.max() == 1.0


def test_a_bad_csv_is_one_line_from_the_cli(capsys, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("1,2,0\n3,4,1\n5,6,0\n7,8,1\nabc,9,0\n")
    assert_one_line_error(
        capsys, ["train", "--data", data, "--quiet"], f"{data}:5: column 1: 'abc' is not a number"
    )
    data.write_text("")
    assert_one_line_error(capsys, ["train", "--data", data, "--quiet"], f"{data}: the file holds")


def test_a_class_past_the_outputs_names_its_line(capsys, tmp_path):
    rows = digits_rows()[:100]
    rows[41][-1] = "12"
    data = write_csv(tmp_path, rows)
    assert_one_line_error(
        capsys,
        ["train", "--data", data, "--quiet"],
        f"{data}:42: class 12, but ",
        "gives 10 outputs",
    )


# --- item 5: bench checks before it times ------------------------------------


def test_bench_plot_without_matplotlib_is_an_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails
    plot = tmp_path / "p.png"
    json_path = tmp_path / "b.json"
    line = assert_one_line_error(
        capsys,
        ["bench", "--quick", "--workloads", "W1", "--plot", plot, "--json", json_path],
        "--plot",
        "matplotlib",
    )
    assert line.startswith("darknet-softmax bench")
    assert not plot.exists() and not json_path.exists()  # nothing was timed


def test_bench_with_a_missing_tree_is_an_error(capsys, tmp_path):
    tree = tmp_path / "missing.tree"
    json_path = tmp_path / "b.json"
    assert_one_line_error(
        capsys,
        ["bench", "--quick", "--workloads", "W5", "--tree", tree, "--json", json_path],
        "--tree",
        str(tree),
        "No such file",
    )
    assert not json_path.exists()


def test_bench_with_a_bad_tree_is_an_error(capsys, tmp_path):
    tree = tmp_path / "bad.tree"
    tree.write_text("a 0\n")
    assert_one_line_error(
        capsys, ["bench", "--quick", "--workloads", "W5", "--tree", tree], f"{tree}:1:"
    )


@pytest.mark.parametrize("workloads", ["", ",", " , "])
def test_bench_with_no_workloads_is_an_error(capsys, workloads):
    assert_one_line_error(
        capsys, ["bench", "--quick", "--workloads", workloads], "--workloads", "W1"
    )


def test_bench_with_an_unknown_workload_names_the_option(capsys):
    assert_one_line_error(capsys, ["bench", "--quick", "--workloads", "W1,W9"], "--workloads", "W9")


def test_bench_json_into_a_missing_folder_is_an_error_before_timing(capsys, tmp_path):
    path = tmp_path / "none" / "b.json"
    assert_one_line_error(
        capsys, ["bench", "--quick", "--workloads", "W1", "--json", path], "--json"
    )


def test_bench_as_its_own_script_has_one_line_errors(capsys):
    try:
        status = bench.main(["--threads", "-3"])
    except SystemExit as exit:
        status = exit.code
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1 and "--threads" in err


def test_bench_still_runs(capsys, tmp_path):
    path = tmp_path / "b.json"
    status, out, err = run(
        capsys, "bench", "--quick", "--repeats", "2", "--workloads", " W1 ", "--json", path
    )
    assert status == 0, err
    rows = json.loads(path.read_text())["rows"]
    assert {row["workload"] for row in rows} == {"W1", "W1-log", "W1-bwd", "W1-exact"}
