"""Conditional metrics (ganscape.metrics.conditional): intra-class FID, class
consistency and per-class precision/recall, checked against independent
computations (scipy's sqrtm, hand counts, the unconditional metric on each
class's subset) and against bad inputs."""
import math
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

import ganscape.metrics as gm
from ganscape.metrics import prdc
from ganscape.metrics.conditional import class_consistency, intra_class_fid, per_class_precision_recall

MEANS = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, -1.0], [0.0, -2.0, 2.0]])  # class c ~ N(MEANS[c], I)


def labelled(seed, n_per_class, shift=0.0, scale=1.0):
    """Gaussian features whose mean depends on the class; labels shuffled."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(len(MEANS)), n_per_class))
    x = MEANS[y] + shift + scale * rng.standard_normal((len(y), MEANS.shape[1]))
    return x, y


def fid_by_sqrtm(a, b):
    mu1, s1, mu2, s2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2)).real)


def test_exports():
    for name in ["intra_class_fid", "class_consistency", "per_class_precision_recall"]:
        assert name in gm.__all__ and getattr(gm, name) is globals()[name]


# --- intra-class FID -------------------------------------------------------------------------

def test_intra_class_fid_is_the_mean_of_per_class_sqrtm_fids():
    fake, yf = labelled(0, 60, shift=0.3, scale=1.2)
    real, yr = labelled(1, 80)
    expected = [fid_by_sqrtm(fake[yf == c], real[yr == c]) for c in range(3)]
    out = intra_class_fid(fake, real, fake_labels=yf, real_labels=yr)
    assert out["intra_fid_per_class"] == pytest.approx(expected, rel=1e-9)
    assert out["intra_fid"] == pytest.approx(np.mean(expected), rel=1e-9)
    assert out["classes"] == [0, 1, 2]
    assert out["n_fake_per_class"] == [60, 60, 60] and out["n_real_per_class"] == [80, 80, 80]


def test_intra_class_fid_sees_swapped_classes_that_fid_misses():
    # The generator draws every class's distribution, but for the wrong label:
    # the unconditional FID is small, the intra-class FID is large.
    real, yr = labelled(2, 200)
    fake, yf = labelled(3, 200)
    swapped = (yf + 1) % 3
    matched = intra_class_fid(fake, real, fake_labels=yf, real_labels=yr)["intra_fid"]
    wrong = intra_class_fid(fake, real, fake_labels=swapped, real_labels=yr)["intra_fid"]
    assert gm.fid_from_features(fake, real) < 0.2 and matched < 0.3
    # ||mu_c - mu_{c-1}||^2 averaged over classes: (10 + 17 + 13) / 3
    assert wrong == pytest.approx(40 / 3, rel=0.1)


def test_intra_class_fid_classes_absent_from_both_sets_are_nan_and_skipped():
    fake, yf = labelled(4, 30)
    real, yr = labelled(5, 30)
    keep_f, keep_r = yf != 1, yr != 1
    out = intra_class_fid(fake[keep_f], real[keep_r], fake_labels=yf[keep_f], real_labels=yr[keep_r],
                          num_classes=4)
    assert out["classes"] == [0, 2]
    per = out["intra_fid_per_class"]
    assert len(per) == 4 and math.isnan(per[1]) and math.isnan(per[3])
    expected = [fid_by_sqrtm(fake[yf == c], real[yr == c]) for c in (0, 2)]
    assert [per[0], per[2]] == pytest.approx(expected, rel=1e-9)
    assert out["intra_fid"] == pytest.approx(np.mean(expected), rel=1e-9)


def test_intra_class_fid_a_class_with_no_fakes_is_an_error_naming_it():
    fake, yf = labelled(6, 20)
    real, yr = labelled(7, 20)
    keep = yf != 2
    with pytest.raises(ValueError, match="class 2 has 0 fake and 20 real samples"):
        intra_class_fid(fake[keep], real, fake_labels=yf[keep], real_labels=yr)
    # and the other way round: fakes of a class the reference lacks
    keep = yr != 0
    with pytest.raises(ValueError, match="class 0 has 20 fake and 0 real samples"):
        intra_class_fid(fake, real[keep], fake_labels=yf, real_labels=yr[keep])
    # too few on one side for min_per_class
    keep = (yf != 1) | (np.cumsum(yf == 1) <= 3)
    with pytest.raises(ValueError, match="at least 5 fake.*class 1 has 3 fake and 20 real"):
        intra_class_fid(fake[keep], real, fake_labels=yf[keep], real_labels=yr, min_per_class=5)


def test_intra_class_fid_warns_once_for_singular_classes():
    rng = np.random.default_rng(8)
    fake, real = rng.standard_normal((12, 5)), rng.standard_normal((12, 5))
    y = np.repeat([0, 1, 2], 4)  # 4 samples per class < D = 5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = intra_class_fid(fake, real, fake_labels=y, real_labels=y)
    assert len(caught) == 1 and "classes [0, 1, 2]" in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fid_from_features' own N < D warnings
        expected = np.mean([gm.fid_from_features(fake[y == c], real[y == c]) for c in range(3)])
    assert out["intra_fid"] == pytest.approx(expected, rel=1e-12)


# --- class consistency -----------------------------------------------------------------------

def test_class_consistency_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 1, 0, 1, 1, 0])  # right: 2/3 of class 0, 2/2 of class 1, 0/1 of class 2
    out = class_consistency(predicted=predicted, labels=labels)
    assert out["class_consistency"] == pytest.approx(4 / 6)
    assert out["class_consistency_per_class"] == pytest.approx([2 / 3, 1.0, 0.0])
    # the same predictions as logits and as probabilities
    logits = np.full((6, 3), -1.0)
    logits[np.arange(6), predicted] = 2.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert class_consistency(predicted=logits, labels=labels) == out
    assert class_consistency(predicted=torch.tensor(probs), labels=torch.tensor(labels)) == out


def test_class_consistency_absent_classes_are_nan():
    out = class_consistency(predicted=np.array([2, 0]), labels=np.array([2, 2]), num_classes=4)
    assert out["class_consistency"] == 0.5
    per = out["class_consistency_per_class"]
    assert per[2] == 0.5 and all(math.isnan(per[c]) for c in (0, 1, 3))


def test_class_consistency_with_a_mapping():
    # A 5-class classifier; classes 0, 1 mean data set class 0, class 3 means 1, others none.
    labels = np.array([0, 0, 1, 1, 0])
    predicted = np.array([1, 0, 3, 2, 4])  # mapped: 0, 0, 1, none, none -> 3/5 right
    by_dict = class_consistency(predicted=predicted, labels=labels, mapping={0: 0, 1: 0, 3: 1})
    by_array = class_consistency(predicted=predicted, labels=labels, mapping=np.array([0, 0, -1, 1, -1]))
    assert by_dict == by_array
    assert by_dict["class_consistency"] == pytest.approx(3 / 5)
    assert by_dict["class_consistency_per_class"] == pytest.approx([2 / 3, 1 / 2])
    logits = np.eye(5)[predicted]
    assert class_consistency(predicted=logits, labels=labels, mapping={0: 0, 1: 0, 3: 1}) == by_dict


def test_class_consistency_bad_inputs():
    y = np.array([0, 1, 1])
    with pytest.raises(ValueError, match="predicted has 2 samples but labels has 3"):
        class_consistency(predicted=np.array([0, 1]), labels=y)
    with pytest.raises(TypeError, match="integer class predictions"):
        class_consistency(predicted=np.array([0.0, 1.0, 1.0]), labels=y)
    with pytest.raises(ValueError, match="predicted must be"):
        class_consistency(predicted=np.zeros((3, 2, 2)), labels=y)
    with pytest.raises(ValueError, match="labels must lie in \\[0, 1\\)"):
        class_consistency(predicted=np.array([0, 1, 1]), labels=y, num_classes=1)
    with pytest.raises(ValueError, match="labels must be >= 0"):
        class_consistency(predicted=np.array([0, 1, 1]), labels=np.array([0, -1, 1]))
    with pytest.raises(ValueError, match="mapping values"):
        class_consistency(predicted=np.array([0, 1, 1]), labels=y, mapping={0: 5})
    with pytest.raises(ValueError, match="predicted class 2 has no entry in mapping"):
        class_consistency(predicted=np.array([0, 1, 2]), labels=y, mapping=np.array([0, 1]))
    with pytest.raises(TypeError, match="by keyword"):
        class_consistency(np.array([0, 1, 1]), y)


# --- per-class precision / recall ------------------------------------------------------------

def test_per_class_precision_recall_is_precision_recall_on_each_subset():
    fake, yf = labelled(9, 25, shift=0.5)
    real, yr = labelled(10, 35)
    out = per_class_precision_recall(fake, real, fake_labels=yf, real_labels=yr, k=3)
    for c in range(3):
        p, r = prdc.precision_recall(real[yr == c], fake[yf == c], k=3)
        assert (out["precision_per_class"][c], out["recall_per_class"][c]) == (p, r)
        assert (p, r) == gm.precision_recall(fake[yf == c], real[yr == c], k=3)
    assert out["precision_mean"] == pytest.approx(np.mean(out["precision_per_class"]), rel=1e-15)
    assert out["recall_mean"] == pytest.approx(np.mean(out["recall_per_class"]), rel=1e-15)
    assert out["classes"] == [0, 1, 2]


def test_per_class_precision_recall_needs_more_than_k_per_class():
    fake, yf = labelled(11, 10)
    real, yr = labelled(12, 10)
    keep = (yr != 2) | (np.cumsum(yr == 2) <= 3)
    with pytest.raises(ValueError, match="at least 4 fake and 4 real.*class 2 has 10 fake and 3 real"):
        per_class_precision_recall(fake, real[keep], fake_labels=yf, real_labels=yr[keep], k=3)


# --- shared input checks ---------------------------------------------------------------------

FEATURE_FUNCTIONS = [intra_class_fid, per_class_precision_recall]


@pytest.mark.parametrize("fn", FEATURE_FUNCTIONS)
def test_bad_labels_and_shapes(fn):
    fake, yf = labelled(13, 6)
    real, yr = labelled(14, 6)
    with pytest.raises(ValueError, match="real_labels must lie in \\[0, 3\\).*label 3"):
        fn(fake, real, fake_labels=yf, real_labels=np.where(yr == 2, 3, yr), num_classes=3)
    with pytest.raises(ValueError, match="fake_labels must be >= 0"):
        fn(fake, real, fake_labels=yf - 1, real_labels=yr)
    with pytest.raises(ValueError, match="fake_labels has 17 labels but its features have 18 rows"):
        fn(fake, real, fake_labels=yf[:-1], real_labels=yr)
    with pytest.raises(ValueError, match="real_labels must be a 1-D array"):
        fn(fake, real, fake_labels=yf, real_labels=yr[:, None])
    with pytest.raises(TypeError, match="real_labels must hold integer"):
        fn(fake, real, fake_labels=yf, real_labels=yr.astype(float))
    with pytest.raises(ValueError, match="fake must be a 2-D array"):
        fn(fake[:, 0], real, fake_labels=yf, real_labels=yr)
    with pytest.raises(ValueError, match="feature dimensions differ"):
        fn(fake[:, :2], real, fake_labels=yf, real_labels=yr)
    with pytest.raises(TypeError, match="fake_labels"):
        fn(fake, real)  # labels are required keywords
    with pytest.raises(TypeError, match=rf"{fn.__name__}\(\).*generated.*takes {fn.__name__}\(fake, real"):
        fn(generated=fake, real=real, fake_labels=yf, real_labels=yr)


@pytest.mark.parametrize("fn", FEATURE_FUNCTIONS)
def test_tensors_that_require_grad_are_accepted(fn):
    fake, yf = labelled(15, 8, shift=0.2)
    real, yr = labelled(16, 8)
    expected = fn(fake, real, fake_labels=yf, real_labels=yr)
    got = fn(torch.tensor(fake, requires_grad=True), torch.tensor(real, requires_grad=True),
             fake_labels=torch.tensor(yf), real_labels=torch.tensor(yr))
    assert got == expected
    # keywords in either order mean the same call
    assert fn(real=real, fake=fake, real_labels=yr, fake_labels=yf) == expected


def test_class_consistency_accepts_logits_that_require_grad():
    logits = torch.randn(10, 4, requires_grad=True)
    labels = torch.arange(10) % 4
    out = class_consistency(predicted=logits, labels=labels)
    expected = (logits.detach().argmax(1) == labels).double().mean().item()
    assert out["class_consistency"] == pytest.approx(expected)
