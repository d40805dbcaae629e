"""Float64 NumPy versions of every C kernel, written for clarity, not speed:
the softmax kernels and their losses, the WordTree helpers, gemm, the
activations, the cost kernels and Darknet's SGD step. Each layer module holds
its layer's reference beside the layer (`reference_forward`, ...).

The tests hold the C to these. Each takes float32 or float64 data and returns
float64 results."""

from typing import Callable

import numpy as np

from .binding import SECRET_NUM

# SPEC section 2: C agrees with these to 1e-6 absolute plus 1e-5 relative.
ATOL, RTOL = 1e-6, 1e-5


def f64(a):
    """A float64 copy of `a`."""
    return np.array(a, dtype=np.float64)


def worst_error(actual, expected):
    """The largest error of C's `actual` against `expected`, in units of the
    tolerance (ATOL + RTOL |expected|): at most 1 is agreement."""
    error = np.abs(np.asarray(actual, dtype=np.float64) - expected)
    return float((error / (ATOL + RTOL * np.abs(expected))).max())


def softmax_group(values, temperature=1.0):
    """One softmax over a 1-D array of values."""
    values = f64(values)
    shifted = (values - values.max()) / temperature
    exps = np.exp(shifted)
    return exps / exps.sum()


def softmax(x, groups=1, temperature=1.0):
    """Softmax over each of `groups` equal slices of the last axis."""
    x = f64(x)
    grouped = x.reshape(x.shape[:-1] + (groups, x.shape[-1] // groups))
    shifted = (grouped - grouped.max(axis=-1, keepdims=True)) / temperature
    exps = np.exp(shifted)
    return (exps / exps.sum(axis=-1, keepdims=True)).reshape(x.shape)


def softmax_cpu(input, n, batch, batch_offset, groups, group_offset, stride, temperature, output):
    """Darknet's softmax_cpu: returns `output` (flat, float64) with each group replaced."""
    input, result = f64(input).ravel(), f64(output).ravel()
    for b in range(batch):
        for g in range(groups):
            index = b * batch_offset + g * group_offset + stride * np.arange(n)
            result[index] = softmax_group(input[index], temperature)
    return result


def softmax_x_ent(pred, truth):
    """(delta, error): delta = truth - pred; error = -log(pred) where truth != 0."""
    pred, truth = f64(pred), f64(truth)
    with np.errstate(divide="ignore"):
        error = np.where(truth != 0, -np.log(pred), 0.0)
    return truth - pred, error


def axpy(alpha, x, y, incx=1, incy=1, n=None):
    """y with y[i*incy] += alpha * x[i*incx] for i < n. The product is a
    float32 product, as in Darknet: where it overflows it is inf."""
    x, y = np.asarray(x, np.float32).ravel(), f64(y).ravel()
    n = -(-x.size // incx) if n is None else n
    with np.errstate(over="ignore", invalid="ignore"):
        y[: n * incy : incy] += np.float32(alpha) * x[: n * incx : incx]
    return y


def sum_array(a):
    return float(f64(a).sum())


def tree_softmax(x, group_offset, group_size, temperature=1.0):
    """Softmax over each tree group of every row of x (batch, n)."""
    x = f64(x)
    out = np.empty_like(x)
    for offset, size in zip(group_offset, group_size):
        block = x[:, offset : offset + size]
        out[:, offset : offset + size] = softmax(block, 1, temperature)
    return out


# --- The WordTree (SPEC section 5): the tree's links and the helpers ---


def read_tree_file(path):
    """(names, parents) of a well-formed .tree file."""
    with open(path, "rb") as file:
        fields = [line.split() for line in file.read().splitlines()]
    return (
        [name.decode("utf-8", "backslashreplace") for name, _ in fields],
        [int(parent) for _, parent in fields],
    )


def tree_links(parents):
    """A valid tree's arrays from its parents: a dict of group_offset,
    group_size, group, child and leaf, each run of equal parents one group."""
    parents = np.asarray(parents, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, parents[1:] != parents[:-1]])
    group = np.cumsum(np.isin(np.arange(parents.size), starts)) - 1
    child = np.full(parents.size, -1, np.int64)
    child[parents[starts][parents[starts] >= 0]] = group[starts][parents[starts] >= 0]
    leaf = np.ones(parents.size, np.int64)
    leaf[parents[parents >= 0]] = 0
    return {
        "group_offset": starts,
        "group_size": np.diff(np.r_[starts, parents.size]),
        "group": group,
        "child": child,
        "leaf": leaf,
    }


def _ancestors(tree, node):
    node = tree.parent[node]
    while node >= 0:
        yield node
        node = tree.parent[node]


def fill_hierarchy(truth, tree):
    """Each row of truth with every ancestor of a labelled node (not 0, not
    SECRET_NUM) set to 1, then each group with no label set to SECRET_NUM."""
    truth = f64(truth)
    for row in truth.reshape(-1, tree.n):
        labelled = (row != 0) & (row != SECRET_NUM)
        for node in np.flatnonzero(labelled):
            row[list(_ancestors(tree, node))] = 1
        labelled = (row != 0) & (row != SECRET_NUM)
        for offset, size in zip(tree.group_offset, tree.group_size):
            if not labelled[offset : offset + size].any():
                row[offset : offset + size] = SECRET_NUM
    return truth


def hierarchy_predictions(pred, tree, only_leaves=False):
    """Each node's probability times those of all its ancestors; with
    only_leaves, inner nodes 0."""
    pred = f64(pred)
    result = pred.copy()
    for node in range(tree.n):
        for ancestor in _ancestors(tree, node):
            result[..., node] *= pred[..., ancestor]
    if only_leaves:
        result[..., tree.leaf == 0] = 0
    return result


def get_hierarchy_probability(x, tree, c):
    """The product of x from node c up to its root: a float for one vector, an
    array for a batch."""
    path = [c] + list(_ancestors(tree, c))
    return np.prod(f64(x)[..., path], axis=-1)


def hierarchy_top_prediction(pred, tree, thresh):
    """The node where the walk down from group 0 stops: each step takes the
    group's most probable node (the first of equals; the group's first node
    when none is above 0) while the running product stays above float32(thresh)."""
    pred = f64(pred)
    if pred.ndim == 2:
        return np.array([hierarchy_top_prediction(row, tree, thresh) for row in pred])
    thresh = float(np.float32(thresh))
    probability, group = 1.0, 0
    while True:
        offset, size = tree.group_offset[group], tree.group_size[group]
        values = np.nan_to_num(pred[offset : offset + size], nan=0.0)
        best = offset + int(np.argmax(values)) if values.max() > 0 else offset
        top = float(max(values.max(), 0.0))
        if probability * top > thresh:
            probability *= top
            if tree.child[best] < 0:
                return int(best)
            group = tree.child[best]
        elif group == 0:
            return int(best)
        else:
            return int(tree.parent[offset])


# --- The exact paths (SPEC section 4) ---


def _grouped(a, groups):
    a = f64(a)
    return a.reshape(a.shape[:-1] + (groups, a.shape[-1] // groups))


def log_softmax(x, groups=1, temperature=1.0):
    """log(softmax) over each of `groups` equal slices of the last axis."""
    grouped = _grouped(x, groups)
    shifted = (grouped - grouped.max(axis=-1, keepdims=True)) / temperature
    return (shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))).reshape(np.shape(x))


def softmax_backward(y, dy, groups=1, temperature=1.0):
    """The softmax Jacobian-vector product y*(dy - sum(dy*y))/temperature per
    group (the product only; the C adds it to its output)."""
    y, dy = _grouped(y, groups), _grouped(dy, groups)
    product = y * (dy - (dy * y).sum(axis=-1, keepdims=True)) / temperature
    return product.reshape(np.shape(y)[:-2] + (-1,))


def softmax_x_ent_exact(pred, truth, groups=1, temperature=1.0):
    """(delta, error) of the soft-label loss -truth*log(pred) per group:
    delta = (truth - pred*sum(truth))/temperature, the negative gradient with
    respect to the softmax's input. SECRET_NUM truths are no label: delta and
    error 0 there, and left out of the sum."""
    pred, truth = f64(pred), f64(truth)
    masked = truth == SECRET_NUM
    labels = np.where(masked, 0.0, truth)
    sums = _grouped(labels, groups).sum(axis=-1, keepdims=True)
    delta = (_grouped(labels, groups) - _grouped(pred, groups) * sums) / temperature
    delta = np.where(masked, 0.0, delta.reshape(pred.shape))
    with np.errstate(divide="ignore", invalid="ignore"):
        error = np.where(labels != 0, -labels * np.log(pred), 0.0)
    return delta, error


# --- gemm, the activations, the cost kernels and the SGD step ---


def gemm(TA, TB, A, B, ALPHA=1.0, BETA=1.0, C=None):
    """ALPHA * op(A) @ op(B) + BETA * C on 2-D matrices; BETA = 0 ignores C."""
    a = f64(A).T if TA else f64(A)
    b = f64(B).T if TB else f64(B)
    product = ALPHA * (a @ b)
    if C is None or BETA == 0:
        return product
    return product + BETA * f64(C)


# Darknet's formulas (src/activations.h), in float64, in Darknet's order of
# operations: where they misbehave the reference does too (relu, ramp, elu
# and selu are NaN at -inf, elu and selu above 709.78, as 0*inf). tanh is
# the exception: np.tanh, where Darknet's (exp(2x) - 1)/(exp(2x) + 1) is
# NaN above x = 354.9 (csrc/activations.c). Errors are ignored: inf and NaN
# are part of the formulas.


def _stair(x):
    """Darknet's stair: n = (int)floor(x); floor(x/2) for even n, (x - n) +
    floor(x/2) for odd n. Where Darknet's int conversion overflows (|x| >=
    2^31, inf, NaN), x86 gives INT_MIN, which is even."""
    n = np.floor(x)
    odd = (np.abs(n) < 2.0**31) & (np.fmod(n, 2) != 0)
    return np.where(odd, (x - n) + np.floor(x / 2), np.floor(x / 2))


def _plse(x):
    return np.where(x < -4, 0.01 * (x + 4), np.where(x > 4, 0.01 * (x - 4) + 1, 0.125 * x + 0.5))


def _lhtan(x):
    return np.where(x < 0, 0.001 * x, np.where(x > 1, 0.001 * (x - 1) + 1, x))


def _hardtan(x):
    return np.where(x < -1, -1.0, np.where(x > 1, 1.0, x))


_ACTIVATE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "logistic": lambda x: 1 / (1 + np.exp(-x)),
    "relu": lambda x: x * (x > 0),
    "relie": lambda x: np.where(x > 0, x, 0.01 * x),
    "linear": lambda x: x,
    "ramp": lambda x: x * (x > 0) + 0.1 * x,
    "tanh": np.tanh,
    "plse": _plse,
    "leaky": lambda x: np.where(x > 0, x, 0.1 * x),
    "elu": lambda x: (x >= 0) * x + (x < 0) * (np.exp(x) - 1),
    "loggy": lambda x: 2 / (1 + np.exp(-x)) - 1,
    "stair": _stair,
    "hardtan": _hardtan,
    "lhtan": _lhtan,
    "selu": lambda x: (x >= 0) * 1.0507 * x + (x < 0) * 1.0507 * 1.6732 * (np.exp(x) - 1),
}

# Darknet's derivatives, each in terms of the output y = f(x). Away from the
# kinks each is the true derivative; at a kink, Darknet's side (see
# csrc/activations.c): stair's is 0 wherever y is a whole number.
_GRADIENT: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "logistic": lambda y: (1 - y) * y,
    "relu": lambda y: (y > 0) * 1.0,
    "relie": lambda y: np.where(y > 0, 1.0, 0.01),
    "linear": lambda y: np.ones_like(y),
    "ramp": lambda y: (y > 0) + 0.1,
    "tanh": lambda y: 1 - y * y,
    "plse": lambda y: np.where((y < 0) | (y > 1), 0.01, 0.125),
    "leaky": lambda y: np.where(y > 0, 1.0, 0.1),
    "elu": lambda y: (y >= 0) + (y < 0) * (y + 1),
    "loggy": lambda y: 2 * (1 - (y + 1) / 2) * ((y + 1) / 2),
    "stair": lambda y: np.where(np.floor(y) == y, 0.0, 1.0),
    "hardtan": lambda y: np.where((y > -1) & (y < 1), 1.0, 0.0),
    "lhtan": lambda y: np.where((y > 0) & (y < 1), 1.0, 0.001),
    "selu": lambda y: (y >= 0) * 1.0507 + (y < 0) * (y + 1.0507 * 1.6732),
}


