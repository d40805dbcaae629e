"""The compiled library, the checks every wrapper makes before it calls C, and
C status codes turned into exceptions. Nothing is written before the checks pass."""

import functools
import math
import numbers
import pathlib

import numpy as np
from numpy.typing import NDArray


def _no_extension(error):
    """The ImportError for a package folder without its compiled `_lib`: from
    a source checkout (after `pip install .`, Python run in the checkout's
    root imports the source folder, not the installed copy), or a broken install."""
    folder = pathlib.Path(__file__).resolve().parent
    root = folder.parent
    if (root / "pyproject.toml").is_file() or (root / "setup.py").is_file():
        message = (
            f"darknet_softmax is imported from the source folder {root}, which has no "
            "compiled extension: run `pip install -e .` there, or run Python outside the folder"
        )
    else:
        message = (
            f"darknet_softmax in {folder} has no compiled extension (_lib): reinstall it "
            "(pip install --force-reinstall darknet_softmax)"
        )
    return ImportError(message, name=error.name, path=str(folder))


try:
    from ._lib import ffi, lib
except ModuleNotFoundError as error:
    if error.name != f"{__package__}._lib":
        raise
    raise _no_extension(error) from None

# What the public API takes and returns: float32 arrays.
Floats = NDArray[np.float32]

_ERRORS = {
    lib.DS_ERR_ARG: (ValueError, "an argument is out of range"),
    lib.DS_ERR_NOMEM: (MemoryError, "out of memory, or the size overflows"),
    lib.DS_ERR_IO: (OSError, "a file could not be read"),
    lib.DS_ERR_FORMAT: (ValueError, "a file is malformed"),
}


def check_status(status, function):
    """Raise the exception that a C status code stands for."""
    if status != lib.DS_OK:
        error, meaning = _ERRORS.get(status, (RuntimeError, f"unknown status {status}"))
        raise error(f"{function}: {meaning}")


# float32 in the machine's byte order (a dtype equals it only in that order).
_FLOAT32 = np.dtype(np.float32)


def float_array(name, array, writable=False, empty_ok=False):
    """`array` as Darknet takes data: a C-contiguous, non-empty (unless
    `empty_ok`) float32 ndarray. Arrays that are written (`out=`) and the flat
    arrays of Darknet's kernels are held to this; the functional API's inputs
    go through `real_array`."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray of float32, not {type(array).__name__}")
    if array.dtype != _FLOAT32:
        raise TypeError(f"{name} must have dtype float32, not {array.dtype}")
    flags = array.flags
    if not flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use numpy.ascontiguousarray)")
    if not flags.aligned:
        # C reads floats whole; a view at an odd byte offset would be undefined behaviour.
        raise ValueError(f"{name} must be aligned to 4 bytes (copy it with numpy.array)")
    if array.size == 0 and not empty_ok:
        raise ValueError(f"{name} must not be empty")
    if writable and not flags.writeable:
        raise ValueError(f"{name} must be writable")
    return array


def real_array(name: str, array: object) -> Floats:
    """Any array-like of real numbers (a NumPy array of any float or integer
    dtype, strides and byte order, a nested list, ...) as the engine takes
    data: a float32, C-contiguous, aligned ndarray. A float32 array that is
    already one is returned as it is (no copy); anything else is converted
    once, into a new array. Empty arrays are taken."""
    if isinstance(array, np.ndarray) and array.dtype == _FLOAT32:  # native float32
        flags = array.flags
        if flags.c_contiguous and flags.aligned:
            return array
    try:
        values = np.asarray(array)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be an array of real numbers with a rectangular shape "
            f"(not a ragged or mixed {type(array).__name__})"
        ) from None
    if values.dtype.kind not in "fiu":
        raise TypeError(
            f"{name} must hold real numbers (a float or integer dtype), not {values.dtype}"
        )
    return np.array(values, dtype=np.float32, order="C")


def axis_index(axis, ndim, name="x"):
    """`axis` (negative from the end) as an index into `ndim` axes."""
    if not is_integer(axis):
        raise TypeError(f"axis must be an integer, not {type(axis).__name__}")
    if ndim == 0:
        raise ValueError(f"{name} must have at least one axis (it is a scalar)")
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for {name} with {ndim} axes")
    return int(axis) % ndim


def output_array(name, out, like, reads=(), same_ok=True):
    """`out`, checked to take a result shaped like `like` and, as
    `check_distinct` checks a pair, against each (name, array) of `reads`;
    or, when `out` is None, a new array, which shares memory with nothing."""
    if out is None:
        return np.empty_like(like)
    float_array(name, out, writable=True, empty_ok=True)
    check_shape(name, out, like.shape)
    for read in reads:
        check_pair(read, (name, out), same_ok)
    return out


def loss_arrays(pred, truth, delta, error):
    """The truth of a loss over `pred` (checked already), and its delta and
    error outputs, given or new. C reads each value before writing it, so
    delta and error may be pred or truth, but not each other."""
    truth = real_array("truth", truth)
    check_shape("truth", truth, pred.shape)
    delta = output_array("delta", delta, pred)
    error = output_array("error", error, pred)
    check_distinct(("pred", pred), ("truth", truth), ("delta", delta), ("error", error))
    check_distinct(("delta", delta), ("error", error), same_ok=False)
    return truth, delta, error


def check_shape(name, array, shape):
    if array.shape != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, not {array.shape}")


def check_size(name, array, size):
    if array.size != size:
        raise ValueError(f"{name} must hold {size} floats, not {array.size}")


def same_memory(a, b):
    """Whether two arrays are views of exactly the same floats."""
    return a.__array_interface__["data"][0] == b.__array_interface__["data"][0] and a.size == b.size


def check_distinct(*named_arrays, same_ok=True):
    """Pairs may be disjoint or, where `same_ok`, the same memory (in place);
    never partly overlapping."""
    for i, named in enumerate(named_arrays):
        for other in named_arrays[i + 1 :]:
            check_pair(named, other, same_ok)


def check_pair(named_a, named_b, same_ok=True):
    """check_distinct for one pair of (name, array)."""
    a, b = named_a[1], named_b[1]
    if a is None or b is None or not np.may_share_memory(a, b):
        return
    if not same_memory(a, b):
        raise ValueError(f"{named_a[0]} and {named_b[0]} overlap without being the same array")
    if not same_ok:
        raise ValueError(f"{named_a[0]} and {named_b[0]} must be different arrays")


# Darknet's "no label" truth (csrc/tree.h): masked by the tree softmax and the masked cost.
SECRET_NUM = int(lib.SECRET_NUM)

# The largest size C takes; a larger count would not fit in its size_t.
SIZE_MAX = 2 ** (8 * ffi.sizeof("size_t")) - 1


def _is_abc(value, abc):
    """Whether `value` is an instance of the numbers ABC `abc`, bool apart."""
    return not isinstance(value, bool) and isinstance(value, abc)


def is_integer(value):
    """Whether `value` is an integer (a NumPy one too), never a bool."""
    return type(value) is int or _is_abc(value, numbers.Integral)


def count(name, value, minimum=1):
    """An integer argument of at least `minimum` that fits in a C size_t."""
    if not is_integer(value):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    if value > SIZE_MAX:
        raise ValueError(f"{name} must be at most {SIZE_MAX} (C's size_t), not {value}")
    return int(value)


def counts(minimum=1, **values):
    """`count` of each of `values` (name=value), in their order, as a tuple."""
    return tuple(count(name, value, minimum) for name, value in values.items())


def image_shape(name, shape):
    """An image layer's (height, width, channels): three counts."""
    if not isinstance(shape, (tuple, list)) or len(shape) != 3:
        raise TypeError(f"{name} must be a (height, width, channels) tuple, not {shape!r}")
    return tuple(count(f"{name}[{i}]", value) for i, value in enumerate(shape))


