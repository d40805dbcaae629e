"""The exact paths (SPEC section 4): log_softmax, softmax_backward, the exact
softmax_x_ent and the layer's exact mode, held to the float64 reference and
to float64 finite differences. Darknet's convention throughout: a delta is the
NEGATIVE gradient, delta = -dL/dx."""

import pathlib
import re

import numpy as np
import pytest
from hypothesis import settings

import darknet_softmax as ds
from conftest import (
    EXTREMES,
    TEMPERATURES,
    assert_close,
    bad_call,
    checked_call,
    logits,
    make_tree,
    numeric_gradient,
    one_hot,
    sentinel,
    softmax_sweep,
)
from conftest import GROUP_SIZES as ALL_GROUP_SIZES
from darknet_softmax import reference
from darknet_softmax.layers import softmax as softmax_layer

GROUP_SIZES = [n for n in ALL_GROUP_SIZES if n < 9418]  # the long group is swept in test_kernels

FD_TEMPERATURES = [0.25, 0.5, 1.0, 2.0, 10.0]


def soft_labels(rng, batch, groups, n, smoothing=0.1):
    """One-hot labels smoothed towards uniform: each group sums to 1."""
    labels = one_hot(rng.integers(0, n, (batch, groups)), n).astype(np.float64)
    return (labels * (1 - smoothing) + smoothing / n).astype(np.float32)


# --- log_softmax ---


@pytest.mark.parametrize("n", GROUP_SIZES)
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_log_softmax_matches_reference(rng, n, temperature):
    for batch, groups in ((1, 1), (3, 2), (33, 3)):
        x = logits(rng, (batch, n * groups))
        assert_close(
            ds.log_softmax(x, groups, temperature),
            reference.log_softmax(x, groups, temperature),
            kind="log probabilities",
        )


@settings(max_examples=40, deadline=None)
@softmax_sweep(40, 5, GROUP_SIZES)
def test_log_softmax_sweep(batch, n, groups, temperature, scale, seed):
    x = logits(np.random.default_rng(seed), (batch, n * groups), scale)
    out = ds.log_softmax(x, groups, temperature)
    assert_close(out, reference.log_softmax(x, groups, temperature), kind="log probabilities")
    assert np.all(out <= 0)


@pytest.mark.parametrize("values", EXTREMES)
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_log_softmax_extremes(values, temperature):
    x = np.array([values], np.float32)
    out = ds.log_softmax(x, temperature=temperature)
    expected = reference.log_softmax(x, 1, temperature)
    assert np.array_equal(np.isneginf(out), np.isneginf(expected))
    assert np.all(np.isfinite(out) | np.isneginf(x))
    assert_close(out, expected, kind="log probabilities")


def test_log_softmax_is_finite_where_softmax_underflows():
    x = np.array([[0.0, -200.0, -1000.0]], np.float32)
    assert ds.softmax(x)[0, 2] == 0
    assert_close(ds.log_softmax(x), [[0.0, -200.0, -1000.0]], kind="log probabilities")


def test_log_softmax_all_equal_and_one_element_groups():
    assert_close(
        ds.log_softmax(np.full((2, 9418), 7.5, np.float32)),
        np.full((2, 9418), -np.log(9418)),
        kind="log probabilities",
    )
    assert np.array_equal(ds.log_softmax(np.arange(6, dtype=np.float32), groups=6), np.zeros(6))


def test_log_softmax_in_place_and_against_softmax(rng):
    x = logits(rng, (5, 12))
    probs = ds.softmax(x, 3, 0.5)
    assert ds.log_softmax(x, 3, 0.5, out=x) is x
    assert_close(np.exp(x.astype(np.float64)), probs)


