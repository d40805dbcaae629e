"""softmax_cross_entropy, the fused loss: C against the float64
reference over a sweep of shapes, axes and options on every kernel path,
extreme logits, a finite-difference gradient check, bad input (a clear
exception, nothing written), and PyTorch's cross_entropy where torch is
installed."""

import pathlib

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import (
    EXTREMES,
    assert_close,
    bad_call,
    checked_call,
    load_example,
    logits,
    numeric_gradient,
)
from darknet_softmax import reference

# (shape, axis): 1-element groups, odd sizes, non-multiples of 8, batch 1,
# and the class axis first, in the middle and last.
SHAPES = [
    ((1, 1), -1),
    ((1, 5), -1),
    ((3, 7), -1),
    ((4, 9), 1),
    ((2, 17), -1),
    ((6, 1000), -1),
    ((7,), 0),
    ((5, 3), 0),
    ((2, 3, 5, 6), 1),
    ((2, 21, 3, 11), 1),
    ((3, 4, 13), 0),
    ((2, 9, 3), 2),
]
OPTIONS = [
    {},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"reduction": "batch", "ignore_index": 1},
    {"reduction": "full", "ignore_index": 1},
    {"ignore_index": 0, "label_smoothing": 0.2},
    {"weight": True, "ignore_index": 2},
    {"weight": True, "label_smoothing": 0.3, "reduction": "none"},
    {"temperature": 0.5, "label_smoothing": 0.1},
    {"temperature": 3.0, "weight": True, "reduction": "sum"},
]


def positions_of(shape, axis):
    axis %= len(shape)
    return shape[:axis] + shape[axis + 1 :], shape[axis]


def problem(rng, shape, axis, options):
    positions, classes = positions_of(shape, axis)
    x = logits(rng, shape)
    labels = rng.integers(0, classes, positions)
    options = dict(options)
    if options.get("weight") is True:
        options["weight"] = rng.uniform(0.1, 2.0, classes).astype(np.float32)
    return x, labels, options


def check(actual, expected, kind):
    loss, grad = actual
    assert grad.dtype == np.float32 and grad.shape == expected[1].shape
    assert np.asarray(loss).dtype == np.float32
    assert_close(loss, expected[0], kind="cross-entropy loss")
    assert_close(grad, expected[1], kind=kind)


@pytest.mark.parametrize("shape, axis", SHAPES)
@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_labels_match_the_reference(kernel_path, rng, shape, axis, options):
    x, labels, options = problem(rng, shape, axis, options)
    if "ignore_index" in options:
        labels.reshape(-1)[::3] = options["ignore_index"]
    actual = ds.softmax_cross_entropy(x, labels, axis=axis, **options)
    check(actual, reference.softmax_cross_entropy(x, labels, axis, **options), "cross-entropy grad")


@pytest.mark.parametrize("shape, axis", SHAPES[1:6] + SHAPES[8:10])
@pytest.mark.parametrize(
    "options",
    [{}, {"reduction": "none"}, {"weight": True, "label_smoothing": 0.25}, {"reduction": "full"}],
    ids=str,
)
def test_probabilities_match_the_reference(kernel_path, rng, shape, axis, options):
    x, _, options = problem(rng, shape, axis, options)
    targets = ds.softmax(logits(rng, shape), axis=axis)
    targets[..., 0] = 0  # a class of target 0 adds nothing, whatever its logit
    actual = ds.softmax_cross_entropy(x, targets, axis=axis, **options)
    check(
        actual, reference.softmax_cross_entropy(x, targets, axis, **options), "cross-entropy grad"
    )


