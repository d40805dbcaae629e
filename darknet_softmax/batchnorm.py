"""The float64 reference of Darknet's batch normalisation (csrc/batchnorm_layer.c),
which the convolutional and connected layers run on their sums.

Every array is (batch, filters, spatial): a connected layer has spatial 1.
Statistics are per filter, over the batch and the positions. Written for
clarity: each function is one of Darknet's formulas (src/batchnorm_layer.c,
src/blas.c) or, for `exact`, the true gradient of the forward pass."""

import numpy as np

from .reference import f64

# Darknet's two epsilons: the forward pass divides by sqrt(variance) + FORWARD_EPSILON,
# its backward pass takes sqrt(variance + BACKWARD_EPSILON).
FORWARD_EPSILON = 0.000001
BACKWARD_EPSILON = 0.00001
# The rolling statistics move by this much of the batch's each training pass.
MOMENTUM = 0.01


def statistics(x):
    """(mean, variance) per filter, the variance divided by N - 1 as Darknet
    divides (N = batch*spatial)."""
    x = f64(x)
    count = x.shape[0] * x.shape[2]
    mean = x.mean(axis=(0, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = ((x - mean[:, None]) ** 2).sum(axis=(0, 2)) / (count - 1)
    return mean, variance


def normalize(x, mean, variance):
    """(x - mean)/(sqrt(variance) + .000001) per filter."""
    return (f64(x) - f64(mean)[:, None]) / (np.sqrt(f64(variance))[:, None] + FORWARD_EPSILON)


def forward(x, scales, biases, rolling_mean, rolling_variance, train):
    """Darknet's forward_batchnorm_layer: (output, x_norm, mean, variance, new
    rolling mean, new rolling variance). Outside training the rolling
    statistics normalise and stay as they are (mean and variance are then
    theirs)."""
    if train:
        mean, variance = statistics(x)
        rolling_mean = (1 - MOMENTUM) * f64(rolling_mean) + MOMENTUM * mean
        rolling_variance = (1 - MOMENTUM) * f64(rolling_variance) + MOMENTUM * variance
    else:
        mean, variance = f64(rolling_mean), f64(rolling_variance)
    x_norm = normalize(x, mean, variance)
    output = f64(scales)[:, None] * x_norm + f64(biases)[:, None]
    return output, x_norm, mean, variance, f64(rolling_mean), f64(rolling_variance)


def backward_darknet(delta, x, x_norm, scales, mean, variance):
    """Darknet's backward_batchnorm_layer with its kernels: (bias updates,
    scale updates, delta of the sums). Its epsilon is inside the square root
    and the power, and it divides the variance's term by N, so this is not the
    gradient of `forward`. `mean` and `variance` are those the forward pass
    used (the rolling ones outside training); `x_norm` is what the last
    training pass left."""
    delta, x = f64(delta), f64(x)
    count = x.shape[0] * x.shape[2]
    bias_updates = delta.sum(axis=(0, 2))
    scale_updates = (delta * f64(x_norm)).sum(axis=(0, 2))
    delta = delta * f64(scales)[:, None]
    root = np.sqrt(f64(variance) + BACKWARD_EPSILON)
    centred = x - f64(mean)[:, None]
    mean_delta = delta.sum(axis=(0, 2)) * (-1 / root)
    variance_delta = (delta * centred).sum(axis=(0, 2)) * -0.5 * root**-3
    delta = (
        delta / root[:, None]
        + variance_delta[:, None] * 2 * centred / count
        + mean_delta[:, None] / count
    )
    return bias_updates, scale_updates, delta


def backward_exact(delta, x, scales, mean, variance, train):
    """The true gradient of `forward`: (bias updates, scale updates, delta of
    the sums), delta being the negative gradient of the output. In training
    it runs through the batch's mean and variance (divided by N - 1); outside
    training the rolling statistics are constants."""
    delta, x = f64(delta), f64(x)
    mean, variance = f64(mean), f64(variance)
    count = x.shape[0] * x.shape[2]
    x_norm = normalize(x, mean, variance)
    bias_updates = delta.sum(axis=(0, 2))
    scale_updates = (delta * x_norm).sum(axis=(0, 2))
    delta = delta * f64(scales)[:, None]
    divisor = np.sqrt(variance) + FORWARD_EPSILON
    if not train:
        return bias_updates, scale_updates, delta / divisor[:, None]
    centred = x - mean[:, None]
    mean_delta = -delta.sum(axis=(0, 2)) / divisor
    # d(divisor)/d(variance) = 1/(2 sqrt(variance)); the term vanishes with the variance.
    with np.errstate(divide="ignore", invalid="ignore"):
        variance_delta = np.where(
            variance > 0,
            -(delta * centred).sum(axis=(0, 2)) / (2 * np.sqrt(variance) * divisor**2),
            0.0,
        )
    delta = (
        delta / divisor[:, None]
        + variance_delta[:, None] * 2 * centred / (count - 1)
        + mean_delta[:, None] / count
    )
    return bias_updates, scale_updates, delta
