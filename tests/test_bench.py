"""The benchmark harness (darknet_softmax/bench.py) runs, checks before it times,
and writes what it promises. It times nothing that a test asserts on."""

import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import pytest

import darknet_softmax as ds
from darknet_softmax import bench, bench_gemm, cli


def run_quick(tmp_path, *extra):
    path = tmp_path / "bench.json"
    status = bench.main(
        ["--quick", "--repeats", "2", "--workloads", "W3,W5,S", "--json", str(path), *extra]
    )
    return status, json.loads(path.read_text())


def test_quick_run_checks_and_reports_every_implementation(tmp_path, capsys):
    status, results = run_quick(tmp_path)
    assert status == 0
    rows = results["rows"]
    families = {"W3-log", "W3-bwd", "W5-exact"}
    assert {row["workload"] for row in rows} == {"W3", "W5", "S"} | families
    for workload in ("W3", "W3-log", "W3-bwd", "W5", "W5-exact", "S"):
        names = {
            (row["implementation"], row["threads"]) for row in rows if row["workload"] == workload
        }
        peer = "default" if workload.endswith("exact") else "numpy"
        # the floors at each thread count: softmax_backward's reads two arrays
        floors = ("copy", "axpy") if workload.endswith("bwd") else ("copy",)
        assert {
            *((floor, threads) for floor in floors for threads in {1, results["cores"]}),
            ("scalar", 1),
            ("darknet_softmax", 1),
            (peer, 1),
        } <= names
    for row in rows:
        assert row["ok"] and row["error"] <= 1
        assert row["ns_per_element"] > 0 and row["x_copy"] > 0 and row["x_scalar"] > 0
        assert ("x_axpy" in row) == (row["workload"] == "W3-bwd")
    exact = [r for r in rows if r["workload"] == "W5-exact" and r["implementation"] != "copy"]
    assert all(row["x_default"] > 0 for row in exact)
    assert {(target["workload"], target["threads"]) for target in results["targets"]} == {
        (workload, threads)
        for workload in ("W3", "W3-log", "W3-bwd", "W5", "W5-exact")
        for threads in {1, results["cores"]}
    }
    assert all(target["verdict"] == "for reference" for target in results["targets"])
    printed = capsys.readouterr().out
    assert "ns/elem" in printed and "targets" in printed
    assert f"instruction set {results['instruction_set']}" in printed


def timed_rows(workload, seconds):
    """Benchmark rows of one element each, from each implementation's
    seconds at one thread and at two, with their figures added."""
    rows = [
        {"workload": workload, "implementation": name, "threads": threads, "seconds": time}
        for name, times in seconds.items()
        for threads, time in zip((1, 2), times)
    ]
    for row in rows:
        row["elements"] = 1
    return bench.add_figures(rows)


def test_peers_are_compared_at_their_best_thread_count():
    rows = timed_rows(
        "W1", {"darknet_softmax": (0.6, 0.4), "torch": (1.0, 4.0), "default": (0.3, 0.1)}
    )
    ours = {row["threads"]: row for row in rows if row["implementation"] == "darknet_softmax"}
    # at one thread the peer's one thread; at all cores its faster of one and all
    assert ours[1]["x_torch"] == pytest.approx(0.6) and ours[2]["x_torch"] == pytest.approx(0.4)
    rows[3]["seconds"] = 0.5
    bench.add_figures(rows)
    assert ours[1]["x_torch"] == pytest.approx(0.6) and ours[2]["x_torch"] == pytest.approx(0.8)
    # the default layer is this engine: compared at the same thread count
    assert ours[1]["x_default"] == pytest.approx(2.0) and ours[2]["x_default"] == pytest.approx(4.0)


def test_numpy_runs_at_the_thread_count_of_its_row():
    """NumPy's BLAS left alone would run its "1 thread" rows on every core."""
    from threadpoolctl import threadpool_info

    def blas_threads():
        return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}

    saved = ds.get_num_threads()
    try:
        bench.set_threads(1)
        assert blas_threads() == {1}
        bench.set_threads(2)
        assert blas_threads() == {2}
    finally:
        bench.set_threads(saved)


