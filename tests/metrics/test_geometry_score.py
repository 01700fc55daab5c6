"""Geometry Score (issue 20, part 3): relative living times by hand, the
score's formula, and the topology of point clouds whose answer is known (a
ring has one loop, a grid of blobs none) before it is trusted on features."""
import importlib
import sys

import numpy as np
import pytest

from ganscape.metrics.geometry_score import (geometry_score, mean_rlt, relative_living_times, rlt, rlts,
                                             score_from_mrlts)
from ganscape.registry import METRICS, ConfigError


def _has_gudhi() -> bool:
    try:
        importlib.import_module("gudhi")
    except ImportError:
        return False
    return True


needs_gudhi = pytest.mark.skipif(not _has_gudhi(), reason="gudhi is not installed (pip install ganscape[topology])")

# small and fast: 400 points, 48 landmarks, 6 draws; gamma 1/8 as in the official code's 2-D notebook.
# 48 landmarks put ~5 in each of the grid's 9 blobs: a blob with a single landmark would be tied to its
# neighbours at scale 0 (its witnesses' second-nearest landmark lies in the next blob), and the grid
# would show loops (with 24 landmarks it did, for 1 in 3 seeds).
FAST = dict(n_landmarks=48, gamma=1 / 8, i_max=10, n=6)


def circle(n, seed, noise=0.05):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * np.pi, n)
    return np.c_[np.cos(t), np.sin(t)] + noise * rng.standard_normal((n, 2))


def grid_of_blobs(n, seed, sigma=0.1):
    """3 x 3 Gaussian blobs 2 apart: nine pieces, no loop at scales below the gaps."""
    rng = np.random.default_rng(seed)
    centers = np.stack(np.meshgrid([0.0, 2.0, 4.0], [0.0, 2.0, 4.0]), -1).reshape(-1, 2)
    return centers[rng.integers(0, 9, n)] + sigma * rng.standard_normal((n, 2))


def window(n, seed, noise=0.05):
    """Points on the lines x, y in {0, 2, 4} of the square [0, 4]^2: a window of 4 panes, 4 loops."""
    rng = np.random.default_rng(seed)
    c, u, vertical = rng.choice([0.0, 2.0, 4.0], n), rng.uniform(0, 4, n), rng.random(n) < 0.5
    return np.c_[np.where(vertical, c, u), np.where(vertical, u, c)] + noise * rng.standard_normal((n, 2))