@pytest.mark.parametrize("temperature", FD_TEMPERATURES)
def test_log_softmax_gradient_by_finite_differences(rng, temperature):
    """C's log_softmax, differentiated numerically, against its Jacobian
    (delta_ij - softmax_j)/T: for L = sum(g * log_softmax(x)),
    dL/dx = (g - softmax*sum(g))/T per group. The float32 function takes a
    wide step, so the tolerance is wide."""
    x = logits(rng, (2, 8), 1.0)
    weights = rng.standard_normal((2, 8))
    step = 1e-2 * temperature

    def loss(values):
        out = ds.log_softmax(values.astype(np.float32), 2, temperature)
        return float((weights * out).sum())

    probs = reference.softmax(x, 2, temperature).reshape(2, 2, 4)
    grouped = weights.reshape(2, 2, 4)
    expected = ((grouped - probs * grouped.sum(-1, keepdims=True)) / temperature).reshape(2, 8)
    gradient = numeric_gradient(loss, x, step)
    assert_close(gradient, expected, atol=1e-3, rtol=1e-2, kind="log_softmax float32 fd")


# --- softmax_backward ---


@pytest.mark.parametrize("n", GROUP_SIZES)
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_softmax_backward_matches_reference(rng, n, temperature):
    for batch, groups in ((1, 1), (3, 2), (33, 3)):
        y = ds.softmax(logits(rng, (batch, n * groups)), groups, temperature)
        dy = logits(rng, y.shape, 1.0)
        scale = 1 / temperature
        assert_close(
            ds.softmax_backward(y, dy, groups, temperature),
            reference.softmax_backward(y, dy, groups, temperature),
            atol=1e-6 * scale,
            kind="softmax Jacobian product",
        )


@settings(max_examples=40, deadline=None)
@softmax_sweep(40, 5, GROUP_SIZES, TEMPERATURES[1:], scaled=False)
def test_softmax_backward_sweep(batch, n, groups, temperature, seed):
    rng = np.random.default_rng(seed)
    y = ds.softmax(logits(rng, (batch, n * groups)), groups, temperature)
    dy = logits(rng, y.shape, 1.0)
    dx = ds.softmax_backward(y, dy, groups, temperature)
    assert_close(
        dx,
        reference.softmax_backward(y, dy, groups, temperature),
        atol=1e-6 / temperature,
        kind="softmax Jacobian product",
    )
    # A softmax group's outputs sum to 1 whatever x is, so each group of dx sums to 0.
    sums = dx.astype(np.float64).reshape(batch, groups, n).sum(-1)
    assert_close(sums, np.zeros_like(sums), atol=1e-5 / temperature, kind="Jacobian group sums")


@pytest.mark.parametrize("values", EXTREMES)
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_softmax_backward_extremes(rng, values, temperature):
    y = ds.softmax(np.array([values], np.float32), temperature=temperature)
    for dy in (
        logits(rng, y.shape, 1.0),
        np.full(y.shape, 1e30, np.float32),
        np.where(np.arange(y.size) % 2, 1e30, -1e30).astype(np.float32).reshape(y.shape),
    ):
        dx = ds.softmax_backward(y, dy, temperature=temperature)
        expected = reference.softmax_backward(y, dy, 1, temperature)
        assert_close(
            dx,
            expected,
            atol=1e-6 * np.abs(dy).max() / temperature,
            kind="softmax Jacobian product",
        )
        assert np.all(dx[y == 0] == 0)


def test_softmax_backward_accumulates_into_out(rng):
    y = ds.softmax(logits(rng, (4, 10)), 2)
    dy = logits(rng, (4, 10), 1.0)
    previous = logits(rng, (4, 10), 1.0)
    out = previous.copy()
    assert ds.softmax_backward(y, dy, 2, out=out) is out
    ds.softmax_backward(y, dy, 2, out=out)
    assert_close(
        out, previous + 2 * reference.softmax_backward(y, dy, 2), kind="softmax Jacobian product"
    )


@pytest.mark.parametrize("temperature", FD_TEMPERATURES)
def test_softmax_backward_by_finite_differences(rng, temperature):
    """For L = sum(g * softmax(x)), dL/dy = g, so softmax_backward(y, g) is
    dL/dx; fed Darknet's delta -g it gives Darknet's delta -dL/dx."""
    x = logits(rng, (3, 12), 1.0)
    weights = rng.standard_normal((3, 12))

    def loss(values):
        return float((weights * reference.softmax(values, 3, temperature)).sum())

    gradient = numeric_gradient(loss, x, 1e-6 * temperature)
    y = ds.softmax(x, 3, temperature)
    assert_close(
        ds.softmax_backward(y, weights.astype(np.float32), 3, temperature),
        gradient,
        atol=1e-5,
        kind="finite-difference gradient",
    )
    assert_close(
        ds.softmax_backward(y, -weights.astype(np.float32), 3, temperature),
        -gradient,
        atol=1e-5,
        kind="finite-difference gradient",
    )


