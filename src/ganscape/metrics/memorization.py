"""Memorisation check: how close are generated samples to the training set?

For each generated sample the Euclidean distance to its nearest training
sample is computed (on raw pixels flattened to vectors, or on features). A
sample is a *near copy* when that distance is at most a threshold.

Default threshold (choice documented here): the 1st percentile (`quantile`
0.01) of the training set's own leave-one-out nearest-neighbour distances,
i.e. the distance below which only 1% of training points have another training
point. A model that samples fresh points from the training distribution then
gets a near-copy fraction of about `quantile` (for a generated set compared
with a training set of the same distribution and size), while a model that
reproduces training points gets ~1. This calibrates the threshold to the data's
own scale and dimension, unlike a fixed distance; the alternative nearest /
second-nearest ratio test is not used because, in low dimension, fresh samples
pass it often (P(d1/d2 < r) = r^D for locally uniform data).

For large training sets the threshold is calibrated on a random subset of
`calibration_size` training points (each compared against the whole training
set, itself excluded).
"""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

from .checks import public_metric, to_numpy
from .prdc import knn_distances

__all__ = ["nearest_neighbour_distances", "leave_one_out_distances", "memorization"]


def _flatten(x, name: str) -> np.ndarray:
    arr = to_numpy(x)
    if arr.ndim < 2:
        raise ValueError(f"{name} must have shape (N, D) or (N, C, H, W), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if len(arr) == 0:
        raise ValueError(f"{name} is empty")
    return arr.reshape(len(arr), -1).astype(np.float64, copy=False)


def _check_pair(samples, train, names=("samples", "train")):
    s, t = _flatten(samples, names[0]), _flatten(train, names[1])
    if s.shape[1] != t.shape[1]:
        raise ValueError(f"{names[0]} and {names[1]} differ in size per sample: {s.shape[1]} vs {t.shape[1]} "
                         f"values (shapes {tuple(np.shape(samples))} and {tuple(np.shape(train))})")
    return s, t


def nearest_neighbour_distances(samples, train) -> np.ndarray:
    """Distance of each sample to its nearest training point.

    Args:
        samples: (M, D) or (M, C, H, W) array (flattened per sample).
        train: (N, D) or (N, C, H, W) array with the same per-sample size.

    Returns:
        (M,) float64 Euclidean distances.
    """
    s, t = _check_pair(samples, train)
    return knn_distances(s, t, 1)[:, 0]


def leave_one_out_distances(train, calibration_size: Optional[int] = 2000, seed: int = 0) -> np.ndarray:
    """Nearest-neighbour distances of training points to the rest of the training set.

    Args:
        train: (N, D) or (N, C, H, W), N >= 2.
        calibration_size: evaluate at most this many randomly chosen training
            points (None = all N); each is compared with all N - 1 others.
        seed: seed of the subset choice.

    Returns:
        (min(N, calibration_size),) float64 distances.
    """
    t = _flatten(train, "train")
    if len(t) < 2:
        raise ValueError(f"train needs at least 2 samples for leave-one-out distances, got {len(t)}")
    if calibration_size is None or calibration_size >= len(t):
        idx = np.arange(len(t))
    else:
        if calibration_size < 1:
            raise ValueError(f"calibration_size must be >= 1 or None, got {calibration_size}")
        idx = np.sort(np.random.default_rng(seed).choice(len(t), calibration_size, replace=False))
    return knn_distances(t[idx], t, 1, exclude_index=idx)[:, 0]


@public_metric
def memorization(fake, real, *, threshold: Optional[float] = None, quantile: float = 0.01,
                 calibration_size: Optional[int] = 2000, seed: int = 0) -> Dict[str, float]:
    """Nearest-neighbour distances of generated samples to the training set.

    Args:
        fake: (M, D) or (M, C, H, W) generated samples (or their features);
            arrays or tensors (tensors that require grad are detached).
        real: (N, D) or (N, C, H, W) the training samples, in the same space.
        threshold: near-copy distance; None = the `quantile` of the training
            set's leave-one-out nearest-neighbour distances (module docstring).
        quantile: quantile used for the default threshold, in (0, 1).
        calibration_size, seed: see leave_one_out_distances (only used when
            threshold is None).

    Returns:
        {"mean_nn_distance", "median_nn_distance": statistics of the (M,)
         nearest-training-neighbour distances (Euclidean, same units as the inputs),
         "fraction_near_copies": share of samples with distance <= threshold,
         in [0, 1] (lower is better; ~quantile for a model that does not copy),
         "threshold": the threshold used,
         "n_samples": M, "n_train": N}.
    """
    s, t = _check_pair(fake, real, ("fake", "real"))
    for arr, name in ((s, "fake"), (t, "real")):
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or Inf")
    if threshold is None:
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"quantile must lie in (0, 1), got {quantile!r}")
        threshold = float(np.quantile(leave_one_out_distances(t, calibration_size, seed), quantile))
    elif not (np.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold must be a finite distance >= 0, got {threshold!r}")
    d = knn_distances(s, t, 1)[:, 0]
    return {
        "mean_nn_distance": float(d.mean()),
        "median_nn_distance": float(np.median(d)),
        # <= so that exact copies count even when the threshold is 0 (duplicated training data).
        "fraction_near_copies": float(np.mean(d <= threshold)),
        "threshold": float(threshold),
        "n_samples": len(s),
        "n_train": len(t),
    }
