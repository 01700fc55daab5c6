import math

import numpy as np
import pytest

from ganscape.metrics.mode_coverage import (GRID25_SIGMA, RING8_SIGMA, grid25_centers,
                                            mode_coverage, ring8_centers)


def test_centers():
    ring = ring8_centers()
    assert ring.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(ring, axis=1), 1.0)
    np.testing.assert_allclose(ring[0], [1.0, 0.0])
    np.testing.assert_allclose(ring[2], [0.0, 1.0], atol=1e-15)
    grid = grid25_centers()
    assert grid.shape == (25, 2)
    assert sorted(set(grid[:, 0])) == [-4, -2, 0, 2, 4]
    assert len({tuple(p) for p in grid}) == 25
    assert (RING8_SIGMA, GRID25_SIGMA) == (0.01, 0.05)


def test_hand_made_ring_samples():
    c = ring8_centers()
    samples = np.array([c[0], c[0], c[1], c[3], [0.0, 0.0]])  # last one is far from every mode
    out = mode_coverage(samples, c, RING8_SIGMA)
    assert out["modes_captured"] == 3
    assert out["hq_fraction"] == pytest.approx(0.8)
    assert out["mode_counts"] == [2, 1, 0, 1, 0, 0, 0, 0]
    # p = (1/2, 1/4, 1/4): 1/2 log 4 + 2 * 1/4 log 2 = 1.5 log 2
    assert out["reverse_kl"] == pytest.approx(1.5 * math.log(2))
    assert out["n"] == 5 and out["num_modes"] == 8


def test_hq_boundary_is_three_sigma():
    c = grid25_centers()
    s = GRID25_SIGMA
    samples = np.array([[2.0 + 2.9 * s, 0.0], [2.0, 3.1 * s], [-4.0, -4.0 - 2.0 * s]])
    out = mode_coverage(samples, c, s)
    assert out["hq_fraction"] == pytest.approx(2 / 3)
    assert out["modes_captured"] == 2
    assert out["reverse_kl"] == pytest.approx(math.log(25 / 2))


def test_balanced_coverage_has_zero_reverse_kl():
    c = grid25_centers()
    rng = np.random.default_rng(0)
    samples = np.repeat(c, 40, axis=0) + GRID25_SIGMA * 0.5 * rng.standard_normal((1000, 2))
    out = mode_coverage(samples, c, GRID25_SIGMA)
    assert out["modes_captured"] == 25 and out["hq_fraction"] == 1.0
    assert out["reverse_kl"] == pytest.approx(0.0, abs=1e-12)


def test_true_distribution_samples():
    # Samples of the real ring mixture: 3-sigma radius in 2-D keeps 1 - exp(-4.5) ~ 98.9%.
    rng = np.random.default_rng(1)
    c = ring8_centers()
    samples = c[rng.integers(8, size=20000)] + RING8_SIGMA * rng.standard_normal((20000, 2))
    out = mode_coverage(samples, c, RING8_SIGMA)
    assert out["modes_captured"] == 8
    assert out["hq_fraction"] == pytest.approx(1 - math.exp(-4.5), abs=0.005)
    assert out["reverse_kl"] < 0.01


def test_no_hq_sample_gives_nan_reverse_kl():
    out = mode_coverage(np.zeros((3, 2)), ring8_centers(), RING8_SIGMA)
    assert out["modes_captured"] == 0 and out["hq_fraction"] == 0.0
    assert math.isnan(out["reverse_kl"])


def test_bad_inputs():
    c = ring8_centers()
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        mode_coverage(np.zeros((4, 3)), c, 0.01)
    with pytest.raises(ValueError, match="sigma"):
        mode_coverage(np.zeros((4, 2)), c, 0.0)
    with pytest.raises(ValueError, match="non-empty"):
        mode_coverage(np.zeros((0, 2)), c, 0.01)
    with pytest.raises(ValueError, match="NaN"):
        mode_coverage(np.full((2, 2), np.nan), c, 0.01)