# --- softmax_x_ent(exact=True) ---


def cross_entropy(truth, groups, temperature):
    """-sum(truth * log(softmax(x/T))) over unmasked values, in float64."""
    labels = np.where(truth == ds.SECRET_NUM, 0.0, truth.astype(np.float64))
    return lambda values: float(
        -(labels * reference.log_softmax(values, groups, temperature)).sum()
    )


@pytest.mark.parametrize("temperature", FD_TEMPERATURES)
def test_exact_fused_gradient_by_finite_differences(rng, temperature):
    """One-hot labels: the exact delta is (truth - pred)/T = -dL/dx."""
    x = logits(rng, (3, 10), 1.0)
    truth = soft_labels(rng, 3, 2, 5, smoothing=0.0)
    pred = ds.softmax(x, 2, temperature)
    delta, error = ds.softmax_x_ent(pred, truth, exact=True, temperature=temperature, groups=2)
    gradient = numeric_gradient(cross_entropy(truth, 2, temperature), x, 1e-6 * temperature)
    assert_close(delta, -gradient, atol=1e-5, kind="finite-difference gradient")
    assert_close(delta, (truth - pred.astype(np.float64)) / temperature, kind="delta")
    assert error.sum() == pytest.approx(cross_entropy(truth, 2, temperature)(x), rel=1e-5)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_soft_label_loss_by_finite_differences(rng, temperature):
    """Label smoothing (groups sum to 1), unnormalised labels and a group with
    no label: the loss is weighted by the label and delta = -dL/dx throughout."""
    x = logits(rng, (4, 12), 1.0)
    truth = soft_labels(rng, 4, 3, 4, smoothing=0.2)
    truth[1, :4] *= 2.5  # labels summing to 2.5
    truth[2, 4:8] = 0  # an unlabelled group
    truth[3, 8:] = rng.random(4)  # arbitrary weights
    pred = ds.softmax(x, 3, temperature)
    delta, error = ds.softmax_x_ent(pred, truth, exact=True, temperature=temperature, groups=3)
    loss = cross_entropy(truth, 3, temperature)
    assert_close(
        delta,
        -numeric_gradient(loss, x, 1e-6 * temperature),
        atol=1e-5,
        kind="finite-difference gradient",
    )
    assert np.all(delta[2, 4:8] == 0) and np.all(error[2, 4:8] == 0)
    assert error.sum() == pytest.approx(loss(x), rel=1e-5)
    assert_close(error, -truth * np.log(pred.astype(np.float64)), kind="loss")


def test_exact_loss_masks_secret_num(rng):
    x = logits(rng, (2, 8), 1.0)
    truth = soft_labels(rng, 2, 2, 4)
    truth[0, 4:] = ds.SECRET_NUM
    truth[1, 1] = ds.SECRET_NUM  # a partly masked group
    pred = ds.softmax(x, 2)
    delta, error = ds.softmax_x_ent(pred, truth, exact=True, groups=2)
    masked = truth == ds.SECRET_NUM
    assert np.all(delta[masked] == 0) and np.all(error[masked] == 0)
    expected_delta, expected_error = reference.softmax_x_ent_exact(pred, truth, 2)
    assert_close(delta, expected_delta, kind="delta")
    assert_close(error, expected_error, kind="loss")
    # A wholly masked group is as if absent: its gradient is 0 too.
    gradient = numeric_gradient(cross_entropy(truth[:1], 2, 1.0), x[:1], 1e-6)
    assert_close(delta[:1], -gradient, atol=1e-5, kind="finite-difference gradient")


