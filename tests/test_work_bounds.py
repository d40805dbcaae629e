"""Every accepted call finishes in time proportional to the memory it is given:
an entry point that takes counts and offsets refuses arguments under which it
would compute more values than its arrays hold (overlapping rows or groups
repeated without end), so no call can run for ever."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import assert_close
from darknet_softmax import reference

HUGE = [2**31, 2**32 + 1, 2**63, 2**64 - 1]


def run_python(code, timeout=30):
    """`code` in a fresh interpreter, killed after `timeout` seconds: a call
    that never returns fails the test instead of hanging the run."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "call",
    [
        "ds.softmax_cpu(x, 3, 2**63, 0, 1, 1, 1, 1.0, out)",  # every row the same 3 floats
        "ds.softmax_cpu(x, 3, 1, 0, 2**63, 0, 1, 1.0, out)",  # every group the same 3 floats
        "ds.softmax_cpu(x, 1, 2**40, 0, 2**40, 0, 1, 1.0, x)",  # both, in place
    ],
)
def test_softmax_cpu_refuses_endless_overlapping_rows_at_once(call):
    result = run_python(f"""
        import numpy as np
        import darknet_softmax as ds
        x = np.zeros(3, np.float32)
        out = np.zeros(3, np.float32)
        try:
            {call}
        except ValueError as error:
            print("refused:", error)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refused: ")
    assert "batch*groups*n" in result.stdout and "output holds 3 floats" in result.stdout


@pytest.mark.parametrize(
    "n, batch, batch_offset, groups, group_offset, size",
    [
        (3, 2, 0, 1, 0, 5),  # two rows over the same 3 floats: 6 values into 5
        (2, 1, 0, 3, 1, 5),  # three groups sliding by one: 6 values into 5
        (4, 2, 2, 1, 0, 7),  # rows overlapping by two: 8 values into 7
    ],
)
def test_softmax_cpu_refuses_more_values_than_the_output_holds(
    n, batch, batch_offset, groups, group_offset, size
):
    x = np.arange(size, dtype=np.float32)
    out = np.full(size, 7.0, np.float32)
    with pytest.raises(
        ValueError,
        match=rf"batch\*groups\*n = {batch * groups * n} values, "
        rf"but output holds {size} floats",
    ):
        ds.softmax_cpu(x, n, batch, batch_offset, groups, group_offset, 1, 1.0, out)
    assert (out == 7.0).all()


def test_softmax_cpu_still_takes_overlapping_groups_that_fit():
    """Overlap is allowed while the values computed fit in the output: Darknet's
    order, group after group, each reading what the one before wrote."""
    x = np.arange(6, dtype=np.float32)
    out = np.full(6, 7.0, np.float32)
    ds.softmax_cpu(x, 2, 1, 0, 3, 1, 1, 1.0, out)  # groups [0,1], [1,2], [2,3]: 6 values
    expected = reference.softmax_cpu(x, 2, 1, 0, 3, 1, 1, 1.0, np.full(6, 7.0))
    assert_close(out, expected)
    assert (out[4:] == 7.0).all()


@pytest.mark.parametrize("huge", HUGE)
def test_axpy_refuses_a_huge_count(huge):
    x, y = np.ones(3, np.float32), np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="x holds 3 floats"):
        ds.axpy(1.0, x, y, n=huge)
    with pytest.raises(ValueError, match="x holds 3 floats"):
        ds.axpy(1.0, x, y, incx=huge, n=2)
    with pytest.raises(ValueError, match="y holds 3 floats"):
        ds.axpy(1.0, x, y, incy=huge, n=2)
    # A huge stride over one value touches that value once.
    ds.axpy(2.0, x, y, incx=huge, incy=huge, n=1)
    assert y.tolist() == [2.0, 0.0, 0.0]


@pytest.mark.parametrize("huge", HUGE)
@pytest.mark.parametrize("which", ["M", "N", "K"])
def test_gemm_refuses_a_huge_size(huge, which):
    from darknet_softmax.gemm import gemm

    sizes = {"M": 2, "N": 2, "K": 2, which: huge}
    A, B, C = (np.ones(4, np.float32) for _ in range(3))
    # M or K past A's size, or N past a row stride: refused either way.
    with pytest.raises(
        ValueError,
        match=r"holds 4 floats, but these arguments reach index"
        r"|ld[ab] must be at least",
    ):
        gemm(False, False, sizes["M"], sizes["N"], sizes["K"], 1.0, A, 2, B, 2, 0.0, C, 2)
    assert (C == 1).all()


@pytest.mark.parametrize("huge", HUGE)
def test_gemm_bounds_a_huge_stride_by_the_arrays(huge):
    """A huge leading dimension over a single row reads that row only: the
    work is M*N*K, each of which the arrays bound."""
    from darknet_softmax.gemm import gemm

    A, B, C = np.ones(2, np.float32), np.ones(4, np.float32), np.zeros(2, np.float32)
    gemm(False, False, 1, 2, 2, 1.0, A, huge, B, 2, 0.0, C, huge)
    assert C.tolist() == [2.0, 2.0]
    with pytest.raises(ValueError, match="A holds 2 floats"):
        gemm(False, False, 2, 2, 2, 1.0, A, huge, B, 2, 0.0, C, 2)


@pytest.mark.parametrize("huge", HUGE)
def test_tree_functions_refuse_a_huge_node(huge):
    tree = ds.Tree(["a", "b", "c"], [-1, 0, 0])
    x = np.full(3, 0.5, np.float32)
    with pytest.raises(ValueError, match=rf"c must be a node of the tree \(0 to 2\), not {huge}"):
        ds.get_hierarchy_probability(x, tree, huge)
    with pytest.raises(ValueError, match=f"node 1 \\('b'\\): parent {huge}"):
        ds.Tree(["a", "b"], [-1, huge])
    # The other helpers take no count: the tree's own size bounds them.
    for call in (ds.fill_hierarchy, ds.hierarchy_predictions):
        with pytest.raises(ValueError, match=r"must have shape \(3,\) or \(batch, 3\)"):
            call(np.zeros(4, np.float32), tree)
