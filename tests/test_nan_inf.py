"""NaN and infinities: the rule of docs/concepts.md ("NaN and infinities"), on every path.

Softmax, group by group: a group that holds a NaN or a +inf, or whose values
are all -inf, gives NaN in every value of that group, and in no other group.
Any other group gives finite probabilities that sum to 1, with exactly 0 where
the input is -inf (and wherever exp underflows). Finite inputs, however large
(+-FLT_MAX), always give finite outputs.

Loss (Darknet's): error = -log(pred) where truth != 0, else 0; so a labelled
prediction of 0 gives +inf, a labelled NaN gives NaN, and an unlabelled value
gives 0 whatever pred is. delta = truth - pred, so NaN stays where pred is NaN.
cost = sum(loss): +inf or NaN as soon as one value is. Backward adds delta, so a
NaN reaches net.delta exactly where delta holds one."""

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import assert_close, make_tree, tree_with_sizes
from darknet_softmax import reference

NAN, INF = np.float32(np.nan), np.float32(np.inf)
BIG = np.finfo(np.float32).max
SPECIALS = [
    "nan",
    "+inf",
    "all -inf",
    "one -inf",
    "all but one -inf",
    "+-FLT_MAX",
    "+-1e30",
    "nan and +inf",
    "-inf and nan",
    "+inf and -inf",
]


def poison(values, special, rng):
    """Writes one kind of special value into a 1-D group, in place."""
    n = values.size
    at = rng.integers(0, n)
    other = (at + 1 + rng.integers(0, max(n - 1, 1))) % n
    if special == "nan":
        values[at] = NAN
    elif special == "+inf":
        values[at] = INF
    elif special == "all -inf":
        values[:] = -INF
    elif special == "one -inf":
        values[at] = -INF
    elif special == "all but one -inf":
        values[:] = -INF
        values[at] = rng.standard_normal()
    elif special == "+-FLT_MAX":
        values[at], values[other] = BIG, -BIG
    elif special == "+-1e30":
        values[at], values[other] = -1e30, 1e30
    elif special == "nan and +inf":
        values[at], values[other] = INF, NAN
    elif special == "-inf and nan":
        values[at], values[other] = -INF, NAN
    elif special == "+inf and -inf":
        values[at], values[other] = -INF, INF


def expected_softmax(groups_of_values, temperature):
    """The rule, over an array whose last axis is one group."""
    bad = (
        np.isnan(groups_of_values).any(-1)
        | np.isposinf(groups_of_values).any(-1)
        | np.isneginf(groups_of_values).all(-1)
    )
    clean = np.where(bad[..., None], 0, groups_of_values)
    expected = reference.softmax(clean.reshape(-1, clean.shape[-1]), 1, temperature)
    expected = expected.reshape(clean.shape)
    expected[bad] = np.nan
    return expected


def poisoned(rng, batch, groups, n):
    """(batch, groups, n) data with a special in most groups (in 400 of them,
    at most, spread over the array, so large arrays stay quick to make)."""
    x = (rng.standard_normal((batch, groups, n)) * 4).astype(np.float32)
    flat = x.reshape(batch * groups, n)
    chosen = rng.choice(batch * groups, min(batch * groups, 400), replace=False)
    for index in chosen:
        choice = rng.integers(0, len(SPECIALS) + 2)  # some groups stay ordinary
        if choice < len(SPECIALS):
            poison(flat[index], SPECIALS[choice], rng)
    return x


def test_assert_close_matches_nan_only_with_nan():
    assert_close(np.array([NAN, 1, INF]), np.array([NAN, 1, INF]))
    for actual, expected in (([NAN, 1], [0, 1]), ([0, 1], [NAN, 1]), ([INF], [1])):
        with pytest.raises(AssertionError):
            assert_close(np.array(actual), np.array(expected))


