"""Tests for microreg.data.make_moons."""

from __future__ import annotations

import numpy as np
import pytest

from microreg.data import make_moons


@pytest.mark.parametrize("n", [2, 7, 100])
def test_shapes_dtypes_and_class_sizes(n):
    X, y = make_moons(n, noise=0.1, seed=0)
    assert X.shape == (n, 2) and X.dtype == np.float64
    assert y.shape == (n,) and y.dtype == np.int64
    assert (y == 0).sum() == n // 2 and (y == 1).sum() == n - n // 2


def test_without_noise_points_lie_on_the_two_half_circles():
    X, y = make_moons(50, noise=0.0, seed=1)
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0)
    assert np.all(upper[:, 1] >= -1e-12)
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0)
    assert np.all(lower[:, 1] <= 0.5 + 1e-12)


def test_noise_has_the_requested_standard_deviation():
    clean, y = make_moons(4000, noise=0.0, seed=5)
    noisy, y2 = make_moons(4000, noise=0.2, seed=5)
    assert np.array_equal(y, y2)
    assert np.std(noisy - clean) == pytest.approx(0.2, rel=0.05)


def test_same_seed_same_data_other_seed_other_data():
    a, b, c = make_moons(30, seed=3), make_moons(30, seed=3), make_moons(30, seed=4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_points_are_shuffled():
    _, y = make_moons(100, seed=0)
    assert not np.array_equal(y, np.sort(y))


@pytest.mark.parametrize("n", [0, 1, -5, 2.5, True])
def test_bad_n_is_named(n):
    with pytest.raises(ValueError, match=f"make_moons needs n >= 2 points.*got {n!r}"):
        make_moons(n)


def test_negative_noise_is_named():
    with pytest.raises(ValueError, match="make_moons needs noise >= 0"):
        make_moons(10, noise=-0.1)
