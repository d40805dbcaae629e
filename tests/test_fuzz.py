"""Fuzzing with hypothesis: every input ends in a valid result or a clean
TypeError/ValueError (MemoryError where C allocates), never a crash or a hang,
and a call that raises writes nothing.

Arrays sit between guard values inside a larger buffer, so a write out of
bounds shows even without a sanitizer. CI runs a few hundred inputs per test;
`tools/fuzz.sh` runs thousands (FUZZ_EXAMPLES sets the count)."""

import os
import re
import struct
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import darknet_softmax as ds
from conftest import assert_close, checked_call, tree_parents
from darknet_softmax import reference
from darknet_softmax.cfg import options_of
from darknet_softmax.layers import SECTIONS

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def fuzz(test):
    """A fuzzer: the settings above, and marked slow (1 to 4 s each)."""
    return pytest.mark.slow(FUZZ_SETTINGS(test))


GUARD = np.float32(-7777.0)
CLEAN = (TypeError, ValueError)
REFUSED = object()

# Counts: mostly small, sometimes at the edges of C's int, unsigned and size_t,
# sometimes not an integer at all.
HUGE = [2**31 - 1, 2**31, 2**32, 2**32 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**65, -(2**63)]
wild_counts = st.one_of(
    st.integers(-2, 64),
    st.sampled_from(HUGE),
    st.sampled_from([1.0, 2.5, "3", None, True, np.int64(3), np.uint8(2)]),
)


def counts(low=0, high=8):
    """Mostly a plausible count, so that many calls get through the checks."""
    return mostly(st.integers(low, high), wild_counts)


def mostly(plausible, wild):
    """`plausible` four times in five, else `wild` (one_of does not weight)."""
    return st.sampled_from([True] * 4 + [False]).flatmap(lambda sane: plausible if sane else wild)


temperatures = mostly(
    st.floats(1e-3, 100),
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(
            [
                1.0,
                0.5,
                1e-3,
                1e-45,
                1e-46,
                3.5e38,
                1e39,
                0,
                -1,
                "1",
                None,
                np.float32(2),
                np.float64(0.25),
            ]
        ),
    ),
)
values = st.sampled_from(
    [0.0, 1.0, -1.0, 3.5, -30.0, 1e30, -1e30, 3.4e38, -3.4e38, np.inf, -np.inf, np.nan]
)


class Guarded:
    """A float32 array of `size` values inside a buffer with guards either side
    (or a float64, int32 or non-contiguous array when the fuzzer asks)."""

    def __init__(self, data, size, fill, kind="float32", writable=True):
        self.buffer = np.full(size + 32, GUARD, np.float32)
        self.buffer[16 : 16 + size] = fill
        self.array = self.buffer[16 : 16 + size]
        if kind == "float64":
            self.array = self.array.astype(np.float64)
        elif kind == "int32":
            with np.errstate(invalid="ignore"):
                self.array = self.array.astype(np.int32)
        elif kind == "strided":
            self.array = (
                self.buffer[16 : 16 + size * 2 : 2] if size * 2 <= size + 16 else self.array[::2]
            )
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


def fuzz_call(function, *args, **kwargs):
    """checked_call with NumPy's warnings off: the result, or REFUSED where the
    call raised a clean error (and so wrote nothing); an event either way."""
    try:
        with np.errstate(all="ignore"):
            result = checked_call(function, *args, **kwargs)
    except CLEAN as error:
        event(f"{function.__name__} raised {type(error).__name__}: {str(error)[:30]}")
        return REFUSED
    event(f"{function.__name__} gave a result")
    return result


def sequential_softmax_cpu(
    input, n, batch, batch_offset, groups, group_offset, stride, temp, output, in_place
):
    """Darknet's order: group after group, each reading what earlier groups wrote
    when input is output."""
    work = np.array(output, np.float64)
    source = work if in_place else np.asarray(input, np.float64)
    # Python ints: a call the C took may have a stride past int64 (n = 1).
    batch, batch_offset, groups, group_offset, stride, n = map(
        int, (batch, batch_offset, groups, group_offset, stride, n)
    )
    for b in range(batch):
        for g in range(groups):
            index = [b * batch_offset + g * group_offset + stride * i for i in range(n)]
            with np.errstate(all="ignore"):
                work[index] = reference.softmax_group(source[index], temp)
    return work