def image_input(batch, shape):
    """An image layer's batch (a count) and its input's shape (image_shape)."""
    return count("batch", batch), image_shape("shape", shape)


def number(name, value, minimum=None, finite=True):
    """A real number (never a bool), as a float: finite where `finite`, and at
    least `minimum` where one is given."""
    # int and float first: an ABC's isinstance costs more than the rest of a short call.
    if type(value) is not float and type(value) is not int and not _is_abc(value, numbers.Real):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    value = float(value)
    if (finite and not math.isfinite(value)) or (minimum is not None and not value >= minimum):
        rules = (["finite"] if finite else []) + (
            [f"at least {minimum}"] if minimum is not None else []
        )
        raise ValueError(f"{name} must be {' and '.join(rules)}, not {value!r}")
    return value


def groups_of(inputs, groups):
    """`groups`, a count that divides `inputs` into equal slices."""
    groups = count("groups", groups)
    if inputs % groups:
        raise ValueError(f"inputs ({inputs}) must divide by groups ({groups})")
    return groups


def groups_along(name, axis, length, groups):
    """`groups`, a count that divides axis `axis` (of `length` values) of
    `name` into equal parts."""
    groups = count("groups", groups)
    if length % groups:
        raise ValueError(
            f"{name}'s axis {axis} has {length} values, which must divide by groups ({groups})"
        )
    return groups


# float32(t), rounded to nearest even, is above 0 and finite exactly when t
# lies strictly between these: half the smallest float32 above 0 rounds to 0,
# and FLT_MAX plus half its last step rounds to infinity.
_FLOAT32_ZERO_BELOW = 2.0**-150
_FLOAT32_INFINITE_FROM = 2.0**128 - 2.0**103


def temperature_value(value):
    """A finite temperature above 0 that stays above 0 in float32."""
    if type(value) is not float:  # a plain float is number()'s result already
        value = number("temperature", value, finite=False)
    if not _FLOAT32_ZERO_BELOW < value < _FLOAT32_INFINITE_FROM:
        raise ValueError(f"temperature must be finite and above 0 in float32, not {value!r}")
    return value


def locked(method):
    """Runs `method` holding `self._lock`, so an object shared by threads
    takes one such call at a time (README, "Safety")."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return run


_FLOATS = ffi.typeof("float[]")


def float_ptr(array):
    """A `float *` to the array's memory, valid while `array` lives."""
    return ffi.from_buffer(_FLOATS, array)


def flag(name, value):
    """A switch: True or False (a NumPy bool too), never a number or a string,
    so that a misplaced positional argument cannot pass for one."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, not {type(value).__name__}")
    return bool(value)
