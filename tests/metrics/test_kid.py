import itertools

import numpy as np
import pytest

from ganscape.metrics.kid import kid_from_features as kid
from ganscape.metrics.kid import mmd2_unbiased


def brute_force_mmd2(x, y):
    """Double loops over the unbiased MMD^2 formula with k(a, b) = (a.b/d + 1)^3."""
    m, d = x.shape

    def k(a, b):
        return (sum(ai * bi for ai, bi in zip(a, b)) / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i, j in itertools.product(range(m), repeat=2) if i != j)
    yy = sum(k(y[i], y[j]) for i, j in itertools.product(range(m), repeat=2) if i != j)
    xy = sum(k(x[i], y[j]) for i, j in itertools.product(range(m), repeat=2))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2.0 * xy / (m * m)


def test_mmd2_matches_brute_force():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 3)) + 0.5
    assert mmd2_unbiased(x, y) == pytest.approx(brute_force_mmd2(x, y), rel=1e-12)


def test_hand_computed_one_dimensional_value():
    # d = 1, x = {0, 1}, y = {2, 2}:
    # k(0,1) = 1, k(1,0) = 1 -> xx term = 2 / 2 = 1; k(2,2) = 125 -> yy term = 250 / 2 = 125
    # xy: k(0,2) = 1 (twice), k(1,2) = 27 (twice) -> mean 14 -> 125 + 1 - 28 = 98
    assert mmd2_unbiased(np.array([[0.0], [1.0]]), np.array([[2.0], [2.0]])) == pytest.approx(98.0)


def test_kid_full_subsets_equal_brute_force_with_zero_std():
    # With subset_size equal to both set sizes every subset is the whole set
    # (permuted), so each of the subsets has the brute-force value.
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((7, 4)), rng.standard_normal((7, 4)) * 1.5
    mean, std = kid(x, y, num_subsets=5, subset_size=7)
    assert mean == pytest.approx(brute_force_mmd2(x, y), rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


def test_subset_size_clipped_with_warning():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((9, 2)), rng.standard_normal((5, 2))
    with pytest.warns(UserWarning, match="subset_size=1000 exceeds"):
        mean, std = kid(x, y, num_subsets=3)
    assert np.isfinite(mean) and std >= 0


def test_same_distribution_near_zero_and_shift_positive():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((1000, 16)), rng.standard_normal((1000, 16))
    same_mean, same_std = kid(a, b, num_subsets=20, subset_size=200, seed=0)
    shifted_mean, _ = kid(a, b + 1.0, num_subsets=20, subset_size=200, seed=0)
    assert abs(same_mean) < 3 * same_std + 1e-3
    assert shifted_mean > 10 * max(abs(same_mean), same_std)


def test_seed_determinism():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((300, 5)), rng.standard_normal((300, 5))
    assert kid(a, b, num_subsets=10, subset_size=50, seed=7) == kid(a, b, num_subsets=10, subset_size=50, seed=7)
    assert kid(a, b, num_subsets=10, subset_size=50, seed=7) != kid(a, b, num_subsets=10, subset_size=50, seed=8)


def test_bad_inputs():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((10, 3))
    with pytest.raises(ValueError, match="dimensions differ"):
        kid(a, rng.standard_normal((10, 4)))
    with pytest.raises(ValueError, match="num_subsets"):
        kid(a, a, num_subsets=0)
    with pytest.raises(ValueError, match="subset_size"):
        kid(a, a, subset_size=1)
    bad = a.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        kid(bad, a)
    with pytest.raises(ValueError, match="at least 2 samples"):
        kid(a[:1], a, subset_size=2)