@settings(max_examples=40, deadline=None)
@softmax_sweep(40, 5, GROUP_SIZES, scaled=False)
def test_exact_x_ent_sweep(batch, n, groups, temperature, seed):
    rng = np.random.default_rng(seed)
    pred = ds.softmax(logits(rng, (batch, n * groups)), groups, temperature)
    truth = soft_labels(rng, batch, groups, n, smoothing=float(rng.random()))
    delta, error = ds.softmax_x_ent(pred, truth, exact=True, temperature=temperature, groups=groups)
    expected_delta, expected_error = reference.softmax_x_ent_exact(pred, truth, groups, temperature)
    assert_close(delta, expected_delta, atol=1e-6 / temperature, kind="delta")
    assert_close(error, expected_error, kind="loss")


def test_exact_x_ent_extremes():
    pred = np.array([[0.0, 1.0, 0.0, 1e-45], [0.25, 0.25, 0.25, 0.25]], np.float32)
    truth = np.array([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], np.float32)
    delta, error = ds.softmax_x_ent(pred, truth, exact=True, temperature=1e-3)
    assert error[0, 0] == np.inf and np.all(error[0, 1:] == 0) and np.all(error[1] == 0)
    assert_close(delta, reference.softmax_x_ent_exact(pred, truth, 1, 1e-3)[0], kind="delta")
    assert np.all(delta[1] == 0)


@pytest.mark.parametrize("values", EXTREMES)
@pytest.mark.parametrize("temperature", TEMPERATURES)
def test_exact_x_ent_of_extreme_logits(rng, values, temperature):
    pred = ds.softmax(np.array([values], np.float32), temperature=temperature)
    for truth in (
        one_hot([np.argmax(pred)], pred.size),
        np.full(pred.shape, 1 / pred.size, np.float32),
    ):
        delta, error = ds.softmax_x_ent(pred, truth, exact=True, temperature=temperature)
        expected_delta, expected_error = reference.softmax_x_ent_exact(pred, truth, 1, temperature)
        assert_close(delta, expected_delta, atol=1e-6 / temperature, kind="delta")
        assert_close(error, expected_error, kind="loss")
        assert np.all(np.isfinite(delta))


def test_exact_x_ent_in_place(rng):
    pred = ds.softmax(logits(rng, (3, 6)))
    truth = soft_labels(rng, 3, 1, 6)
    expected_delta, expected_error = reference.softmax_x_ent_exact(pred, truth, 1, 2.0)
    delta, error = ds.softmax_x_ent(pred, truth, pred, truth, exact=True, temperature=2.0)
    assert delta is pred and error is truth
    assert_close(delta, expected_delta, kind="delta")
    assert_close(error, expected_error, kind="loss")


def test_default_x_ent_ignores_temperature_and_groups_as_darknet_does(rng):
    pred = ds.softmax(logits(rng, (3, 8)), 2, 0.5)
    truth = soft_labels(rng, 3, 2, 4, smoothing=0.3)
    delta, error = ds.softmax_x_ent(pred, truth, temperature=0.5, groups=2)
    assert np.array_equal(delta, truth - pred)
    assert np.array_equal(error, ds.softmax_x_ent(pred, truth)[1])
    assert_close(error, np.where(truth != 0, -np.log(pred.astype(np.float64)), 0), kind="loss")


# --- the layer's exact mode, by finite differences ---


def tree_and_truth(rng, batch):
    """A small tree, a fill_hierarchy-style truth (unlabelled groups masked)
    and the layer arguments for it."""
    tree = make_tree([-1, -1, -1, 0, 0, 1, 1, 1])
    truth = np.full((batch, 8), ds.SECRET_NUM, np.float32)
    for b in range(batch):
        root = rng.integers(0, 2)
        truth[b, :3] = one_hot([root], 3)[0]
        group = slice(3, 5) if root == 0 else slice(5, 8)
        size = group.stop - group.start
        truth[b, group] = one_hot([rng.integers(0, size)], size)[0]
    return dict(tree=tree), truth


LAYOUTS = {
    "plain": lambda rng, batch: (dict(inputs=12, groups=3), soft_labels(rng, batch, 3, 4)),
    "tree": lambda rng, batch: (lambda kw, t: (dict(inputs=8, **kw), t))(
        *tree_and_truth(rng, batch)
    ),
    "spatial": lambda rng, batch: (
        dict(inputs=24, spatial=True, shape=(2, 3, 4)),
        # channel-major (c, h, w): the labels of each position run down the channels
        soft_labels(rng, batch, 6, 4).reshape(batch, 6, 4).transpose(0, 2, 1).reshape(batch, 24),
    ),
}