@fuzz
@given(
    data=st.data(),
    in_place=st.booleans(),
    args=mostly(
        st.tuples(
            st.integers(1, 6),
            st.integers(1, 4),
            st.integers(0, 12),
            st.integers(1, 4),
            st.integers(0, 8),
            st.integers(1, 3),
        ),
        st.tuples(
            counts(1, 6), counts(1, 4), counts(0, 12), counts(1, 4), counts(0, 8), counts(1, 3)
        ),
    ),
    temperature=temperatures,
)
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
    result = fuzz_call(ds.softmax_cpu, input.array, *args, temperature, target.array)
    if result is REFUSED:
        return
    assert result is target.array
    input.assert_guards()
    target.assert_guards()
    expected = sequential_softmax_cpu(
        input.array_before, *args, np.float32(temperature), before, in_place
    )
    assert_close(target.array, expected, atol=2e-6, rtol=2e-5, kind="fuzzed softmax_cpu")


@fuzz
@given(
    x=guarded(),
    y=guarded(),
    alpha=mostly(values, st.sampled_from(["2", None, 1j, np.float32(2)])),
    incx=counts(1, 3),
    incy=counts(1, 3),
    n=st.one_of(st.none(), counts(1, 20)),
)
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
    # The wild counts include NumPy integers (uint8 too): as Python ints, the
    # arithmetic below cannot wrap.
    incx, incy = int(incx), int(incy)
    steps = -(-x.array.size // incx) if n is None else int(n)
    with np.errstate(all="ignore"):
        expected = reference.axpy(
            np.float32(alpha), x.array_before, y.array_before, incx, incy, steps
        ).astype(np.float32)  # float32 overflows to inf
    assert_close(y.array, expected, kind="fuzzed axpy")


@fuzz
@given(
    data=st.data(),
    x=guarded(),
    out=st.sampled_from(["none", "new", "same", "overlap", "other"]),
    shape=st.sampled_from([None, (1, -1), (-1, 1), (2, -1), (1, 1, -1)]),
    groups=counts(1, 6),
    temperature=temperatures,
)
def test_fuzz_softmax(data, x, out, shape, groups, temperature):
    out_array = data.draw(guarded(size=x.array.size) if data.draw(st.booleans()) else guarded())
    array = x.array
    if shape is not None:
        try:
            array = array.reshape(shape)
        except ValueError:
            pass
    target = {
        "none": None,
        "same": array,
        "other": out_array.array,
        "new": np.full(array.shape, GUARD, np.float32),
        "overlap": x.buffer[15 : 15 + array.size].reshape(array.shape),
    }[out]
    if out == "overlap" and array.size == 1:  # one value before x does not overlap it
        target = array
    result = fuzz_call(ds.softmax, array, groups, temperature, out=target)
    if result is REFUSED:
        return
    converted = x.array.dtype != np.float32 or not x.array.flags.c_contiguous
    if out == "overlap" and target is not array and converted:
        # The softmax read a copy of x, so the write to the buffer, the
        # guard before x included, is the one asked for (an out that partly
        # overlaps an x read where it lies is refused, above).
        np.testing.assert_array_equal(x.buffer[:15], x.before[:15])
        np.testing.assert_array_equal(x.buffer[-16:], x.before[-16:])
    else:
        x.assert_guards()
    out_array.assert_guards()
    with np.errstate(all="ignore"):
        expected = reference.softmax(
            x.array_before.reshape(-1, array.shape[-1]), groups, np.float32(temperature)
        )
    assert_close(
        result.reshape(expected.shape), expected, atol=2e-6, rtol=2e-5, kind="fuzzed softmax"
    )


@fuzz
@given(
    data=st.data(),
    size=st.integers(1, 12),
    alias=st.sampled_from([None, None, None, "delta=error", "delta=pred", "error=truth", "new"]),
)
def test_fuzz_softmax_x_ent(data, size, alias):
    def sized():  # mostly pred's size, sometimes another
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
    result = fuzz_call(ds.softmax_x_ent, pred.array, truth.array, d, e)
    if result is REFUSED:
        return
    got_delta, got_error = result
    for guarded_array in (pred, truth, delta, error):
        guarded_array.assert_guards()
    with np.errstate(all="ignore"):
        want_delta, want_error = reference.softmax_x_ent(pred.array_before, truth.array_before)
    with np.errstate(over="ignore"):  # float32 overflows to inf, as the C does
        want_delta, want_error = want_delta.astype(np.float32), want_error.astype(np.float32)
    assert_close(got_delta, want_delta, kind="fuzzed delta")
    assert_close(got_error, want_error, kind="fuzzed loss")


@st.composite
def maybe_broken_parents(draw):
    """Parents of a valid tree, then sometimes one or two values broken."""
    parents = draw(tree_parents(max_groups=8, max_size=5))
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        at = draw(st.integers(0, len(parents) - 1))
        parents[at] = draw(
            st.one_of(
                st.integers(-3, len(parents) + 2), st.sampled_from([2**31, -(2**31) - 1, 2**63])
            )
        )
    return parents


@fuzz
@given(
    parents=st.one_of(maybe_broken_parents(), st.lists(st.integers(-3, 12), max_size=14)),
    names=st.one_of(st.none(), st.none(), st.lists(st.text(max_size=8), max_size=14)),
)
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
    assert (
        tree.group_offset.tolist()
        == np.concatenate([[0], np.cumsum(tree.group_size)[:-1]]).tolist()
    )
    for g, (offset, size) in enumerate(zip(tree.group_offset, tree.group_size)):
        members = range(offset, offset + size)
        assert all(tree.group[i] == g for i in members)
        assert len({tree.parent[i] for i in members}) == 1
        parent = tree.parent[offset]
        assert parent == -1 or (0 <= parent < offset and tree.child[parent] == g)
    for i in range(n):
        assert tree.leaf[i] == (tree.child[i] == -1)
        assert tree.leaf[i] == int(i not in set(tree.parent.tolist()))


# --- the .tree reader -------------------------------------------------------


def tree_file_model(data):
    """What read_tree must make of a file's bytes: (names, parents), or the
    1-based line of the first error (parse errors in file order first, then
    the grouping errors that need every line)."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    names, parents = [], []
    for i, line in enumerate(lines):
        if line.endswith(b"\r"):
            line = line[:-1]
        fields = [field for field in re.split(rb"[ \t]+", line) if field]
        if b"\0" in line or len(fields) != 2 or not re.fullmatch(rb"[+-]?[0-9]+", fields[1]):
            return i + 1
        parent = int(fields[1])
        if not -1 <= parent < i:
            return i + 1
        names.append(fields[0].decode("utf-8", "backslashreplace"))
        parents.append(parent)
    if not parents:
        return 1
    has_children = set()
    for i, parent in enumerate(parents):
        if i == 0 or parent != parents[i - 1]:
            if (parent == -1 and i > 0) or parent in has_children:
                return i + 1
            has_children.add(parent)
    return names, parents


name_bytes = st.one_of(
    st.text(
        st.characters(blacklist_characters=" \t\n\r\0", blacklist_categories=["Cs"]),
        min_size=1,
        max_size=10,
    ).map(str.encode),
    st.binary(min_size=1, max_size=6).map(
        lambda b: bytes(c for c in b if c not in b" \t\n\r\0") or b"x"
    ),
    st.integers(250, 400).map(lambda size: b"n" * size),
)  # past Darknet's 256-byte buffer
parent_junk = st.sampled_from(
    [
        b"+1",
        b"-0",
        b"007",
        b"1_0",
        b"0x1",
        b"1.0",
        b"",
        b"-",
        b"--1",
        b"2147483647",
        b"2147483648",
        b"-2147483649",
        b"99999999999999999999",
        b"9223372036854775808",
        b"-1\0",
        b"\xff",
        b"1e3",
        b"\xef\xbb\xbf0",
    ]
)


@st.composite
def tree_files(draw):
    """Mostly a valid tree's text in its many spellings, then a few mutations."""
    if draw(st.sampled_from([False] * 9 + [True])):
        return draw(st.binary(max_size=200))
    parents = draw(maybe_broken_parents())
    end = draw(st.sampled_from([b"\n", b"\n", b"\r\n"]))
    lines = []
    for parent in parents:
        gap = draw(st.sampled_from([b" ", b" ", b"\t", b"  ", b" \t "]))
        lead = draw(st.sampled_from([b""] * 6 + [b" ", b"\t"]))
        trail = draw(st.sampled_from([b""] * 6 + [b" ", b"\t", b"\r"]))
        lines.append(lead + draw(name_bytes) + gap + str(parent).encode() + trail)
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):
        at = draw(st.integers(0, len(lines)))
        kind = draw(
            st.sampled_from(
                ["blank", "junk", "parent", "nul", "extra field", "delete", "duplicate"]
            )
        )
        if kind == "blank":
            lines.insert(at, draw(st.sampled_from([b"", b" ", b"\t\t"])))
        elif kind == "junk":
            lines.insert(at, draw(st.binary(max_size=20)).replace(b"\n", b""))
        elif kind == "parent":
            lines.insert(at, draw(name_bytes) + b" " + draw(parent_junk))
        elif kind == "nul" and lines:
            spot = min(at, len(lines) - 1)
            lines[spot] = lines[spot][:1] + b"\0" + lines[spot][1:]
        elif kind == "extra field":
            lines.insert(at, draw(name_bytes) + b" 0 extra")
        elif kind == "delete" and lines:
            del lines[min(at, len(lines) - 1)]
        elif kind == "duplicate" and lines:
            lines.insert(at, lines[min(at, len(lines) - 1)])
    text = end.join(lines)
    return text + end if draw(st.sampled_from([True] * 4 + [False])) else text


