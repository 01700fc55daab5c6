import math

import numpy as np
import pytest

from ganscape.metrics.inception_score import inception_score


def test_uniform_predictions_score_one():
    mean, std = inception_score(probs=np.full((100, 10), 0.1), splits=5)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("k", [2, 10, 1000])
def test_one_hot_balanced_scores_k(k):
    probs = np.eye(k)[np.arange(4 * k) % k]  # every split of 4 chunks holds each class once
    mean, std = inception_score(probs=probs, splits=4)
    assert mean == pytest.approx(k, rel=1e-12)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_identical_confident_predictions_score_one():
    probs = np.zeros((20, 5))
    probs[:, 3] = 1.0
    assert inception_score(probs=probs, splits=2)[0] == pytest.approx(1.0)


def test_hand_computed_two_class_value():
    # p1 = (0.75, 0.25), p2 = (0.25, 0.75): marginal (0.5, 0.5),
    # KL of each row = 0.75 ln 1.5 + 0.25 ln 0.5, IS = exp(that).
    probs = np.array([[0.75, 0.25], [0.25, 0.75]])
    expected = math.exp(0.75 * math.log(1.5) + 0.25 * math.log(0.5))
    mean, std = inception_score(probs=probs, splits=1)
    assert mean == pytest.approx(expected, rel=1e-12)
    assert std == 0.0


def test_splits_use_their_own_marginal():
    # First half all class 0, second half all class 1: each split's marginal is
    # one-hot, so each split scores 1 although the whole set would score 2.
    probs = np.eye(2)[np.repeat([0, 1], 10)]
    assert inception_score(probs=probs, splits=2) == (pytest.approx(1.0), pytest.approx(0.0))
    assert inception_score(probs=probs, splits=1)[0] == pytest.approx(2.0)


def test_unequal_splits_std():
    # 5 rows, 2 splits -> rows [0, 2) and [2, 5).
    probs = np.eye(2)[[0, 1, 0, 0, 1]]
    # split 1: balanced one-hot -> 2; split 2: marginal (2/3, 1/3),
    # KL mean = (2 ln(3/2) + ln 3) / 3
    s2 = math.exp((2 * math.log(1.5) + math.log(3.0)) / 3)
    mean, std = inception_score(probs=probs, splits=2)
    assert mean == pytest.approx((2 + s2) / 2)
    assert std == pytest.approx(abs(2 - s2) / 2)


def test_float32_softmax_rounding_is_accepted():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((50, 10)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    mean, _ = inception_score(probs=probs, splits=5)
    # float32 rows sum to 1 only to ~1e-7; the score equals the float64 one
    exact = np.exp(logits.astype(np.float64))
    exact /= exact.sum(1, keepdims=True)
    assert mean == pytest.approx(inception_score(probs=exact, splits=5)[0], rel=1e-5)


def test_bad_inputs():
    with pytest.raises(ValueError, match="sum to 1"):
        inception_score(probs=np.ones((10, 3)), splits=2)
    with pytest.raises(ValueError, match="non-negative"):
        inception_score(probs=np.array([[1.5, -0.5], [0.5, 0.5]]), splits=1)
    with pytest.raises(ValueError, match="2-D"):
        inception_score(probs=np.full(4, 0.25), splits=1)
    with pytest.raises(ValueError, match="splits"):
        inception_score(probs=np.full((3, 2), 0.5), splits=4)
    with pytest.raises(ValueError, match="splits"):
        inception_score(probs=np.full((3, 2), 0.5), splits=0)
    with pytest.raises(ValueError, match="NaN"):
        inception_score(probs=np.array([[np.nan, 1.0]]), splits=1)
