"""Throughput of darknet_softmax.dask_arrays on an array of several GB, beside a copy.

    python benchmarks/bench_dask.py [--gib 4] [--inputs 1000] [--block-mb 64] [--repeat 3]

In memory: darknet_softmax.softmax into a preallocated array, then the same
through Dask's threaded scheduler storing into that array. On a
dask.distributed LocalCluster (loopback, no dashboard): 1 worker process
against 2, one Dask thread each, over an array made and kept on the workers,
the results kept there too. Each is run with C's own thread pool at 1 thread
and at 2 (the kernels share a large call out over it; a call made while the
pool is busy runs on its caller). Every softmax figure stands beside a plain
copy of the same array through the same path, timed in the same run (SPEC
section 6). Each figure is the best of --repeat runs, with the median beside
it. The load average is printed first and last: other work skews the times.
"""

import argparse
import hashlib
import os
import statistics
import time
import uuid

import dask
import dask.array as da
import numpy as np
from distributed import Client, LocalCluster, wait

import darknet_softmax as ds
import darknet_softmax.dask_arrays as dsd


def timed(run, repeat):
    """Best and median seconds of `repeat` calls, after one warm-up call."""
    run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def digest(array):
    """A hash of the array's bytes: keeping a copy of several GB to compare would not fit."""
    return hashlib.blake2b(memoryview(array).cast("B")).hexdigest()


def report(label, nbytes, copy_times, softmax_times):
    (copy_best, copy_median), (best, median) = copy_times, softmax_times
    print(
        f"{label:<36} softmax {best:6.2f} s (median {median:6.2f}) "
        f"{nbytes / best / 1e9:5.2f} GB/s | copy {copy_best:6.2f} s (median {copy_median:6.2f}) "
        f"{nbytes / copy_best / 1e9:5.2f} GB/s | softmax/copy {best / copy_best:4.2f}",
        flush=True,
    )


def in_memory(rows, inputs, block_rows, repeat):
    x = np.random.default_rng(0).standard_normal((rows, inputs), dtype=np.float32)
    out = np.empty_like(x)
    copy = timed(lambda: np.copyto(out, x), repeat)
    for c_threads in (1, 2):
        with ds.runtime.settings(num_threads=c_threads):
            report(
                f"in memory, C threads={c_threads}",
                x.nbytes,
                copy,
                timed(lambda: ds.softmax(x, out=out), repeat),
            )
    expected = digest(out)
    dx = da.from_array(x, chunks=(block_rows, inputs))
    for threads, c_threads in ((1, 1), (2, 1), (2, 2)):

        def store(array, threads=threads):
            return lambda: da.store(
                array, out, lock=False, scheduler="threads", num_workers=threads
            )

        with ds.runtime.settings(num_threads=c_threads):
            report(
                f"dask threads={threads}, C threads={c_threads}",
                x.nbytes,
                timed(store(dx), repeat),
                timed(store(dsd.softmax(dx)), repeat),
            )
        assert digest(out) == expected, "Dask's result differs from the in-memory one"


def distributed(rows, inputs, block_rows, repeat):
    nbytes = rows * inputs * 4
    for workers, c_threads in ((1, 1), (2, 1), (1, 2), (2, 2)):
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                env={"DARKNET_SOFTMAX_NUM_THREADS": str(c_threads)},
            ) as cluster,
            Client(cluster) as client,
        ):
            x = (
                da.random.default_rng(0)
                .standard_normal((rows, inputs), dtype=np.float32, chunks=(block_rows, inputs))
                .persist()
            )
            wait(x)

            def kept(function, x=x):
                # Fresh keys every run (the scheduler would find the last run's result
                # still in memory); the result is freed on return.
                return lambda: wait(
                    client.persist(
                        function(x.map_blocks(np.asarray, name=f"fresh-{uuid.uuid4().hex}"))
                    )
                )

            report(
                f"distributed workers={workers}, C threads={c_threads}",
                nbytes,
                timed(kept(lambda x: x.map_blocks(np.copy)), repeat),
                timed(kept(dsd.softmax), repeat),
            )
            del x


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gib", type=float, default=4, help="size of the array (default 4 GiB)")
    parser.add_argument("--inputs", type=int, default=1000, help="softmax width (default 1000)")
    parser.add_argument("--block-mb", type=float, default=64, help="Dask block size in MiB")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = int(args.gib * 2**30) // (4 * args.inputs)
    block_rows = max(1, int(args.block_mb * 2**20) // (4 * args.inputs))
    print(
        f"{rows} x {args.inputs} float32 ({rows * args.inputs * 4 / 1e9:.2f} GB), blocks of "
        f"{block_rows} rows; dask {dask.__version__}; {os.cpu_count()} cores; "
        f"load average {os.getloadavg()}",
        flush=True,
    )
    in_memory(rows, args.inputs, block_rows, args.repeat)
    distributed(rows, args.inputs, block_rows, args.repeat)
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