@fuzz
@given(data=tree_files())
def test_fuzz_read_tree(data):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "fuzz.tree")
        with open(path, "wb") as file:
            file.write(data)
        expected = tree_file_model(data)
        try:
            tree = ds.read_tree(path)
        except ValueError as error:
            event("read_tree raised ValueError")
            assert isinstance(expected, int), f"a valid file was refused: {error}"
            assert str(error).startswith(f"{path}:"), error
            line = re.match(re.escape(path) + r":(\d+):", str(error))
            if line:  # an empty file names no line
                assert int(line.group(1)) == expected, error
            return
    event("read_tree gave a tree")
    assert not isinstance(expected, int), f"line {expected} should have been refused"
    names, parents = expected
    assert tree.name == names
    check_tree_invariants(tree, parents)


# --- the .cfg reader --------------------------------------------------------

SMALL_TREE = b"a -1\nb -1\nc -1\nd 0\ne 0\nf 1\n"  # 6 nodes, like inputs=6 below
section_names = st.sampled_from(
    [
        "[net]",
        "[network]",
        "[connected]",
        "[conn]",
        "[softmax]",
        "[soft]",
        "[cost]",
        "[dropout]",
        "[ net ]",
        "[convolutional]",
        "[net",
        "net]",
        "[]",
        "[Net]",
    ]
)
# Sizes stay tiny or become so large that no allocation can succeed, so the
# fuzzer never builds a layer of gigabytes that does fit in memory.
sizes = mostly(
    st.sampled_from(["1", "2", "3", "6"]),
    st.sampled_from(
        [
            "0",
            "-1",
            "10000000000000",
            "18446744073709551616",
            "1.5",
            "",
            "+2",
            "0x10",
            "1e3",
            "\uff12",
        ]
    ),
)
numbers_text = mostly(
    st.sampled_from(["0", "1", "0.5", "1e-3", ".5", "5.", "2", "0.1"]),
    st.sampled_from(["-0.5", "1e400", "nan", "inf", "-inf", "1e-50", "abc", "", "1,0", "1e39"]),
)
# An option the strategies below do not know: a size, a number or a word.
any_value = st.one_of(sizes, numbers_text, st.text(max_size=6))
OPTION_VALUES = {
    "activation": mostly(
        st.sampled_from(["logistic", "relu", "linear", "leaky", "tanh"]),
        st.sampled_from(["bogus", "", "Logistic"]),
    ),
    "type": mostly(
        st.sampled_from(["sse", "masked", "smooth", "L1"]), st.sampled_from(["l1", "bogus"])
    ),
    "tree": mostly(
        st.just("small.tree"),
        st.sampled_from(["bad.tree", "missing.tree", "/nonexistent/x.tree", ".", "fuzz.cfg"]),
    ),
    "spatial": mostly(st.sampled_from(["0", "1"]), st.sampled_from(["2", "yes", ""])),
}
for flag in ("noloss", "exact"):
    OPTION_VALUES[flag] = OPTION_VALUES["spatial"]
