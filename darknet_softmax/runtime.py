"""How the kernels run (csrc/runtime.h): Darknet's scalar loop or the vector
kernels, the instruction set of the vector kernels, and the thread count.

The settings are process-wide; set them before starting work on other threads.
Every C call releases the GIL, so Python threads run while a kernel does."""

import contextlib
import os
import warnings
from collections.abc import Iterator
from typing import Optional

from .binding import (
    Floats,
    check_status,
    count,
    float_array,
    float_ptr,
    lib,
    output_array,
)

KERNELS = {"scalar": lib.DS_KERNEL_SCALAR, "vector": lib.DS_KERNEL_VECTOR}
INSTRUCTION_SETS = {
    "portable": lib.DS_ISA_PORTABLE,
    "avx2": lib.DS_ISA_AVX2,
    "avx512": lib.DS_ISA_AVX512,
}
MAX_THREADS = lib.DS_MAX_THREADS
ENVIRONMENT_VARIABLE = "DARKNET_SOFTMAX_NUM_THREADS"


def _name_of(table, value):
    return next(name for name, code in table.items() if code == value)


def set_kernel(kernel: str) -> None:
    """Choose how the kernels run, process-wide.

    Parameters
    ----------
    kernel : {"vector", "scalar"}
        "vector" (the default): vector kernels, threaded above a size
        threshold; "scalar": Darknet's loops, one thread.

    Raises
    ------
    ValueError
        If `kernel` is neither.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {sorted(KERNELS)}, not {kernel!r}")
    check_status(lib.ds_set_kernel(KERNELS[kernel]), "set_kernel")


def get_kernel() -> str:
    """The kernel the functions run: "vector" or "scalar" (see `set_kernel`).

    Returns
    -------
    str
        The kernel's name.
    """
    return _name_of(KERNELS, lib.ds_get_kernel())


def instruction_sets() -> tuple[str, ...]:
    """The instruction sets this build and CPU can run, slowest first.

    Returns
    -------
    tuple of str
        Some of "portable", "avx2" and "avx512".
    """
    return tuple(name for name, code in INSTRUCTION_SETS.items() if lib.ds_isa_available(code))


def set_instruction_set(name: str) -> None:
    """Run the vector kernels with `name`; the fastest one is chosen at start.

    Parameters
    ----------
    name : str
        One of `instruction_sets()`.

    Raises
    ------
    ValueError
        If this build or CPU cannot run `name`.
    """
    if name not in instruction_sets():
        raise ValueError(
            f"instruction set must be one of {instruction_sets()} on this CPU, not {name!r}"
        )
    check_status(lib.ds_set_isa(INSTRUCTION_SETS[name]), "set_instruction_set")


def get_instruction_set() -> str:
    """The instruction set the vector kernels run with.

    Returns
    -------
    str
        One of `instruction_sets()`.
    """
    return _name_of(INSTRUCTION_SETS, lib.ds_get_isa())


def set_num_threads(n: int) -> None:
    """Threads for the vector kernels, the calling thread included (1 to
    MAX_THREADS). The default is DARKNET_SOFTMAX_NUM_THREADS, else the CPUs
    this process may use.

    Parameters
    ----------
    n : int
        The thread count, from 1 to MAX_THREADS.

    Raises
    ------
    TypeError
        If `n` is not an integer.
    ValueError
        If `n` is below 1 or above MAX_THREADS.
    """
    n = count("n", n)
    if n > MAX_THREADS:
        raise ValueError(f"n must be at most {MAX_THREADS}, not {n}")
    check_status(lib.ds_set_num_threads(n), "set_num_threads")


def get_num_threads() -> int:
    """The threads the vector kernels use, the calling thread included.

    Returns
    -------
    int
        From 1 to MAX_THREADS.
    """
    return int(lib.ds_get_num_threads())


@contextlib.contextmanager
def settings(
    kernel: Optional[str] = None,
    instruction_set: Optional[str] = None,
    num_threads: Optional[int] = None,
) -> Iterator[None]:
    """Run a block with some settings, then restore the previous ones."""
    saved = get_kernel(), get_instruction_set(), get_num_threads()
    try:
        if kernel is not None:
            set_kernel(kernel)
        if instruction_set is not None:
            set_instruction_set(instruction_set)
        if num_threads is not None:
            set_num_threads(num_threads)
        yield
    finally:
        set_kernel(saved[0])
        set_instruction_set(saved[1])
        set_num_threads(saved[2])


def copy(x: Floats, out: Optional[Floats] = None) -> Floats:
    """out[...] = x, split over the threads as the kernels split their work:
    the memory floor that the benchmarks hold the kernels to."""
    x = float_array("x", x)
    out = output_array("out", out, x, reads=[("x", x)], same_ok=False)
    lib.ds_copy(float_ptr(x), x.size, float_ptr(out))
    return out


def _check_environment():
    """C reads the variable itself and ignores a bad value; say so here."""
    value = os.environ.get(ENVIRONMENT_VARIABLE)
    if value is None or value.strip() == "":
        return
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_THREADS):
        warnings.warn(
            f"{ENVIRONMENT_VARIABLE}={value!r} is not a whole number from 1 to "
            f"{MAX_THREADS}; using {get_num_threads()} threads",
            RuntimeWarning,
            stacklevel=3,
        )


_check_environment()
