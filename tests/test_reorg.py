"""ReorgLayer (darknet_softmax.layers.reorg) against its float64 reference
and a line-by-line transcription of Darknet's reorg_cpu; backward as the
adjoint of forward, overwriting net.delta as Darknet does or adding (exact);
the extra form of go.cfg; refused shapes."""

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import assert_close
from darknet_softmax.layers import ReorgLayer
from darknet_softmax.layers import reorg as reorg_layer


def darknet_reorg_cpu(x, w, h, c, batch, stride, forward):
    """Darknet's src/blas.c reorg_cpu, loop for loop."""
    out = np.full(x.size, np.nan)
    x = x.ravel()
    out_c = c // (stride * stride)
    for b in range(batch):
        for k in range(c):
            for j in range(h):
                for i in range(w):
                    in_index = i + w * (j + h * (k + c * b))
                    c2 = k % out_c
                    offset = k // out_c
                    w2 = i * stride + offset % stride
                    h2 = j * stride + offset // stride
                    out_index = w2 + w * stride * (h2 + h * stride * (c2 + out_c * b))
                    if forward:
                        out[out_index] = x[in_index]
                    else:
                        out[in_index] = x[out_index]
    return out.reshape(batch, -1)


# (h, w, c) inputs, stride, reverse
FORMS = [
    ((1, 1, 1), 1, False),
    ((2, 2, 4), 2, False),
    ((4, 6, 12), 2, False),
    ((6, 3, 9), 3, False),
    ((2, 4, 20), 2, False),
    ((3, 5, 4), 2, True),
    ((1, 1, 36), 3, True),
    ((2, 2, 8), 2, True),
]


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("shape, stride, reverse", FORMS)
def test_stride_forms_match_darknet(rng, batch, shape, stride, reverse):
    h, w, c = shape
    layer = ReorgLayer(batch, shape, stride, reverse)
    x = rng.standard_normal((batch, h * w * c)).astype(np.float32)
    x.flat[0], x.flat[-1] = np.nan, np.inf
    layer.forward(ds.NetworkContext(x))
    expected = reorg_layer.reference_forward(x, shape, stride, reverse)
    np.testing.assert_array_equal(expected, darknet_reorg_cpu(x, w, h, c, batch, stride, reverse))
    assert_close(layer.output, expected, kind="reorg")
    out_h, out_w, out_c = reorg_layer.output_shape(shape, stride, reverse)
    assert out_h * out_w * out_c == h * w * c
    assert (out_h, out_w) == ((h * stride, w * stride) if reverse else (h // stride, w // stride))


def forms():
    yield from ((shape, dict(stride=stride, reverse=reverse)) for shape, stride, reverse in FORMS)
    yield (3, 5, 2), dict(flatten=True)
    yield (3, 5, 2), dict(flatten=True, reverse=True)
    yield (4, 2, 8), dict(flatten=True, stride=2)
    yield (3, 5, 2), dict(extra=1)
    yield (1, 1, 7), dict(extra=4, stride=3)  # stride goes unused with extra, as in Darknet


@pytest.mark.parametrize("exact", [False, True])
@pytest.mark.parametrize("shape, options", list(forms()))
def test_backward_is_forward_transposed(rng, shape, options, exact):
    """<forward(x), d> == <x, backward(d)>: the gradient of a permutation.
    Darknet's backward writes over a pre-filled net.delta; exact adds to it."""
    batch = 2
    layer = ReorgLayer(batch, shape, exact=exact, **options)
    x = rng.standard_normal((batch, int(np.prod(shape)))).astype(np.float32)
    layer.forward(ds.NetworkContext(x))
    assert_close(layer.output, reorg_layer.reference_forward(x, shape, **options), kind="reorg")
    layer.delta[:] = rng.standard_normal(layer.delta.shape)
    net_delta = rng.standard_normal(x.shape).astype(np.float32)
    before = net_delta.copy()
    layer.backward(ds.NetworkContext(x, delta=net_delta))
    expected = reorg_layer.reference_backward(layer.delta, before, shape, exact=exact, **options)
    assert_close(net_delta, expected, kind="reorg")
    passed = net_delta - before if exact else net_delta
    assert np.isclose(
        np.sum(layer.output.astype(np.float64) * layer.delta), np.sum(x.astype(np.float64) * passed)
    )


def test_extra_appends_zeros():
    layer = ReorgLayer(2, (1, 2, 1), extra=3)
    layer.output[:] = 9  # forward writes the zeros, whatever the buffer held
    x = np.array([[1, 2], [3, 4]], np.float32)
    layer.forward(ds.NetworkContext(x))
    assert layer.output.tolist() == [[1, 2, 0, 0, 0], [3, 4, 0, 0, 0]]
    assert layer.describe() == "extra 3"


def test_flatten_by_hand():
    x = np.arange(6, dtype=np.float32).reshape(1, 6)  # c=2 channels of 3 positions
    layer = ReorgLayer(1, (1, 3, 2), flatten=True)
    layer.forward(ds.NetworkContext(x))
    assert layer.output.tolist() == [[0, 3, 1, 4, 2, 5]]


def overwrite_network(exact):
    """A route reads both the reorg and the layer before it: backward adds
    the route's share into that layer's delta before the reorg's backward
    runs, which (in Darknet) then writes over it."""
    net = ds.Network(inputs=3, batch=1, seed=0, exact=exact)
    net.add_connected(4, "linear")
    net.add_reorg()
    net.add_route((0, 1))
    return net


def test_darknet_overwrite_loses_the_route_share_exact_keeps_it():
    x = np.ones((1, 3), np.float32)
    first_deltas = {}
    for exact in (False, True):
        net = overwrite_network(exact)
        net.forward(x, train=True)
        net.layers[-1].delta[:] = np.arange(1, 9)
        for index in (2, 1):  # the route, then the reorg (before the first layer's backward)
            net.layers[index].backward(net._context(index, True, False))
        first_deltas[exact] = net.layers[0].delta.copy()
    assert first_deltas[False].tolist() == [[5, 6, 7, 8]]
    assert first_deltas[True].tolist() == [[6, 8, 10, 12]]


GO = """[net]
batch=1
inputs=6
exact={exact}
[connected]
output=4
activation=linear
[reorg]
extra=1
stride=1
[softmax]
"""


def test_cfg_extra_form_of_go(rng):
    net = ds.Network.from_cfg(GO.format(exact=0), seed=1)
    assert net._shapes[1] == (1, 1, 5) and net.layers[1].outputs == 5
    assert "reorg         extra 1" in net.summary()
    x = rng.standard_normal((1, 6)).astype(np.float32)
    assert_close(net.predict(x), net.reference_predict(x), kind="reorg network")
    assert np.isfinite(net.train_batch(x, np.eye(1, 5, dtype=np.float32)))
    assert ds.Network.from_cfg(GO.format(exact=1)).layers[1].exact


@pytest.mark.parametrize(
    "shape, options, words",
    [
        ((2, 2, 3), dict(stride=2), r"channels \(3\) must divide by stride\*stride \(4\)"),
        ((2, 2, 6), dict(stride=2, reverse=True), r"channels \(6\) must divide"),
        ((3, 2, 4), dict(stride=2), r"width and height \(2 x 3\) must divide by stride \(2\)"),
        ((2, 2, 4), dict(extra=1, reverse=True), "extra cannot go with reverse or flatten"),
        ((2, 2, 4), dict(extra=1, flatten=True), "extra cannot go with reverse or flatten"),
    ],
)
def test_refused_shapes(shape, options, words):
    with pytest.raises(ValueError, match=words):
        ReorgLayer(1, shape, **options)
    h, w, c = shape
    net = ds.Network(height=h, width=w, channels=c)
    with pytest.raises(ValueError, match=words):
        net.add_reorg(**options)
    assert not net.layers


def test_bad_arguments(rng):
    with pytest.raises(ValueError, match="stride must be at least 1"):
        ReorgLayer(1, (2, 2, 4), stride=0)
    with pytest.raises(ValueError, match="extra must be at least 0"):
        ReorgLayer(1, (2, 2, 4), extra=-1)
    with pytest.raises(TypeError, match="reverse must be True or False"):
        ReorgLayer(1, (2, 2, 4), reverse=1)
    with pytest.raises(ValueError, match=r"line 10: stride=0: expected an integer"):
        ds.Network.from_cfg(GO.format(exact=0).replace("stride=1", "stride=0"))
    layer = ReorgLayer(2, (2, 2, 4), stride=2)
    net_delta = np.ones((2, 15), np.float32)
    with pytest.raises(ValueError, match="net.delta must hold 32 floats"):
        layer.backward(ds.NetworkContext(np.zeros((2, 16), np.float32), delta=net_delta))
    with pytest.raises(ValueError, match="net.delta and layer.delta must be different"):
        layer.backward(ds.NetworkContext(np.zeros((2, 16), np.float32), delta=layer.delta))
    assert (net_delta == 1).all() and not layer.output.any()
    layer.close()
    assert repr(layer) == "ReorgLayer(closed)"