for key in ("batch", "inputs", "height", "width", "channels", "max_batches", "output", "groups"):
    OPTION_VALUES[key] = sizes
for key in ("learning_rate", "momentum", "decay", "temperature", "scale"):
    OPTION_VALUES[key] = numbers_text
OPTION_VALUES["probability"] = mostly(st.sampled_from(["0", "0.5", "0.9"]), numbers_text)
# Every section the layer table names, now and then [net] again or a stranger.
section_names = mostly(
    st.sampled_from(sorted(f"[{name}]" for name in SECTIONS)),
    st.sampled_from(
        ["[net]", "[network]", "[ net ]", "[nosuchlayer]", "[net", "net]", "[]", "[Net]"]
    ),
)
other_lines = st.sampled_from(
    [
        "",
        "   ",
        "# comment",
        "; comment",
        "no equals sign",
        "=1",
        "key=",
        "a=b=c",
        "\t",
        "[net]batch=1",
    ]
)


def option_lines(kind):
    """key=value lines for a section of `kind`, now and then a stranger."""
    # A section without options ([avgpool]) draws any known key: each is an
    # option it does not take, which the reader must refuse cleanly.
    keys = sorted((options_of(kind) if kind else None) or OPTION_VALUES)
    line = st.sampled_from(keys).flatmap(
        lambda key: OPTION_VALUES.get(key, any_value).map(lambda value: f"{key}={value}")
    )
    stranger = st.one_of(
        other_lines,
        st.tuples(st.text(max_size=6), st.text(max_size=6)).map(
            lambda pair: f"{pair[0]}={pair[1]}"
        ),
        st.sampled_from(sorted(OPTION_VALUES)).map(lambda key: f"{key}=1"),
    )
    return mostly(line, stranger)


