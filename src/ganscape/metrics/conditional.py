"""Metrics of class-conditional generators: intra-class FID, class consistency
and per-class precision/recall.

A conditional generator can score well on the unconditional metrics while
ignoring its label (right images, wrong classes) or while dropping whole
classes behind a good average. These metrics look inside each class:

- intra-class FID (Miyato & Koyama, 2018): FID between the fakes generated for
  class c and the real examples of class c, averaged over classes;
- class consistency: the accuracy of a classifier on conditional samples, i.e.
  how often a sample generated for class c is recognised as class c (the shipped
  digits classifier for digits; Inception's logits, with a user mapping from
  ImageNet classes to the data set's, otherwise);
- per-class precision and recall (Kynkaanniemi et al., 2019) within each class.

Labels are integer arrays (N,) with values in [0, num_classes); num_classes
defaults to the largest label seen plus one. A class is evaluated when either
set has samples of it; an evaluated class needs enough samples on both sides
(a class the generator never produced is an error, not a silently skipped
term). Per-class lists are indexed by class and hold NaN for classes with no
samples in either set; the means are over evaluated classes only.

The per-class values reuse fid.fid_from_features and prdc.precision_recall on
each class's subset, so they are exactly those functions' values.
"""
from __future__ import annotations

import warnings
from typing import Dict, List, Optional, Tuple

import numpy as np

from . import prdc as _prdc
from .checks import as_features, positive_int, public_metric, real_array, to_numpy
from .fid import fid_from_features

__all__ = ["intra_class_fid", "class_consistency", "per_class_precision_recall"]


def _labels(x, name: str, n: Optional[int] = None) -> np.ndarray:
    """x as an int64 (N,) array of labels >= 0; N == n when n is given."""
    y = to_numpy(x)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array (N,) of integer class labels, got shape {y.shape}")
    if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if n is not None and len(y) != n:
        raise ValueError(f"{name} has {len(y)} labels but its features have {n} rows")
    if len(y) and y.min() < 0:
        raise ValueError(f"{name} must be >= 0 (class indices), got {y.min()}")
    return y.astype(np.int64, copy=False)


def _num_classes(num_classes, *label_sets: np.ndarray) -> int:
    """num_classes checked against the labels, or the largest label + 1."""
    largest = max((int(y.max()) for y in label_sets if len(y)), default=-1)
    if num_classes is None:
        if largest < 0:
            raise ValueError("no labels given: every label array is empty")
        return largest + 1
    k = positive_int(num_classes, "num_classes")
    for y, name in zip(label_sets, ("fake_labels", "real_labels")):
        if len(y) and y.max() >= k:
            raise ValueError(f"{name} must lie in [0, {k}) (num_classes={k}), got a label {y.max()}")
    return k


def _class_subsets(fake, real, fake_labels, real_labels, num_classes, min_per_class: int,
                   need: str) -> Tuple[np.ndarray, np.ndarray, List[np.ndarray], List[np.ndarray], int,
                                       List[int], np.ndarray, np.ndarray]:
    """Checked features and labels split by class.

    Returns (fake, real, fake index per class, real index per class, K,
    evaluated classes, fake counts (K,), real counts (K,)). Raises ValueError
    naming the class and both counts when an evaluated class has fewer than
    min_per_class samples on either side (`need` says why that many).
    """
    fake = as_features(fake, "fake")
    real = as_features(real, "real")
    if fake.shape[1] != real.shape[1]:
        raise ValueError(f"feature dimensions differ: fake has D={fake.shape[1]}, "
                         f"real has D={real.shape[1]}")
    yf = _labels(fake_labels, "fake_labels", len(fake))
    yr = _labels(real_labels, "real_labels", len(real))
    k = _num_classes(num_classes, yf, yr)
    n_fake = np.bincount(yf, minlength=k)
    n_real = np.bincount(yr, minlength=k)
    classes = [c for c in range(k) if n_fake[c] or n_real[c]]
    short = [c for c in classes if n_fake[c] < min_per_class or n_real[c] < min_per_class]
    if short:
        shown = "; ".join(f"class {c} has {n_fake[c]} fake and {n_real[c]} real samples" for c in short[:10])
        more = f" (and {len(short) - 10} more classes)" if len(short) > 10 else ""
        raise ValueError(f"every class needs at least {min_per_class} fake and {min_per_class} real "
                         f"samples ({need}): {shown}{more}")
    return (fake, real, [np.flatnonzero(yf == c) for c in range(k)],
            [np.flatnonzero(yr == c) for c in range(k)], k, classes, n_fake, n_real)


