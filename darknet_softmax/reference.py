"""Float64 NumPy versions of every C kernel, written for clarity, not speed.

The tests hold the C to these. Each takes float32 or float64 data and returns
float64 results."""
import numpy as np

SECRET_NUM = -1234
# SPEC section 2: C agrees with these to 1e-6 absolute plus 1e-5 relative.
ATOL, RTOL = 1e-6, 1e-5


def _f64(a):
    return np.array(a, dtype=np.float64)


def worst_error(actual, expected):
    """The largest error of C's `actual` against `expected`, in units of the
    tolerance (ATOL + RTOL |expected|): at most 1 is agreement."""
    error = np.abs(np.asarray(actual, dtype=np.float64) - expected)
    return float((error / (ATOL + RTOL * np.abs(expected))).max())


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
                          noloss=False, spatial=False, w=None, h=None, c=None, exact=False):
    """The layer's forward pass on (batch, inputs) data: a dict of output and,
    when there is a truth and not noloss, delta, loss and cost. With a tree,
    values whose truth is SECRET_NUM give no delta and no loss. The groups are
    those of `layer_groups`; `exact` takes the loss of `softmax_x_ent_exact`."""
    input = _f64(input)
    index = layer_groups(input.shape[-1], groups, tree, spatial, w, h, c)
    output = np.empty_like(input)
    for group in index:
        output[:, group] = softmax(input[:, group], 1, temperature)
    result = {"output": output}
    if truth is not None and not noloss:
        truth = _f64(truth).reshape(input.shape)
        if exact:
            delta, loss = np.empty_like(input), np.empty_like(input)
            for group in index:
                delta[:, group], loss[:, group] = softmax_x_ent_exact(
                    output[:, group], truth[:, group], 1, temperature)
        else:
            delta, loss = softmax_x_ent(output, truth)
            if tree is not None:
                masked = truth == SECRET_NUM
                delta[masked] = 0
                loss[masked] = 0
        result.update(delta=delta, loss=loss, cost=float(loss.sum()))
    return result


def backward_softmax_layer(layer_delta, net_delta, output=None, noloss=False, exact=False,
                           temperature=1.0, groups=1, tree=None, spatial=False, w=None, h=None,
                           c=None):
    """net_delta plus the layer's contribution: the layer's delta itself (the
    fused gradient, Darknet's), or with `exact` and `noloss` the softmax
    Jacobian applied to it group by group (which needs the layer's `output`)."""
    net_delta = _f64(net_delta)
    layer_delta = _f64(layer_delta).reshape(net_delta.shape)
    if not (exact and noloss):
        return net_delta + layer_delta
    output = _f64(output).reshape(net_delta.shape)
    flat = net_delta.reshape(-1, net_delta.shape[-1]).copy()
    for group in layer_groups(flat.shape[-1], groups, tree, spatial, w, h, c):
        flat[:, group] += softmax_backward(output.reshape(flat.shape)[:, group],
                                           layer_delta.reshape(flat.shape)[:, group], 1, temperature)
    return flat.reshape(net_delta.shape)


# --- The WordTree (SPEC section 5): the tree's links and the helpers ---

def read_tree_file(path):
    """(names, parents) of a well-formed .tree file."""
    with open(path, "rb") as file:
        fields = [line.split() for line in file.read().splitlines()]
    return ([name.decode("utf-8", "backslashreplace") for name, _ in fields],
            [int(parent) for _, parent in fields])


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
    return {"group_offset": starts, "group_size": np.diff(np.r_[starts, parents.size]),
            "group": group, "child": child, "leaf": leaf}


def _ancestors(tree, node):
    node = tree.parent[node]
    while node >= 0:
        yield node
        node = tree.parent[node]


def fill_hierarchy(truth, tree):
    """Each row of truth with every ancestor of a labelled node (not 0, not
    SECRET_NUM) set to 1, then each group with no label set to SECRET_NUM."""
    truth = _f64(truth)
    for row in truth.reshape(-1, tree.n):
        labelled = (row != 0) & (row != SECRET_NUM)
        for node in np.flatnonzero(labelled):
            row[list(_ancestors(tree, node))] = 1
        labelled = (row != 0) & (row != SECRET_NUM)
        for offset, size in zip(tree.group_offset, tree.group_size):
            if not labelled[offset:offset + size].any():
                row[offset:offset + size] = SECRET_NUM
    return truth


def hierarchy_predictions(pred, tree, only_leaves=False):
    """Each node's probability times those of all its ancestors; with
    only_leaves, inner nodes 0."""
    pred = _f64(pred)
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
    return np.prod(_f64(x)[..., path], axis=-1)


def hierarchy_top_prediction(pred, tree, thresh):
    """The node where the walk down from group 0 stops: each step takes the
    group's most probable node (the first of equals; the group's first node
    when none is above 0) while the running product stays above float32(thresh)."""
    pred = _f64(pred)
    if pred.ndim == 2:
        return np.array([hierarchy_top_prediction(row, tree, thresh) for row in pred])
    thresh = float(np.float32(thresh))
    probability, group = 1.0, 0
    while True:
        offset, size = tree.group_offset[group], tree.group_size[group]
        values = np.nan_to_num(pred[offset:offset + size], nan=0.0)
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
    a = _f64(a)
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
    pred, truth = _f64(pred), _f64(truth)
    masked = truth == SECRET_NUM
    labels = np.where(masked, 0.0, truth)
    sums = _grouped(labels, groups).sum(axis=-1, keepdims=True)
    delta = (_grouped(labels, groups) - _grouped(pred, groups) * sums) / temperature
    delta = np.where(masked, 0.0, delta.reshape(pred.shape))
    with np.errstate(divide="ignore", invalid="ignore"):
        error = np.where(labels != 0, -labels * np.log(pred), 0.0)
    return delta, error


def layer_groups(inputs, groups=1, tree=None, spatial=False, w=None, h=None, c=None):
    """The softmax groups of one item of a layer, as index arrays: the tree's
    groups, or with `spatial` the c channels at each of the w*h positions of a
    (c, h, w) item, or `groups` equal slices."""
    if tree is not None:
        return [np.arange(offset, offset + size)
                for offset, size in zip(tree.group_offset, tree.group_size)]
    if spatial:
        positions = w * h
        return [position + positions * np.arange(c) for position in range(positions)]
    n = inputs // groups
    return [g * n + np.arange(n) for g in range(groups)]