def check_groups(actual, x, temperature):
    """actual (batch, groups, n) against the rule, plus the rule's exact claims."""
    expected = expected_softmax(x, temperature)
    assert_close(actual, expected)
    finite_group = np.isfinite(expected).all(-1)
    assert np.isnan(actual[~finite_group]).all()
    assert np.isfinite(actual[finite_group]).all()
    assert (actual[finite_group[..., None] & np.isneginf(x)] == 0).all()
    sums = actual.sum(-1, dtype=np.float64)[finite_group]
    assert_close(sums, np.ones_like(sums), kind="group sums")


# Group sizes that cover 1-element groups, odd sizes, the usual vector widths
# and more, and a batch large enough for a threaded path to start.
SHAPES = [
    (1, 1, 1),
    (5, 3, 1),
    (3, 2, 2),
    (7, 4, 3),
    (4, 3, 7),
    (4, 2, 8),
    (3, 3, 9),
    (2, 2, 15),
    (2, 2, 16),
    (2, 2, 17),
    (3, 1, 31),
    (2, 3, 33),
    (2, 1, 64),
    (3, 2, 100),
    (2, 1, 1000),
    (1, 1, 4099),
    (256, 4, 257),
    (2048, 5, 7),
    (4096, 16, 1),
]
TEMPERATURES = [1.0, 0.5, 1e-3, 10.0]


@pytest.mark.parametrize(
    "batch, groups, n, temperature",
    [shape + (TEMPERATURES[i % len(TEMPERATURES)],) for i, shape in enumerate(SHAPES * 2)],
)
def test_softmax_rule(kernel_path, rng, batch, groups, n, temperature):
    x = poisoned(rng, batch, groups, n)
    with np.errstate(all="ignore"):
        out = ds.softmax(x.reshape(batch, groups * n), groups, temperature)
    check_groups(out.reshape(batch, groups, n), x, temperature)


@pytest.mark.parametrize("batch, groups, n", SHAPES[::3])
def test_softmax_cpu_strided_rule(kernel_path, rng, batch, groups, n):
    # Each group interleaved with the others: stride = groups, group_offset = 1.
    x = poisoned(rng, batch, groups, n)
    interleaved = np.ascontiguousarray(x.transpose(0, 2, 1)).ravel()
    out = np.full_like(interleaved, 7.0)
    ds.softmax_cpu(interleaved, n, batch, groups * n, groups, 1, groups, 1.0, out)
    check_groups(out.reshape(batch, n, groups).transpose(0, 2, 1), x, 1.0)


@pytest.mark.parametrize("batch, groups, n", SHAPES[::2])
def test_layer_rule(kernel_path, rng, batch, groups, n):
    x = poisoned(rng, batch, groups, n)
    with ds.SoftmaxLayer(batch, groups * n, groups) as layer:
        layer.forward(ds.NetworkContext(x.reshape(batch, -1)))
        check_groups(layer.output.reshape(batch, groups, n), x, 1.0)


def test_tree_with_sizes_groups():
    tree = tree_with_sizes([3, 1, 4])
    assert tree.group_size.tolist() == [3, 1, 4]
    assert tree.parent.tolist() == [-1, -1, -1, 0, 1, 1, 1, 1]


@pytest.mark.parametrize("batch", [6, 300])
def test_tree_layer_rule(kernel_path, rng, batch):
    sizes = [1, 2, 3, 7, 8, 9, 16, 17, 33, 100]
    tree = tree_with_sizes(sizes)
    x = (rng.standard_normal((batch, tree.n)) * 4).astype(np.float32)
    offsets = tree.group_offset.tolist()
    for b in range(batch):
        for offset, size in zip(offsets, sizes):
            choice = rng.integers(0, len(SPECIALS) + 1)
            if choice < len(SPECIALS):
                poison(x[b, offset : offset + size], SPECIALS[choice], rng)
    with ds.SoftmaxLayer(batch, tree.n, tree=tree) as layer:
        layer.forward(ds.NetworkContext(x))
        for offset, size in zip(offsets, sizes):
            block = slice(offset, offset + size)
            check_groups(layer.output[:, None, block], x[:, None, block], 1.0)


