"""Any array in, any axis: every functional call takes any
array-like of real numbers (dtypes, strides, byte order, nested lists, empty
arrays), converting once to float32 and using a float32 C-contiguous array
where it is; softmax, log_softmax and softmax_backward run over any axis of
N-D arrays, with groups splitting it, through the strided kernel."""

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import ALONG, assert_close, logits, make_tree, numeric_gradient, one_hot
from darknet_softmax import reference
from darknet_softmax.binding import real_array


def numpy_user_inputs(rng):
    """What a NumPy user tries first (the issue's list), with the float64
    array each stands for and the axis."""
    x = rng.standard_normal((4, 10)) * 3
    wide = rng.standard_normal((4, 20)) * 3
    cube = rng.standard_normal((3, 5, 7)) * 3
    half = x.astype(np.float16)
    return [
        ("float64", x, x, -1),
        ("list", x.tolist(), x, -1),
        ("transposed", x.T, x.T, -1),
        ("every other column", wide[:, ::2], wide[:, ::2], -1),
        ("float16", half, half.astype(np.float64), -1),
        ("3-D axis 1", cube, cube, 1),
        ("int", np.arange(12).reshape(3, 4), np.arange(12.0).reshape(3, 4), -1),
        ("big-endian", x.astype(">f4"), x.astype(np.float32), 0),
    ]


def test_what_a_numpy_user_tries_matches_scipy(rng):
    scipy_special = pytest.importorskip("scipy.special")
    for name, given, values, axis in numpy_user_inputs(rng):
        probs = ds.softmax(given, axis=axis)
        assert probs.dtype == np.float32, name
        # float32 precision: the input rounds to float32 first.
        expected = scipy_special.softmax(values.astype(np.float32).astype(np.float64), axis=axis)
        assert_close(probs, expected, kind="probabilities")


@pytest.mark.parametrize("function", ["softmax", "log_softmax"])
def test_what_a_numpy_user_tries_matches_the_reference(kernel_path, rng, function):
    for name, given, values, axis in numpy_user_inputs(rng):
        result = getattr(ds, function)(given, axis=axis)
        expected = getattr(reference, f"{function}_along")(values.astype(np.float32), axis=axis)
        assert result.dtype == np.float32 and result.flags.c_contiguous, name
        assert_close(result, expected, kind=function)


def test_float32_c_contiguous_is_used_where_it_is(rng):
    x = logits(rng, (3, 8))
    assert real_array("x", x) is x
    assert ds.softmax(x, out=x) is x  # in place: no copy was made
    assert_close(x, ds.softmax(x.copy(), axis=-1) * 0 + x, kind="probabilities")
    strided = np.zeros((3, 16), np.float32)[:, ::2]
    converted = real_array("x", strided)
    assert converted is not strided and converted.flags.c_contiguous
    misaligned = np.frombuffer(bytes(49), np.float32, count=12, offset=1)
    assert real_array("x", misaligned).flags.aligned


# (shape, axis, groups): 1-element groups, odd sizes, non-multiples of 8,
# batch 1, first, middle and last axes, spatial layouts.
AXIS_CASES = [
    ((7,), 0, 1),
    ((1, 9), 1, 3),
    ((5, 3), 0, 1),
    ((4, 6, 2), 1, 3),
    ((2, 17, 3), 1, 1),
    ((2, 16, 5, 5), 1, 2),
    ((3, 4, 5, 6), 2, 5),
    ((3, 4, 5, 6), 0, 1),
    ((2, 3, 4, 5), -1, 5),
    ((1, 81, 67), 1, 1),
    ((2, 9, 130), 1, 9),
    ((2, 1000), -1, 8),
]


@pytest.mark.parametrize("shape, axis, groups", AXIS_CASES)
@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_any_axis_matches_the_reference(kernel_path, rng, shape, axis, groups, temperature):
    x = logits(rng, shape)
    options = {"groups": groups, "temperature": temperature}
    probs = ds.softmax(x, axis=axis, **options)
    assert_close(probs, reference.softmax_along(x, axis=axis, **options))
    assert_close(
        ds.log_softmax(x, axis=axis, **options),
        reference.log_softmax_along(x, axis=axis, **options),
        kind="log_softmax",
    )
    dy = logits(rng, shape)
    product = reference.softmax_backward_along(probs, dy, axis=axis, **options)
    assert_close(
        ds.softmax_backward(probs, dy, axis=axis, **options),
        product,
        kind="softmax Jacobian product",
    )
    out = np.ones(shape, np.float32)  # backward adds into out
    ds.softmax_backward(probs, dy, out=out, axis=axis, **options)
    assert_close(out, 1 + product, kind="softmax Jacobian product, added")


