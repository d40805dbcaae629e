"""Out of core: the softmax of a float32 .npy file larger than memory, into a
.npy file of probabilities.

    python examples/out_of_core.py make logits.npy 1048576 1000   # 4.2 GB of random logits
    python examples/out_of_core.py softmax logits.npy probs.npy --groups 1 --block-mb 64

Both files are read and written through np.memmap one block of rows at a
time. Mapping a whole file (np.load(..., mmap_mode="r")) would be simpler, but
it takes address space for all of it, which a process under a memory limit
(ulimit -v, prlimit --as) does not have. Here each Dask task maps its own rows,
so memory is bounded by a few blocks per thread, whatever the file's size.
Dask's threaded scheduler runs a block on each core; the C releases the GIL.
The run ends by printing its peak resident memory.
"""

import argparse
import resource

import dask.array as da
import numpy as np
from dask.diagnostics import ProgressBar

import darknet_softmax.dask_arrays as dsd


class NpyRows:
    """A 2-D C-ordered .npy file as an array that Dask can slice and store
    into: each access maps only the rows it touches."""

    def __init__(self, path, mode="r"):
        with open(path, "rb") as file:
            version = np.lib.format.read_magic(file)
            read_header = {
                (1, 0): np.lib.format.read_array_header_1_0,
                (2, 0): np.lib.format.read_array_header_2_0,
            }[version]
            self.shape, fortran_order, self.dtype = read_header(file)
            self.offset = file.tell()
        if fortran_order or len(self.shape) != 2:
            raise ValueError(
                f"{path} must hold a 2-D C-ordered array, not shape {self.shape}"
                f"{' in Fortran order' if fortran_order else ''}"
            )
        self.path, self.mode, self.ndim = path, mode, 2

    @classmethod
    def create(cls, path, shape, dtype=np.float32):
        """A new .npy file of `shape`, sparse until written."""
        header = {
            "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
            "fortran_order": False,
            "shape": tuple(shape),
        }
        with open(path, "wb") as file:
            np.lib.format.write_array_header_1_0(file, header)
            file.truncate(file.tell() + int(np.prod(shape)) * np.dtype(dtype).itemsize)
        return cls(path, mode="r+")

    def _rows(self, rows, mode):
        start, stop, step = rows.indices(self.shape[0])
        if step != 1:
            raise ValueError("only contiguous rows can be mapped")
        if stop <= start:
            return np.empty((0, self.shape[1]), self.dtype)
        row_bytes = self.shape[1] * self.dtype.itemsize
        return np.memmap(
            self.path,
            self.dtype,
            mode,
            offset=self.offset + start * row_bytes,
            shape=(stop - start, self.shape[1]),
        )

    def __getitem__(self, key):
        rows, columns = key
        return self._rows(rows, "r")[:, columns]

    def __setitem__(self, key, value):
        rows, columns = key
        self._rows(rows, self.mode)[:, columns] = value  # unmapped, so written back, on return


def block_rows(inputs, block_mb):
    return max(1, int(block_mb * 2**20) // (4 * inputs))


def softmax_file(source, target, groups=1, temperature=1.0, block_mb=64):
    """Write the softmax of every row of the .npy file `source` to the new
    .npy file `target`, a block of about `block_mb` MiB at a time."""
    logits = NpyRows(source)
    x = da.from_array(
        logits,
        chunks=(block_rows(logits.shape[1], block_mb), -1),
        meta=np.empty((0, 0), logits.dtype),
    )
    probabilities = dsd.softmax(x, groups, temperature)
    da.store(probabilities, NpyRows.create(target, logits.shape), lock=False)


def make_logits(path, rows, inputs, block_mb=64, seed=0):
    """A .npy file of standard normal float32 logits, written a block at a time."""
    chunks = (block_rows(inputs, block_mb), inputs)
    x = da.random.default_rng(seed).standard_normal((rows, inputs), chunks=chunks, dtype=np.float32)
    da.store(x, NpyRows.create(path, (rows, inputs)), lock=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("make", help="write a .npy file of random float32 logits")
    make.add_argument("path")
    make.add_argument("rows", type=int)
    make.add_argument("inputs", type=int)
    run = commands.add_parser("softmax", help="write the softmax of a .npy file to another")
    run.add_argument("source")
    run.add_argument("target")
    run.add_argument("--groups", type=int, default=1)
    run.add_argument("--temperature", type=float, default=1.0)
    for command in (make, run):
        command.add_argument(
            "--block-mb",
            type=float,
            default=64,
            help="the size of a block of rows, in MiB (default 64)",
        )
    args = parser.parse_args(argv)
    with ProgressBar():
        if args.command == "make":
            make_logits(args.path, args.rows, args.inputs, args.block_mb)
        else:
            softmax_file(args.source, args.target, args.groups, args.temperature, args.block_mb)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"peak resident memory: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