@st.composite
def cfg_texts(draw):
    """Mostly a [net] section and a few layers, each with plausible options."""
    lines = []
    if draw(st.sampled_from([True] * 6 + [False])):
        lines += [
            "[net]",
            f"batch={draw(st.sampled_from(['1', '2', '3']))}",
            f"inputs={draw(st.sampled_from(['6', '6', '4', '1']))}",
        ]
    for _ in range(draw(st.integers(0, 5))):
        section = draw(section_names)
        lines.append(section)
        keys = set()
        for _ in range(draw(st.integers(0, 3))):
            name = section.replace(" ", "")[1:-1]
            kind = (
                "net" if name in ("net", "network") else getattr(SECTIONS.get(name), "kind", None)
            )
            line = draw(option_lines(kind))
            if line.split("=")[0] in keys and draw(st.sampled_from([True] * 4 + [False])):
                continue  # a repeated option is an error; keep most sections free of it
            keys.add(line.split("=")[0])
            lines.append(line)
    if draw(st.sampled_from([False] * 9 + [True])):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.text(max_size=30)))
    space = draw(st.sampled_from(["", "", " ", "\t"]))
    return "\n".join(space + line + space for line in lines) + draw(st.sampled_from(["\n", ""]))


@fuzz
@given(text=cfg_texts(), seed=st.integers(0, 3))
def test_fuzz_parse_network_cfg(text, seed):
    with tempfile.TemporaryDirectory() as folder:
        for name, data in (("small.tree", SMALL_TREE), ("bad.tree", b"a -1\nb 5\n")):
            with open(os.path.join(folder, name), "wb") as file:
                file.write(data)
        path = os.path.join(folder, "fuzz.cfg")
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as file:
            file.write(text)
        try:
            network = ds.parse_network_cfg(path, seed=seed)
        except (ValueError, TypeError, MemoryError) as error:
            event(f"parse_network_cfg raised {type(error).__name__}")
            assert str(error), "an exception without a message"
            return
    event("parse_network_cfg gave a network")
    # A network the reader accepts must run a training step.
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((network.batch, network.inputs)).astype(np.float32)
    truth = np.zeros((network.batch, network.outputs), np.float32)
    truth[:, 0] = 1
    with np.errstate(all="ignore"):
        network.train_batch(x, truth)
        output = network.forward(x)
    assert output.shape[0] == network.batch