@pytest.mark.parametrize("shape, axis, groups", AXIS_CASES[3:7])
def test_any_axis_is_the_last_axis_moved(rng, shape, axis, groups):
    """The strided call gives what the last-axis call gives on a transposed
    copy (to rounding: the two take different vector kernels)."""
    x = logits(rng, shape)
    moved = np.ascontiguousarray(np.moveaxis(x, axis, -1))
    for function, kind in ((ds.softmax, "probabilities"), (ds.log_softmax, "log_softmax")):
        assert_close(
            function(x, groups, axis=axis),
            np.moveaxis(function(moved, groups), -1, axis),
            kind=kind,
        )


def test_backward_along_axis_1_matches_finite_differences(rng):
    x, weights = logits(rng, (2, 5, 3)), rng.standard_normal((2, 5, 3))
    y = ds.softmax(x, axis=1, temperature=2.0)
    gradient = ds.softmax_backward(y, weights.astype(np.float32), axis=1, temperature=2.0)

    def loss(z):
        return float((reference.softmax_along(z, axis=1, temperature=2.0) * weights).sum())

    assert_close(
        gradient,
        numeric_gradient(loss, x),
        atol=1e-6,
        rtol=1e-4,
        kind="finite-difference gradient",
    )


def test_the_spatial_layer_is_axis_1(rng):
    """SoftmaxLayer(spatial=True) over (batch, c, h, w) is softmax(axis=1)."""
    x = logits(rng, (2, 5, 3, 4))
    layer = ds.SoftmaxLayer(2, 60, spatial=True, shape=(3, 4, 5))
    layer.forward(ds.NetworkContext(input=x.reshape(2, 60)))
    assert np.array_equal(layer.output.reshape(x.shape), ds.softmax(x, axis=1))


@pytest.mark.parametrize(
    "values", [[-1e30, 1e30, 0.0], [5.0] * 9, [-np.inf, 0.0, 1.0], [np.nan, 1.0, 2.0]]
)
def test_extreme_values_along_axis_0(kernel_path, values):
    x = np.array([values, values[::-1]], np.float32).T.copy()  # the groups down axis 0
    with np.errstate(all="ignore"):
        expected = reference.softmax_along(x, axis=0)
        expected_log = reference.log_softmax_along(x, axis=0)
    assert_close(ds.softmax(x, axis=0), expected)
    assert_close(ds.log_softmax(x, axis=0), expected_log, kind="log_softmax")


# softmax and log_softmax over axis 1 of (batch, classes, positions), the SSD head:
# positions around a vector and a tile of 64, batch 1, and class counts
# around the tile's runs of eight, with 200 a tile of 40 positions and 513
# too many classes for a tile; and positions past one block of 256 KB (1024
# positions of 21 classes, 800 of 81, 320 of 200, 16 of 3000) with a ragged
# last block.
LOG_STRIDED = [
    (batch, classes, positions)
    for positions in (1, 7, 8, 9, 63, 64, 65, 130)
    for classes in (1, 2, 8, 21, 81, 200, 513)
    for batch in (1, 2)
] + [(2, 21, 1100), (2, 81, 810), (1, 200, 333), (1, 3000, 40)]


@pytest.mark.parametrize("shape", LOG_STRIDED, ids=str)
@pytest.mark.parametrize("temperature", [1.0, 0.5])
@pytest.mark.parametrize("function, along, kind", ALONG)
def test_softmax_over_a_strided_axis(kernel_path, rng, shape, temperature, function, along, kind):
    x = logits(rng, shape)
    expected = along(x, axis=1, temperature=temperature)
    assert_close(function(x, axis=1, temperature=temperature), expected, kind=kind)
    function(x, axis=1, temperature=temperature, out=x)  # in place
    assert_close(x, expected, kind=kind)


@pytest.mark.parametrize(
    "values",
    [[-1e30, 1e30, 0.0, 1e30], [5.0] * 9, [-np.inf, 0.0, 1.0, -np.inf], [np.nan, 1.0, 2.0]],
)
@pytest.mark.parametrize("function, along, kind", ALONG)
def test_extremes_over_a_strided_axis(kernel_path, values, function, along, kind):
    """Each of 70 positions a rotation of the values: a tile and a part."""
    rotations = np.array([np.roll(values, p) for p in range(70)], np.float32)
    x = np.ascontiguousarray(rotations.T)[None]  # (1, classes, 70)
    with np.errstate(all="ignore"):
        expected = along(x, axis=1)
    assert_close(function(x, axis=1), expected, kind=kind)


