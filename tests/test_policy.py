"""Darknet's learning-rate policies and subdivisions: the rate at each update
count, and updates that wait for `subdivisions` forwards."""

import math

import numpy as np
import pytest

import darknet_softmax as ds
from darknet_softmax.policy import LearningRatePolicy


def rate(k, learning_rate=0.5, max_batches=10, seed=0, **policy):
    return LearningRatePolicy.checked(**policy).rate(
        learning_rate, k, max_batches, np.random.default_rng(seed)
    )


@pytest.mark.parametrize(
    "policy, expected",
    [
        ({}, [0.5, 0.5, 0.5, 0.5]),
        ({"policy": "step", "step": 2, "scale": 0.1}, [0.5, 0.5, 0.05, 0.05]),
        ({"policy": "steps", "steps": (1, 3), "scales": (0.1, 0.5)}, [0.5, 0.05, 0.05, 0.025]),
        ({"policy": "exp", "gamma": 0.9}, [0.5, 0.45, 0.405, 0.3645]),
        ({"policy": "poly", "power": 2}, [0.5, 0.405, 0.32, 0.245]),
        (
            {"policy": "sig", "gamma": 1.0, "step": 1},
            [0.5 / (1 + math.exp(-1)), 0.25, 0.5 / (1 + math.e), 0.5 / (1 + math.e**2)],
        ),
        ({"burn_in": 2, "power": 3}, [0.0, 0.0625, 0.5, 0.5]),
    ],
)
def test_rate_at_each_update(policy, expected):
    assert [rate(k, **policy) for k in range(4)] == pytest.approx(expected)


def test_random_policy_is_uniform_to_the_power_and_seeded():
    values = [rate(0, seed=seed, policy="random", power=1) for seed in range(200)]
    assert all(0 <= value <= 0.5 for value in values)
    assert 0.2 < np.mean(values) < 0.3
    assert rate(0, seed=5, policy="random") == rate(0, seed=5, policy="random")


@pytest.mark.parametrize(
    "options, words",
    [
        ({"policy": "cosine"}, "policy must be one of"),
        ({"policy": "steps"}, "as many steps as scales"),
        ({"policy": "steps", "steps": (1, 2), "scales": (0.1,)}, "as many steps as scales"),
        ({"step": 0}, "step must be at least 1"),
        ({"burn_in": -1}, "burn_in must be at least 0"),
        ({"gamma": math.nan}, "gamma must be finite"),
    ],
)
def test_bad_policies_are_refused(options, words):
    with pytest.raises(ValueError, match=words):
        LearningRatePolicy.checked(**options)


def test_the_cfg_sets_the_policy_and_the_network_reports_the_rate():
    net = ds.Network.from_cfg(
        "[net]\nbatch=4\ninputs=2\nlearning_rate=0.1\npolicy=steps\nsteps=2,4\n"
        "scales=.5,.5\nburn_in=1\n[connected]\noutput=2\n"
    )
    x, truth = np.ones((4, 2), np.float32), np.zeros((4, 2), np.float32)
    rates = []
    for _ in range(5):
        net.train_batch(x, truth)
        rates.append(net.current_rate)
    # seen grows before the rate is taken: the updates run at k = 1, 2, ...
    assert rates == pytest.approx([0.1, 0.05, 0.05, 0.025, 0.025])
    assert net.current_batch == 5


def test_steps_without_scales_names_the_net_line():
    with pytest.raises(ValueError, match=r"line 1: \[net\]: the steps policy"):
        ds.Network.from_cfg("[net]\ninputs=2\npolicy=steps\nsteps=3\n[connected]\n")


def test_poly_needs_max_batches():
    with pytest.raises(ValueError, match="poly policy needs max_batches"):
        ds.Network(inputs=2, policy="poly")


def two_layer_net(batch, subdivisions, seed=3):
    net = ds.Network(
        inputs=3, batch=batch, subdivisions=subdivisions, momentum=0.0, learning_rate=0.5, seed=seed
    )
    net.add_connected(4, "tanh")
    net.add_connected(2, "linear")
    net.add_softmax()
    return net


def test_subdivisions_update_after_that_many_forwards_as_one_big_batch(rng):
    x = rng.standard_normal((6, 3)).astype(np.float32)
    truth = np.eye(2, dtype=np.float32)[rng.integers(0, 2, 6)]
    split, whole = two_layer_net(2, 3), two_layer_net(6, 1)
    start = split.layers[0].weights.copy()
    np.testing.assert_array_equal(start, whole.layers[0].weights)
    for part in range(3):
        split.train_batch(x[2 * part : 2 * part + 2], truth[2 * part : 2 * part + 2])
        updated = not np.array_equal(split.layers[0].weights, start)
        assert updated == (part == 2)
    whole.train_batch(x, truth)
    for ours, theirs in zip(split.layers[:2], whole.layers[:2]):
        np.testing.assert_allclose(ours.weights, theirs.weights, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours.biases, theirs.biases, rtol=1e-5, atol=1e-6)
    assert split.seen == whole.seen == 6


def test_cfg_batch_is_divided_by_subdivisions():
    net = ds.Network.from_cfg("[net]\nbatch=8\nsubdivisions=4\ninputs=2\n[connected]\n")
    assert (net.batch, net.subdivisions) == (2, 4)
    with pytest.raises(ValueError, match=r"line 1: \[net\]: batch \(3\) must be at least"):
        ds.Network.from_cfg("[net]\nbatch=3\nsubdivisions=4\ninputs=2\n[connected]\n")


def test_image_loader_options_are_kept_and_listed_as_unused():
    net = ds.Network.from_cfg(
        "[net]\ninputs=2\nangle=7\nsaturation=1.5\nexposure=1.5\nhue=.1\naspect=.75\n"
        "max_crop=320\nmin_crop=228\n[connected]\n"
    )
    assert net.unused == {
        "angle": 7,
        "aspect": 0.75,
        "saturation": 1.5,
        "exposure": 1.5,
        "hue": 0.1,
        "min_crop": 228,
        "max_crop": 320,
    }
    last = net.summary().splitlines()[-1]
    assert last.startswith("unused by this engine") and "angle=7" in last and "hue=0.1" in last
    with pytest.raises(ValueError, match="line 2: unknown option rotation"):
        ds.Network.from_cfg("[net]\nrotation=7\ninputs=2\n[connected]\n")


def test_summary_lists_every_layer_with_its_shapes():
    net = ds.Network(height=2, width=3, channels=2)
    net.add_connected(5, "leaky")
    net.add_softmax()
    lines = net.summary().splitlines()
    assert lines[2].split() == [
        "0",
        "connected",
        "leaky",
        "2",
        "x",
        "3",
        "x",
        "2",
        "->",
        "1",
        "x",
        "1",
        "x",
        "5",
    ]
    assert lines[3].split()[:3] == ["1", "softmax", "groups"]
    assert len(lines) == 4