# --- the .weights reader ----------------------------------------------------


@st.composite
def weights_files(draw, sizes):
    """A header of any version, then about the right number of floats."""
    major = draw(st.sampled_from([0, 0, 1, 2, 1001, -1, 2**31 - 1]))
    minor = draw(st.sampled_from([0, 1, 2, 1001, -5]))
    seen = draw(st.sampled_from([0, 7, 2**40, 2**64 - 1]))
    wide = major * 10 + minor >= 2 and major < 1000 and minor < 1000
    header = struct.pack("<iii", major, minor, 0) + (
        struct.pack("<Q", seen) if wide else struct.pack("<I", seen % 2**32)
    )
    floats = sizes + draw(st.sampled_from([0, 0, 0, -1, 1, -sizes]))
    body = np.asarray(
        draw(st.lists(values, min_size=max(floats, 0), max_size=max(floats, 0))), "<f4"
    ).tobytes()
    data = header + body + draw(st.sampled_from([b"", b"", b"\0", b"\0\0\0"]))
    cut = draw(st.sampled_from([None] * 5 + [0, 3, 12, 15, 19]))
    return data if cut is None else data[:cut]


WEIGHTS_CFG = "[net]\ninputs=3\n[connected]\noutput=2\n[connected]\noutput=2\n[softmax]\n"


@fuzz
@given(data=weights_files(sizes=2 * (3 + 1) + 2 * (2 + 1)))
def test_fuzz_load_weights(data):
    network = ds.parse_network_cfg(WEIGHTS_CFG)
    layers = [layer for layer in network.layers if hasattr(layer, "weights")]
    before = [(layer.weights.copy(), layer.biases.copy()) for layer in layers]
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "fuzz.weights")
        with open(path, "wb") as file:
            file.write(data)
        try:
            network.load_weights(path)
        except ValueError as error:
            event("load_weights raised ValueError")
            assert str(error).startswith(path)
            for layer, (weights, biases) in zip(layers, before):
                np.testing.assert_array_equal(layer.weights, weights)
                np.testing.assert_array_equal(layer.biases, biases)
            return
    event("load_weights read the file")
    # Darknet's header: seen is 64-bit from version 0.2 (both parts below 1000),
    # else a 32-bit int, read as 0 when negative.
    major, minor = struct.unpack_from("<ii", data)
    wide = major * 10 + minor >= 2 and major < 1000 and minor < 1000
    assert network.seen == max(struct.unpack_from("<Q" if wide else "<i", data, 12)[0], 0)
    x = np.ones((1, 3), np.float32)
    with np.errstate(all="ignore"):
        assert network.predict(x).shape == (1, 2)


# --- regressions found while fuzzing or auditing the readers -------------------


def test_read_tree_refuses_a_line_over_a_mebibyte(tmp_path):
    # Before the cap, read_tree grew one line without end: /dev/zero (or a
    # binary with no newline) took memory until realloc failed, 38 s at 3 GB.
    path = tmp_path / "long.tree"
    path.write_bytes(b"a -1\n" + b"n" * (1 << 20) + b" 0\n")
    with pytest.raises(ValueError, match=r"long.tree:2: the line is longer than 1048576 bytes"):
        ds.read_tree(str(path))
    path.write_bytes(b"a -1\n" + b"n" * ((1 << 20) - 3) + b" 0\n")  # 1 MiB exactly: read
    assert ds.read_tree(str(path)).n == 2


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_read_tree_of_dev_zero_stops_at_once():
    with pytest.raises(ValueError, match="/dev/zero:1: the line is longer than"):
        ds.read_tree("/dev/zero")
