"""The benchmark's matrix products and convolutions (darknet_softmax/bench.py
runs them): gemm in the NN, NT and TN layouts on convolution-shaped products,
convolutional layers forward and backward, and darknet19's forward, against
NumPy's matmul and PyTorch. Each is checked against its float64 reference,
relative to the largest value: a float32 sum of thousands of products is
held to 1e-5 of the whole, not of each value near zero."""

import pathlib
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from . import reference
from .gemm import gemm
from .layers import ConvolutionalLayer, NetworkContext
from .layers import convolutional as conv

# (M, N, K) of the products of convolutions: 3x3 256 at 28x28, 1x1 128 at
# 28x28, 3x3 64 at 56x56, 3x3 512 at 7x7.
GEMM_SHAPES = {
    "G1": (256, 784, 1152),
    "G2": (128, 784, 256),
    "G3": (64, 3136, 576),
    "G4": (512, 49, 4608),
}
LAYOUTS = ("NN", "NT", "TN")
# (batch, h, w, c, filters, size, padding): stride 1.
CONV_SHAPES = {
    "C1": (1, 56, 56, 64, 128, 3, 1),
    "C2": (8, 14, 14, 256, 512, 3, 1),
    "C3": (8, 14, 14, 512, 256, 1, 0),
    "C4": (1, 224, 224, 3, 32, 3, 1),
}
# Darknet's cfg/darknet19.cfg, shipped with the package (data/DARKNET.md).
DARKNET19 = str(pathlib.Path(__file__).resolve().parent / "data" / "darknet19.cfg")

GEMM_NAMES = tuple(name + layout for name in GEMM_SHAPES for layout in LAYOUTS)
CONV_NAMES = tuple(name + way for name in CONV_SHAPES for way in ("F", "B"))
PRODUCTS = (*GEMM_NAMES, *CONV_NAMES)
# this project's time over NumPy's or PyTorch's, at one thread and all cores
LIMIT = 1.25
TARGETS = {
    **{name: [("numpy", LIMIT), ("torch", LIMIT)] for name in GEMM_NAMES},
    **{name: [("torch", LIMIT)] for name in (*CONV_NAMES, "D19")},
}


def relative_error(actual, expected, tolerance):
    """The largest error over the largest |expected|, in units of `tolerance`."""
    expected = np.ravel(expected).astype(np.float64)
    error = np.abs(np.ravel(actual).astype(np.float64) - expected).max()
    return float(error / (tolerance * np.abs(expected).max() + reference.ATOL))


def chw(shape):
    """A layer's (h, w, c) as PyTorch's (c, h, w)."""
    h, w, c = shape
    return c, h, w


class Product:
    """The bench's workload interface (bench.Workload) for flat outputs, with
    the multiply-adds that give each row its GFLOP/s."""

    tolerance = 1e-5

    def __init__(self, name, label, input, out, flops, torch):
        self.name, self.label, self.input, self.out, self.flops = name, label, input, out, flops
        self.torch = torch  # PyTorch, or None
        self.size = out.size
        self.last = out

    def actual(self):
        return self.last

    def error(self, expected):
        return relative_error(self.actual(), expected, self.tolerance)

    def floors(self):
        """None: a product is bound by its arithmetic (its GFLOP/s), not by
        a copy of its output."""
        return {}


class Gemm(Product):
    """C = op(A) op(B), float32, row-major, BETA = 0."""

    def __init__(self, name, shape, layout, rng, torch):
        m, n, k = shape
        self.ta, self.tb = layout[0] == "T", layout[1] == "T"
        self.a = rng.standard_normal((k, m) if self.ta else (m, k), np.float32)
        self.b = rng.standard_normal((n, k) if self.tb else (k, n), np.float32)
        label = f"{name} gemm {layout} {m}x{n}x{k}"
        c = np.empty((m, n), np.float32)
        super().__init__(name, label, None, c, 2 * m * n * k, torch)

    def operands(self):
        return (self.a.T if self.ta else self.a), (self.b.T if self.tb else self.b)

    def expected(self):
        a, b = self.operands()
        return reference.f64(a) @ reference.f64(b)

    def implementations(self):
        (m, n), (a, b), out = self.out.shape, self.operands(), self.out
        k = a.shape[1]
        calls = {
            "darknet_softmax": lambda: gemm(
                self.ta,
                self.tb,
                m,
                n,
                k,
                1.0,
                self.a,
                self.a.shape[1],
                self.b,
                self.b.shape[1],
                0.0,
                out,
                n,
            ),
            "numpy": lambda: np.matmul(a, b, out=out),
        }
        torch = self.torch
        if torch is not None:
            ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(out)
            calls["torch"] = lambda: torch.matmul(ta, tb, out=tout)
        return calls


