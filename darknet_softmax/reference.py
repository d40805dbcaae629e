"""Float64 NumPy versions of every C kernel, written for clarity, not speed.

The tests hold the C to these. Each takes float32 or float64 data and returns
float64 results."""
import numpy as np

SECRET_NUM = -1234


def _f64(a):
    return np.array(a, dtype=np.float64)


def softmax_group(values, temperature=1.0):
    """One softmax over a 1-D array of values."""
    values = _f64(values)
    shifted = (values - values.max()) / temperature
    exps = np.exp(shifted)
    return exps / exps.sum()


def softmax(x, groups=1, temperature=1.0):
    """Softmax over each of `groups` equal slices of the last axis."""
    x = _f64(x)
    grouped = x.reshape(x.shape[:-1] + (groups, x.shape[-1] // groups))
    shifted = (grouped - grouped.max(axis=-1, keepdims=True)) / temperature
    exps = np.exp(shifted)
    return (exps / exps.sum(axis=-1, keepdims=True)).reshape(x.shape)


def softmax_cpu(input, n, batch, batch_offset, groups, group_offset, stride, temperature,
                output):
    """Darknet's softmax_cpu: returns `output` (flat, float64) with each group replaced."""
    input, result = _f64(input).ravel(), _f64(output).ravel()
    for b in range(batch):
        for g in range(groups):
            index = b * batch_offset + g * group_offset + stride * np.arange(n)
            result[index] = softmax_group(input[index], temperature)
    return result


def softmax_x_ent(pred, truth):
    """(delta, error): delta = truth - pred; error = -log(pred) where truth != 0."""
    pred, truth = _f64(pred), _f64(truth)
    with np.errstate(divide="ignore"):
        error = np.where(truth != 0, -np.log(pred), 0.0)
    return truth - pred, error


def axpy(alpha, x, y, incx=1, incy=1, n=None):
    """y with y[i*incy] += alpha * x[i*incx] for i < n."""
    x, y = _f64(x).ravel(), _f64(y).ravel()
    n = -(-x.size // incx) if n is None else n
    y[: n * incy : incy] += alpha * x[: n * incx : incx]
    return y


def sum_array(a):
    return float(_f64(a).sum())


def tree_softmax(x, group_offset, group_size, temperature=1.0):
    """Softmax over each tree group of every row of x (batch, n)."""
    x = _f64(x)
    out = np.empty_like(x)
    for offset, size in zip(group_offset, group_size):
        block = x[:, offset:offset + size]
        out[:, offset:offset + size] = softmax(block, 1, temperature)
    return out


def forward_softmax_layer(input, groups=1, temperature=1.0, tree=None, truth=None,
                          noloss=False):
    """The layer's forward pass on (batch, inputs) data: a dict of output and,
    when there is a truth and not noloss, delta, loss and cost. With a tree,
    values whose truth is SECRET_NUM give no delta and no loss."""
    input = _f64(input)
    if tree is None:
        output = softmax(input, groups, temperature)
    else:
        output = tree_softmax(input, tree.group_offset, tree.group_size, temperature)
    result = {"output": output}
    if truth is not None and not noloss:
        truth = _f64(truth).reshape(input.shape)
        delta, loss = softmax_x_ent(output, truth)
        if tree is not None:
            masked = truth == SECRET_NUM
            delta[masked] = 0
            loss[masked] = 0
        result.update(delta=delta, loss=loss, cost=float(loss.sum()))
    return result


def backward_softmax_layer(layer_delta, net_delta):
    """net_delta plus the layer's delta: the fused gradient, accumulated."""
    return _f64(net_delta) + _f64(layer_delta).reshape(np.shape(net_delta))