def activate(x, activation):
    """Darknet's activation `activation` (a cfg name) of x, in float64."""
    with np.errstate(all="ignore"):
        return np.asarray(_ACTIVATE[activation](f64(x)), dtype=np.float64)


def gradient(output, activation):
    """f'(x) written in terms of the output y = f(x), as Darknet writes it."""
    with np.errstate(all="ignore"):
        return np.asarray(_GRADIENT[activation](f64(output)), dtype=np.float64)


def sgd_update(
    weights, biases, weight_updates, bias_updates, batch, learning_rate, momentum, decay
):
    """Darknet's SGD step: returns the new (weights, biases, weight_updates, bias_updates)."""
    weights, biases = f64(weights), f64(biases)
    weight_updates = f64(weight_updates) - decay * batch * weights
    biases = biases + learning_rate / batch * f64(bias_updates)
    weights = weights + learning_rate / batch * weight_updates
    return weights, biases, momentum * weight_updates, momentum * f64(bias_updates)


def l2(pred, truth):
    diff = f64(truth) - f64(pred)
    return diff, diff * diff


def l1(pred, truth):
    diff = f64(truth) - f64(pred)
    return np.where(diff > 0, 1.0, -1.0), np.abs(diff)


def smooth_l1(pred, truth):
    """Huber-like, with delta = sign(diff) outside |diff| < 1 (Darknet's sign
    there is the opposite)."""
    diff = f64(truth) - f64(pred)
    inside = np.abs(diff) < 1
    delta = np.where(inside, diff, np.where(diff < 0, -1.0, 1.0))
    return delta, np.where(inside, diff * diff, 2 * np.abs(diff) - 1)