class Convolution(Product):
    """A convolutional layer (linear, no batch normalisation) forward, or its
    backward: the weight updates and the input delta, from a fixed delta.
    A weight's gradient sums batch*out_h*out_w products (50176 in C4), which
    round in float32 to about 1e-5 of the largest in any order (PyTorch's
    too), so the check allows 3e-5."""

    tolerance = 3e-5

    def __init__(self, name, shape, backward, rng, torch):
        batch, h, w, c, filters, size, padding = shape
        self.layer = ConvolutionalLayer(
            batch, (h, w, c), filters, size, 1, padding, activation="linear", seed=0
        )
        x = rng.standard_normal((batch, h * w * c), np.float32)
        self.backward = backward
        self.net_delta = np.zeros_like(x)
        self.net = NetworkContext(x, delta=self.net_delta)
        self.layer.forward(self.net)
        self.upstream = rng.standard_normal(self.layer.output.shape, np.float32)
        way = "backward" if backward else "forward"
        label = f"{name} conv {way} {size}x{size} {c}->{filters} {h}x{w} b{batch}"
        flops = 2 * self.layer.outputs * batch * size * size * c * (2 if backward else 1)
        super().__init__(name, label, x, self.layer.output, flops, torch)

    def expected(self):
        layer = self.layer
        if not self.backward:
            return conv.reference_forward(
                self.input, layer.weights, layer.biases, layer.shape, 1, layer.padding, 1, "linear"
            )
        delta = self.upstream.reshape(len(self.input), layer.filters, *layer.out_shape[:2])
        weights, inputs = conv.convolve_backward(
            self.input, layer.weights, delta, layer.shape, 1, layer.padding, 1
        )
        return np.concatenate([weights.ravel(), inputs.ravel()])

    def ours(self):
        if not self.backward:
            self.layer.forward(self.net)
            self.last = self.layer.output
            return
        # Fresh gradients, as PyTorch returns: the layer adds to both.
        self.layer.weight_updates.fill(0)
        self.net_delta.fill(0)
        self.layer.delta[:] = self.upstream
        self.layer.backward(self.net)
        self.last = (self.layer.weight_updates, self.net_delta)

    def actual(self):
        if not self.backward:
            return self.last
        return np.concatenate([part.ravel() for part in self.last])

    def implementations(self):
        calls = {"darknet_softmax": self.ours}
        torch = self.torch
        if torch is not None:
            calls["torch"] = self.torch_call(torch)
        return calls

    def torch_call(self, torch):
        layer = self.layer
        batch = len(self.input)
        x = torch.from_numpy(self.input.reshape(batch, *chw(layer.shape)))
        weights = torch.from_numpy(np.array(layer.weights))
        biases = torch.from_numpy(np.array(layer.biases))
        padding = layer.padding
        if not self.backward:

            def forward():
                with torch.inference_mode():
                    self.last = torch.nn.functional.conv2d(x, weights, biases, 1, padding).numpy()

            return forward
        delta = torch.from_numpy(self.upstream.reshape(batch, layer.filters, *layer.out_shape[:2]))

        def backward():
            grads = torch.ops.aten.convolution_backward(
                delta, x, weights, None, [1, 1], [padding] * 2, [1, 1], False, [0, 0], 1,
                [True, True, False],
            )  # fmt: skip
            self.last = (grads[1].numpy(), grads[0].numpy())

        return backward


class Darknet19(Product):
    """darknet19's forward at 224x224 (64x64 in a quick run), batch 1, and the same network in
    PyTorch (conv, batch norm, leaky; maxpool; avgpool; softmax) with the
    same weights."""

    def __init__(self, name, cfg, side, rng, torch):
        from .network import Network

        self.network = Network.from_cfg(cfg, batch=1, height=side, width=side)
        layers: list[Any] = self.network.layers
        for layer in layers:
            if getattr(layer, "batch_normalize", False):
                # trained statistics: Darknet's start (variance 0) multiplies
                # each layer's values by 1e6, past float32's range
                layer.rolling_mean[:] = rng.standard_normal(layer.filters) * 0.1
                layer.rolling_variance[:] = rng.uniform(0.5, 2.0, layer.filters)
        x = rng.standard_normal((1, self.network.inputs), np.float32)
        flops = sum(
            2 * layer.outputs * layer.size**2 * layer.shape[2]
            for layer in layers
            if layer.kind == "convolutional"
        )
        out = np.empty((1, self.network.outputs), np.float32)
        label = f"{name} darknet19 forward {side}x{side} b1"
        super().__init__(name, label, x, out, flops, torch)

    def expected(self):
        return self.network.reference_predict(self.input)

    def ours(self):
        self.last = self.network.forward(self.input)

    def implementations(self):
        calls = {"darknet_softmax": self.ours}
        torch = self.torch
        if torch is not None:
            model = torch_network(torch, self.network)
            first: Any = self.network.layers[0]
            x = torch.from_numpy(self.input.reshape(1, *chw(first.shape)))

            def theirs():
                with torch.inference_mode():
                    self.last = model(x).numpy()

            calls["torch"] = theirs
        return calls


