"""darknet_softmax.dask against the in-memory kernels: every scheduler gives
the in-memory result bit for bit, and bad input gets the in-memory errors."""

import dask
import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster

import darknet_softmax as ds
import darknet_softmax.dask_arrays as dsd
from conftest import load_example, logits, one_hot

# Each row-wise function over Dask beside its in-memory kernel.
PER_ROW = [(dsd.softmax, ds.softmax), (dsd.log_softmax, ds.log_softmax)]
UNEVEN = ((3, 1, 5, 2), (12,))
SPLIT_ROWS = ((4, 7), (5, 1, 6))  # the inputs axis split, unevenly


@pytest.fixture(scope="module")
def client():
    # One small cluster for the whole module: 2 worker processes on loopback.
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


# The distributed scheduler starts a local cluster of two processes: slow.
@pytest.fixture(params=["sync", "threads", pytest.param("distributed", marks=pytest.mark.slow)])
def compute(request):
    """dask.compute on one scheduler."""
    if request.param != "distributed":
        return lambda *arrays: dask.compute(*arrays, scheduler=request.param)
    client = request.getfixturevalue("client")
    assert len(client.scheduler_info()["workers"]) == 2
    return lambda *arrays: client.gather(client.compute(list(arrays)))


@pytest.mark.parametrize("on_dask, in_memory", PER_ROW)
@pytest.mark.parametrize("chunks", [UNEVEN, SPLIT_ROWS, ((11,), (12,))])
def test_per_row_equals_in_memory(rng, compute, on_dask, in_memory, chunks):
    x = logits(rng, (11, 12))
    options = [(1, 1.0), (3, 0.5), (12, 2.0), (4, 1e-3)]  # (groups, temperature)
    dx = da.from_array(x, chunks=chunks)
    results = compute(*(on_dask(dx, groups, temperature) for groups, temperature in options))
    for result, (groups, temperature) in zip(results, options):
        assert np.array_equal(result, in_memory(x, groups, temperature)), (groups, temperature)


@pytest.mark.parametrize("on_dask, in_memory", PER_ROW)
def test_blocks_that_cross_the_kernels_size_thresholds(rng, compute, on_dask, in_memory):
    # The whole array (203,000 floats) is shared over C's thread pool and its
    # rows go eight at a time; blocks of 1, 7 and 50 rows go differently.
    x = logits(rng, (203, 1000))
    options = [1, 125, 200, 1000]  # groups of 1000, 8, 5 and 1
    dx = da.from_array(x, chunks=((1, 7, 50, 145), (600, 400)))
    results = compute(*(on_dask(dx, groups) for groups in options))
    for result, groups in zip(results, options):
        assert np.array_equal(result, in_memory(x, groups)), groups


def test_loss_equals_in_memory(rng, compute):
    pred = ds.softmax(logits(rng, (11, 12)))
    truth = one_hot(rng.integers(0, 12, 11), 12)
    # Different chunks for pred and truth, with the inputs axis split.
    delta, error = compute(
        *dsd.softmax_x_ent(
            da.from_array(pred, chunks=SPLIT_ROWS), da.from_array(truth, chunks=UNEVEN)
        )
    )
    expected_delta, expected_error = ds.softmax_x_ent(pred, truth)
    assert np.array_equal(delta, expected_delta)
    assert np.array_equal(error, expected_error)


@pytest.mark.parametrize("on_dask", [dsd.softmax, dsd.log_softmax])
def test_split_inputs_are_rechunked_whole_keeping_batch_chunks(rng, on_dask):
    x = da.from_array(logits(rng, (11, 12)), chunks=SPLIT_ROWS)
    assert on_dask(x, groups=4).chunks == ((4, 7), (12,))


@pytest.mark.parametrize("on_dask, in_memory", PER_ROW)
def test_one_dimensional_input_is_one_row_as_in_memory(rng, on_dask, in_memory):
    x = logits(rng, 12)
    result = on_dask(da.from_array(x, chunks=5), groups=2).compute()
    assert np.array_equal(result, in_memory(x, groups=2))


def test_unknown_batch_chunks(rng):
    x = logits(rng, (11, 12))
    keep = x[:, 0] > 0
    dx = da.from_array(x, chunks=SPLIT_ROWS)
    result = dsd.softmax(dx[da.from_array(keep, chunks=4)], groups=3).compute()
    assert np.array_equal(result, ds.softmax(x[keep], groups=3))


def test_empty_and_single_row(rng, compute):
    empty = da.zeros((0, 12), dtype=np.float32, chunks=(5, 4))
    row = logits(rng, (1, 12))
    results = compute(
        dsd.softmax(empty, groups=3),
        dsd.log_softmax(empty, groups=3),
        *dsd.softmax_x_ent(empty, empty),
    )
    assert [(r.shape, r.dtype) for r in results] == [((0, 12), np.float32)] * 4
    dask_row = da.from_array(row, chunks=(1, 5))
    probs, log_probs = compute(dsd.softmax(dask_row, 3), dsd.log_softmax(dask_row, 3))
    assert np.array_equal(probs, ds.softmax(row, groups=3))
    assert np.array_equal(log_probs, ds.log_softmax(row, groups=3))


