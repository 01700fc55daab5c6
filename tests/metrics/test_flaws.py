"""Ordered flaws (metrics/flaws.py) on features whose flaws are planted."""
import numpy as np
import pytest
from scipy.stats import norm

from ganscape.metrics.c2st import c2st_accuracy
from ganscape.metrics.flaws import flaws_table, ordered_flaws


def _shifted(seed, shift, n=2000, d=8):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) - shift, rng.standard_normal((n, d))


def test_two_planted_shifts_are_found_in_order_then_chance():
    # generated = real shifted by 3 sd along feature 3 (large) and 0.6 sd along feature 5 (small);
    # the direction points from generated toward real, so +e3 then +e5
    d = 8
    e3, e5 = np.eye(d)[3], np.eye(d)[5]
    fake, real = _shifted(0, 3.0 * e3 + 0.6 * e5, d=d)
    out = ordered_flaws(fake, real, k=3)
    f1, f2, f3 = out["flaws"]
    assert f1.direction @ e3 > 0.95 and f1.normal @ e3 > 0.95
    assert f2.direction @ e5 > 0.9 and f2.normal @ e5 > 0.9
    # equal-covariance Gaussians: the best accuracy is Phi(|shift| / 2) (the Bayes rule)
    assert f1.accuracy == pytest.approx(norm.cdf(np.hypot(3.0, 0.6) / 2), abs=0.02)
    assert f2.accuracy > 0.54 and f2.p_value < 0.01
    assert f1.drop > 0.3 and f2.drop > 0.03
    # both removed: nothing linear is left
    assert abs(f3.accuracy - 0.5) < 0.03 and abs(out["residual_accuracy"] - 0.5) < 0.03
    assert out["n_significant"] == 2
    assert f1.share + f2.share == pytest.approx((f1.accuracy - f3.accuracy) / (f1.accuracy - 0.5))
    assert "flaw" in flaws_table(out)


def test_shifts_along_mixed_directions_are_one_flaw():
    # the same two shifts along rotated directions: one linear score carries both, so flaw 1 is
    # their sum (Bayes accuracy Phi(|shift| / 2)) and its removal leaves about chance
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    shift = 1.5 * q[:, 0] + 0.5 * q[:, 1]
    fake, real = _shifted(2, shift)
    out = ordered_flaws(fake, real, k=2)
    f1, f2 = out["flaws"]
    assert f1.normal @ shift / np.linalg.norm(shift) > 0.95
    assert f1.accuracy == pytest.approx(norm.cdf(np.linalg.norm(shift) / 2), abs=0.025)
    assert f1.drop > 0.2 and f2.accuracy < 0.57


def test_identical_distributions_have_no_flaw():
    rng = np.random.default_rng(3)
    out = ordered_flaws(rng.standard_normal((1500, 8)), rng.standard_normal((1500, 8)), k=3)
    assert abs(out["accuracy"] - 0.5) < 0.04
    assert out["n_significant"] == 0
    assert all(f.p_value > 0.01 for f in out["flaws"])


def test_top_examples_are_the_planted_clusters_and_first_accuracy_is_c2st():
    # real has a cluster generated lacks (+5 sd along feature 0, its first 200), generated has one
    # real lacks (-5 sd along it, its first 200): the furthest examples along flaw 1 are these
    rng = np.random.default_rng(4)
    real, fake = rng.standard_normal((1000, 6)), rng.standard_normal((1200, 6))
    real[:200, 0] += 5.0
    fake[:200, 0] -= 5.0
    out = ordered_flaws(fake, real, k=1, top=20, seed=7)
    f = out["flaws"][0]
    assert (f.top_real < 200).all() and (f.top_fake < 200).all()
    assert f.direction[0] > 0.95
    # the same seed draws the same balance, split and first classifier as the C2ST metric
    assert out["accuracy"] == c2st_accuracy(fake, real, seed=7)["accuracy"]
    assert out["n_test"] == 1000 and out["n_train"] == 1000


def test_bad_arguments_name_what_is_allowed():
    x = np.zeros((10, 3))
    with pytest.raises(ValueError, match="k must be at most the feature dimension D=3"):
        ordered_flaws(x, x, k=4)
    with pytest.raises(ValueError, match="feature dimensions differ"):
        ordered_flaws(x, np.zeros((10, 2)))
    with pytest.raises(ValueError, match="alpha must lie in"):
        ordered_flaws(x, x, k=1, alpha=1.5)


def test_registered_metric_on_digits_missing_half_the_classes():
    from ganscape.metrics.evaluate import evaluate_arrays
    from ganscape.registry import DATASETS
    data = DATASETS.build("digits", {"size": 8}, "train")
    x, y = data.floats(), data.y
    half = x[:500][y[:500] < 5]          # a "generator" that draws only 0-4
    out = evaluate_arrays(half, x[500:800], ["flaws"], extractor="digits-cnn",
                          metric_params={"flaws": {"k": 2}})["results"]
    assert set(out) >= {"flaws_c2st_accuracy", "flaws_residual_accuracy", "flaws_first_drop",
                        "flaws_first_share", "flaws_n_significant", "flaws_accuracy_2", "flaws_drop_2"}
    assert out["flaws_c2st_accuracy"] > 0.6 and out["flaws_n_significant"] >= 1
    assert out["flaws_first_drop"] == out["flaws_accuracy_1"] - out["flaws_accuracy_2"]


def test_regress_removes_all_that_correlates_with_the_score():
    # correlated features: feature 1 = feature 0 + noise, generated shifted along both; projecting out
    # the first direction leaves the shift readable from the rest, regressing it out does not
    rng = np.random.default_rng(5)

    def sample(n, shift):
        a = rng.standard_normal((n, 1)) - shift
        return np.hstack([a, a + 0.3 * rng.standard_normal((n, 1)), rng.standard_normal((n, 4))])
    fake, real = sample(2000, 1.0), sample(2000, 0.0)
    proj = ordered_flaws(fake, real, k=1, removal="project")
    regr = ordered_flaws(fake, real, k=1, removal="regress")
    assert proj["accuracy"] == regr["accuracy"] > 0.65
    assert proj["residual_accuracy"] > 0.6
    assert abs(regr["residual_accuracy"] - 0.5) < 0.03
    with pytest.raises(ValueError, match="removal must be one of"):
        ordered_flaws(fake, real, k=1, removal="whiten")