@pytest.mark.parametrize("n", [1, 3, 8, 17, 1000])
def test_finite_extremes_stay_finite(kernel_path, rng, n):
    x = rng.choice(np.array([BIG, -BIG, 1e30, -1e30, 0, 1, -1], np.float32), size=(9, n))
    for temperature in (1.0, 1e-3, 1e3, 1e-30):
        out = ds.softmax(x, temperature=temperature)
        assert np.isfinite(out).all()
        assert_close(out.sum(1, dtype=np.float64), np.ones(9), kind="group sums")


def test_loss_rule(kernel_path):
    pred = np.array([0.0, 0.0, NAN, NAN, 0.5, 1.0, 0.25, INF], np.float32)
    truth = np.array([1.0, 0.0, 1.0, 0.0, NAN, 1.0, -INF, 1.0], np.float32)
    with np.errstate(all="ignore"):
        delta, error = ds.softmax_x_ent(pred, truth)
    np.testing.assert_array_equal(
        error, [INF, 0, NAN, 0, -np.log(np.float32(0.5)), 0, -np.log(np.float32(0.25)), -INF]
    )
    np.testing.assert_array_equal(delta, [1, 0, NAN, NAN, NAN, 0, -INF, -INF])


@pytest.mark.parametrize(
    "special, cost", [("nan", "nan"), ("+inf", "nan"), ("all -inf", "nan"), ("one -inf", "inf")]
)
def test_layer_loss_cost_and_backward(kernel_path, rng, special, cost):
    batch, groups, n = 3, 4, 5
    x = rng.standard_normal((batch, groups, n)).astype(np.float32)
    poison(x[1, 2], special, rng)
    truth = np.zeros_like(x)
    truth[:, :, 0] = 1
    if special == "one -inf":
        x[1, 2, 0] = -INF  # the label's own prediction is exactly 0
    net_delta = np.ones((batch, groups * n), np.float32)
    with ds.SoftmaxLayer(batch, groups * n, groups) as layer:
        net = ds.NetworkContext(x.reshape(batch, -1), truth.reshape(batch, -1), net_delta)
        layer.forward(net)
        layer.backward(net)
        delta = layer.delta.reshape(batch, groups, n)
        loss = layer.loss.reshape(batch, groups, n)
        spoiled = np.zeros((batch, groups), bool)
        spoiled[1, 2] = True
        if cost == "nan":
            assert np.isnan(layer.cost)
            assert np.isnan(delta[1, 2]).all() and np.isnan(loss[1, 2, 0])
            assert (loss[1, 2, 1:] == 0).all()  # unlabelled: 0 whatever pred is
        else:
            assert layer.cost == INF and loss[1, 2, 0] == INF
            assert np.isfinite(delta).all()
        assert np.isfinite(delta[~spoiled]).all() and np.isfinite(loss[~spoiled]).all()
        backward = net_delta.reshape(batch, groups, n)
        np.testing.assert_array_equal(backward, 1 + delta)
        assert np.isnan(backward).any() == (cost == "nan")


def test_masked_values_hide_nan_in_a_tree(kernel_path):
    # SECRET_NUM masks a group's delta and loss even when its prediction is NaN.
    tree = make_tree([-1, -1, 0, 0, 0])
    x = np.array([[0.0, 1.0, NAN, 2.0, 3.0]], np.float32)
    truth = np.array([[1.0, 0.0] + [ds.SECRET_NUM] * 3], np.float32)
    with ds.SoftmaxLayer(1, 5, tree=tree) as layer:
        layer.forward(ds.NetworkContext(x, truth))
        assert np.isnan(layer.output[0, 2:]).all()
        assert (layer.delta[0, 2:] == 0).all() and (layer.loss[0, 2:] == 0).all()
        assert np.isfinite(layer.cost)