def test_the_loss_runs_once_per_block_for_both_results(rng, monkeypatch):
    calls = []
    kernel = ds.softmax_x_ent
    monkeypatch.setattr(ds.kernels, "softmax_x_ent", lambda *args: calls.append(1) or kernel(*args))
    pred = da.from_array(ds.softmax(logits(rng, (8, 6))), chunks=(3, 6))
    dask.compute(*dsd.softmax_x_ent(pred, pred), scheduler="sync")
    assert len(calls) == 3


def message(call):
    with pytest.raises((TypeError, ValueError)) as raised:
        call()
    return raised.type, str(raised.value)


@pytest.mark.parametrize(
    "x, groups, temperature",
    [
        (np.zeros((4, 6), complex), 1, 1.0),  # not real
        (np.zeros((2, 3, 4), np.float32), 5, 1.0),  # 3-D, inputs do not divide by groups
        (np.zeros((4, 6), np.float32), 4, 1.0),  # inputs do not divide by groups
        (np.zeros((4, 6), np.float32), 0, 1.0),
        (np.zeros((4, 6), np.float32), 2.0, 1.0),
        (np.zeros((4, 6), np.float32), 1, 0.0),
        (np.zeros((4, 6), np.float32), 1, "hot"),
    ],
)
@pytest.mark.parametrize("on_dask, in_memory", PER_ROW)
def test_per_row_gets_the_in_memory_errors(x, groups, temperature, on_dask, in_memory):
    expected = message(lambda: in_memory(x, groups, temperature))
    assert message(lambda: on_dask(da.from_array(x, chunks=2), groups, temperature)) == expected


@pytest.mark.parametrize(
    "pred, truth",
    [
        (np.zeros((4, 6), complex), np.zeros((4, 6), np.float32)),
        (np.zeros((4, 6), np.float32), np.zeros((4, 6), complex)),
        (np.zeros((4, 6), np.float32), np.zeros((4, 5), np.float32)),
    ],
)
def test_loss_gets_the_in_memory_errors(pred, truth):
    expected = message(lambda: ds.softmax_x_ent(pred, truth))
    dask_arrays = da.from_array(pred, chunks=2), da.from_array(truth, chunks=2)
    assert message(lambda: dsd.softmax_x_ent(*dask_arrays)) == expected


def test_numpy_input_is_refused_with_a_hint():
    with pytest.raises(TypeError, match=r"x must be a dask\.array\.Array .*from_array"):
        dsd.softmax(np.zeros((2, 3), np.float32))


@pytest.mark.parametrize("on_dask", [dsd.softmax, dsd.log_softmax])
def test_unknown_number_of_inputs_is_refused(rng, on_dask):
    x = da.from_array(logits(rng, (4, 6)), chunks=2)
    columns = x[:, da.from_array(np.array([True, False] * 3), chunks=2)]
    with pytest.raises(ValueError, match="unknown number of inputs.*compute_chunk_sizes"):
        on_dask(columns)


def test_out_of_core_example_writes_the_in_memory_softmax(rng, tmp_path):
    example = load_example("out_of_core")
    x = logits(rng, (103, 12))
    np.save(tmp_path / "logits.npy", x)
    # 10 rows a block: uneven, the last block has 3.
    example.softmax_file(
        tmp_path / "logits.npy",
        tmp_path / "probs.npy",
        groups=3,
        temperature=0.5,
        block_mb=10 * 12 * 4 / 2**20,
    )
    assert np.array_equal(np.load(tmp_path / "probs.npy"), ds.softmax(x, 3, 0.5))


class Sliceable:
    def __init__(self, array):
        self.array, self.shape, self.dtype, self.ndim = array, array.shape, array.dtype, array.ndim

    def __getitem__(self, key):
        return self.array[key]


def test_the_kernels_get_aligned_contiguous_blocks(rng, monkeypatch):
    # Distributed can hand a worker a block deserialized at any byte offset;
    # a misaligned float is undefined behaviour in C.
    seen = []

    def spy(kernel):
        def call(*arrays):
            seen.extend(
                a.flags.aligned and a.flags.c_contiguous
                for a in arrays
                if isinstance(a, np.ndarray)
            )
            return kernel(*arrays)

        return call

    monkeypatch.setattr(ds.kernels, "softmax", spy(ds.softmax))
    monkeypatch.setattr(ds.kernels, "softmax_x_ent", spy(ds.softmax_x_ent))
    x = logits(rng, (6, 5))
    misaligned = np.frombuffer(b"\0" + x.tobytes(), np.float32, x.size, offset=1).reshape(x.shape)
    assert not misaligned.flags.aligned
    # Dask copies slices of an ndarray; an object that only slices keeps them misaligned.
    dx = da.from_array(Sliceable(misaligned), chunks=(4, 5), meta=np.empty((0, 0), np.float32))
    probs, (delta, error) = dask.compute(
        dsd.softmax(dx, 5), dsd.softmax_x_ent(dx, dx), scheduler="sync"
    )
    assert seen and all(seen)
    assert np.array_equal(probs, ds.softmax(x, 5))
    assert np.array_equal(error, ds.softmax_x_ent(x, x)[1], equal_nan=True)