def torch_network(torch, network):
    """network's layers as a torch Sequential with its parameters. Darknet
    divides by sqrt(variance) + 1e-6; BatchNorm2d by sqrt(variance + eps),
    so eps is 0 and the variance is given as (sqrt(variance) + 1e-6)**2."""
    nn = torch.nn
    modules: list[Any] = []
    layers: list[Any] = network.layers
    for layer in layers:
        if layer.kind == "convolutional":
            c = layer.shape[2]
            convolution = nn.Conv2d(
                c, layer.filters, layer.size, layer.stride, layer.padding,
                bias=not layer.batch_normalize,
            )  # fmt: skip
            convolution.weight.data = torch.from_numpy(np.array(layer.weights))
            modules.append(convolution)
            if layer.batch_normalize:
                norm = nn.BatchNorm2d(layer.filters, eps=0.0)
                norm.weight.data = torch.from_numpy(np.array(layer.scales))
                norm.bias.data = torch.from_numpy(np.array(layer.biases))
                norm.running_mean = torch.from_numpy(np.array(layer.rolling_mean))
                root = np.sqrt(layer.rolling_variance.astype(np.float64)) + 1e-6
                norm.running_var = torch.from_numpy((root**2).astype(np.float32))
                modules.append(norm)
            else:
                convolution.bias.data = torch.from_numpy(np.array(layer.biases))
            if layer.activation == "leaky":
                modules.append(nn.LeakyReLU(0.1))
        elif layer.kind == "maxpool":
            modules.append(nn.MaxPool2d(layer.size, layer.stride))
        elif layer.kind == "avgpool":
            modules += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        elif layer.kind == "softmax":
            modules.append(nn.Softmax(dim=1))
        else:
            raise ValueError(f"no PyTorch peer for a {layer.kind} layer")
    return nn.Sequential(*modules).eval()


def seeded(name):
    """A generator seeded by a workload's name: its data are the same
    whichever workloads run with it (and so is a peer's error, near the
    tolerance for some)."""
    return np.random.default_rng(list(name.encode()))


def workloads(quick, darknet19, torch):
    """Each workload's maker by name; a quick run's are small. `darknet19` is
    the path of Darknet's darknet19.cfg; `torch` is PyTorch, or None."""
    make: dict[str, Any] = {}
    for name, (m, n, k) in GEMM_SHAPES.items():
        product = (m // 16 + 3, n // 16 + 3, k // 16 + 3) if quick else (m, n, k)
        for layout in LAYOUTS:
            make[name + layout] = lambda w=name + layout, s=product, t=layout: Gemm(
                w, s, t, seeded(w), torch
            )
    for name, (batch, h, w, c, filters, size, padding) in CONV_SHAPES.items():
        layer = (batch, h, w, c, filters, size, padding)
        if quick:
            layer = (1, min(h, 9), min(w, 7), min(c, 5), min(filters, 6), size, padding)
        for way in ("F", "B"):
            make[name + way] = lambda w=name + way, s=layer, b=way == "B": Convolution(
                w, s, b, seeded(w), torch
            )
    make["D19"] = lambda: Darknet19("D19", darknet19, 64 if quick else 224, seeded("D19"), torch)
    return make


_blas_threads = [None]


def set_blas_threads(threads):
    """NumPy's BLAS at `threads`: without the limit, its "1 thread" would run
    on every core."""
    if _blas_threads[0] == threads:
        return
    threadpool_limits(threads, user_api="blas")
    _blas_threads[0] = threads


def numpy_blas():
    """The BLAS NumPy runs, for the report's header."""
    blas = [info for info in threadpool_info() if info["user_api"] == "blas"]
    return ", ".join(
        f"{info['internal_api']} {info['version']} {info.get('architecture', '')}" for info in blas
    )


def gflops_table(rows):
    """GFLOP/s of each timed row of these workloads."""
    lines = [f"{'workload':<44} {'impl':<16} {'thr':>3} {'ms':>9} {'GFLOP/s':>8}"]
    for row in rows:
        if row.get("flops") and "seconds" in row:
            gflops = row["flops"] / row["seconds"] / 1e9
            lines.append(
                f"{row['label']:<44} {row['implementation']:<16} {row['threads']:>3} "
                f"{row['seconds'] * 1e3:>9.3f} {gflops:>8.1f}"
            )
    return "\n".join(lines) if len(lines) > 1 else ""