# --- the exact mode, the spatial layer, log_softmax and the Jacobian ---------


@pytest.mark.parametrize("batch, groups, n", SHAPES[::2])
def test_exact_layer_rule(kernel_path, rng, batch, groups, n):
    x = poisoned(rng, batch, groups, n)
    truth = np.zeros_like(x)
    truth[..., 0] = 0.75
    truth[..., -1] += 0.25
    with ds.SoftmaxLayer(batch, groups * n, groups, exact=True) as layer:
        with np.errstate(all="ignore"):
            layer.forward(ds.NetworkContext(x.reshape(batch, -1), truth.reshape(batch, -1)))
        output = layer.output.reshape(batch, groups, n)
        check_groups(output, x, 1.0)
        spoiled = np.isnan(output).any(-1)
        delta = layer.delta.reshape(batch, groups, n)
        loss = layer.loss.reshape(batch, groups, n)
        # delta = truth - pred*sum(truth): NaN through a spoiled group, finite elsewhere.
        assert np.isnan(delta[spoiled]).all() and np.isfinite(delta[~spoiled]).all()
        # -truth*log(pred): 0 where unlabelled, whatever pred is; inf where a label meets 0.
        unlabelled = truth == 0
        assert (loss[unlabelled] == 0).all()
        labelled = ~unlabelled & ~spoiled[..., None]
        with np.errstate(divide="ignore"):
            expected = -truth[labelled] * np.log(output[labelled].astype(np.float64))
        assert_close(loss[labelled], expected, atol=1e-5, kind="loss")


@pytest.mark.parametrize("w, h, c", [(1, 1, 1), (3, 2, 5), (4, 4, 17), (1, 9, 2)])
def test_spatial_layer_rule(kernel_path, rng, w, h, c):
    batch = 3
    x = poisoned(rng, batch, w * h, c)  # (batch, position, channel) groups
    channel_major = np.ascontiguousarray(x.transpose(0, 2, 1)).reshape(batch, c * w * h)
    with ds.SoftmaxLayer(batch, c * w * h, spatial=True, shape=(h, w, c)) as layer:
        layer.forward(ds.NetworkContext(channel_major))
        output = layer.output.reshape(batch, c, w * h).transpose(0, 2, 1)
        check_groups(output, x, 1.0)


@pytest.mark.parametrize("batch, groups, n", SHAPES[::2])
def test_log_softmax_rule(kernel_path, rng, batch, groups, n):
    x = poisoned(rng, batch, groups, n)
    with np.errstate(all="ignore"):
        got = ds.log_softmax(x.reshape(batch, -1), groups).reshape(batch, groups, n)
    check_log_rule(got, x)


@pytest.mark.parametrize("batch, groups, n", SHAPES[::2])
def test_strided_log_softmax_rule(kernel_path, rng, batch, groups, n):
    # Each group along axis 1, the groups one apart.
    x = poisoned(rng, batch, groups, n)
    strided = np.ascontiguousarray(x.transpose(0, 2, 1))
    with np.errstate(all="ignore"):
        got = ds.log_softmax(strided, axis=1).transpose(0, 2, 1)
    check_log_rule(got, x)


def check_log_rule(got, x):
    """got (batch, groups, n), log_softmax of x, against the rule."""
    with np.errstate(all="ignore"):
        expected = np.log(expected_softmax(x, 1.0))
    bad = np.isnan(expected).all(-1)
    assert np.isnan(got[bad]).all()
    # A -inf input, and only it (or an underflow far below), gives -inf.
    assert np.isneginf(got[~bad]).sum() >= np.isneginf(x[~bad]).sum()
    assert not np.isnan(got[~bad]).any()
    finite = np.isfinite(expected) & ~bad[..., None]
    assert_close(got[finite], expected[finite], atol=1e-5, kind="log_softmax")


