import numpy as np
import pytest

from ganscape.metrics.memorization import (leave_one_out_distances, memorization,
                                           nearest_neighbour_distances)


def test_nearest_neighbour_distances_brute_force():
    rng = np.random.default_rng(0)
    samples, train = rng.standard_normal((15, 4)), rng.standard_normal((40, 4))
    expected = [min(np.linalg.norm(s - t) for t in train) for s in samples]
    np.testing.assert_allclose(nearest_neighbour_distances(samples, train), expected, rtol=1e-12)


def test_images_are_flattened():
    rng = np.random.default_rng(1)
    train = rng.uniform(-1, 1, size=(30, 1, 4, 4))
    samples = train[:5] + 0.01
    np.testing.assert_allclose(nearest_neighbour_distances(samples, train), 0.04, rtol=1e-9)


def test_leave_one_out_excludes_only_the_point_itself():
    train = np.array([[0.0], [0.0], [1.0], [3.0]])
    np.testing.assert_allclose(leave_one_out_distances(train, None), [0.0, 0.0, 1.0, 2.0])
    sub = leave_one_out_distances(np.random.default_rng(2).standard_normal((50, 2)), 10)
    assert sub.shape == (10,) and (sub > 0).all()


def test_exact_copies_are_all_near_copies():
    rng = np.random.default_rng(3)
    train = rng.standard_normal((500, 8)) * 100.0  # large norms: copies must still be exactly 0
    samples = train[rng.choice(500, 200, replace=False)]
    out = memorization(samples, train)
    assert out["fraction_near_copies"] == 1.0
    assert out["mean_nn_distance"] == 0.0 and out["median_nn_distance"] == 0.0
    assert out["threshold"] > 0
    assert out["n_samples"] == 200 and out["n_train"] == 500


def test_fresh_samples_are_rarely_near_copies():
    rng = np.random.default_rng(4)
    train, fresh = rng.standard_normal((2000, 4)), rng.standard_normal((2000, 4))
    out = memorization(fresh, train, calibration_size=None)
    # Calibrated to the 1% leave-one-out quantile: expect ~1% by chance.
    assert out["fraction_near_copies"] < 0.03
    assert out["mean_nn_distance"] > 2 * out["threshold"]


def test_threshold_from_quantile_and_explicit_threshold():
    train = np.arange(10, dtype=float)[:, None] ** 2  # 0, 1, 4, 9, ..., 81
    loo = np.array([1, 1, 3, 5, 7, 9, 11, 13, 15, 17], dtype=float)
    out = memorization(np.array([[0.5], [50.0]]), train, quantile=0.5, calibration_size=None)
    assert out["threshold"] == pytest.approx(np.quantile(loo, 0.5))  # 8.0
    # nearest training points: 0.5 -> 0 or 1 (0.5); 50 -> 49 (1.0)
    assert out["mean_nn_distance"] == pytest.approx(0.75)
    assert out["fraction_near_copies"] == 1.0
    assert memorization(np.array([[0.5], [50.0]]), train, threshold=0.6)["fraction_near_copies"] == 0.5


def test_bad_inputs():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((10, 3))
    with pytest.raises(ValueError, match="differ in size per sample"):
        memorization(a, rng.standard_normal((10, 4)))
    with pytest.raises(ValueError, match="quantile"):
        memorization(a, a, quantile=1.5)
    with pytest.raises(ValueError, match="threshold"):
        memorization(a, a, threshold=-1.0)
    with pytest.raises(ValueError, match="at least 2 samples"):
        leave_one_out_distances(a[:1])
    with pytest.raises(ValueError, match="shape"):
        nearest_neighbour_distances(np.zeros(3), a)
    bad = a.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        memorization(bad, a)