def test_targets_are_judged_at_one_thread_and_all_cores():
    rows = [
        {
            "workload": "W4",
            "threads": threads,
            "implementation": "darknet_softmax",
            "x_torch": ratio,
            "x_copy": 1.0,
        }
        for threads, ratio in ((1, 0.7), (2, 0.3), (4, 0.9))
    ]

    def verdicts(**options):
        summary = bench.target_summary(rows, [1, 2, 4], **options)[1]
        return [(t["threads"], t["against"], t["verdict"]) for t in summary]

    # between one thread and all cores nothing is judged; the copy only at all cores
    assert verdicts() == [
        (1, "torch", "NOT met"),
        (1, "copy", "for reference"),
        (2, "torch", "for reference"),
        (2, "copy", "for reference"),
        (4, "torch", "NOT met"),
        (4, "copy", "met"),
    ]
    rows[0]["x_torch"] = rows[2]["x_torch"] = 0.5
    assert [v for _, _, v in verdicts()] == ["met"] + ["for reference"] * 3 + ["met", "met"]
    assert {v for _, _, v in verdicts(quick=True)} == {"for reference"}
    del rows[2]["x_torch"]
    assert verdicts()[4] == (4, "torch", "n/a")


def test_a_target_not_met_is_set_beside_the_floor_at_its_thread_count():
    seconds = {
        "copy": (0.2, 0.1),
        "axpy": (0.4, 0.3),
        "darknet_softmax": (1.2, 0.5),
        "torch": (1, 1),
    }
    rows = timed_rows("W1-bwd", seconds)
    # the ratios to the floors are to their all-core figure
    ours = rows[4]
    assert ours["implementation"] == "darknet_softmax" and ours["threads"] == 1
    assert ours["x_axpy"] == pytest.approx(4.0) and ours["x_copy"] == pytest.approx(12.0)
    summary, verdicts = bench.target_summary(rows, [1, 2])
    # the axpy, not the copy, over torch at the row's thread count
    assert [(v["verdict"], v["floor"]) for v in verdicts] == [
        ("NOT met", pytest.approx(0.4)),
        ("met", pytest.approx(0.3)),
    ]
    assert "measured  1.200  NOT met (the floor alone: 0.400)" in summary
    assert "measured  0.500  met\n" in summary + "\n"
    # against another row of ours (the default layer) there is no floor to give
    rows = timed_rows(
        "W1-exact", {"copy": (0.1, 0.1), "darknet_softmax": (2, 2), "default": (1, 1)}
    )
    assert {v["floor"] for v in bench.target_summary(rows, [1, 2])[1]} == {None}


def test_a_wrong_implementation_is_not_timed(tmp_path, monkeypatch):
    honest = bench.Grouped.implementations

    def with_a_wrong_one(self):
        calls = honest(self)
        calls["wrong"] = lambda: np.copyto(self.out, self.x)
        return calls

    monkeypatch.setattr(bench.Grouped, "implementations", with_a_wrong_one)
    path = tmp_path / "bench.json"
    status = bench.main(["--quick", "--repeats", "2", "--workloads", "W1", "--json", str(path)])
    results = json.loads(path.read_text())
    assert status == 1
    wrong = [row for row in results["rows"] if row["implementation"] == "wrong"]
    assert wrong and all(not row["ok"] and "seconds" not in row for row in wrong)


def test_cli_runs_the_same_harness(tmp_path):
    path = tmp_path / "cli.json"
    assert (
        cli.main(["bench", "--quick", "--repeats", "2", "--workloads", "W1", "--json", str(path)])
        == 0
    )
    rows = json.loads(path.read_text())["rows"]
    assert {row["workload"] for row in rows} == {"W1", "W1-log", "W1-bwd", "W1-exact"}


