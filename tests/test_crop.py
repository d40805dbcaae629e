"""CropLayer (darknet_softmax.layers.crop) against its float64 reference:
the centre window outside training, random windows and flips in training,
no delta, refused options, and a cfg network that starts with a crop."""

import numpy as np
import pytest

import darknet_softmax as ds
from conftest import assert_close
from darknet_softmax.layers import CropLayer
from darknet_softmax.layers import crop as crop_layer

# (h, w, c), crop_height, crop_width
SHAPES = [
    ((1, 1, 1), 1, 1),
    ((5, 7, 3), 3, 4),
    ((6, 6, 2), 6, 6),
    ((9, 4, 1), 2, 3),
    ((8, 8, 17), 5, 5),
]


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("noadjust", [False, True])
@pytest.mark.parametrize("shape, height, width", SHAPES)
def test_centre_outside_training(rng, batch, noadjust, shape, height, width):
    layer = CropLayer(batch, shape, height, width, flip=True, noadjust=noadjust, seed=1)
    x = rng.standard_normal((batch, int(np.prod(shape)))).astype(np.float32)
    x.flat[0], x.flat[-1] = np.nan, -np.inf
    layer.forward(ds.NetworkContext(x, train=False))
    assert layer.output.shape == (batch, height * width * shape[2])
    assert (layer.dh, layer.dw, layer.flipped) == (
        (shape[0] - height) // 2,
        (shape[1] - width) // 2,
        False,
    )
    expected = crop_layer.reference_forward(x, shape, height, width, noadjust=noadjust)
    assert_close(layer.output, expected, kind="crop")
    assert_close(layer.output, layer.reference(x, []), kind="crop")


def test_centre_by_hand():
    layer = CropLayer(1, (3, 4, 1), 1, 2)
    x = np.arange(12, dtype=np.float32).reshape(1, 12)
    layer.forward(ds.NetworkContext(x, train=False))
    assert layer.output.tolist() == [[2 * 5 - 1, 2 * 6 - 1]]


@pytest.mark.parametrize("flip", [False, True])
def test_training_draws_windows_and_flips(rng, flip):
    shape = (6, 5, 2)
    layer = CropLayer(3, shape, 3, 2, flip=flip, seed=5)
    x = rng.standard_normal((3, 60)).astype(np.float32)
    seen = set()
    for _ in range(60):
        layer.forward(ds.NetworkContext(x, train=True))
        dh, dw, flipped = layer.dh, layer.dw, layer.flipped
        assert 0 <= dh <= 3 and 0 <= dw <= 3
        seen.add((dh, dw, flipped))
        expected = crop_layer.reference_forward(x, shape, 3, 2, dh, dw, flipped)
        assert_close(layer.output, expected, kind="crop")
    assert {flipped for _, _, flipped in seen} == ({False, True} if flip else {False})
    assert len({(dh, dw) for dh, dw, _ in seen}) == 16  # every offset turns up


def test_flip_by_hand():
    """Darknet's mirrored column is w - dw - j - 1."""
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    expected = crop_layer.reference_forward(x, (1, 4, 1), 1, 3, 0, 1, True, noadjust=True)
    assert expected.tolist() == [[2, 1, 0]]


def test_seed_makes_it_reproducible(rng):
    x = rng.standard_normal((2, 48)).astype(np.float32)
    runs = []
    for _ in range(2):
        layer = CropLayer(2, (4, 4, 3), 2, 2, flip=True, seed=11)
        windows = []
        for _ in range(10):
            layer.forward(ds.NetworkContext(x))
            windows.append((layer.dh, layer.dw, layer.flipped))
        runs.append(windows)
    assert runs[0] == runs[1] and len(set(runs[0])) > 1


def test_no_delta_and_no_backward(rng):
    layer = CropLayer(2, (3, 3, 1), 2, 2)
    assert layer.delta is None
    x = rng.standard_normal((2, 9)).astype(np.float32)
    net_delta = np.ones((2, 9), np.float32)
    layer.forward(ds.NetworkContext(x))
    layer.backward(ds.NetworkContext(x, delta=net_delta))
    assert (net_delta == 1).all()


CFG = """[net]
batch=2
height=6
width=5
channels=2
[crop]
crop_height=4
crop_width=3
flip=1
angle=7
shift=.2
[connected]
output=4
activation=leaky
[softmax]
"""


def test_cfg_network_starting_with_a_crop(rng):
    net = ds.Network.from_cfg(CFG, seed=2)
    crop, connected, _ = net.layers
    assert net._shapes[0] == (4, 3, 2)
    assert crop.describe() == "4 x 3, flip; unused: angle=7, shift=0.2"
    assert repr(crop).endswith(
        "noadjust=False, unused={'angle': 7.0, 'saturation': 1.0, 'exposure': 1.0, 'shift': 0.2})"
    )
    x = rng.standard_normal((2, 60)).astype(np.float32)
    assert_close(net.predict(x), net.reference_predict(x), kind="crop network")
    truth = np.eye(2, 4, dtype=np.float32)
    before = connected.weights.copy()
    assert np.isfinite(net.train_batch(x, truth))
    assert not np.array_equal(connected.weights, before)  # the layer after a crop still learns


def test_bad_options():
    with pytest.raises(ValueError, match=r"\[crop\]: crop_height x crop_width \(7 x 3\) must fit"):
        ds.Network.from_cfg(CFG.replace("crop_height=4", "crop_height=7"))
    with pytest.raises(ValueError, match="crop_width=0: expected an integer of at least 1"):
        ds.Network.from_cfg(CFG.replace("crop_width=3", "crop_width=0"))
    with pytest.raises(ValueError, match="flip=2: expected 0 or 1"):
        ds.Network.from_cfg(CFG.replace("flip=1", "flip=2"))
    with pytest.raises(ValueError, match="crop_height must be at least 1"):
        CropLayer(1, (2, 2, 1), 0, 1)
    with pytest.raises(ValueError, match="angle must be finite"):
        CropLayer(1, (2, 2, 1), unused={"angle": np.nan})
    with pytest.raises(ValueError, match="unused: expected options among angle, .*, not 'hue'"):
        CropLayer(1, (2, 2, 1), unused={"hue": 0.1})
    with pytest.raises(TypeError, match="unused must be a dict or None, not list"):
        CropLayer(1, (2, 2, 1), unused=[("angle", 7)])
    with pytest.raises(TypeError, match="flip must be True or False"):
        CropLayer(1, (2, 2, 1), flip=1)
    layer = CropLayer(2, (2, 2, 1))
    with pytest.raises(ValueError, match="net.input must hold 8 floats"):
        layer.forward(ds.NetworkContext(np.zeros((2, 3), np.float32)))
    assert not layer.output.any()
    layer.close()
    assert repr(layer) == "CropLayer(closed)"