# --- any axis, and the fused loss ---


def _on_last(function, x, axis, *args, **kwargs):
    """`function` over the last axis, applied to `axis` of x."""
    moved = np.moveaxis(f64(x), axis, -1)
    return np.moveaxis(function(moved, *args, **kwargs), -1, axis)


def softmax_along(x, groups=1, temperature=1.0, axis=-1):
    """Softmax over each of `groups` equal parts of `axis`."""
    return _on_last(softmax, x, axis, groups, temperature)


def log_softmax_along(x, groups=1, temperature=1.0, axis=-1):
    return _on_last(log_softmax, x, axis, groups, temperature)


def softmax_backward_along(y, dy, groups=1, temperature=1.0, axis=-1):
    y_last, dy_last = np.moveaxis(f64(y), axis, -1), np.moveaxis(f64(dy), axis, -1)
    return np.moveaxis(softmax_backward(y_last, dy_last, groups, temperature), -1, axis)


def softmax_cross_entropy(
    logits,
    labels,
    axis=-1,
    weight=None,
    ignore_index=None,
    reduction="mean",
    label_smoothing=0.0,
    temperature=1.0,
):
    """(loss, grad) of PyTorch's cross_entropy, as
    darknet_softmax.softmax_cross_entropy defines it, in float64: each
    position's target a_k (keep*w_y*[k == y] + smooth*w_k for label y,
    w_k*(keep*t_k + smooth) for probabilities t), loss -sum(a_k*log p_k)
    (terms with a_k = 0 left out), gradient (p_k*sum(a) - a_k)/temperature,
    then the reduction."""
    z = np.moveaxis(f64(logits), axis, -1) / temperature
    classes = z.shape[-1]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        shifted = z - z.max(axis=-1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    w = np.ones(classes) if weight is None else f64(weight)
    keep, smooth = 1.0 - label_smoothing, label_smoothing / classes if classes else 0.0
    labels = np.asarray(labels)
    positions = z.shape[:-1]
    if labels.dtype.kind in "iu":
        valid = np.ones(positions, bool) if ignore_index is None else labels != ignore_index
        y = np.where(valid, labels, 0).astype(np.int64)
        one_hot = np.eye(classes)[y] if classes else np.zeros(positions + (0,))
        a = (keep * one_hot + smooth) * w
        a[~valid] = 0
        mean_divisor = float((w[y] * valid).sum()) if classes else 0.0
    else:
        a = w * (np.moveaxis(f64(labels), axis, -1) * keep + smooth)
        mean_divisor = float(np.prod(positions))
    with np.errstate(invalid="ignore", over="ignore"):
        losses = -np.where(a != 0, a * log_p, 0.0).sum(axis=-1)
        grad = (np.exp(log_p) * a.sum(axis=-1, keepdims=True) - a) / temperature
    divisor = {
        "none": 1.0,
        "sum": 1.0,
        "mean": mean_divisor,
        "batch": float(np.shape(logits)[0]) if axis % np.ndim(logits) else 1.0,
        "full": float(np.prod(positions)),
    }[reduction]
    with np.errstate(invalid="ignore", divide="ignore"):
        grad = grad / divisor
        loss = losses if reduction == "none" else losses.sum() / divisor
    if labels.dtype.kind in "iu":
        grad[~valid] = 0  # 0 at an ignored position, even where the divisor is 0 (PyTorch's)
    return loss, np.moveaxis(grad, -1, axis)