def test_the_vector_paths_cover_the_label_in_every_lane(kernel_path):
    """Each label position within a vector and past it, and a whole-row ignore."""
    x = np.tile(np.linspace(-2, 2, 19, dtype=np.float32), (19, 1))
    labels = np.arange(19)
    for options in ({}, {"label_smoothing": 0.5}, {"ignore_index": 18}):
        actual = ds.softmax_cross_entropy(x, labels, **options)
        check(actual, reference.softmax_cross_entropy(x, labels, **options), "cross-entropy grad")
        spatial = np.ascontiguousarray(x.T)[None]  # (1, classes, positions), axis 1
        actual = ds.softmax_cross_entropy(spatial, labels[None], axis=1, **options)
        expected = reference.softmax_cross_entropy(spatial, labels[None], 1, **options)
        check(actual, expected, "cross-entropy grad")


@pytest.mark.parametrize("row", EXTREMES, ids=range(len(EXTREMES)))
@pytest.mark.parametrize("temperature", [1.0, 1e-3])
def test_extreme_logits(kernel_path, row, temperature):
    x = np.array([row, row[::-1]], np.float32)
    labels = np.array([0, len(row) - 1])
    for options in ({"reduction": "none"}, {"label_smoothing": 0.1, "reduction": "none"}):
        with np.errstate(all="ignore"):
            expected = reference.softmax_cross_entropy(
                x, labels, temperature=temperature, **options
            )
        actual = ds.softmax_cross_entropy(x, labels, temperature=temperature, **options)
        check(actual, expected, "cross-entropy grad, extreme")
        spatial = np.ascontiguousarray(x.T)[None]
        actual = ds.softmax_cross_entropy(
            spatial, labels[None], axis=1, temperature=temperature, **options
        )
        assert_close(actual[1][0].T, expected[1], kind="cross-entropy grad, extreme")


def test_nan_logits_give_nan_but_leave_ignored_positions_0(kernel_path):
    x = np.zeros((3, 10), np.float32)
    x[0, 4] = np.nan
    x[2, 1] = np.nan
    loss, grad = ds.softmax_cross_entropy(x, [1, 2, 255], ignore_index=255, reduction="none")
    assert np.isnan(loss[0]) and np.isnan(grad[0]).all()
    assert np.isfinite(grad[1]).all()
    assert loss[2] == 0 and (grad[2] == 0).all()


@pytest.mark.parametrize("options", OPTIONS, ids=str)
def test_gradient_matches_finite_differences(kernel_path, rng, options):
    x, labels, options = problem(rng, (3, 2, 5), 1, options)
    if "ignore_index" in options:
        labels[0, 0] = options["ignore_index"]
    _, grad = ds.softmax_cross_entropy(x, labels, axis=1, **options)

    def total(z):
        loss, _ = reference.softmax_cross_entropy(z, labels, 1, **options)
        return float(np.sum(loss))

    assert_close(
        grad, numeric_gradient(total, x), atol=1e-6, rtol=1e-4, kind="finite-difference gradient"
    )


# The class axis strided (classes `inner` floats apart), as in a segmentation
# head: inner sizes around a vector and a tile of positions, a few class
# counts, batch 1 and more.
STRIDED = [
    (outer, classes, inner)
    for inner in (1, 7, 8, 9, 63, 65)
    for classes in (1, 2, 21, 81)
    for outer in (1, 2)
]
STRIDED_OPTIONS = [
    {},
    {"ignore_index": 1, "reduction": "none"},
    {"weight": True, "label_smoothing": 0.2},
    {"weight": True, "ignore_index": 0, "temperature": 0.5, "reduction": "sum"},
]


@pytest.mark.parametrize("shape", STRIDED, ids=str)
@pytest.mark.parametrize("options", STRIDED_OPTIONS, ids=str)
def test_strided_class_axis_matches_the_reference(kernel_path, rng, shape, options):
    x, labels, options = problem(rng, shape, 1, options)
    if "ignore_index" in options:
        labels.reshape(-1)[::3] = options["ignore_index"]
    actual = ds.softmax_cross_entropy(x, labels, axis=1, **options)
    check(actual, reference.softmax_cross_entropy(x, labels, 1, **options), "cross-entropy grad")


