"""Float64 NumPy versions of the network's C kernels and layers (gemm, the
activations, connected, cost, dropout, Darknet's SGD step), written for
clarity, not speed. The tests hold the C to these, as `reference` holds the
softmax kernels. Each takes float32 or float64 data and returns float64."""
import numpy as np

SECRET_NUM = -1234


def _f64(a):
    return np.array(a, dtype=np.float64)


def gemm(TA, TB, A, B, ALPHA=1.0, BETA=1.0, C=None):
    """ALPHA * op(A) @ op(B) + BETA * C on 2-D matrices; BETA = 0 ignores C."""
    a = _f64(A).T if TA else _f64(A)
    b = _f64(B).T if TB else _f64(B)
    product = ALPHA * (a @ b)
    if C is None or BETA == 0:
        return product
    return product + BETA * _f64(C)


def activate(x, activation):
    x = _f64(x)
    if activation == "logistic":
        return 1 / (1 + np.exp(-x))
    if activation == "relu":
        return np.where(x > 0, x, 0.0)
    if activation == "tanh":
        return np.tanh(x)
    if activation == "leaky":
        return np.where(x > 0, x, 0.1 * x)
    return x


def gradient(output, activation):
    """f'(x) written in terms of the output y = f(x), as Darknet writes it."""
    y = _f64(output)
    if activation == "logistic":
        return (1 - y) * y
    if activation == "relu":
        return (y > 0).astype(np.float64)
    if activation == "tanh":
        return 1 - y * y
    if activation == "leaky":
        return np.where(y > 0, 1.0, 0.1)
    return np.ones_like(y)


def forward_connected(input, weights, biases, activation):
    """f(input @ weights.T + biases) for (batch, inputs) input."""
    return activate(_f64(input) @ _f64(weights).T + _f64(biases), activation)


def backward_connected(input, weights, output, delta, activation):
    """(delta times f', bias updates, weight updates, delta for the input):
    what one backward pass adds, from updates and net delta at zero."""
    delta = _f64(delta) * gradient(output, activation)
    return delta, delta.sum(axis=0), delta.T @ _f64(input), delta @ _f64(weights)


def update_connected(weights, biases, weight_updates, bias_updates, batch, learning_rate,
                     momentum, decay):
    """Darknet's SGD step: returns the new (weights, biases, weight_updates, bias_updates)."""
    weights, biases = _f64(weights), _f64(biases)
    weight_updates = _f64(weight_updates) - decay * batch * weights
    biases = biases + learning_rate / batch * _f64(bias_updates)
    weights = weights + learning_rate / batch * weight_updates
    return weights, biases, momentum * weight_updates, momentum * _f64(bias_updates)


def l2(pred, truth):
    diff = _f64(truth) - _f64(pred)
    return diff, diff * diff


def l1(pred, truth):
    diff = _f64(truth) - _f64(pred)
    return np.where(diff > 0, 1.0, -1.0), np.abs(diff)


def smooth_l1(pred, truth):
    """Huber-like, with delta = sign(diff) outside |diff| < 1 (Darknet's sign
    there is the opposite)."""
    diff = _f64(truth) - _f64(pred)
    inside = np.abs(diff) < 1
    delta = np.where(inside, diff, np.where(diff < 0, -1.0, 1.0))
    return delta, np.where(inside, diff * diff, 2 * np.abs(diff) - 1)


def forward_cost(input, truth, cost_type="sse"):
    """(output, delta, cost) of Darknet's cost layer."""
    kernel = {"sse": l2, "masked": l2, "L1": l1, "smooth": smooth_l1}[cost_type]
    delta, error = kernel(input, truth)
    if cost_type == "masked":
        masked = _f64(truth) == SECRET_NUM
        delta[masked] = 0
        error[masked] = 0
    return error, delta, float(error.sum())


def forward_dropout(input, rand, probability):
    """The training pass, given the draws: 0 where rand < probability, else input/(1-p)."""
    scale = 1 / np.float32(1 - np.float32(probability))
    return np.where(_f64(rand) < np.float32(probability), 0.0, _f64(input) * scale)


def backward_dropout(delta, rand, probability):
    return forward_dropout(delta, rand, probability)
