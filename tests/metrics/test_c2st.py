import numpy as np
import pytest
from scipy.stats import binom

from ganscape.metrics.c2st import c2st_accuracy


def test_same_distribution_is_near_chance():
    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((2000, 5)), rng.standard_normal((2000, 5))
    out = c2st_accuracy(fake, real, seed=0)
    assert abs(out["accuracy"] - 0.5) < 0.05
    assert out["n_train"] == 2000 and out["n_test"] == 2000
    assert out["p_value"] > 0.01


def test_shifted_distribution_is_separable():
    rng = np.random.default_rng(1)
    real, fake = rng.standard_normal((2000, 5)), rng.standard_normal((2000, 5)) + 4.0
    out = c2st_accuracy(fake, real)
    assert out["accuracy"] > 0.97
    assert out["p_value"] < 1e-100


def test_mlp_detects_a_difference_in_spread_that_a_linear_classifier_cannot():
    rng = np.random.default_rng(2)
    real, fake = rng.standard_normal((2000, 2)), 3.0 * rng.standard_normal((2000, 2))
    linear = c2st_accuracy(fake, real, classifier="logistic")
    mlp = c2st_accuracy(fake, real, classifier="mlp")
    assert abs(linear["accuracy"] - 0.5) < 0.05
    assert mlp["accuracy"] > 0.75


def test_classes_are_balanced_and_split_sizes():
    rng = np.random.default_rng(3)
    out = c2st_accuracy(fake=rng.standard_normal((100, 3)), real=rng.standard_normal((300, 3)),
                        test_fraction=0.3)
    # 100 per class after balancing, 30 per class held out.
    assert out["n_test"] == 60 and out["n_train"] == 140


def test_p_value_is_the_one_sided_binomial_tail():
    rng = np.random.default_rng(4)
    out = c2st_accuracy(real=rng.standard_normal((200, 2)), fake=rng.standard_normal((200, 2)) + 0.5)
    correct = round(out["accuracy"] * out["n_test"])
    assert out["p_value"] == pytest.approx(binom.sf(correct - 1, out["n_test"], 0.5), rel=1e-9)


def test_deterministic_given_seed():
    rng = np.random.default_rng(5)
    real, fake = rng.standard_normal((400, 3)), rng.standard_normal((400, 3)) + 0.2
    assert c2st_accuracy(fake, real, seed=3) == c2st_accuracy(fake, real, seed=3)


def test_bad_inputs():
    rng = np.random.default_rng(6)
    a = rng.standard_normal((20, 3))
    with pytest.raises(ValueError, match="dimensions differ"):
        c2st_accuracy(a, rng.standard_normal((20, 2)))
    with pytest.raises(ValueError, match="classifier must be one of"):
        c2st_accuracy(a, a, classifier="svm")
    with pytest.raises(ValueError, match="test_fraction"):
        c2st_accuracy(a, a, test_fraction=1.0)
    with pytest.raises(ValueError, match="too few samples"):
        c2st_accuracy(a[:2], a)
    bad = a.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        c2st_accuracy(bad, a)