@pytest.mark.parametrize("row", EXTREMES, ids=range(len(EXTREMES)))
def test_extreme_logits_on_a_strided_class_axis(kernel_path, row):
    """Each position a rotation of the row, 70 positions: a tile and a part."""
    rotations = np.array([np.roll(row, p) for p in range(70)], np.float32)
    x = np.ascontiguousarray(rotations.T)[None]  # (1, classes, 70)
    labels = (np.arange(70) % len(row))[None]
    for options in ({"reduction": "none"}, {"label_smoothing": 0.1, "reduction": "none"}):
        with np.errstate(all="ignore"):
            expected = reference.softmax_cross_entropy(x, labels, 1, **options)
        actual = ds.softmax_cross_entropy(x, labels, axis=1, **options)
        check(actual, expected, "cross-entropy grad, extreme")


def test_nan_on_a_strided_class_axis_stays_in_its_position(kernel_path):
    x = np.zeros((1, 21, 70), np.float32)
    x[0, 4, 9] = np.nan
    x[0, 1, 66] = np.nan
    labels = np.ones((1, 70), int)
    labels[0, 66] = 255
    loss, grad = ds.softmax_cross_entropy(x, labels, 1, ignore_index=255, reduction="none")
    assert np.isnan(loss[0, 9]) and np.isnan(grad[0, :, 9]).all()
    assert loss[0, 66] == 0 and (grad[0, :, 66] == 0).all()
    rest = np.delete(np.arange(70), [9, 66])
    assert np.isfinite(loss[0, rest]).all() and np.isfinite(grad[0][:, rest]).all()


@pytest.mark.parametrize("shape", [(3, 21, 1000), (2, 81, 333), (40, 600, 5)], ids=str)
def test_strided_class_axis_on_two_threads_matches_one(rng, shape):
    x, labels, options = problem(rng, shape, 1, {"weight": True, "ignore_index": 2})
    labels.reshape(-1)[::5] = 2
    expected = reference.softmax_cross_entropy(x, labels, 1, **options)
    with ds.runtime.settings(num_threads=1):
        one = ds.softmax_cross_entropy(x, labels, axis=1, **options)
    with ds.runtime.settings(num_threads=2):
        two = ds.softmax_cross_entropy(x, labels, axis=1, **options)
    check(two, expected, "cross-entropy grad")
    assert one[0] == two[0] and np.array_equal(one[1], two[1])


def test_mean_is_sum_over_valid_weight_and_caffe_normalisations(rng):
    x, labels = logits(rng, (4, 6, 5)), rng.integers(0, 6, (4, 5))
    labels[0] = 7  # ignored
    weight = rng.uniform(0.5, 2, 6)
    total, _ = ds.softmax_cross_entropy(x, labels, 1, weight, 7, "sum")
    mean, _ = ds.softmax_cross_entropy(x, labels, 1, weight, 7, "mean")
    batch, _ = ds.softmax_cross_entropy(x, labels, 1, weight, 7, "batch")
    full, _ = ds.softmax_cross_entropy(x, labels, 1, weight, 7, "full")
    valid_weight = weight[labels[labels != 7]].sum()
    np.testing.assert_allclose(
        [mean, batch, full], [total / valid_weight, total / 4, total / 20], 1e-6
    )


def test_darknet_delta_is_minus_grad(rng):
    """Darknet's delta (SPEC section 1) is the negative gradient: at
    temperature 1, truth - softmax(x) for one-hot truths and the sum."""
    x, labels = logits(rng, (5, 8)), rng.integers(0, 8, 5)
    _, grad = ds.softmax_cross_entropy(x, labels, reduction="sum")
    truth = np.eye(8, dtype=np.float32)[labels]
    delta, _ = ds.softmax_x_ent(ds.softmax(x), truth)
    assert_close(-grad, delta, kind="cross-entropy grad")


