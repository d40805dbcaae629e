"""ConvolutionalLayer (csrc/convolutional_layer.c, csrc/batchnorm_layer.c)
against the float64 reference, a direct convolution in NumPy (no im2col), and
Darknet's batch normalisation transcribed in float64 (darknet_softmax.batchnorm);
finite differences of the exact path; Darknet's 1x1 overwrite; bad options;
cfg and .weights round trips; a small network that trains."""

import struct

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import assert_close, check_layer_gradients
from darknet_softmax import batchnorm, reference
from darknet_softmax.activations import ACTIVATIONS
from darknet_softmax.binding import lib
from darknet_softmax.layers import ConvolutionalLayer
from darknet_softmax.layers import convolutional as conv

# (batch, h, w, c, filters, size, stride, padding, groups)
CONFIGS = [
    pytest.param((1, 1, 1, 1, 1, 1, 1, 0, 1), id="1-element"),
    pytest.param((1, 5, 7, 3, 5, 1, 1, 0, 1), id="1x1-direct"),
    pytest.param((3, 5, 7, 3, 5, 1, 2, 0, 1), id="1x1-stride2"),
    pytest.param((3, 7, 5, 4, 6, 3, 1, 1, 2), id="3x3-pad1-groups2"),
    pytest.param((1, 9, 7, 1, 3, 3, 2, 0, 1), id="3x3-stride2-1channel"),
    pytest.param((3, 8, 9, 6, 6, 3, 1, 1, 6), id="3x3-depthwise"),
    pytest.param((1, 11, 9, 2, 9, 5, 1, 2, 1), id="5x5-pad2"),
    pytest.param((3, 6, 7, 4, 4, 2, 2, 0, 2), id="2x2-stride2-groups2"),
    pytest.param((1, 7, 7, 3, 10, 4, 1, 1, 1), id="4x4-pad1"),
    pytest.param((3, 4, 5, 2, 3, 5, 2, 2, 1), id="5x5-stride2-pad2"),
]


def tolerance(layer):
    """A float32 sum of k products, k the weights one output reads."""
    k = layer.size * layer.size * layer.shape[2] // layer.groups
    return 4e-6 * max(1, k) ** 0.5


def make(rng, config, activation="leaky", batch_normalize=False, exact=False):
    batch, h, w, c, filters, size, stride, padding, groups = config
    layer = ConvolutionalLayer(
        batch, (h, w, c), filters, size, stride, padding, groups, activation, batch_normalize,
        seed=int(rng.integers(1000)), exact=exact,
    )  # fmt: skip
    layer.biases[:] = rng.standard_normal(filters)
    if batch_normalize:
        layer.scales[:] = rng.uniform(0.5, 1.5, filters)
        layer.rolling_mean[:] = rng.standard_normal(filters) * 0.1
        layer.rolling_variance[:] = rng.uniform(0.5, 2.0, filters)
    x = rng.standard_normal((batch, h * w * c)).astype(np.float32)
    return layer, x


def sums_of(layer, x):
    """The reference convolution's sums, (batch, filters, positions)."""
    sums = conv.convolve(x, layer.weights, layer.shape, layer.stride, layer.padding, layer.groups)
    return sums.reshape(sums.shape[0], sums.shape[1], -1)


def expected_forward(layer, x, train, rolling_mean, rolling_variance):
    """(output, x_norm, mean, variance, rolling mean, rolling variance) of the reference."""
    sums = sums_of(layer, x)
    if not layer.batch_normalize:
        out = sums + reference.f64(layer.biases)[:, None]
        return reference.activate(out.reshape(len(x), -1), layer.activation), None
    result = batchnorm.forward(
        sums, layer.scales, layer.biases, rolling_mean, rolling_variance, train
    )
    return reference.activate(result[0].reshape(len(x), -1), layer.activation), result