@pytest.mark.parametrize("batch, groups, n", SHAPES[::2])
def test_softmax_backward_spoils_only_its_group(kernel_path, rng, batch, groups, n):
    y = ds.softmax(rng.standard_normal((batch, groups * n)).astype(np.float32), groups)
    dy = rng.standard_normal((batch, groups, n)).astype(np.float32)
    spoiled = rng.random((batch, groups)) < 0.3
    dy[spoiled, 0] = np.nan
    got = ds.softmax_backward(y, dy.reshape(batch, -1), groups).reshape(batch, groups, n)
    assert np.isnan(got[spoiled]).all()
    assert np.isfinite(got[~spoiled]).all()
    # The same groups along axis 1, one apart.
    strided_y = np.ascontiguousarray(y.reshape(batch, groups, n).transpose(0, 2, 1))
    strided_dy = np.ascontiguousarray(dy.transpose(0, 2, 1))
    got = ds.softmax_backward(strided_y, strided_dy, axis=1).transpose(0, 2, 1)
    assert np.isnan(got[spoiled]).all()
    assert np.isfinite(got[~spoiled]).all()


@pytest.mark.parametrize("batch, groups, n", SHAPES[::2])
def test_exact_loss_spoils_only_its_values(kernel_path, rng, batch, groups, n):
    """delta = (t - p*sum(t))/T: a NaN truth spoils its group's delta (through
    the sum), a NaN pred its own delta and, where labelled, its own error."""
    pred = ds.softmax(rng.standard_normal((batch, groups * n)).astype(np.float32), groups)
    truth = rng.random((batch, groups, n)).astype(np.float32)
    spoiled = rng.random((batch, groups)) < 0.3
    truth[spoiled, 0] = np.nan
    with np.errstate(all="ignore"):
        delta, error = ds.softmax_x_ent(pred, truth.reshape(batch, -1), exact=True, groups=groups)
    delta, error = delta.reshape(truth.shape), error.reshape(truth.shape)
    assert np.isnan(delta[spoiled]).all() and np.isfinite(delta[~spoiled]).all()
    assert np.isnan(error[spoiled, 0]).all() and np.isfinite(error[~spoiled]).all()


def test_underflowing_probabilities_are_the_same_zeros_on_every_path(kernel_path):
    """exp(x - max) below float32's smallest normal number is 0 on every path,
    so the loss of a label there is inf on every path, and a value just above
    keeps its normal probability."""
    x = np.array([[0.0, -88.5, -100.0, -80.0]], np.float32)
    truth = np.array([[0.0, 1.0, 0.0, 0.0]], np.float32)
    probabilities = ds.softmax(x)
    assert probabilities[0, 1] == 0 and probabilities[0, 2] == 0
    assert probabilities[0, 3] == pytest.approx(np.exp(-80.0), rel=1e-5)
    assert probabilities[0, 3] >= np.finfo(np.float32).tiny
    _, error = ds.softmax_x_ent(probabilities, truth)
    assert error[0, 1] == np.inf
    with ds.SoftmaxLayer(1, 4) as layer:
        layer.forward(ds.NetworkContext(x, truth))
        assert layer.cost == np.inf


def test_axpy_rounds_the_product_to_float_on_every_path(kernel_path):
    """alpha*x that overflows float32 is inf before it is added, on every path
    (Darknet's loop; a fused multiply-add would keep it finite on AVX2 only):
    inf + -inf is NaN, and -3e38 + -inf is -inf."""
    x = np.full(40, 3.4e38, np.float32)
    y = np.full(40, np.inf, np.float32)
    y[::2] = -3.0e38
    expected = reference.axpy(-30.0, x, y)
    ds.axpy(-30.0, x, y)
    assert np.isnan(y[1::2]).all() and (y[::2] == -np.inf).all()
    assert_close(y, expected, kind="axpy, overflowing products")
