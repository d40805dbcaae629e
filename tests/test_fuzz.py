"""Fuzzing with hypothesis: every input ends in a valid result or a clean
TypeError/ValueError (MemoryError where C allocates), never a crash or a hang,
and a call that raises writes nothing.

Arrays sit between guard values inside a larger buffer, so a write out of
bounds shows even without a sanitizer. CI runs a few hundred inputs per test;
`tools/fuzz.sh` runs thousands (FUZZ_EXAMPLES sets the count)."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

import darknet_softmax as ds
from darknet_softmax import reference
from conftest import assert_close

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
fuzz = settings(max_examples=EXAMPLES, deadline=None, derandomize="FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
GUARD = np.float32(-7777.0)
CLEAN = (TypeError, ValueError)

# Counts: mostly small, sometimes at the edges of C's int, unsigned and size_t,
# sometimes not an integer at all.
HUGE = [2**31 - 1, 2**31, 2**32, 2**32 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**65, -2**63]
wild_counts = st.one_of(st.integers(-2, 64), st.sampled_from(HUGE),
                        st.sampled_from([1.0, 2.5, "3", None, True, np.int64(3), np.uint8(2)]))


def counts(low=0, high=8):
    """Mostly a plausible count, so that many calls get through the checks."""
    return mostly(st.integers(low, high), wild_counts)


def mostly(plausible, wild):
    """`plausible` four times in five, else `wild` (one_of does not weight)."""
    return st.sampled_from([True] * 4 + [False]).flatmap(lambda sane: plausible if sane else wild)

temperatures = mostly(st.floats(1e-3, 100), st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1.0, 0.5, 1e-3, 1e-45, 1e-46, 3.5e38, 1e39, 0, -1, "1", None,
                     np.float32(2), np.float64(0.25)])))
values = st.sampled_from([0.0, 1.0, -1.0, 3.5, -30.0, 1e30, -1e30, 3.4e38, -3.4e38,
                          np.inf, -np.inf, np.nan])


class Guarded:
    """A float32 array of `size` values inside a buffer with guards either side
    (or a float64, int32 or non-contiguous array when the fuzzer asks)."""

    def __init__(self, data, size, fill, kind="float32", writable=True):
        self.buffer = np.full(size + 32, GUARD, np.float32)
        self.buffer[16:16 + size] = fill
        self.array = self.buffer[16:16 + size]
        if kind == "float64":
            self.array = self.array.astype(np.float64)
        elif kind == "int32":
            with np.errstate(invalid="ignore"):
                self.array = self.array.astype(np.int32)
        elif kind == "strided":
            self.array = self.buffer[16:16 + size * 2:2] if size * 2 <= size + 16 else self.array[::2]
        self.array.flags.writeable = writable
        self.before = self.buffer.copy()
        self.array_before = self.array.copy()

    def assert_guards(self):
        np.testing.assert_array_equal(self.buffer[:16], self.before[:16])
        np.testing.assert_array_equal(self.buffer[-16:], self.before[-16:])

    def assert_unchanged(self):
        np.testing.assert_array_equal(self.buffer, self.before)
        np.testing.assert_array_equal(self.array, self.array_before)


@st.composite
def guarded(draw, max_size=48, size=None):
    if size is None:
        size = draw(st.integers(1, max_size))
    fill = draw(st.lists(values | st.floats(-50, 50, width=32), min_size=size, max_size=size))
    kind = draw(st.sampled_from(["float32"] * 20 + ["float64", "int32", "strided"]))
    writable = draw(st.sampled_from([True] * 12 + [False]))
    return Guarded(draw, size, fill, kind, writable)


def sequential_softmax_cpu(input, n, batch, batch_offset, groups, group_offset, stride, temp,
                           output, in_place):
    """Darknet's order: group after group, each reading what earlier groups wrote
    when input is output."""
    work = np.array(output, np.float64)
    source = work if in_place else np.asarray(input, np.float64)
    for b in range(batch):
        for g in range(groups):
            index = b * batch_offset + g * group_offset + stride * np.arange(n)
            with np.errstate(all="ignore"):
                work[index] = reference.softmax_group(source[index], temp)
    return work


@fuzz
@given(data=st.data(), in_place=st.booleans(),
       args=mostly(st.tuples(st.integers(1, 6), st.integers(1, 4), st.integers(0, 12),
                             st.integers(1, 4), st.integers(0, 8), st.integers(1, 3)),
                   st.tuples(counts(1, 6), counts(1, 4), counts(0, 12), counts(1, 4),
                             counts(0, 8), counts(1, 3))),
       temperature=temperatures)
def test_fuzz_softmax_cpu(data, in_place, args, temperature):
    n, batch, batch_offset, groups, group_offset, stride = args
    # Arrays near the size these arguments need, so both sides of the check are hit.
    need = 8
    if all(type(arg) is int for arg in args):
        need = (batch - 1) * batch_offset + (groups - 1) * group_offset + (n - 1) * stride + 1
    need = min(max(need, 1), 200)
    input = data.draw(guarded(size=max(1, need + data.draw(st.integers(-2, 3)))))
    output = data.draw(guarded(size=max(1, need + data.draw(st.integers(-2, 3)))))
    target = input if in_place else output
    before = np.array(target.array, np.float64)
    try:
        with np.errstate(all="ignore"):
            result = ds.softmax_cpu(input.array, n, batch, batch_offset, groups, group_offset,
                                    stride, temperature, target.array)
    except CLEAN as error:
        event(f"softmax_cpu raised {type(error).__name__}: {str(error)[:30]}")
        input.assert_unchanged()
        target.assert_unchanged()
        return
    event("softmax_cpu gave a result")
    assert result is target.array
    input.assert_guards()
    target.assert_guards()
    expected = sequential_softmax_cpu(input.array_before, n, batch, batch_offset, groups,
                                      group_offset, stride, np.float32(temperature), before,
                                      in_place)
    assert_close(target.array, expected, atol=2e-6, rtol=2e-5, kind="fuzzed softmax_cpu")


@fuzz
@given(x=guarded(), y=guarded(),
       alpha=mostly(values, st.sampled_from(["2", None, 1j, np.float32(2)])),
       incx=counts(1, 3), incy=counts(1, 3), n=st.one_of(st.none(), counts(1, 20)))
def test_fuzz_axpy(x, y, alpha, incx, incy, n):
    try:
        with np.errstate(all="ignore"):
            ds.axpy(alpha, x.array, y.array, incx, incy, n)
    except CLEAN as error:
        event(f"axpy raised {type(error).__name__}: {str(error)[:30]}")
        x.assert_unchanged()
        y.assert_unchanged()
        return
    event("axpy gave a result")
    x.assert_unchanged()
    y.assert_guards()
    steps = -(-x.array.size // incx) if n is None else n
    with np.errstate(all="ignore"):
        expected = reference.axpy(np.float32(alpha), x.array_before, y.array_before, incx, incy,
                                  steps).astype(np.float32)    # float32 overflows to inf
    assert_close(y.array, expected, kind="fuzzed axpy")


@fuzz
@given(data=st.data(), x=guarded(), out=st.sampled_from(["none", "new", "same", "overlap", "other"]),
       shape=st.sampled_from([None, (1, -1), (-1, 1), (2, -1), (1, 1, -1)]),
       groups=counts(1, 6), temperature=temperatures)
def test_fuzz_softmax(data, x, out, shape, groups, temperature):
    out_array = data.draw(guarded(size=x.array.size) if data.draw(st.booleans()) else guarded())
    array = x.array
    if shape is not None:
        try:
            array = array.reshape(shape)
        except ValueError:
            pass
    target = {"none": None, "same": array, "other": out_array.array,
              "new": np.full(array.shape, GUARD, np.float32),
              "overlap": x.buffer[15:15 + array.size].reshape(array.shape)}[out]
    if out == "overlap" and array.size == 1:   # one value before x does not overlap it
        target = array
    try:
        with np.errstate(all="ignore"):
            result = ds.softmax(array, groups, temperature, out=target)
    except CLEAN as error:
        event(f"softmax raised {type(error).__name__}")
        x.assert_unchanged()
        out_array.assert_unchanged()
        return
    event("softmax gave a result")
    x.assert_guards()
    out_array.assert_guards()
    with np.errstate(all="ignore"):
        expected = reference.softmax(x.array_before.reshape(-1, array.shape[-1]), groups,
                                     np.float32(temperature))
    assert_close(result.reshape(expected.shape), expected, atol=2e-6, rtol=2e-5,
                 kind="fuzzed softmax")


@fuzz
@given(data=st.data(), size=st.integers(1, 12),
       alias=st.sampled_from([None, None, None, "delta=error", "delta=pred", "error=truth", "new"]))
def test_fuzz_softmax_x_ent(data, size, alias):
    def sized():   # mostly pred's size, sometimes another
        return guarded(size=size) if data.draw(st.integers(0, 5)) else guarded(12)
    pred, truth, delta, error = (data.draw(sized()) for _ in range(4))
    d, e = delta.array, error.array
    if alias == "delta=error":
        e = d
    elif alias == "delta=pred":
        d = pred.array
    elif alias == "error=truth":
        e = truth.array
    elif alias == "new":
        d = e = None
    try:
        with np.errstate(all="ignore"):
            got_delta, got_error = ds.softmax_x_ent(pred.array, truth.array, d, e)
    except CLEAN as exception:
        event(f"softmax_x_ent raised {type(exception).__name__}")
        for guarded_array in (pred, truth, delta, error):
            guarded_array.assert_unchanged()
        return
    event("softmax_x_ent gave a result")
    for guarded_array in (pred, truth, delta, error):
        guarded_array.assert_guards()
    with np.errstate(all="ignore"):
        want_delta, want_error = reference.softmax_x_ent(pred.array_before, truth.array_before)
    with np.errstate(over="ignore"):    # float32 overflows to inf, as the C does
        want_delta, want_error = want_delta.astype(np.float32), want_error.astype(np.float32)
    assert_close(got_delta, want_delta, kind="fuzzed delta")
    assert_close(got_error, want_error, kind="fuzzed loss")


@st.composite
def tree_parents(draw, max_groups=8):
    """Parents of a valid tree (groups of siblings, each naming an earlier node
    that has no group yet), then sometimes one or two values broken."""
    parents = [-1] * draw(st.integers(1, 4))
    for _ in range(draw(st.integers(0, max_groups))):
        free = sorted(set(range(len(parents))) - set(parents))
        if not free:
            break
        parents += [draw(st.sampled_from(free))] * draw(st.integers(1, 5))
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        at = draw(st.integers(0, len(parents) - 1))
        parents[at] = draw(st.one_of(st.integers(-3, len(parents) + 2),
                                     st.sampled_from([2**31, -2**31 - 1, 2**63])))
    return parents


@fuzz
@given(parents=st.one_of(tree_parents(), st.lists(st.integers(-3, 12), max_size=14)),
       names=st.one_of(st.none(), st.none(), st.lists(st.text(max_size=8), max_size=14)))
def test_fuzz_tree_from_parents(parents, names):
    names = [str(i) for i in range(len(parents))] if names is None else names
    try:
        tree = ds.Tree(names, parents)
    except CLEAN as error:
        event(f"Tree raised {type(error).__name__}")
        return
    event("Tree gave a tree")
    check_tree_invariants(tree, parents)


def check_tree_invariants(tree, parents=None):
    """What a valid tree promises: groups are runs of equal parents laid end to
    end, and parent, child, group and leaf agree with each other."""
    n = tree.n
    if parents is not None:
        assert tree.parent.tolist() == list(parents)
    assert tree.group_size.sum() == n and (tree.group_size >= 1).all()
    assert tree.group_offset.tolist() == np.concatenate([[0], np.cumsum(tree.group_size)[:-1]]).tolist()
    for g, (offset, size) in enumerate(zip(tree.group_offset, tree.group_size)):
        members = range(offset, offset + size)
        assert all(tree.group[i] == g for i in members)
        assert len({tree.parent[i] for i in members}) == 1
        parent = tree.parent[offset]
        assert parent == -1 or (0 <= parent < offset and tree.child[parent] == g)
    for i in range(n):
        assert tree.leaf[i] == (tree.child[i] == -1)
        assert tree.leaf[i] == int(i not in set(tree.parent.tolist()))