@pytest.mark.parametrize("train", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("batch_normalize", [False, True], ids=["bias", "batchnorm"])
@pytest.mark.parametrize("config", CONFIGS)
def test_forward_matches_reference(rng, config, batch_normalize, train):
    layer, x = make(rng, config, "leaky", batch_normalize)
    if batch_normalize and train and config[0] * config[1] * config[2] == 1:
        pytest.skip("one value per filter: Darknet's variance is 0/0 (its own test below)")
    rolling = (
        (layer.rolling_mean.copy(), layer.rolling_variance.copy()) if batch_normalize else (0, 0)
    )
    layer.forward(ds.NetworkContext(x, train=train))
    expected, normalised = expected_forward(layer, x, train, *rolling)
    atol = tolerance(layer) * (10 if batch_normalize and train else 1)
    assert_close(layer.output, expected, atol=atol, rtol=1e-5, kind="convolutional forward")
    if not train:
        assert_close(layer.output, layer.reference(x, []), atol=atol, kind="convolutional forward")
    if batch_normalize:
        _, x_norm, mean, variance, rolling_mean, rolling_variance = normalised
        assert_close(layer.x, sums_of(layer, x).reshape(len(x), -1), atol=atol, rtol=1e-5)
        assert_close(layer.rolling_mean, rolling_mean, atol=atol, rtol=1e-5)
        assert_close(layer.rolling_variance, rolling_variance, atol=atol, rtol=1e-5)
        if train:
            assert_close(layer.mean, mean, atol=atol, rtol=1e-5, kind="batchnorm statistics")
            assert_close(
                layer.variance, variance, atol=atol, rtol=1e-4, kind="batchnorm statistics"
            )
            assert_close(layer.x_norm, x_norm.reshape(len(x), -1), atol=atol * 10, rtol=1e-4)


def expected_backward(layer, x, upstream, train, x_norm):
    """(bias updates, scale updates or None, weight updates, input delta) from
    updates at zero, Darknet's batch normalisation unless the layer is exact."""
    batch, filters = len(x), layer.filters
    delta = reference.f64(upstream) * reference.gradient(layer.output, layer.activation)
    delta = delta.reshape(batch, filters, -1)
    scale_updates = None
    if not layer.batch_normalize:
        bias_updates = delta.sum(axis=(0, 2))
    else:
        sums = sums_of(layer, x)
        if train:
            mean, variance = batchnorm.statistics(sums)
        else:
            mean, variance = (
                reference.f64(layer.rolling_mean),
                reference.f64(layer.rolling_variance),
            )
        if layer.exact:
            bias_updates, scale_updates, delta = batchnorm.backward_exact(
                delta, sums, layer.scales, mean, variance, train
            )
        else:
            bias_updates, scale_updates, delta = batchnorm.backward_darknet(
                delta, sums, x_norm, layer.scales, mean, variance
            )
    out_h, out_w, _ = layer.out_shape
    weight_updates, input_delta = conv.convolve_backward(
        x, layer.weights, delta.reshape(batch, filters, out_h, out_w), layer.shape,
        layer.stride, layer.padding, layer.groups,
    )  # fmt: skip
    return bias_updates, scale_updates, weight_updates, input_delta


def direct(layer):
    return layer.size == 1 and layer.stride == 1 and layer.padding == 0


@pytest.mark.parametrize("exact", [False, True], ids=["darknet", "exact"])
@pytest.mark.parametrize("train", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("batch_normalize", [False, True], ids=["bias", "batchnorm"])
@pytest.mark.parametrize("config", CONFIGS)
def test_backward_matches_reference(rng, config, batch_normalize, train, exact):
    layer, x = make(rng, config, "logistic", batch_normalize, exact)
    if batch_normalize and config[0] * config[1] * config[2] == 1:
        pytest.skip("one value per filter: Darknet's variance is 0/0 (its own test below)")
    if batch_normalize:
        # a training pass first, so that Darknet's inference backward reads
        # the x_norm a training pass leaves (it does not write its own)
        layer.forward(ds.NetworkContext(x, train=True))
        layer.rolling_variance[:] = rng.uniform(0.5, 2.0, layer.filters)
    before = rng.standard_normal(x.shape).astype(np.float32)
    net_delta = before.copy()
    net = ds.NetworkContext(x, delta=net_delta, train=train)
    layer.forward(net)
    x_norm = layer.x_norm.reshape(len(x), layer.filters, -1).copy() if batch_normalize else None
    upstream = rng.standard_normal(layer.output.shape).astype(np.float32)
    layer.delta[:] = upstream
    layer.backward(net)
    bias_updates, scale_updates, weight_updates, input_delta = expected_backward(
        layer, x, upstream, train, x_norm
    )
    atol = tolerance(layer) * (30 if batch_normalize else 4)
    kind = "convolutional backward"
    assert_close(layer.bias_updates, bias_updates, atol=atol, rtol=1e-4, kind=kind)
    if batch_normalize:
        assert_close(layer.scale_updates, scale_updates, atol=atol, rtol=1e-4, kind=kind)
    assert_close(layer.weight_updates, weight_updates, atol=atol, rtol=1e-4, kind=kind)
    # Darknet's 1x1 convolution writes net.delta; everything else adds
    overwritten = direct(layer) and not exact
    assert_close(
        net_delta, input_delta if overwritten else before + input_delta, atol=atol, rtol=1e-4,
        kind=kind,
    )  # fmt: skip


@pytest.mark.parametrize(
    "config",
    [
        pytest.param((2, 16, 16, 64, 80, 1, 1, 0, 1), id="1x1-direct"),
        pytest.param((1, 12, 13, 20, 40, 3, 1, 1, 1), id="3x3-pad1"),
        pytest.param((2, 9, 9, 48, 36, 3, 2, 1, 2), id="3x3-stride2-groups2"),
    ],
)
def test_products_above_the_threading_threshold_on_every_path(rng, kernel_path, config):
    """Layers whose products pass a million multiply-adds, so that gemm splits
    them over the threads: the 1x1 convolution reads its input directly (no
    im2col, no col2im), the others through im2col; forward and backward."""
    layer, x = make(rng, config, "leaky")
    net_delta = np.zeros_like(x)
    net = ds.NetworkContext(x, delta=net_delta, train=True)
    layer.forward(net)
    expected, _ = expected_forward(layer, x, True, None, None)
    atol = tolerance(layer) * 4
    assert_close(layer.output, expected, atol=atol, rtol=1e-5, kind="convolutional forward")
    upstream = rng.standard_normal(layer.output.shape).astype(np.float32)
    layer.delta[:] = upstream
    layer.backward(net)
    bias_updates, _, weight_updates, input_delta = expected_backward(layer, x, upstream, True, None)
    kind = "convolutional backward"
    scale = np.abs(weight_updates).max()
    assert_close(layer.bias_updates, bias_updates, atol=1e-5 * scale, rtol=1e-5, kind=kind)
    assert_close(layer.weight_updates, weight_updates, atol=1e-5 * scale, rtol=0, kind=kind)
    assert_close(net_delta, input_delta, atol=atol, rtol=1e-4, kind=kind)


@pytest.mark.parametrize(
    "config",
    [
        pytest.param((4, 12, 13, 20, 40, 3, 1, 1, 1), id="4-items-side-by-side"),
        pytest.param((3, 12, 13, 20, 40, 3, 1, 1, 1), id="3-items-each-split"),
        pytest.param((2, 16, 16, 64, 80, 1, 1, 0, 2), id="1x1-direct-groups2"),
    ],
)
@pytest.mark.parametrize("isa", ds.runtime.INSTRUCTION_SETS)
def test_forward_is_the_same_bits_at_any_thread_count(rng, config, isa):
    """At two threads the forward products run side by side, a share of the
    items each, where their count divides evenly, else each split over the
    threads: either way every output is the one-thread result to the bit."""
    if isa not in ds.instruction_sets():
        pytest.skip(f"this build or CPU has no {isa}")
    layer, x = make(rng, config, "leaky")
    outputs = []
    for threads in (1, 2):
        layer.output[:] = np.nan  # so that a product left undone shows
        with ds.runtime.settings(kernel="vector", instruction_set=isa, num_threads=threads):
            layer.forward(ds.NetworkContext(x))
        outputs.append(layer.output.copy())
    expected, _ = expected_forward(layer, x, False, None, None)
    assert_close(outputs[0], expected, atol=tolerance(layer) * 4, rtol=1e-5, kind="convolutional")
    np.testing.assert_array_equal(outputs[1], outputs[0])


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
def test_every_activation_in_the_threads_blocks(rng, kernel_path, activation):
    """Without batch normalisation, the threads of a product above the
    threshold add the biases and apply the activation to each block of output
    they finish: every activation, over two items and two groups (each with
    its own biases), and a last panel and a last column of tiles that are
    partial."""
    layer, x = make(rng, (2, 12, 13, 40, 80, 3, 1, 1, 2), activation)
    layer.forward(ds.NetworkContext(x))
    expected, _ = expected_forward(layer, x, False, None, None)
    atol = tolerance(layer) * 4
    assert_close(layer.output, expected, atol=atol, rtol=1e-5, kind=f"convolutional {activation}")


@pytest.mark.parametrize("exact", [False, True], ids=["darknet", "exact"])
def test_1x1_overwrites_net_delta_as_darknet_does_unless_exact(rng, exact):
    """What a shortcut or a route had added to net.delta is lost behind a 1x1
    convolution with stride 1 (Darknet's gemm with BETA = 0); exact adds."""
    layer, x = make(rng, (2, 4, 5, 3, 6, 1, 1, 0, 1), "linear", exact=exact)
    net_delta = np.full(x.shape, 5.0, np.float32)
    net = ds.NetworkContext(x, delta=net_delta, train=True)
    layer.forward(net)
    layer.delta[:] = 1
    layer.backward(net)
    # the input delta of a linear 1x1 convolution with delta 1: each input
    # channel gets the sum of its weights over the filters
    added = np.repeat(layer.weights[:, :, 0, 0].sum(axis=0), 4 * 5)
    assert_close(net_delta, np.tile(added + (5.0 if exact else 0.0), (2, 1)), atol=1e-5)


@pytest.mark.parametrize("config", [(2, 4, 5, 3, 6, 3, 1, 1, 1), (2, 4, 5, 3, 6, 1, 2, 0, 1)])
def test_other_convolutions_add_into_net_delta(rng, config):
    """A 3x3 convolution, and a 1x1 with stride 2 (which Darknet would read
    wrongly without im2col), add in both modes."""
    for exact in (False, True):
        layer, x = make(rng, config, "linear", exact=exact)
        net_delta = np.full(x.shape, 5.0, np.float32)
        net = ds.NetworkContext(x, delta=net_delta)
        layer.forward(net)
        layer.delta[:] = 1
        layer.backward(net)
        out_h, out_w, _ = layer.out_shape
        _, input_delta = conv.convolve_backward(
            x, layer.weights, np.ones((2, 6, out_h, out_w)), layer.shape, layer.stride,
            layer.padding, layer.groups,
        )  # fmt: skip
        assert_close(net_delta, 5 + input_delta, atol=1e-5)


# --- finite differences of the exact path (and Darknet's where it is exact) ---

FD_CONFIGS = [(2, 4, 5, 4, 4, 3, 1, 1, 2), (3, 3, 3, 2, 3, 1, 1, 0, 1), (2, 5, 4, 2, 2, 2, 2, 0, 1)]


@pytest.mark.parametrize("exact", [False, True], ids=["darknet", "exact"])
@pytest.mark.parametrize("train", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("batch_normalize", [False, True], ids=["bias", "batchnorm"])
@pytest.mark.parametrize("config", FD_CONFIGS)
def test_finite_difference_gradients(rng, config, batch_normalize, train, exact):
    """loss = sum(g * output): the C's updates and input delta are its
    negative gradients, by central differences on the float64 forward (the
    batch's statistics in training, the rolling ones outside). Without batch
    normalisation Darknet's gradient is exact too; with it, only exact is."""
    if batch_normalize and not exact:
        pytest.skip("Darknet's batch-norm gradient is not exact; tested against its formulas")
    layer, x = make(rng, config, "tanh", batch_normalize, exact)
    g = rng.standard_normal(layer.output.shape)
    rolling = (layer.rolling_mean.copy(), layer.rolling_variance.copy()) if batch_normalize else 0
    weights, biases = layer.weights.astype(np.float64), layer.biases.astype(np.float64)
    scales = layer.scales.astype(np.float64) if batch_normalize else None

    def loss(inp, w, b, s):
        sums = conv.convolve(inp, w, layer.shape, layer.stride, layer.padding, layer.groups)
        sums = sums.reshape(len(inp), layer.filters, -1)
        if batch_normalize:
            out = batchnorm.forward(sums, s, b, *rolling, train)[0]
        else:
            out = sums + b[:, None]
        return float((g * reference.activate(out.reshape(len(inp), -1), "tanh")).sum())

    check_layer_gradients(layer, x, g, loss, (weights, biases, scales), train)


def test_darknet_batchnorm_gradient_differs_from_the_exact_one(rng):
    """Darknet's epsilon inside the root and its division by N: with a small
    variance the two paths part by more than rounding."""
    config = (2, 3, 3, 1, 2, 1, 1, 0, 1)
    results = []
    for exact in (False, True):
        layer, _ = make(np.random.default_rng(5), config, "linear", True, exact)
        x = (np.random.default_rng(6).standard_normal((2, 9)) * 1e-3).astype(np.float32)
        net_delta = np.zeros_like(x)
        net = ds.NetworkContext(x, delta=net_delta, train=True)
        layer.forward(net)
        layer.delta[:] = np.random.default_rng(7).standard_normal(layer.delta.shape)
        layer.backward(net)
        results.append(net_delta.copy())
    assert np.abs(results[0] - results[1]).max() > 1e-2 * np.abs(results[1]).max()


def test_one_value_per_filter_in_training_is_nan_as_in_darknet():
    """batch 1 of a 1x1 output: Darknet's variance divides by N - 1 = 0."""
    layer = ConvolutionalLayer(1, (1, 1, 2), 3, batch_normalize=True, activation="linear", seed=0)
    layer.forward(ds.NetworkContext(np.ones((1, 2), np.float32), train=True))
    assert np.isnan(layer.output).all()


# --- SGD ---


@pytest.mark.parametrize("batch_normalize", [False, True])
def test_update_follows_darknet_with_momentum_and_decay(rng, batch_normalize):
    layer, _ = make(rng, (4, 3, 3, 2, 3, 3, 1, 1, 1), "linear", batch_normalize)
    weights, biases = layer.weights.astype(np.float64), layer.biases.astype(np.float64)
    weight_updates, bias_updates = np.zeros(weights.shape), np.zeros(3)
    scales, scale_updates = (
        (layer.scales.astype(np.float64), np.zeros(3)) if batch_normalize else (0, 0)
    )
    for _ in range(3):
        new = rng.standard_normal(weights.shape).astype(np.float32)
        new_bias = rng.standard_normal(3).astype(np.float32)
        layer.weight_updates[...] += new
        layer.bias_updates[...] += new_bias
        weight_updates, bias_updates = weight_updates + new, bias_updates + new_bias
        if batch_normalize:
            new_scale = rng.standard_normal(3).astype(np.float32)
            layer.scale_updates[...] += new_scale
            scale_updates = scale_updates + new_scale
        layer.update(4, 0.1, 0.9, 0.01)
        weights, biases, weight_updates, bias_updates = reference.sgd_update(
            weights, biases, weight_updates, bias_updates, 4, 0.1, 0.9, 0.01
        )
        kind = "convolutional update"
        assert_close(layer.weights, weights, atol=1e-6, kind=kind)
        assert_close(layer.biases, biases, atol=1e-6, kind=kind)
        assert_close(layer.weight_updates, weight_updates, atol=1e-6, kind=kind)
        assert_close(layer.bias_updates, bias_updates, atol=1e-6, kind=kind)
        if batch_normalize:
            scales, scale_updates = scales + 0.1 / 4 * scale_updates, 0.9 * scale_updates
            assert_close(layer.scales, scales, atol=1e-6, kind=kind)
            assert_close(layer.scale_updates, scale_updates, atol=1e-6, kind=kind)


# --- extremes ---


def test_huge_inputs_stay_finite_and_match(rng):
    layer, _ = make(rng, (2, 4, 4, 2, 3, 3, 1, 1, 1), "linear")
    x = np.where(rng.random((2, 32)) < 0.5, 1e30, -1e30).astype(np.float32)
    layer.forward(ds.NetworkContext(x))
    expected = layer.reference(x, [])
    assert np.isfinite(layer.output).all()
    assert_close(layer.output, expected, atol=0, rtol=1e-5, kind="convolutional extremes")


@pytest.mark.parametrize("batch_normalize", [False, True])
def test_nan_reaches_the_outputs_that_read_it(rng, batch_normalize):
    """Without batch normalisation, exactly the outputs whose window holds the
    NaN; with it in training, every output of every filter (its mean is NaN)."""
    layer, x = make(rng, (2, 5, 5, 1, 2, 3, 1, 0, 1), "linear", batch_normalize)
    x[0, 0] = np.nan
    layer.forward(ds.NetworkContext(x, train=True))
    output = layer.output.reshape(2, 2, 3, 3)
    if batch_normalize:
        assert np.isnan(output).all()
    else:
        assert np.isnan(output[0, :, 0, 0]).all()
        assert np.isnan(output).sum() == 2 and not np.isnan(output[1]).any()


# --- the layer itself ---


def test_weights_start_as_darknets():
    layer = ConvolutionalLayer(1, (8, 8, 8), 64, 3, groups=2, batch_normalize=True, seed=1)
    assert layer.weights.shape == (64, 4, 3, 3)
    assert layer.weights.std() == pytest.approx(np.sqrt(2 / (3 * 3 * 4)), rel=0.05)
    assert not layer.biases.any() and (layer.scales == 1).all()
    assert not layer.rolling_mean.any() and not layer.rolling_variance.any()
    same = ConvolutionalLayer(1, (8, 8, 8), 64, 3, groups=2, batch_normalize=True, seed=1)
    assert np.array_equal(layer.weights, same.weights)


def test_no_batchnorm_buffers_without_batch_normalize():
    layer = ConvolutionalLayer(1, (3, 3, 1))
    with pytest.raises(AttributeError, match="batch_normalize is off"):
        _ = layer.scales
    assert layer.weights_layout == ("biases", "weights")
    assert "scales" not in layer.state


def test_describe_and_shape():
    layer = ConvolutionalLayer(1, (9, 7, 4), 32, 3, 2, 1)
    assert layer.describe() == "32 3 x 3 / 2"
    assert layer.out_shape == (5, 4, 32) and layer.outputs == 5 * 4 * 32
    assert ConvolutionalLayer(1, (4, 4, 4), 8, 3, 1, 1, 2).describe() == "8/2 3 x 3 / 1"


@pytest.mark.parametrize(
    "options, size",
    [
        (dict(filters=5, size=3, pad=1, batch_normalize=True), 1),
        (dict(filters=4, size=1), 3),
        (dict(filters=6, size=2, stride=2, groups=3), 2),
    ],
)
def test_plan_matches_the_built_layer(options, size):
    full = {key: option.default for key, option in ConvolutionalLayer.options.items()}
    full.update(options)
    params = ds.layers.base.LayerParams(size, 7 * 8 * 3, (7, 8, 3), [], [], 0)
    shape, nbytes = ConvolutionalLayer.plan(full, params)
    layer = ConvolutionalLayer.build(full, params)
    assert shape == layer.out_shape
    # the block adds the struct and aligns each buffer to 64 bytes
    actual = lib.layer_bytes(layer._layer)
    assert nbytes <= actual <= nbytes + 64 * 9 + 512


@pytest.mark.parametrize(
    "args, message",
    [
        (dict(shape=(3, 4, 3), groups=2), r"groups \(2\) must divide the input's channels \(3\)"),
        (dict(filters=3, groups=2, shape=(3, 4, 4)), r"groups \(2\) must divide filters \(3\)"),
        (dict(size=5), r"size \(5\) must be at most the input's 3 x 4"),
        (dict(size=0), "size must be at least 1"),
        (dict(stride=0), "stride must be at least 1"),
        (dict(padding=-1), "padding must be at least 0"),
        (dict(activation="swish"), "activation must be one of"),
    ],
)
def test_bad_options_name_the_option(args, message):
    keywords = dict(batch=1, shape=(3, 4, 2), filters=2)
    keywords.update(args)
    with pytest.raises(ValueError, match=message):
        ConvolutionalLayer(**keywords)


def test_bad_calls_write_nothing(rng):
    layer, x = make(rng, (2, 3, 3, 2, 2, 3, 1, 1, 1))
    with pytest.raises(ValueError, match="net.input must hold 36 floats"):
        layer.forward(ds.NetworkContext(np.zeros((2, 17), np.float32)))
    with pytest.raises(ValueError, match="learning_rate must be finite"):
        layer.update(2, float("nan"), 0.9, 0.0)
    net_delta = np.zeros((2, 5), np.float32)
    with pytest.raises(ValueError, match="net.delta must hold 36 floats"):
        layer.backward(ds.NetworkContext(x, delta=net_delta))
    with pytest.raises(ValueError, match="must be different arrays"):
        layer.backward(ds.NetworkContext(x, delta=layer.output))
    assert not layer.output.any() and not layer.weight_updates.any() and not net_delta.any()


# --- cfg, weights and a network ---

SMALL_CFG = """
[net]
height=8
width=7
channels=3
batch=4
learning_rate=0.1
momentum=0.9
decay=0.0005

[convolutional]
filters=5
size=3
pad=1
batch_normalize=1
activation=leaky

[convolutional]
filters=4
size=1

[connected]
output=3

[softmax]
"""


def test_cfg_sections_and_defaults():
    net = ds.Network.from_cfg(
        "[net]\nheight=6\nwidth=5\nchannels=4\n[conv]\nfilters=6\nsize=3\nstride=2\npad=1\n"
        "groups=2\nbatch_normalize=1\nactivation=relu\n[convolutional]\n[conv]\nsize=3\n"
        "padding=2\n"
    )
    first, second, third = net.layers
    assert (first.filters, first.size, first.stride, first.padding, first.groups) == (6, 3, 2, 1, 2)
    assert first.batch_normalize and first.activation == "relu" and first.out_shape == (3, 3, 6)
    assert (second.filters, second.size, second.stride, second.padding, second.groups) == (
        1, 1, 1, 0, 1,
    )  # fmt: skip
    assert second.activation == "logistic" and not second.batch_normalize
    assert third.padding == 2 and third.out_shape == (5, 5, 1)
    assert "6/2 3 x 3 / 2" in net.summary() and "1 1 x 1 / 1" in net.summary()


@pytest.mark.parametrize(
    "section, message",
    [
        ("[convolutional]\ngroups=2\n", r"line 5: \[convolutional\]: groups \(2\) must divide"),
        ("[convolutional]\nsize=9\n", r"line 5: \[convolutional\]: size \(9\) must be at most"),
        ("[convolutional]\nbatch_normalize=2\n", "batch_normalize=2: expected 0 or 1"),
    ],
)
def test_bad_cfg_names_the_line(section, message):
    with pytest.raises(ValueError, match=message):
        ds.Network.from_cfg("[net]\nheight=3\nwidth=3\nchannels=3\n" + section)


def randomise(net, rng):
    for layer in net.layers:
        for name in layer.weights_layout:
            buffer = getattr(layer, name)
            buffer[...] = rng.uniform(0.5, 1.5, buffer.shape)


def test_weights_round_trip(tmp_path, rng):
    net = ds.Network.from_cfg(SMALL_CFG, seed=1)
    randomise(net, rng)
    net.seen = 40
    net.save_weights(tmp_path / "small.weights")
    other = ds.Network.from_cfg(SMALL_CFG, seed=2)
    other.load_weights(tmp_path / "small.weights")
    assert other.seen == 40
    for mine, theirs in zip(net.layers, other.layers):
        for name in mine.weights_layout:
            assert np.array_equal(getattr(mine, name), getattr(theirs, name)), name


def test_a_darknet_file_loads_into_the_right_places(tmp_path):
    """A file laid out by hand in Darknet's order: a convolutional layer's
    biases, scales, rolling mean, rolling variance, then weights; a connected
    layer's biases, weights, then scales, rolling mean, rolling variance."""
    cfg = (
        "[net]\nheight=2\nwidth=2\nchannels=1\n[convolutional]\nfilters=2\nsize=1\n"
        "batch_normalize=1\n[connected]\noutput=3\nbatch_normalize=1\n"
    )
    net = ds.Network.from_cfg(cfg)
    conv_parts = {"biases": 2, "scales": 2, "rolling_mean": 2, "rolling_variance": 2, "weights": 2}
    connected_parts = {"biases": 3, "weights": 24, "scales": 3, "rolling_mean": 3,
                       "rolling_variance": 3}  # fmt: skip
    values, start = [], 1.0
    expected = []
    for layer, parts in zip(net.layers, (conv_parts, connected_parts)):
        for name, size in parts.items():
            chunk = np.arange(start, start + size, dtype=np.float32)
            values.append(chunk)
            expected.append((layer, name, chunk))
            start += size
    path = tmp_path / "hand.weights"
    path.write_bytes(struct.pack("<iiiQ", 0, 2, 0, 8) + np.concatenate(values).tobytes())
    net.load_weights(path)
    for layer, name, chunk in expected:
        assert np.array_equal(getattr(layer, name).ravel(), chunk), name


def test_small_network_reference_predict_and_training(rng):
    net = ds.Network.from_cfg(SMALL_CFG, seed=3)
    first = net.layers[0]
    first.rolling_mean[:] = rng.standard_normal(5) * 0.1
    first.rolling_variance[:] = rng.uniform(0.5, 2, 5)
    X = rng.standard_normal((4, 8 * 7 * 3)).astype(np.float32)
    assert_close(net.predict(X), net.reference_predict(X), atol=1e-5, rtol=1e-4, kind="network")
    labels = rng.integers(0, 3, 4)
    Y = np.eye(3, dtype=np.float32)[labels]
    losses = [net.train_batch(X, Y) for _ in range(20)]
    assert np.mean(losses[-5:]) < 0.9 * np.mean(losses[:5]) and losses[-1] < losses[0]
    assert np.all(np.isfinite(losses))
    # inference after training uses the rolling statistics the training moved
    assert_close(net.predict(X), net.reference_predict(X), atol=1e-5, rtol=1e-4, kind="network")


def test_set_batch_keeps_the_rolling_statistics(rng):
    net = ds.Network.from_cfg(SMALL_CFG, seed=3)
    X = rng.standard_normal((4, 8 * 7 * 3)).astype(np.float32)
    net.train_batch(X, np.eye(3, dtype=np.float32)[[0, 1, 2, 0]])
    rolling = net.layers[0].rolling_variance.copy()
    scales = net.layers[0].scales.copy()
    net.set_batch(2)
    assert np.array_equal(net.layers[0].rolling_variance, rolling)
    assert np.array_equal(net.layers[0].scales, scales)


def test_exact_network_reaches_the_layer():
    net = ds.Network.from_cfg(SMALL_CFG.replace("decay=0.0005", "decay=0.0005\nexact=1"))
    assert net.layers[0].exact and net.layers[1].exact and net.layers[2].exact
    assert not ds.Network.from_cfg(SMALL_CFG).layers[0].exact


def test_repr_shows_the_constructors_arguments_but_the_seed():
    layer = ConvolutionalLayer(2, (5, 5, 3), filters=4, size=3, stride=2, padding=1, seed=7)
    assert repr(layer) == (
        "ConvolutionalLayer(batch=2, shape=(5, 5, 3), filters=4, size=3, stride=2, padding=1, "
        "groups=1, activation='logistic', batch_normalize=False, exact=False)"
    )
