"""The float64 reference against values worked out by hand."""

import numpy as np
import pytest

from darknet_softmax import reference


def test_softmax_by_hand():
    assert reference.softmax(np.log([1.0, 3.0])) == pytest.approx([0.25, 0.75])
    assert reference.softmax(np.log([1.0, 3.0, 2.0, 2.0]), groups=2) == pytest.approx(
        [0.25, 0.75, 0.5, 0.5]
    )
    # temperature 2 takes the square root of each odds ratio
    assert reference.softmax(np.log([1.0, 9.0]), temperature=2.0) == pytest.approx([0.25, 0.75])


def test_softmax_cpu_equals_grouped_softmax():
    x = np.random.default_rng(0).standard_normal(24)
    got = reference.softmax_cpu(x, 4, 2, 12, 3, 4, 1, 1.5, np.zeros(24))
    assert got == pytest.approx(reference.softmax(x.reshape(2, 12), 3, 1.5).ravel())


def test_x_ent_by_hand():
    delta, error = reference.softmax_x_ent([0.25, 0.75, 0.5], [1.0, 0.0, 0.3])
    assert delta == pytest.approx([0.75, -0.75, -0.2])
    assert error == pytest.approx([np.log(4), 0, np.log(2)])


def test_axpy_by_hand():
    assert reference.axpy(2.0, [1, 2, 3, 4], [0, 0, 0], incx=2, incy=1, n=2).tolist() == [2, 6, 0]