@pytest.mark.parametrize(
    "classes, lowest, highest, positions",
    [(n, -12, 0, 4096) for n in (2, 21, 81, 200, 512)] + [(4096, -24, -16, 256)],
)
@pytest.mark.parametrize("rows", [False, True], ids=["strided", "rows"])
def test_log_softmax_sum_is_within_its_stated_error(
    kernel_path, classes, lowest, highest, positions, rows
):
    """The largest output, -log(S) with S the sum of exps, carries the
    coarse exp's error (3.2e-6 of the exps other than the largest, which is
    1, and without an FMA 6e-8 |v| more, v their shift: (3.2e-6 + 6e-8 |v|)
    (1 - 1/S)), the roundings of the log and the output (2.5e-7 of it) and
    the double sum's own, half an ulp of 1 (2^-53) a class: each position's
    largest logit 0 and the others equal, from -12 to 0, so that S runs from
    1 + 6e-6 up; or 4095 others from -24 to -16, each below half an ulp of a
    float sum near 1, which the sum must still hold. The same over rows
    (classes contiguous), whose sums add runs of eight vectors in float
    first, the largest's exp (1) left out: 3 roundings, 3 * 2^-24 of S - 1
    more."""
    shift = np.linspace(lowest, highest, positions, dtype=np.float32)
    x = np.zeros((1, classes, shift.size), np.float32)
    x[0, 1:] = shift
    expected = reference.log_softmax_along(x, axis=1)[0, 0]
    if rows:
        actual = ds.log_softmax(np.ascontiguousarray(x[0].T))[:, 0]
    else:
        actual = ds.log_softmax(x, axis=1)[0, 0]
    error = np.abs(actual - expected)
    sums = np.exp(-expected)
    bound = (3.2e-6 + 6e-8 * np.abs(shift)) * (1 - 1 / sums) + 2.5e-7 * np.abs(expected)
    float_sums = 3 * 2.0**-24 * (1 - 1 / sums) if rows else 0.0
    assert (error <= bound + classes * 2.0**-53 + float_sums).all()


@pytest.mark.parametrize("function, along, kind", ALONG)
def test_strided_axis_on_two_threads_matches_one(rng, function, along, kind):
    x = logits(rng, (3, 81, 700))
    with ds.runtime.settings(num_threads=1):
        one = function(x, axis=1)
    with ds.runtime.settings(num_threads=2):
        two = function(x, axis=1)
    assert_close(two, along(x, axis=1), kind=kind)
    assert np.array_equal(one, two)


def test_empty_arrays_give_empty_results():
    for shape, axis in [((0,), -1), ((0, 5), -1), ((3, 0), -1), ((2, 0, 4), 1), ((2, 0, 4), 2)]:
        x = np.zeros(shape)
        assert ds.softmax(x, axis=axis).shape == shape
        assert ds.log_softmax(x, axis=axis).dtype == np.float32
        assert ds.softmax_backward(x, x, axis=axis).shape == shape
        delta, error = ds.softmax_x_ent(x, x)
        assert delta.shape == error.shape == shape
    assert ds.softmax([]).shape == (0,)
    out = np.zeros((0, 4), np.float32)
    assert ds.softmax(np.zeros((0, 4)), out=out) is out


def test_x_ent_takes_any_array(rng):
    pred = ds.softmax(logits(rng, (3, 6)))
    truth = one_hot([1, 2, 3], 6)
    expected = ds.softmax_x_ent(pred, truth)
    for args in [(pred.tolist(), truth.astype(np.int8)), (pred.astype(np.float64), truth.tolist())]:
        for result, want in zip(ds.softmax_x_ent(*args), expected):
            assert np.array_equal(result, want)
    exact = ds.softmax_x_ent(pred.reshape(3, 2, 3), truth.reshape(3, 2, 3), exact=True, groups=3)
    flat = ds.softmax_x_ent(pred, truth, exact=True, groups=6)
    assert np.array_equal(exact[0].reshape(3, 6), flat[0])


def test_tree_helpers_take_any_array():
    tree = make_tree([-1, -1, 0, 0, 1])
    pred = np.array([[0.3, 0.7, 0.4, 0.6, 1.0]])
    as_float32 = pred.astype(np.float32)
    assert np.array_equal(
        ds.hierarchy_predictions(pred.tolist(), tree), ds.hierarchy_predictions(as_float32, tree)
    )
    assert ds.get_hierarchy_probability(pred[0], tree, 3) == ds.get_hierarchy_probability(
        as_float32[0], tree, 3
    )
    assert ds.hierarchy_top_prediction(pred[0].tolist(), tree, 0.1) == ds.hierarchy_top_prediction(
        as_float32[0], tree, 0.1
    )
    truth = np.zeros(5, np.int64)
    truth[3] = 1
    filled = ds.fill_hierarchy(truth, tree)
    assert filled.dtype == np.float32 and filled[0] == 1
    assert ds.fill_hierarchy(np.zeros((0, 5)), tree).shape == (0, 5)