def test_relative_living_times_by_hand():
    # loops alive on [0.1, 0.5) and [0.3, never): 0 loops on [0, 0.1), 1 on [0.1, 0.3) and [0.5, 1), 2 on [0.3, 0.5)
    iv = [[0.1, 0.5], [0.3, np.inf]]
    np.testing.assert_allclose(relative_living_times(iv, 1.0, 4), [0.1, 0.7, 0.2, 0.0], atol=1e-12)
    # relative to alpha_max = 2: the last loop lives to 2, so one loop for 0.2 + 1.5 of 2
    np.testing.assert_allclose(relative_living_times(iv, 2.0, 3), [0.05, 0.85, 0.1], atol=1e-12)
    # counts >= i_max are dropped, not folded into the last bin
    np.testing.assert_allclose(relative_living_times(iv, 1.0, 2), [0.1, 0.7], atol=1e-12)
    # no loop at all: zero loops all the time
    np.testing.assert_array_equal(relative_living_times(np.zeros((0, 2)), 1.0, 3), [1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="alpha_max must be > 0"):
        relative_living_times(iv, 0.0, 3)


def test_the_score_is_the_squared_l2_distance_of_mean_rlts():
    assert score_from_mrlts([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]) == pytest.approx(2.0)   # not sqrt(2)
    assert score_from_mrlts([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.125)
    with pytest.raises(ValueError, match="one length"):
        score_from_mrlts([1.0, 0.0], [1.0, 0.0, 0.0])


@needs_gudhi
def test_a_ring_has_one_loop_a_grid_of_blobs_none_and_a_window_four():
    ring = mean_rlt(circle(400, 0), **FAST, seed=0)
    grid = mean_rlt(grid_of_blobs(400, 1), **FAST, seed=0)
    assert ring.shape == (10,) and np.argmax(ring) == 1 and ring[1] > 0.85
    assert np.argmax(grid) == 0 and grid[0] > 0.9
    assert ring.sum() == pytest.approx(1.0) and grid.sum() == pytest.approx(1.0)
    panes = mean_rlt(window(400, 2), **FAST, seed=0)     # and loops are counted: 4 panes, 4 loops
    assert np.argmax(panes) == 4 and panes[4] > 0.6


@needs_gudhi
def test_the_score_separates_ring_from_grid_and_is_deterministic():
    a, b, g = circle(400, 0), circle(400, 5), grid_of_blobs(400, 1)
    same = geometry_score(a, b, **FAST, seed=0)
    apart = geometry_score(a, g, **FAST, seed=0)
    assert same["geometry_score"] < 0.02 and apart["geometry_score"] > 0.6
    assert (apart["mode_real"], apart["mode_fake"]) == (1, 0)
    assert apart["geometry_score"] == pytest.approx(score_from_mrlts(apart["mrlt_real"], apart["mrlt_fake"]))
    again = geometry_score(a, g, **FAST, seed=0)
    assert again["geometry_score"] == apart["geometry_score"]                 # same seed, same landmarks
    assert geometry_score(a, a, **FAST, seed=3)["geometry_score"] == 0.0      # a set against itself
    one = rlts(a, **FAST, seed=0)
    assert one.shape == (6, 10)
    np.testing.assert_array_equal(one.mean(0), mean_rlt(a, **FAST, seed=0))
    # the official default gamma is 1/128 * N / 5000: with N = 400 a tiny range of scales
    assert geometry_score(a, b, 48, None, 10, 2, seed=0)["gamma_real"] == pytest.approx(400 / 5000 / 128)


@needs_gudhi
def test_sets_of_different_sizes_are_scored_at_one_size():
    out = geometry_score(circle(400, 0), circle(150, 5), **FAST, n_points=None, seed=0)
    assert out["gamma_real"] == out["gamma_fake"] == pytest.approx(1 / 8)
    small = geometry_score(circle(400, 0), circle(150, 5), 48, None, 10, 2, n_points=None, seed=0)
    assert small["gamma_real"] == small["gamma_fake"] == pytest.approx(150 / 5000 / 128)


@needs_gudhi
def test_bad_inputs_are_refused_in_one_line():
    x = circle(100, 0)
    cases = [(dict(n_landmarks=2), "n_landmarks must be an integer >= 3"),
             (dict(gamma=0.0), "gamma must be a positive number"),
             (dict(i_max=1), "i_max must be an integer >= 2"),
             (dict(n=0), r"n \(landmark draws\) must be an integer >= 1"),
             (dict(n_landmarks=200), "exceeds the number of points")]
    for kw, msg in cases:
        with pytest.raises(ValueError, match=msg):
            rlts(x, **{**FAST, **kw})
    with pytest.raises(ValueError, match="contains NaN"):
        rlt(np.full((10, 2), np.nan))
    with pytest.raises(ValueError, match="real points have 2 dimensions but generated ones 3"):
        geometry_score(x, np.zeros((100, 3)), **FAST)
    with pytest.raises(ValueError, match="n_points must be None or an integer >= n_landmarks"):
        geometry_score(x, x, **FAST, n_points=10)


@needs_gudhi
def test_metric_params_are_checked_and_the_metric_runs_through_the_registry():
    for bad, msg in [({"gamma": 2.0}, "gamma: must lie in"), ({"n_points": 10}, "n_points: must be >="),
                     ({"landmarks": 5}, "unknown key")]:
        with pytest.raises(ConfigError, match=msg):
            METRICS.params("geometry-score", bad, where="metric geometry-score")
    from ganscape.metrics.evaluate import evaluate_arrays, reference_images
    train, ref, _ = reference_images("digits", {}, "train", None)
    test, _, _ = reference_images("digits", {}, "test", None)
    params = {"geometry-score": {"n_landmarks": 24, "n": 3, "n_points": 300}}
    out = evaluate_arrays(test[:150], train[:300], ["geometry-score"], reference=ref, metric_params=params)
    res = out["results"]
    assert set(res) == {"geometry_score", "geometry_rlt_mode_real", "geometry_rlt_mode_fake"}
    assert 0.0 <= res["geometry_score"] <= 2.0
    assert out["protocol"]["geometry-score"]["n_landmarks"] == 24


def test_without_gudhi_the_metric_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "gudhi", None)     # import gudhi now raises ImportError
    with pytest.raises(ConfigError, match=r"pip install ganscape\[topology\]"):
        geometry_score(circle(100, 0), circle(100, 1), **FAST)
    with pytest.raises(ConfigError, match=r"pip install ganscape\[topology\]"):
        METRICS.params("geometry-score", {}, where="metric geometry-score")


def test_the_histogram_plot_draws_each_mean_rlt(tmp_path):
    from ganscape.metrics.geometry_score import plot_mrlts
    ax = plot_mrlts({"real": [0.2, 0.8, 0.0], "fake": [1.0, 0.0, 0.0]}, path=tmp_path / "m.png")
    assert (tmp_path / "m.png").stat().st_size > 1000
    steps = {line.get_label(): line.get_ydata() for line in ax.get_lines()}
    np.testing.assert_array_equal(steps["real"], [0.2, 0.8, 0.0, 0.0])   # the outline repeats the last bin
    assert ax.get_xlim() == (-0.5, 2.5)                             # one bin past the last loop count used
    with pytest.raises(ValueError, match="at least one"):
        plot_mrlts({})