def layer_softmax(kwargs, temperature):
    """The layer's softmax, in float64, as a function of a (batch, inputs) input."""
    index = softmax_layer.layer_groups(
        kwargs["inputs"],
        kwargs.get("groups", 1),
        kwargs.get("tree"),
        kwargs.get("spatial", False),
        kwargs.get("shape"),
    )

    def forward(values, log=False):
        out = np.empty_like(values)
        for group in index:
            function = reference.log_softmax if log else reference.softmax
            out[:, group] = function(values[:, group], 1, temperature)
        return out

    return forward


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("temperature", [0.5, 1.0, 4.0])
def test_layer_exact_loss_by_finite_differences(rng, layout, temperature):
    batch = 2
    kwargs, truth = LAYOUTS[layout](rng, batch)
    x = logits(rng, (batch, kwargs["inputs"]), 1.0)
    forward = layer_softmax(kwargs, temperature)
    labels = np.where(truth == ds.SECRET_NUM, 0.0, truth.astype(np.float64))

    def loss(values):
        return float(-(labels * forward(values, log=True)).sum())

    previous = logits(rng, x.shape, 1.0)
    net_delta = previous.copy()
    with ds.SoftmaxLayer(batch, temperature=temperature, exact=True, **kwargs) as layer:
        net = ds.NetworkContext(x, truth, net_delta)
        layer.forward(net)
        layer.backward(net)
        gradient = numeric_gradient(loss, x, 1e-6 * temperature)
        assert_close(layer.delta, -gradient, atol=1e-5, kind="finite-difference gradient")
        assert_close(
            net_delta - previous.astype(np.float64),
            -gradient,
            atol=1e-5,
            kind="finite-difference gradient",
        )
        assert layer.cost == pytest.approx(loss(x), rel=1e-5)
        assert np.all(layer.delta[truth == ds.SECRET_NUM] == 0)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("temperature", [0.5, 1.0, 4.0])
def test_layer_noloss_jacobian_by_finite_differences(rng, layout, temperature):
    """With noloss, whoever feeds the layer writes layer.delta = -dL/doutput.
    Take L = -sum(g * output): then layer.delta is g, and backward must add
    -dL/dinput into net.delta."""
    batch = 2
    kwargs, truth = LAYOUTS[layout](rng, batch)
    x = logits(rng, (batch, kwargs["inputs"]), 1.0)
    upstream = rng.standard_normal(x.shape)
    forward = layer_softmax(kwargs, temperature)

    def loss(values):
        return float(-(upstream * forward(values)).sum())

    previous = logits(rng, x.shape, 1.0)
    net_delta = previous.copy()
    with ds.SoftmaxLayer(
        batch, temperature=temperature, noloss=True, exact=True, **kwargs
    ) as layer:
        net = ds.NetworkContext(x, truth, net_delta)
        layer.forward(net)
        assert not layer.delta.any() and layer.cost == 0  # noloss: no loss taken
        layer.delta[:] = upstream
        layer.backward(net)
    gradient = numeric_gradient(loss, x, 1e-6 * temperature)
    assert_close(
        net_delta - previous.astype(np.float64),
        -gradient,
        atol=1e-5,
        kind="finite-difference gradient",
    )


# --- bad input: a clear exception naming the argument, and nothing written ---


