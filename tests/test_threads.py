"""Python threads: separate layers give exactly the single-threaded results;
a shared layer takes one call at a time, so its buffers are never torn, and a
close from another thread makes later calls raise ValueError."""

import threading
import time

import numpy as np

import darknet_softmax as ds
from conftest import one_hot

THREADS = 6
ROUNDS = 8
# (batch, inputs, groups, temperature): a different job for each thread.
JOBS = [
    (64, 1000, 1, 1.0),
    (32, 1000, 200, 0.5),
    (16, 4096, 16, 2.0),
    (128, 257, 1, 1e-3),
    (8, 9418, 1, 1.0),
    (1, 7, 7, 1.0),
]


def run_in_threads(work, count=THREADS):
    """Calls work(i) in `count` threads started together; re-raises the first error."""
    barrier = threading.Barrier(count)
    results, errors = [None] * count, []

    def body(i):
        try:
            barrier.wait()
            results[i] = work(i)
        except BaseException as error:  # handed to the main thread
            errors.append(error)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def job_data(i):
    batch, inputs, groups, _ = JOBS[i]
    rng = np.random.default_rng(i)
    x = (rng.standard_normal((batch, inputs)) * 3).astype(np.float32)
    return x, one_hot(rng.integers(0, inputs // groups, (batch, groups)), inputs // groups)


def train_rounds(i):
    """ROUNDS of forward and backward on a layer of this thread's own."""
    batch, inputs, groups, temperature = JOBS[i]
    x, truth = job_data(i)
    net_delta = np.zeros_like(x)
    outputs = []
    with ds.SoftmaxLayer(batch, inputs, groups, temperature) as layer:
        net = ds.NetworkContext(x, truth, net_delta)
        for _ in range(ROUNDS):
            layer.forward(net)
            layer.backward(net)
            outputs.append((layer.output.copy(), layer.delta.copy(), layer.loss.copy(), layer.cost))
    return outputs, net_delta


def test_separate_layers_match_single_thread():
    expected = [train_rounds(i) for i in range(THREADS)]
    for _ in range(3):
        got = run_in_threads(train_rounds)
        for (want_rounds, want_delta), (got_rounds, got_delta) in zip(expected, got):
            np.testing.assert_array_equal(got_delta, want_delta)
            for want, have in zip(want_rounds, got_rounds):
                for a, b in zip(want[:3], have[:3]):
                    np.testing.assert_array_equal(b, a)
                assert have[3] == want[3]


def test_functional_api_in_threads():
    data = [job_data(i) for i in range(THREADS)]

    def work(i):
        x, truth = data[i]
        _, inputs, groups, temperature = JOBS[i]
        results = []
        for _ in range(ROUNDS):
            probs = ds.softmax(x, groups, temperature)
            delta, error = ds.softmax_x_ent(probs, truth)
            y = np.ones(x.size, np.float32)
            ds.axpy(0.5, delta.ravel(), y)
            results.append((probs, delta, error, y, ds.sum_array(error)))
        return results

    expected = [work(i) for i in range(THREADS)]
    got = run_in_threads(work)
    for want_rounds, got_rounds in zip(expected, got):
        for want, have in zip(want_rounds, got_rounds):
            for a, b in zip(want[:4], have[:4]):
                np.testing.assert_array_equal(b, a)
            assert have[4] == want[4]


def thread_inputs(batch, inputs):
    return [
        np.random.default_rng(i).standard_normal((batch, inputs)).astype(np.float32)
        for i in range(THREADS)
    ]


def assert_never_torn(layer, inputs_by_thread, candidates, repeats):
    """Every thread runs its own input through the one layer. After the calls
    return, the output is exactly one of the candidates, never a mix of two."""

    def work(i):
        net = ds.NetworkContext(inputs_by_thread[i])
        for _ in range(ROUNDS):
            layer.forward(net)

    for _ in range(repeats):
        run_in_threads(work)
        assert any(np.array_equal(layer.output, c) for c in candidates)


def test_shared_layer_buffers_are_never_torn():
    # The candidates: each input's softmax.
    inputs_by_thread = thread_inputs(64, 4096)
    with ds.SoftmaxLayer(64, 4096) as layer:
        assert_never_torn(layer, inputs_by_thread, [ds.softmax(x) for x in inputs_by_thread], 5)


def test_shared_layer_backward_accumulates_every_call():
    batch, inputs = 8, 300
    x, truth = job_data(0)[0][:batch, :inputs].copy(), np.zeros((batch, inputs), np.float32)
    truth[:, 0] = 1
    layer = ds.SoftmaxLayer(batch, inputs)
    layer.forward(ds.NetworkContext(x, truth))
    net_delta = np.zeros_like(x)
    net = ds.NetworkContext(x, truth, net_delta)

    def work(i):
        for _ in range(50):
            layer.backward(net)

    run_in_threads(work)
    # float32 sums of equal steps are exact while they stay small enough, so any
    # lost update (two threads adding at once) would show.
    expected = np.zeros_like(x)
    for _ in range(THREADS * 50):
        expected += layer.delta
    np.testing.assert_array_equal(net_delta, expected)


def test_close_from_another_thread():
    batch, inputs = 256, 4096
    x = np.random.default_rng(0).standard_normal((batch, inputs)).astype(np.float32)
    layer = ds.SoftmaxLayer(batch, inputs)
    output = layer.output
    net = ds.NetworkContext(x)
    closed = threading.Event()
    outcomes = []

    def work(i):
        if i == 0:
            layer.close()
            closed.set()
            return
        while True:
            was_closed = closed.is_set()
            try:
                layer.forward(net)
            except ValueError as error:
                outcomes.append(str(error))
                return
            if was_closed:
                outcomes.append("forward ran after close")
                return

    run_in_threads(work, count=4)
    assert outcomes == ["this SoftmaxLayer is closed"] * 3
    # The view taken before close holds a whole result, or the zeros it began with.
    assert np.array_equal(output, ds.softmax(x)) or not output.any()


def test_c_runs_without_the_gil():
    # While one thread is inside a long C call, another keeps running Python.
    x = np.random.default_rng(0).standard_normal((2048, 4096)).astype(np.float32)
    out = np.empty_like(x)
    call = []
    ticks = []
    done = threading.Event()

    def work(i):
        if i == 0:
            start = time.perf_counter()
            ds.softmax(x, out=out)
            call.extend([start, time.perf_counter()])
            done.set()
        else:
            while not done.is_set():
                ticks.append(time.perf_counter())

    run_in_threads(work, count=2)
    start, end = call
    assert sum(start < tick < end for tick in ticks) > 10


# --- the network and its layers ----------------------------------------------

CFG = """[net]
batch=8
inputs=20
learning_rate=0.1
[connected]
output=16
activation=leaky
[dropout]
probability=0.25
[connected]
output=12
activation=linear
[softmax]
groups=3
"""


def network_data(i, rows=32):
    rng = np.random.default_rng(100 + i)
    x = rng.standard_normal((rows, 20)).astype(np.float32)
    return x, one_hot(rng.integers(0, 4, (rows, 3)), 4)


def train_network(i):
    network = ds.parse_network_cfg(CFG, seed=i)
    x, y = network_data(i)
    losses = network.train(x, y, epochs=3, seed=i)
    weights = [layer.weights.copy() for layer in network.layers if hasattr(layer, "weights")]
    return losses, weights, network.predict(x)


def test_separate_networks_match_single_thread():
    expected = [train_network(i) for i in range(THREADS)]
    got = run_in_threads(train_network)
    for (want_losses, want_weights, want_out), (losses, weights, out) in zip(expected, got):
        assert losses == want_losses
        for a, b in zip(want_weights, weights):
            np.testing.assert_array_equal(b, a)
        np.testing.assert_array_equal(out, want_out)


def test_shared_network_predicts_each_threads_own_input():
    # predict copies X into the network's one input buffer, then runs it: two
    # threads at once would read each other's input without the network's lock.
    network = ds.parse_network_cfg(CFG, seed=0)
    inputs = [network_data(i, rows=40)[0] for i in range(THREADS)]
    expected = [network.predict(x) for x in inputs]

    def work(i):
        return [network.predict(inputs[i]) for _ in range(ROUNDS)]

    for i, results in enumerate(run_in_threads(work)):
        for result in results:
            np.testing.assert_array_equal(result, expected[i])


def test_shared_network_trains_one_step_at_a_time():
    # Every train_batch is whole, so the total of seen items is exact and the
    # weights and losses stay finite; the order of the steps is the threads'
    # to decide. At CFG's rate some orders (about 1 run in 300) drive the
    # logits past 88, where a probability is 0 and its loss -log(0) = inf.
    network = ds.parse_network_cfg(CFG.replace("learning_rate=0.1", "learning_rate=0.02"), seed=0)
    data = [network_data(i, rows=8) for i in range(THREADS)]

    def work(i):
        return [network.train_batch(*data[i]) for _ in range(ROUNDS)]

    losses = run_in_threads(work)
    assert network.seen == THREADS * ROUNDS * 8
    assert all(np.isfinite(loss) for thread in losses for loss in thread)
    for layer in network.layers:
        if hasattr(layer, "weights"):
            assert np.isfinite(layer.weights).all()


def test_shared_connected_layer_output_is_never_torn():
    batch, inputs, outputs = 32, 512, 256
    # The candidates: each input's output from the layer alone.
    layer = ds.ConnectedLayer(batch, inputs, outputs, "linear", seed=0)
    data = thread_inputs(batch, inputs)
    candidates = []
    for x in data:
        layer.forward(ds.NetworkContext(x))
        candidates.append(layer.output.copy())
    assert_never_torn(layer, data, candidates, 3)
    layer.close()
