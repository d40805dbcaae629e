"""The two-layer net of "Deep Learning from Scratch" (Saito, chapter 5) on the
bundled digits: Affine, ReLU, Affine, SoftmaxWithLoss (the mean over the
batch), written with two connected layers and the functional API.

    python examples/two_layer_net.py

The book's TwoLayerNet keeps W1, b1, W2, b2 and computes the gradient by
backpropagation: SoftmaxWithLoss gives dx = (y - t) / batch_size, each Affine
dW = x.T @ dout. Here the Affine and ReLU layers are Darknet's connected layers
(the first with the relu activation, the second linear), and SoftmaxWithLoss is
`softmax_cross_entropy` with integer labels: its `grad` is the book's dx. The
connected layers take Darknet's delta, the NEGATIVE gradient, so the loss's
`-grad` goes in, and their `weight_updates` come out as -dL/dW.

`gradient_check` compares that backpropagated gradient with central
differences of the loss, as the book's gradient_check.py does."""

import gzip
import pathlib

import numpy as np

import darknet_softmax as ds

DIGITS = pathlib.Path(ds.__file__).parent / "data" / "digits.csv.gz"


def load_digits():
    """The 1797 images (pixels scaled to [0, 1]) and their digits."""
    table = np.loadtxt(gzip.open(DIGITS, "rt"), delimiter=",", dtype=np.float32)
    return np.ascontiguousarray(table[:, :64] / 16), table[:, 64].astype(np.int64)


class TwoLayerNet:
    """Affine (+ ReLU) -> Affine -> SoftmaxWithLoss over `batch` items."""

    def __init__(self, batch, inputs=64, hidden=50, classes=10, seed=0):
        self.affine_relu = ds.ConnectedLayer(batch, inputs, hidden, "relu", seed=seed)
        self.affine = ds.ConnectedLayer(batch, hidden, classes, "linear", seed=seed + 1)
        self.layers = (self.affine_relu, self.affine)

    def predict(self, x):
        self.affine_relu.forward(ds.NetworkContext(x))
        self.affine.forward(ds.NetworkContext(self.affine_relu.output))
        return self.affine.output

    def loss(self, x, t):
        """SoftmaxWithLoss: the mean cross-entropy over the batch, and its
        gradient with respect to the scores (the book's dx)."""
        return ds.softmax_cross_entropy(self.predict(x), t)

    def gradient(self, x, t):
        """Backpropagation: returns the loss; afterwards each layer's
        weight_updates and bias_updates hold -dL/dW and -dL/db."""
        loss, grad = self.loss(x, t)
        for layer in self.layers:
            layer.weight_updates.fill(0)
            layer.bias_updates.fill(0)
        self.affine_relu.delta.fill(0)  # backward adds into it
        np.negative(grad, out=self.affine.delta)  # Darknet's delta is -grad
        self.affine.backward(
            ds.NetworkContext(self.affine_relu.output, delta=self.affine_relu.delta)
        )
        self.affine_relu.backward(ds.NetworkContext(x))
        return float(loss)

    def step(self, learning_rate):
        """Plain SGD: W -= learning_rate * dL/dW (Darknet's update adds
        learning_rate/batch times the updates, which are -dL/dW; the loss is
        already a mean, so batch 1)."""
        for layer in self.layers:
            layer.update(1, learning_rate, 0.0, 0.0)


def float64_loss(params, x, t):
    """The same loss in float64 NumPy, from W1, b1, W2, b2."""
    w1, b1, w2, b2 = params
    hidden = np.maximum(x @ w1.T + b1, 0)
    scores = hidden @ w2.T + b2
    scores = scores - scores.max(axis=1, keepdims=True)
    log_p = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(t)), t].mean()


def gradient_check(batch=5, hidden=8, seed=0, step=1e-5):
    """The largest difference between the backpropagated gradient and
    central differences of the float64 loss, over every weight and bias,
    relative to the gradient's largest value."""
    x, t = load_digits()
    x, t = x[:batch], t[:batch]
    net = TwoLayerNet(batch, hidden=hidden, seed=seed)
    for layer in net.layers:
        layer.biases[:] = np.random.default_rng(seed).uniform(-0.1, 0.1, layer.biases.shape)
    net.gradient(x, t)
    params = [
        np.array(array, np.float64)
        for layer in net.layers
        for array in (layer.weights, layer.biases)
    ]
    backprop = [
        -np.array(array, np.float64)
        for layer in net.layers
        for array in (layer.weight_updates, layer.bias_updates)
    ]
    worst, largest = 0.0, 0.0
    for param, gradient in zip(params, backprop):
        for index in np.ndindex(param.shape):
            saved = param[index]
            param[index] = saved + step
            up = float64_loss(params, x.astype(np.float64), t)
            param[index] = saved - step
            down = float64_loss(params, x.astype(np.float64), t)
            param[index] = saved
            worst = max(worst, abs((up - down) / (2 * step) - gradient[index]))
            largest = max(largest, abs(gradient[index]))
    return worst / largest


def main(verbose=True, steps=600, batch=100, learning_rate=0.5, seed=0):
    x, t = load_digits()
    order = np.random.default_rng(seed).permutation(len(x))
    train, test = order[:1400], order[1400:]
    net = TwoLayerNet(batch, seed=seed)
    rng = np.random.default_rng(seed + 1)
    losses = []
    for i in range(steps):
        rows = rng.choice(train, batch, replace=False)
        losses.append(net.gradient(x[rows], t[rows]))
        net.step(learning_rate)
        if verbose and i % 100 == 0:
            print(f"step {i:4d}  loss {losses[-1]:.4f}")

    def accuracy(rows):
        # The layers run `batch` items at a time; pad the last slice.
        right = 0
        for start in range(0, len(rows), batch):
            chunk = rows[start : start + batch]
            padded = np.resize(chunk, batch)
            right += int(np.sum(np.argmax(net.predict(x[padded]), 1)[: len(chunk)] == t[chunk]))
        return right / len(rows)

    result = {
        "losses": losses,
        "train_accuracy": accuracy(train),
        "test_accuracy": accuracy(test),
        "gradient_error": gradient_check(),
    }
    if verbose:
        print(
            f"train accuracy {result['train_accuracy']:.3f}, "
            f"test accuracy {result['test_accuracy']:.3f}, "
            f"gradient check: largest difference {result['gradient_error']:.2e} "
            "of the largest gradient"
        )
    return result


if __name__ == "__main__":
    main()