@public_metric
def intra_class_fid(fake, real, *, fake_labels, real_labels, num_classes: Optional[int] = None,
                    min_per_class: int = 2) -> Dict[str, object]:
    """Intra-class FID: the mean over classes of FID(fakes of class c, reals of class c).

    Args:
        fake: (M, D) features of generated samples; fake_labels: (M,) the
            classes they were generated for.
        real: (N, D) reference features; real_labels: (N,) their classes.
        num_classes: K; labels must lie in [0, K). Default: largest label + 1.
        min_per_class: the fewest samples a class may have on either side
            (>= 2, to estimate a covariance).

    Returns:
        {"intra_fid": mean of the per-class FIDs over evaluated classes (float
         >= 0, lower better), "intra_fid_per_class": K floats indexed by class
         (NaN where neither set has the class), "classes": the evaluated
         classes, "n_fake_per_class" / "n_real_per_class": K sample counts}.
        FID depends on the sample size: compare only at equal per-class counts.
        Per-class counts below D make the covariances singular and FID biased
        high; one warning lists the classes concerned.
    """
    if isinstance(min_per_class, bool) or not isinstance(min_per_class, (int, np.integer)) or min_per_class < 2:
        raise ValueError(f"min_per_class must be an integer >= 2 (a covariance needs 2 samples), "
                         f"got {min_per_class!r}")
    fake, real, fake_idx, real_idx, k, classes, n_fake, n_real = _class_subsets(
        fake, real, fake_labels, real_labels, num_classes, min_per_class, "for a covariance")
    per_class = [float("nan")] * k
    singular = []
    for c in classes:
        with warnings.catch_warnings():
            # gaussian_stats warns once per set with N < D; gathered into one warning below.
            warnings.filterwarnings("ignore", message="gaussian_stats: N=", category=UserWarning)
            per_class[c] = fid_from_features(fake[fake_idx[c]], real[real_idx[c]])
        if min(n_fake[c], n_real[c]) < fake.shape[1]:
            singular.append(c)
    if singular:
        warnings.warn(f"intra_class_fid: classes {singular[:20]}{' ...' if len(singular) > 20 else ''} "
                      f"have fewer samples than the feature dimension D={fake.shape[1]} on one side; "
                      f"their covariances are singular and their FIDs biased high.", UserWarning, stacklevel=2)
    return {
        "intra_fid": float(np.mean([per_class[c] for c in classes])),
        "intra_fid_per_class": per_class,
        "classes": classes,
        "n_fake_per_class": [int(n) for n in n_fake],
        "n_real_per_class": [int(n) for n in n_real],
    }


def _mapping(mapping, num_classes: int) -> np.ndarray:
    """A dict {classifier class: data set class} or an array (K_clf,) as an
    int64 lookup table; -1 (or a key left out of the dict) means "no data set
    class", which counts as a wrong prediction."""
    if isinstance(mapping, dict):
        keys = list(mapping)
        for key in keys:
            if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or key < 0:
                raise ValueError(f"mapping keys must be classifier classes (integers >= 0), got {key!r}")
        table = np.full(max(keys, default=-1) + 1, -1, dtype=np.int64)
        values = [mapping[key] for key in keys]
        for key, value in zip(keys, values):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"mapping[{key}] must be an integer data set class, got {value!r}")
            table[key] = value
    else:
        table = to_numpy(mapping)
        if table.ndim != 1 or table.dtype == np.bool_ or not np.issubdtype(table.dtype, np.integer):
            raise ValueError(f"mapping must be a dict or a 1-D integer array (K_clf,) of data set classes, "
                             f"got shape {table.shape}, dtype {table.dtype}")
        table = table.astype(np.int64)
    if len(table) and (table.min() < -1 or table.max() >= num_classes):
        raise ValueError(f"mapping values must be data set classes in [0, {num_classes}) or -1 (none), "
                         f"got range [{table.min()}, {table.max()}]")
    return table


