"""The batch-normalisation kernels of csrc/batchnorm_layer.c, called directly,
against their float64 transcription (darknet_softmax.batchnorm); the layers'
tests run them inside the convolutional and connected layers."""

import numpy as np
import pytest

from conftest import assert_close
from darknet_softmax import batchnorm
from darknet_softmax.binding import ffi, lib

# (batch, filters, spatial)
SHAPES = [(2, 1, 1), (1, 3, 5), (3, 2, 7), (4, 9, 1), (2, 5, 33)]


def ptr(array):
    return ffi.from_buffer("float[]", array)


def run(x, scales, biases, rolling_mean, rolling_variance, train, exact, delta):
    """forward then backward_batchnorm_layer in C; returns what they leave."""
    batch, filters, spatial = x.shape
    out = x.copy()
    buffers = {
        name: np.zeros(filters, np.float32)
        for name in ("mean", "variance", "mean_delta", "variance_delta", "bias", "scale")
    }
    saved_x, x_norm = np.zeros_like(x), np.zeros_like(x)
    rolling_mean, rolling_variance = rolling_mean.copy(), rolling_variance.copy()
    lib.forward_batchnorm_layer(
        ptr(out), batch, filters, spatial, train, exact, ptr(scales), ptr(biases),
        ptr(buffers["mean"]), ptr(buffers["variance"]), ptr(rolling_mean),
        ptr(rolling_variance), ptr(saved_x), ptr(x_norm),
    )  # fmt: skip
    delta = delta.copy()
    lib.backward_batchnorm_layer(
        ptr(delta), batch, filters, spatial, train, exact, ptr(scales), ptr(saved_x),
        ptr(x_norm), ptr(buffers["mean"]), ptr(buffers["variance"]), ptr(rolling_mean),
        ptr(rolling_variance), ptr(buffers["mean_delta"]), ptr(buffers["variance_delta"]),
        ptr(buffers["bias"]), ptr(buffers["scale"]),
    )  # fmt: skip
    return out, rolling_mean, rolling_variance, x_norm, buffers, delta


@pytest.mark.parametrize("exact", [False, True], ids=["darknet", "exact"])
@pytest.mark.parametrize("shape", SHAPES)
def test_training_pass_matches_the_transcription(rng, shape, exact):
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    filters = shape[1]
    scales = rng.uniform(0.5, 1.5, filters).astype(np.float32)
    biases = rng.standard_normal(filters).astype(np.float32)
    rolling_mean = rng.standard_normal(filters).astype(np.float32)
    rolling_variance = rng.uniform(0.5, 2, filters).astype(np.float32)
    delta = rng.standard_normal(shape).astype(np.float32)
    out, new_mean, new_variance, x_norm, buffers, got = run(
        x, scales, biases, rolling_mean, rolling_variance, 1, exact, delta
    )
    expected = batchnorm.forward(x, scales, biases, rolling_mean, rolling_variance, True)
    kind = "batchnorm kernels"
    assert_close(out, expected[0], atol=1e-5, rtol=1e-5, kind=kind)
    assert_close(x_norm, expected[1], atol=1e-5, rtol=1e-5, kind=kind)
    assert_close(buffers["mean"], expected[2], atol=1e-6, rtol=1e-6, kind=kind)
    assert_close(buffers["variance"], expected[3], atol=1e-6, rtol=1e-6, kind=kind)
    assert_close(new_mean, expected[4], atol=1e-6, rtol=1e-6, kind=kind)
    assert_close(new_variance, expected[5], atol=1e-6, rtol=1e-6, kind=kind)
    if exact:
        bias, scale, want = batchnorm.backward_exact(
            delta, x, scales, expected[2], expected[3], True
        )
    else:
        bias, scale, want = batchnorm.backward_darknet(
            delta, x, expected[1], scales, expected[2], expected[3]
        )
    assert_close(buffers["bias"], bias, atol=1e-5, rtol=1e-5, kind=kind)
    assert_close(buffers["scale"], scale, atol=1e-5, rtol=1e-5, kind=kind)
    assert_close(got, want, atol=1e-5, rtol=1e-4, kind=kind)


def test_zero_variance_exact_has_no_variance_term():
    """All values equal: the exact variance term is 0 (its limit), not 0/0."""
    x = np.full((3, 2, 4), 2.5, np.float32)
    ones = np.ones(2, np.float32)
    delta = np.arange(24, dtype=np.float32).reshape(3, 2, 4)
    *_, buffers, got = run(x, ones, ones, ones, ones, 1, 1, delta)
    assert np.isfinite(got).all() and not buffers["variance_delta"].any()
    centred = delta - delta.mean(axis=(0, 2), keepdims=True)
    assert_close(got, centred / 1e-6, rtol=1e-4, atol=1e-2, kind="batchnorm zero variance")
