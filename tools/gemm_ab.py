"""Two or more builds of the library's gemm, or of its convolutional layer,
timed in one process, their calls alternated: on a shared machine whose
speed drifts by tens of percent from one minute to the next, each build then
sees the same machine, where back-to-back benchmark runs would not.

    python tools/gemm_ab.py OLD/_lib.abi3.so NEW/_lib.abi3.so [--threads 1]
        [--seconds 3] [--shapes G3NN,G3TN,C1F,C2B]

A build is the `darknet_softmax/_lib.abi3.so` of a checkout built in place
(`python setup.py build_ext --inplace`). A shape is a benchmark row: G1NN to
G4TN a gemm, C1F to C4B a convolutional layer's forward or backward (linear,
no batch normalisation). Prints, for each shape, each build's GFLOP/s from
its fastest call and from its median one.
"""

import argparse
import importlib.util
import time

import numpy as np

from darknet_softmax.bench_gemm import CONV_SHAPES, GEMM_SHAPES, PRODUCTS


def load(path, index):
    """The compiled module at `path`, under a name of its own, so that
    several builds load side by side (each keeps its own thread pool)."""
    spec = importlib.util.spec_from_file_location(f"build{index}._lib", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def calls(builds, shape, rng):
    """One call a build on the same operands, and its flops."""
    return (conv_calls if shape[0] == "C" else gemm_calls)(builds, shape, rng)


def gemm_calls(builds, shape, rng):
    """`shape` G1NN to G4TN: its layout says which operand is transposed."""
    (m, n, k), ta, tb = GEMM_SHAPES[shape[:-2]], shape[-2] == "T", shape[-1] == "T"
    a = rng.standard_normal((k, m) if ta else (m, k), np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n), np.float32)
    c = np.zeros((m, n), np.float32)
    made = []
    for build in builds:
        ffi, lib = build.ffi, build.lib
        pa, pb, pc = (ffi.from_buffer("float[]", x) for x in (a, b, c))
        made.append(
            lambda lib=lib, pa=pa, pb=pb, pc=pc: lib.gemm(
                ta, tb, m, n, k, 1.0, pa, a.shape[1], pb, b.shape[1], 0.0, pc, n
            )
        )
    return made, 2 * m * n * k


def conv_calls(builds, shape, rng):
    """`shape` C1F to C4B: each build's own layer, with the same weights,
    input and (backward) delta."""
    batch, h, w, c, filters, size, padding = CONV_SHAPES[shape[:-1]]
    backward = shape[-1] == "B"
    x = rng.standard_normal(batch * h * w * c).astype(np.float32)
    x_delta = np.zeros_like(x)
    weights = rng.standard_normal(filters * c * size * size).astype(np.float32)
    made = []
    for build in builds:
        ffi, lib = build.ffi, build.lib
        made_layer = ffi.new("convolutional_layer **")
        status = lib.make_convolutional_layer(
            batch, h, w, c, filters, 1, size, 1, padding, lib.LINEAR, 0, 0, made_layer
        )
        assert status == lib.DS_OK, f"make_convolutional_layer: {status}"
        layer = ffi.gc(made_layer[0], lib.free_layer)
        ffi.buffer(layer.weights, weights.nbytes)[:] = weights.tobytes()
        net = ffi.new("network *", {"train": 1})
        net.input = ffi.from_buffer("float[]", x)
        net.delta = ffi.from_buffer("float[]", x_delta)
        run = lib.backward_convolutional_layer if backward else lib.forward_convolutional_layer
        # net holds bare pointers: the call keeps the arrays they point into.
        made.append(lambda run=run, layer=layer, net=net, keep=(x, x_delta): run(layer, net))
    flops = 2 * batch * filters * c * size * size * layer.shape.out_h * layer.shape.out_w
    return made, flops * (2 if backward else 1)


def alternate(made, seconds):
    """Each call's times, the calls taken in turn until `seconds` pass."""
    for call in made:
        call()
    times = [[] for _ in made]
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for call, kept in zip(made, times):
            begin = time.perf_counter()
            call()
            kept.append(time.perf_counter() - begin)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("builds", nargs="+", help="the _lib.abi3.so of each build")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0, help="a shape's time")
    parser.add_argument("--shapes", default=",".join(PRODUCTS), help="of " + ", ".join(PRODUCTS))
    args = parser.parse_args()
    builds = [load(path, i) for i, path in enumerate(args.builds)]
    for build in builds:
        build.lib.ds_set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print("GFLOP/s, fastest/median call, builds in the order given")
    for shape in args.shapes.split(","):
        made, flops = calls(builds, shape, rng)
        times = alternate(made, args.seconds)
        figures = [f"{flops / min(t) / 1e9:6.0f}/{flops / np.median(t) / 1e9:<4.0f}" for t in times]
        print(f"{shape:5}", " ".join(figures), f"({len(times[0])} calls each)")


if __name__ == "__main__":
    main()
