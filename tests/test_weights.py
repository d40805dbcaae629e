"""Darknet .weights files (darknet_softmax.weights): the layout Darknet
writes, its old headers, and files of the wrong size."""

import struct

import numpy as np
import pytest

from darknet_softmax import load_weights, parse_network_cfg, save_weights

TWO_LAYERS = "[net]\ninputs=3\n[connected]\noutput=2\n[dropout]\n[connected]\noutput=4\n[softmax]\n"


def test_round_trip(tmp_path):
    net = parse_network_cfg(TWO_LAYERS, seed=1)
    net.seen = 12345678901
    net.layers[0].biases[:] = [1, 2]
    net.layers[2].biases[:] = [3, 4, 5, 6]
    path = tmp_path / "a.weights"
    net.save_weights(path)
    assert path.stat().st_size == 20 + 4 * (2 + 6 + 4 + 8)
    other = parse_network_cfg(TWO_LAYERS, seed=2)
    assert not np.array_equal(other.layers[0].weights, net.layers[0].weights)
    other.load_weights(path)
    for a, b in ((0, 0), (2, 2)):
        assert np.array_equal(other.layers[a].weights, net.layers[b].weights)
        assert np.array_equal(other.layers[a].biases, net.layers[b].biases)
    assert other.seen == 12345678901
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    assert np.array_equal(other.predict(x), net.predict(x))


def darknet_file(major, minor, seen_format, seen, blocks):
    """Bytes laid out as Darknet writes them, built here without the package."""
    data = struct.pack("<iii", major, minor, 0) + struct.pack(seen_format, seen)
    for block in blocks:
        data += np.asarray(block, "<f4").tobytes()
    return data


def test_a_darknet_file_loads_into_the_right_places(tmp_path):
    """Version 0.2: seen is 64 bits; each layer's biases, then its weights
    row by row, outputs x inputs."""
    first_w = np.arange(6, dtype=np.float32).reshape(2, 3)  # output o, input i: 3o + i
    second_w = 100 + np.arange(8, dtype=np.float32).reshape(4, 2)
    path = tmp_path / "darknet.weights"
    path.write_bytes(
        darknet_file(
            0, 2, "<Q", 2**40 + 3, [[-1, -2], first_w.ravel(), [-3, -4, -5, -6], second_w.ravel()]
        )
    )
    net = parse_network_cfg(TWO_LAYERS)
    load_weights(net, path)
    assert net.layers[0].weights[1, 2] == 5 and net.layers[0].weights[0, 1] == 1
    assert np.array_equal(net.layers[0].weights, first_w)
    assert np.array_equal(net.layers[0].biases, [-1, -2])
    assert np.array_equal(net.layers[2].weights, second_w)
    assert np.array_equal(net.layers[2].biases, [-3, -4, -5, -6])
    assert net.seen == 2**40 + 3
    # what save_weights writes is that same layout
    save_weights(net, tmp_path / "again.weights")
    assert (tmp_path / "again.weights").read_bytes() == path.read_bytes()


def test_an_old_file_with_a_32_bit_seen(tmp_path):
    weights = np.arange(6, dtype=np.float32)
    path = tmp_path / "old.weights"
    path.write_bytes(darknet_file(0, 1, "<i", 640, [[7, 8], weights, np.zeros(4), np.zeros(8)]))
    net = parse_network_cfg(TWO_LAYERS)
    load_weights(net, path)
    assert net.seen == 640
    assert np.array_equal(net.layers[0].weights, weights.reshape(2, 3))


def test_a_transposed_file(tmp_path):
    """major or minor above 1000: Darknet's oldest layout, each weight matrix
    stored inputs x outputs."""
    first_w = np.arange(6, dtype=np.float32).reshape(2, 3)
    path = tmp_path / "flipped.weights"
    path.write_bytes(
        darknet_file(0, 1001, "<i", 0, [[0, 0], first_w.T.ravel(), np.zeros(4), np.zeros(8)])
    )
    net = parse_network_cfg(TWO_LAYERS)
    load_weights(net, path)
    assert np.array_equal(net.layers[0].weights, first_w)


@pytest.mark.parametrize("change", [-4, -1, 1, 4])
def test_short_or_long_file_is_an_error_and_changes_nothing(tmp_path, change):
    net = parse_network_cfg(TWO_LAYERS, seed=1)
    net.save_weights(tmp_path / "good.weights")
    data = (tmp_path / "good.weights").read_bytes()
    bad = data[:change] if change < 0 else data + b"\0" * change
    (tmp_path / "bad.weights").write_bytes(bad)
    other = parse_network_cfg(TWO_LAYERS, seed=2)
    before = other.layers[0].weights.copy()
    with pytest.raises(ValueError, match=f"holds {len(bad)} bytes, but .* take {len(data)}"):
        other.load_weights(tmp_path / "bad.weights")
    assert np.array_equal(other.layers[0].weights, before) and other.seen == 0


def test_a_truncated_header(tmp_path):
    (tmp_path / "tiny.weights").write_bytes(b"\0" * 10)
    with pytest.raises(ValueError, match="too short for a Darknet weights header"):
        load_weights(parse_network_cfg(TWO_LAYERS), tmp_path / "tiny.weights")
    with pytest.raises(FileNotFoundError):
        load_weights(parse_network_cfg(TWO_LAYERS), tmp_path / "none.weights")