@public_metric
def class_consistency(*, predicted, labels, mapping=None,
                      num_classes: Optional[int] = None) -> Dict[str, object]:
    """Accuracy of a classifier on conditional samples.

    Args:
        predicted: the classifier's output on N generated samples: (N,) integer
            class predictions, or (N, K_clf) logits or probabilities, of which
            the argmax is taken (first index on ties).
        labels: (N,) integer classes the samples were generated for, in
            [0, num_classes).
        mapping: optional map from the classifier's classes to the data set's
            (for a classifier trained on other classes, e.g. Inception's
            ImageNet logits): a dict {classifier class: data set class} or a
            (K_clf,) integer array; -1 or a missing key means the prediction
            matches no data set class and counts as wrong. The argmax runs over
            all K_clf classes; to take it among mapped classes only, pass those
            columns of the logits and a mapping of them.
        num_classes: K, default largest label + 1.

    Returns:
        {"class_consistency": share of samples predicted as their label (float
         in [0, 1], higher better), "class_consistency_per_class": K floats,
         the accuracy on the samples of each label (NaN for labels absent)}.
    """
    pred = to_numpy(predicted)
    if pred.ndim == 2:
        pred = real_array(pred, "predicted", 2, "(N,) class predictions or (N, K) logits / probabilities")
        if pred.shape[1] == 0:
            raise ValueError("predicted has 0 columns (classes)")
        pred = pred.argmax(axis=1)
    elif pred.ndim == 1:
        if pred.dtype == np.bool_ or not np.issubdtype(pred.dtype, np.integer):
            raise TypeError(f"predicted (N,) must hold integer class predictions, got dtype {pred.dtype}; "
                            f"pass logits or probabilities as (N, K)")
    else:
        raise ValueError(f"predicted must be (N,) class predictions or (N, K) logits / probabilities, "
                         f"got shape {pred.shape}")
    pred = pred.astype(np.int64, copy=False)
    y = _labels(labels, "labels")
    if len(pred) != len(y):
        raise ValueError(f"predicted has {len(pred)} samples but labels has {len(y)}")
    if len(y) == 0:
        raise ValueError("no samples: predicted and labels are empty")
    k = positive_int(num_classes, "num_classes") if num_classes is not None else int(y.max()) + 1
    if y.max() >= k:
        raise ValueError(f"labels must lie in [0, {k}) (num_classes={k}), got a label {y.max()}")
    if pred.min() < 0:
        raise ValueError(f"predicted classes must be >= 0, got {pred.min()}")
    if mapping is not None:
        table = _mapping(mapping, k)
        if pred.max() >= len(table):
            if not isinstance(mapping, dict):
                raise ValueError(f"predicted class {pred.max()} has no entry in mapping "
                                 f"(an array of {len(table)} classes)")
            table = np.concatenate([table, np.full(pred.max() + 1 - len(table), -1, dtype=np.int64)])
        pred = table[pred]
    correct = pred == y
    counts = np.bincount(y, minlength=k)
    hits = np.bincount(y, weights=correct, minlength=k)
    return {
        "class_consistency": float(correct.mean()),
        "class_consistency_per_class": [float(h / n) if n else float("nan") for h, n in zip(hits, counts)],
    }


@public_metric
def per_class_precision_recall(fake, real, *, fake_labels, real_labels, k: int = 3,
                               num_classes: Optional[int] = None) -> Dict[str, object]:
    """Improved precision and recall (Kynkaanniemi et al., 2019) within each class.

    Args:
        fake: (M, D) generated features; fake_labels: (M,) their classes.
        real: (N, D) reference features; real_labels: (N,) their classes.
        k: neighbourhood size; every evaluated class needs more than k samples
            on both sides.
        num_classes: K; labels must lie in [0, K). Default: largest label + 1.

    Returns:
        {"precision_per_class", "recall_per_class": K floats in [0, 1] indexed
         by class, each precision_recall(fakes of c, reals of c, k=k) (NaN where
         neither set has the class); "precision_mean", "recall_mean": their
         means over the evaluated classes; "classes": those classes}.
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    fake, real, fake_idx, real_idx, n_classes, classes, _, _ = _class_subsets(
        fake, real, fake_labels, real_labels, num_classes, int(k) + 1, f"k={k} neighbours besides the point")
    precision = [float("nan")] * n_classes
    recall = [float("nan")] * n_classes
    for c in classes:
        # prdc takes (real, fake), as the papers' code does.
        precision[c], recall[c] = _prdc.precision_recall(real[real_idx[c]], fake[fake_idx[c]], k=int(k))
    return {
        "precision_per_class": precision,
        "recall_per_class": recall,
        "precision_mean": float(np.mean([precision[c] for c in classes])),
        "recall_mean": float(np.mean([recall[c] for c in classes])),
        "classes": classes,
    }