def bad_calls():
    x, out, y, dy, pred, truth, delta, error = (sentinel((2, 6)) for _ in range(8))
    read_only = sentinel((2, 6), writable=False)
    shared = sentinel(8)
    yield bad_call(
        "log x complex",
        TypeError,
        "x must hold real numbers",
        ds.log_softmax,
        x.astype(complex),
        out=out,
    )
    yield bad_call(
        "log axis", ValueError, "axis 3 is out of range", ds.log_softmax, x, out=out, axis=3
    )
    yield bad_call(
        "log groups", ValueError, "divide by groups", ds.log_softmax, x, groups=4, out=out
    )
    yield bad_call(
        "log groups 0",
        ValueError,
        "groups must be at least 1",
        ds.log_softmax,
        x,
        groups=0,
        out=out,
    )
    yield bad_call(
        "log temp", ValueError, "temperature", ds.log_softmax, x, temperature=0.0, out=out
    )
    yield bad_call(
        "log out shape", ValueError, "out must have shape", ds.log_softmax, x, out=out.reshape(6, 2)
    )
    yield bad_call(
        "log out read-only", ValueError, "out must be writable", ds.log_softmax, x, out=read_only
    )
    yield bad_call(
        "log overlap", ValueError, "x and out overlap", ds.log_softmax, shared[:6], out=shared[2:]
    )
    yield bad_call(
        "bwd dy shape",
        ValueError,
        "dy must have shape",
        ds.softmax_backward,
        y,
        dy.reshape(12),
        out=out,
    )
    yield bad_call(
        "bwd dy str",
        TypeError,
        "dy must hold real numbers",
        ds.softmax_backward,
        y,
        dy.astype(str),
        out=out,
    )
    yield bad_call(
        "bwd y ragged",
        ValueError,
        "y must be an array of real numbers",
        ds.softmax_backward,
        [[1.0], [2.0, 3.0]],
        dy,
        out=out,
    )
    yield bad_call(
        "bwd groups", ValueError, "divide by groups", ds.softmax_backward, y, dy, groups=5, out=out
    )
    yield bad_call(
        "bwd temp",
        ValueError,
        "temperature",
        ds.softmax_backward,
        y,
        dy,
        temperature=float("inf"),
        out=out,
    )
    yield bad_call(
        "bwd out is dy",
        ValueError,
        "dy and out must be different",
        ds.softmax_backward,
        y,
        dy,
        out=dy,
    )
    yield bad_call(
        "bwd out is y", ValueError, "y and out must be different", ds.softmax_backward, y, dy, out=y
    )
    yield bad_call(
        "bwd out read-only",
        ValueError,
        "out must be writable",
        ds.softmax_backward,
        y,
        dy,
        out=read_only,
    )
    yield bad_call(
        "bwd out shape",
        ValueError,
        "out must have shape",
        ds.softmax_backward,
        y,
        dy,
        out=out.reshape(3, 4),
    )
    for name, kind, words, options in (
        ("x_ent exact int", TypeError, "exact must be True or False, not int", {"exact": 1}),
        ("x_ent exact str", TypeError, "exact must be True or False", {"exact": "True"}),
        ("x_ent temp", ValueError, "temperature", {"exact": True, "temperature": -1}),
        ("x_ent temp default", TypeError, "temperature", {"temperature": "2"}),
        ("x_ent groups", ValueError, "divide by groups", {"exact": True, "groups": 5}),
        ("x_ent groups default", ValueError, "groups must be at least 1", {"groups": 0}),
    ):
        yield bad_call(name, kind, words, ds.softmax_x_ent, pred, truth, delta, error, **options)
    yield bad_call(
        "x_ent exact groups",
        ValueError,
        "divide by groups",
        ds.softmax_x_ent,
        pred.reshape(1, 2, 6),
        truth.reshape(1, 2, 6),
        exact=True,
        groups=5,
    )


@pytest.mark.parametrize("error, words, function, args, kwargs", list(bad_calls()))
def test_bad_call_raises_and_writes_nothing(error, words, function, args, kwargs):
    with pytest.raises(error, match=words):
        checked_call(function, *args, **kwargs)


# --- the docs' table of quirks points to working options ---

CONCEPTS = pathlib.Path(__file__).resolve().parent.parent / "docs" / "concepts.md"


@pytest.mark.skipif(not CONCEPTS.exists(), reason="needs the source tree")
def test_docs_exact_example_runs():
    """The example under the docs' table of Darknet's quirks asserts what
    each option does; run it as a new user would."""
    text = CONCEPTS.read_text(encoding="utf-8")
    section = text[text.index("## The exact mode") :]
    section = section[: section.index("\n## ", 1)]
    for option in (
        "spatial=True",
        "exact=True",
        "noloss=True",
        "log_softmax",
        "softmax_backward",
        "fill_hierarchy",
    ):
        assert option in section
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, str(CONCEPTS), "exec"), {})
