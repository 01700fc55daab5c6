"""Metric caption-accuracy: exact on the data set's own images, the fractions by hand when captions are
wrong on known attributes, an empty image wrong on all four, and the caption-conditioned FID's rows."""
import numpy as np
import pytest
import torch

from ganscape.data import captions as C
from ganscape.metrics.captions import attribute_accuracy, caption_accuracy


@pytest.fixture(scope="module")
def test_split():
    return C.shapes_captions(C.CaptionsParams(n=20, n_test=24), "test", 1)


def test_real_images_score_one(test_split):
    d = test_split
    out = caption_accuracy(d.x, d.y.numpy(), d.info)
    assert out["caption_valid_fraction"] == 1.0
    assert all(out[f"caption_heldout_{a}_accuracy"] == 1.0 for a in ("shape", "colour", "size", "position", "all"))
    assert not any(k.startswith("caption_seen") for k in out)   # the test split holds held-out combinations only


def test_wrong_captions_by_hand(test_split):
    """Labels moved to the combination that differs in one attribute: that attribute's accuracy drops by
    exactly the share of images moved; a black image is wrong on every attribute."""
    d = test_split
    tab = d.info["captions"]
    combos = {tuple(c): k for k, c in enumerate(tab["attributes"])}
    labels = d.y.numpy().copy()
    for i in range(6):                                   # 6 of 24 captions name another colour
        a = tab["attributes"][labels[i]].copy()
        a[1] = (a[1] + 1) % 6
        labels[i] = combos[tuple(a)]
    for i in range(6, 9):                                # 3 of 24 name the other size
        a = tab["attributes"][labels[i]].copy()
        a[2] = 1 - a[2]
        labels[i] = combos[tuple(a)]
    x = d.x.clone()
    x[23] = -1.0                                         # an empty canvas
    out = caption_accuracy(x, labels, d.info)
    held = tab["heldout"][labels]
    n_h = held.sum()
    # every relabelled caption stays in the group its mask says; count by hand within each group
    for g, rows in (("heldout", held), ("seen", ~held)):
        if not rows.any():
            continue
        idx = np.flatnonzero(rows)
        colour_wrong = np.isin(idx, np.arange(6)).sum() + (23 in idx)
        size_wrong = np.isin(idx, np.arange(6, 9)).sum() + (23 in idx)
        assert out[f"caption_{g}_colour_accuracy"] == pytest.approx(1 - colour_wrong / len(idx))
        assert out[f"caption_{g}_size_accuracy"] == pytest.approx(1 - size_wrong / len(idx))
        assert out[f"caption_{g}_shape_accuracy"] == pytest.approx(1 - (23 in idx) / len(idx))
        assert out[f"caption_{g}_all_accuracy"] == pytest.approx(1 - (np.isin(idx, np.arange(9)).sum()
                                                                      + (23 in idx)) / len(idx))
    assert n_h + (~held).sum() == 24 and out["caption_valid_fraction"] == pytest.approx(23 / 24)


def test_attribute_accuracy_fractions():
    wanted = np.array([[0, 1, 0, 4], [2, 5, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]])
    rec = np.array([[0, 1, 0, 4], [2, 4, 1, 0], [1, 1, 0, 3], [-1, -1, -1, -1]])
    got = attribute_accuracy(rec, wanted)
    assert got == {"shape": 0.75, "colour": 0.5, "size": 0.5, "position": 0.5, "all": 0.25}


def test_heldout_fid_uses_heldout_rows_only(test_split):
    d = test_split
    rng = np.random.default_rng(0)
    ff, rf = rng.normal(size=(24, 3)), rng.normal(size=(24, 3)) + 5.0
    out = caption_accuracy(d.x, d.y.numpy(), d.info, (ff, rf, d.y.numpy()))
    from ganscape.metrics.fid import fid_from_features
    assert out["caption_heldout_fid"] == pytest.approx(fid_from_features(ff, rf))
    assert out["caption_heldout_fid"] > 70                      # the mean shift alone gives 3 * 25
    assert torch.is_tensor(d.x)


def test_a_speck_of_noise_fails_the_strict_fit_but_not_the_reading(test_split):
    d = test_split
    x = d.x[:4].clone()
    for i in range(4):   # a dim speck in the corner farthest from the shape, and the shape's colour off by 0.1
        cx, cy = d.info["shapes"]["cx"][i, 0], d.info["shapes"]["cy"][i, 0]
        x[i, :, 0 if cy > 8 else 15, 0 if cx > 8 else 15] = -0.4
    x[1] = torch.where(x[1] > -1, (x[1] - 0.2).clamp(min=-1), x[1])
    out = caption_accuracy(x, d.y[:4].numpy(), d.info)
    assert out["caption_valid_fraction"] == 0.0
    assert out["caption_heldout_all_accuracy"] == 1.0