def test_a_row_of_a_family_runs_alone(tmp_path):
    path = tmp_path / "bench.json"
    status = bench.main(["--quick", "--repeats", "2", "--workloads", "W2-bwd", "--json", str(path)])
    rows = json.loads(path.read_text())["rows"]
    assert status == 0 and {row["workload"] for row in rows} == {"W2-bwd"}
    assert all(row["ok"] for row in rows)


def test_plot_writes_a_png(tmp_path):
    if "san.so" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("matplotlib's extensions crash under tools/sanitize.sh's preloaded runtime")
    pytest.importorskip("matplotlib")
    plot = tmp_path / "bench.png"
    assert bench.main(["--quick", "--repeats", "2", "--workloads", "W1", "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_loss_and_log_softmax_rows_check_before_they_time(tmp_path):
    path = tmp_path / "bench.json"
    status = bench.main(
        ["--quick", "--repeats", "2", "--workloads", "CE1,CE3,LSM", "--json", str(path)]
    )
    rows = json.loads(path.read_text())["rows"]
    assert status == 0
    assert {row["workload"] for row in rows} == {"CE1", "CE3", "LSM"}
    assert all(row["ok"] for row in rows)
    assert {("darknet_softmax", 1), ("scalar", 1)} <= {
        (row["implementation"], row["threads"]) for row in rows
    }


def test_isa_times_the_kernels_again_with_each_instruction_set(tmp_path, capsys):
    path = tmp_path / "bench.json"
    status = bench.main(
        ["--quick", "--repeats", "2", "--workloads", "W1", "--isa", "portable", "--json", str(path)]
    )
    rows = json.loads(path.read_text())["rows"]
    assert status == 0
    isa_rows = [row for row in rows if row["implementation"] == "isa=portable"]
    assert isa_rows and all(row["ok"] and row["seconds"] > 0 for row in isa_rows)
    assert "W1 1 thr isa=portable / darknet_softmax:" in capsys.readouterr().out


def test_gemm_and_convolution_rows_check_before_they_time(tmp_path, capsys):
    """A quick run's small products and layers: every implementation agrees
    with float64 before it is timed, and each row has its GFLOP/s."""
    path = tmp_path / "bench.json"
    names = "G1NN,G2NT,G4TN,C1F,C3B,C4B"
    status = bench.main(["--quick", "--repeats", "2", "--workloads", names, "--json", str(path)])
    results = json.loads(path.read_text())
    assert status == 0
    rows = results["rows"]
    assert {row["workload"] for row in rows} == set(names.split(","))
    assert all(row["ok"] and row["error"] <= 1 for row in rows)
    for name in ("G1NN", "G2NT", "G4TN"):
        assert {("darknet_softmax", 1), ("numpy", 1), ("scalar", 1)} <= {
            (row["implementation"], row["threads"]) for row in rows if row["workload"] == name
        }
    assert all(row["flops"] > 0 for row in rows)
    targets = {(target["workload"], target["against"]) for target in results["targets"]}
    assert {("G1NN", "numpy"), ("G1NN", "torch"), ("C3B", "torch")} <= targets
    printed = capsys.readouterr().out
    assert "GFLOP/s" in printed and "numpy's BLAS" in printed


def test_darknet19_row_checks_before_it_times(tmp_path, monkeypatch):
    """D19 runs with no --darknet19 from any folder: the cfg ships with the package."""
    monkeypatch.chdir(tmp_path)
    status = bench.main(["--quick", "--repeats", "1", "--workloads", "D19", "--json", "b.json"])
    rows = json.loads((tmp_path / "b.json").read_text())["rows"]
    assert status == 0 and {row["workload"] for row in rows} == {"D19"}
    assert all(row["ok"] for row in rows)
    assert "darknet19 forward 64x64" in rows[0]["label"]


def test_the_shipped_darknet19_cfg_is_darknets():
    from conftest import darknet_cfg

    shipped = pathlib.Path(bench_gemm.DARKNET19)
    assert shipped.parent == pathlib.Path(ds.__file__).resolve().parent / "data"
    assert shipped.read_bytes() == darknet_cfg("darknet19.cfg").read_bytes()


def test_a_missing_darknet19_cfg_is_named(tmp_path, capsys):
    assert (
        bench.main(["--quick", "--workloads", "D19", "--darknet19", str(tmp_path / "no.cfg")]) == 2
    )
    assert "--darknet19" in capsys.readouterr().err


def test_gemm_ab_times_two_builds_in_one_process(tmp_path):
    """tools/gemm_ab.py loads two builds side by side (here the same library
    under two names) and prints a figure for each, each shape on its line."""
    library = pathlib.Path(ds.__file__).with_name("_lib.abi3.so")
    copy = tmp_path / "_lib.abi3.so"
    copy.write_bytes(library.read_bytes())
    tool = pathlib.Path(__file__).parents[1] / "tools" / "gemm_ab.py"
    result = subprocess.run(
        [
            sys.executable,
            str(tool),
            str(library),
            str(copy),
            "--seconds",
            "0.05",
            "--shapes",
            "G2NN,G2TN,C3F,C3B",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["G2NN", "G2TN", "C3F", "C3B"]
    for line in lines[1:]:
        figures = [field for field in line.split() if "/" in field]
        assert len(figures) == 2
        assert all(float(value) > 0 for figure in figures for value in figure.split("/"))


def test_alternated_medians_take_the_calls_in_turn():
    """After each call's warm-up, the implementations take turns in the
    order given, each turn an untimed call and then up to three timed ones,
    until each has the repeats asked for."""
    order = []
    calls = {name: (lambda name=name: order.append(name)) for name in ("ours", "peer", "other")}
    figures = bench.alternated_medians(calls, repeats=7, budget=10.0, warm_up=0.0)
    assert {name: count for name, (_, count) in figures.items()} == dict.fromkeys(calls, 7)
    turns = [name for name in calls for _ in range(4)] * 2 + [n for n in calls for _ in range(2)]
    assert order == turns
    assert all(seconds >= 0 for seconds, _ in figures.values())


def turns_of(log):
    """The runs of one name in a log of (name, time) calls."""
    turns: list = []
    for name, at in log:
        if not turns or turns[-1][0][0] != name:
            turns.append([])
        turns[-1].append((name, at))
    return turns


def test_rounds_medians_take_long_turns_each_after_the_settle():
    """Three rounds of turns in the order given, each turn's timed calls
    (repeats/rounds of them) after untimed calls that fill the settle."""
    log = []
    calls = {n: (lambda n=n: log.append((n, time.perf_counter()))) for n in ("ours", "peer")}
    figures = bench.rounds_medians(calls, repeats=8, budget=10.0, settle=0.01)
    assert {name: count for name, (_, count) in figures.items()} == dict.fromkeys(calls, 8)
    turns = turns_of(log)
    assert [turn[0][0] for turn in turns] == ["ours", "peer"] * 3
    for turn, timed in zip(turns, (3, 3, 3, 3, 2, 2)):
        first_timed = turn[-timed]  # each turn ends in its timed calls: 3, 3, then 2
        assert len(turn) > timed + 1 and first_timed[1] - turn[0][1] >= 0.01
    assert all(seconds >= 0 for seconds, _ in figures.values())


def test_rounds_medians_keep_two_calls_a_turn_past_the_budget():
    calls = {"slow": lambda: time.sleep(0.002), "fast": lambda: None}
    figures = bench.rounds_medians(calls, repeats=1000, budget=0.001, settle=0.0)
    assert figures["slow"][1] == 6  # two calls in each of three turns
    assert figures["fast"][1] > 6
    assert figures["slow"][0] > figures["fast"][0]


def test_alternated_medians_stop_at_the_budget_after_five_rounds():
    calls = {"slow": lambda: time.sleep(0.002), "fast": lambda: None}
    figures = bench.alternated_medians(calls, repeats=1000, budget=0.001, warm_up=0.0)
    assert figures["slow"][1] == figures["fast"][1] == 6  # two turns of three
    assert figures["slow"][0] > figures["fast"][0]