def test_any_array_in_and_the_result_does_not_depend_on_threads(rng):
    x, labels = logits(rng, (40, 33)), rng.integers(0, 33, 40)
    expected = ds.softmax_cross_entropy(x, labels)
    for logits_in, labels_in in [
        (x.astype(np.float64), labels.astype(np.int32)),
        (x.tolist(), labels.tolist()),
        (np.asfortranarray(x), labels.astype(">i8")),
        (x.astype(">f4"), labels.astype(np.uint8)),
    ]:
        loss, grad = ds.softmax_cross_entropy(logits_in, labels_in)
        assert loss == expected[0] and np.array_equal(grad, expected[1])
    big = logits(rng, (600, 300)), rng.integers(0, 300, 600)
    with ds.runtime.settings(num_threads=1):
        one = ds.softmax_cross_entropy(*big)
    with ds.runtime.settings(num_threads=2):
        two = ds.softmax_cross_entropy(*big)
    assert one[0] == two[0] and np.array_equal(one[1], two[1])


def test_empty_and_all_ignored(kernel_path):
    loss, grad = ds.softmax_cross_entropy(np.zeros((0, 5)), np.zeros(0, int))
    assert np.isnan(loss) and grad.shape == (0, 5)
    loss, grad = ds.softmax_cross_entropy(np.zeros((0, 5)), np.zeros(0, int), reduction="sum")
    assert loss == 0
    loss, grad = ds.softmax_cross_entropy(np.zeros((0, 5)), np.zeros(0, int), reduction="none")
    assert loss.shape == (0,) and loss.dtype == np.float32
    loss, grad = ds.softmax_cross_entropy(np.ones((2, 3)), [9, 9], ignore_index=9)
    assert np.isnan(loss) and (grad == 0).all()  # PyTorch's 0/0
    loss, grad = ds.softmax_cross_entropy(np.ones((2, 0)), [9, 9], ignore_index=9, reduction="sum")
    assert loss == 0 and grad.shape == (2, 0)


def bad_calls():
    x = np.full((2, 5, 3), 3.0, np.float32)
    labels = np.zeros((2, 3), np.int64)
    outside = labels.copy()
    outside[1, 2] = 5
    yield bad_call(
        "label 5 of 5",
        ValueError,
        r"labels\[1, 2\] is 5, outside \[0, 5\)",
        ds.softmax_cross_entropy,
        x,
        outside,
        axis=1,
    )
    negative = labels.copy()
    negative[0, 1] = -100
    yield bad_call(
        "label -100",
        ValueError,
        r"labels\[0, 1\] is -100, outside \[0, 5\) and is not ignore_index \(255\)",
        ds.softmax_cross_entropy,
        x,
        negative,
        axis=1,
        ignore_index=255,
    )
    huge = np.zeros((2, 3), np.uint64)
    huge[0, 0] = 2**64 - 1
    yield bad_call(
        "label uint64",
        ValueError,
        r"labels\[0, 0\] is 18446744073709551615",
        ds.softmax_cross_entropy,
        x,
        huge,
        axis=1,
    )
    yield bad_call(
        "labels shape",
        ValueError,
        r"labels must have shape \(2, 3\)",
        ds.softmax_cross_entropy,
        x,
        labels.T,
        axis=1,
    )
    yield bad_call(
        "probs shape",
        ValueError,
        r"labels must have shape \(2, 5, 3\)",
        ds.softmax_cross_entropy,
        x,
        np.zeros((2, 3)),
        axis=1,
    )
    yield bad_call(
        "labels str",
        TypeError,
        "labels must be integer class indices",
        ds.softmax_cross_entropy,
        x,
        labels.astype(str),
        axis=1,
    )
    yield bad_call(
        "weight shape",
        ValueError,
        r"weight must have shape \(5,\)",
        ds.softmax_cross_entropy,
        x,
        labels,
        axis=1,
        weight=np.ones(3),
    )
    yield bad_call(
        "reduction",
        ValueError,
        "reduction must be one of",
        ds.softmax_cross_entropy,
        x,
        labels,
        axis=1,
        reduction="average",
    )
    yield bad_call(
        "smoothing",
        ValueError,
        r"label_smoothing must be in \[0, 1\]",
        ds.softmax_cross_entropy,
        x,
        labels,
        axis=1,
        label_smoothing=1.5,
    )
    yield bad_call(
        "ignore float",
        TypeError,
        "ignore_index must be an integer",
        ds.softmax_cross_entropy,
        x,
        labels,
        axis=1,
        ignore_index=1.0,
    )
    yield bad_call(
        "ignore with probs",
        ValueError,
        "ignore_index applies to class indices",
        ds.softmax_cross_entropy,
        x,
        np.zeros(x.shape),
        axis=1,
        ignore_index=0,
    )
    yield bad_call(
        "temperature",
        ValueError,
        "temperature",
        ds.softmax_cross_entropy,
        x,
        labels,
        axis=1,
        temperature=0,
    )
    yield bad_call(
        "axis",
        ValueError,
        "axis 3 is out of range for logits",
        ds.softmax_cross_entropy,
        x,
        labels,
        axis=3,
    )


