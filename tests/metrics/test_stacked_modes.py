import math

import numpy as np
import pytest

from ganscape.metrics.stacked_modes import stacked_mode_stats, stacked_mode_stats_from_labels


def probs_from_labels(labels, k=10, confidence=0.91):
    labels = np.asarray(labels)
    p = np.full(labels.shape + (k,), (1 - confidence) / (k - 1))
    np.put_along_axis(p, labels[..., None], confidence, axis=-1)
    return p


def test_hand_computed_histogram():
    labels = [[1, 2, 3], [1, 2, 3], [0, 0, 0], [9, 9, 9]]  # modes 123, 123, 0, 999
    out = stacked_mode_stats(probs_from_labels(labels))
    assert out["modes_captured"] == 3
    assert out["num_modes"] == 1000 and out["n"] == 4
    # p = (1/2, 1/4, 1/4): 1/2 log 500 + 2 * 1/4 log 250
    assert out["kl_to_uniform"] == pytest.approx(0.5 * math.log(500) + 0.5 * math.log(250))


def test_channel_order_matters():
    # (1, 2, 3) and (3, 2, 1) are different modes (123 vs 321).
    out = stacked_mode_stats_from_labels(np.array([[1, 2, 3], [3, 2, 1]]))
    assert out["modes_captured"] == 2
    assert out["kl_to_uniform"] == pytest.approx(math.log(500))


def test_all_modes_once_is_uniform():
    labels = np.array([[m // 100, m // 10 % 10, m % 10] for m in range(1000)])
    out = stacked_mode_stats(probs_from_labels(labels))
    assert out["modes_captured"] == 1000
    assert out["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)


def test_single_mode_is_log_1000():
    out = stacked_mode_stats(probs_from_labels(np.full((26, 3), 7)))
    assert out["modes_captured"] == 1
    assert out["kl_to_uniform"] == pytest.approx(math.log(1000))


def test_other_channel_and_class_counts():
    out = stacked_mode_stats_from_labels(np.array([[0, 1], [1, 0], [1, 1], [1, 1]]), num_classes=2)
    assert out["num_modes"] == 4 and out["modes_captured"] == 3
    # p = (1/4, 1/4, 1/2) over 4 modes
    assert out["kl_to_uniform"] == pytest.approx(0.5 * math.log(1) + 0.5 * math.log(2))


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(N, C, K\)"):
        stacked_mode_stats(np.zeros((4, 10)))
    with pytest.raises(ValueError, match="sum to 1"):
        stacked_mode_stats(np.ones((2, 3, 10)))
    with pytest.raises(ValueError, match="non-negative"):
        stacked_mode_stats(-probs_from_labels([[1, 2, 3]]))
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        stacked_mode_stats_from_labels(np.array([[1, 2, 10]]))
    with pytest.raises(TypeError, match="integers"):
        stacked_mode_stats_from_labels(np.array([[1.0, 2.0, 3.0]]))