@pytest.mark.parametrize("error, words, function, args, kwargs", list(bad_calls()))
def test_bad_call_raises_and_writes_nothing(kernel_path, error, words, function, args, kwargs):
    with pytest.raises(error, match=words):
        checked_call(function, *args, **kwargs)


# --- against PyTorch, where it is installed ---


@pytest.mark.parametrize("shape, axis", [((6, 10), -1), ((4, 1000), -1), ((2, 21, 5, 7), 1)])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"reduction": "sum", "ignore_index": 3},
        {"reduction": "none", "ignore_index": 3, "label_smoothing": 0.1},
        {"weight": True, "ignore_index": 3},
        {"weight": True, "label_smoothing": 0.2},
        {"weight": True, "label_smoothing": 0.2, "reduction": "none"},
    ],
    ids=str,
)
@pytest.mark.parametrize("targets", ["indices", "probabilities"])
def test_matches_pytorch(kernel_path, rng, shape, axis, options, targets):
    torch = pytest.importorskip("torch")
    x, labels, options = problem(rng, shape, axis, options)
    if targets == "probabilities":
        options.pop("ignore_index", None)
        labels = ds.softmax(logits(rng, shape), axis=axis)
    else:
        labels.reshape(-1)[::4] = 3
    loss, grad = ds.softmax_cross_entropy(x, labels, axis=axis, **options)
    x_torch = torch.tensor(np.moveaxis(x, axis, 1), requires_grad=True)
    torch_options = dict(options)
    if "weight" in options:
        torch_options["weight"] = torch.tensor(options["weight"])
    target = torch.tensor(np.moveaxis(labels, axis, 1) if targets == "probabilities" else labels)
    expected = torch.nn.functional.cross_entropy(x_torch, target, **torch_options)
    expected.sum().backward()
    assert_close(loss, expected.detach().numpy(), atol=1e-5, kind="cross-entropy vs PyTorch")
    assert_close(
        grad, np.moveaxis(x_torch.grad.numpy(), 1, axis), atol=1e-7, kind="cross-entropy vs PyTorch"
    )


# --- the worked example: the two-layer net of "Deep Learning from Scratch" ---

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "two_layer_net.py"


@pytest.mark.skipif(not EXAMPLE.exists(), reason="needs the source tree")
def test_two_layer_net_example_learns_and_its_gradient_checks():
    example = load_example("two_layer_net")
    result = example.main(verbose=False, steps=300)
    assert result["gradient_error"] < 1e-5
    assert np.mean(result["losses"][-20:]) < 0.2 * result["losses"][0]
    assert result["test_accuracy"] > 0.9
