"""Array-level metrics: functions of features, classifier outputs or images.

Every function that compares two sets takes the generated set first and the
reference second, named ``fake`` and ``real``, by position or by keyword
(``fid_from_features(real=r, fake=f)`` is the same call as
``fid_from_features(f, r)``); options after them are keyword-only. Any other
keyword (``features1=``, ``generated=``, ...) is a TypeError that shows the
signature. Inputs are numpy arrays or torch tensors on any device; tensors
that require grad are detached (no metric here is differentiable). Results are
Python floats (or tuples / dicts of them).

===================================================  ==========================================================
function                                             inputs -> result
===================================================  ==========================================================
``fid_from_features(fake, real)``                    features (N1, D), (N2, D) -> FID, float >= 0, lower better
``kid_from_features(fake, real, *, num_subsets=100,  features (N1, D), (N2, D) -> (mean, std) of unbiased MMD^2
subset_size=1000, seed=0)``                          (cubic kernel), lower better
``inception_score(*, logits=None, probs=None,        exactly one of logits (N, K) or probs (N, K, rows sum to 1)
splits=10)``                                         -> (mean, std) over splits, in [1, K], higher better
``precision_recall(fake, real, *, k=3)``             features -> (precision, recall), each in [0, 1]
``density_coverage(fake, real, *, k=5)``             features -> (density >= 0, ~1 when matched; coverage in [0, 1])
``c2st_accuracy(fake, real, *, seed=0,               samples or features (M, D), (N, D) -> {"accuracy" in [0, 1],
test_fraction=0.5, classifier="logistic")``          0.5 = indistinguishable; "p_value", "n_train", "n_test"}
``memorization(fake, real, *, threshold=None, ...)``  (M, ...) generated, (N, ...) *training* samples ->
                                                     {"fraction_near_copies", "mean_nn_distance", ...}
``intra_class_fid(fake, real, *, fake_labels,       features + (N,) int labels -> {"intra_fid": mean over classes
real_labels, num_classes=None, min_per_class=2)``    of per-class FID, "intra_fid_per_class", "classes", ...}
``class_consistency(*, predicted, labels,            (N,) predicted classes or (N, K) logits, (N,) labels ->
mapping=None, num_classes=None)``                    {"class_consistency" in [0, 1], "class_consistency_per_class"}
``per_class_precision_recall(fake, real, *,          features + labels -> {"precision_per_class",
fake_labels, real_labels, k=3, num_classes=None)``   "recall_per_class", "precision_mean", "recall_mean", "classes"}
``ms_ssim(a, b)``                                    image pairs (N, C, H, W) -> (N,) MS-SSIM in [0, 1]
``ms_ssim_diversity(samples, n_pairs=1000, ...)``    images (N, C, H, W) -> mean MS-SSIM of random pairs
                                                     (lower = more diverse)
===================================================  ==========================================================

Images are float in [-1, 1] (ganscape's range). The modules below hold the
implementations and their protocols (fid.py, kid.py, inception_score.py,
prdc.py, msssim.py, c2st.py, memorization.py, conditional.py); ``evaluate.py``
runs them on features computed once per sample set by a registered extractor.

Note: ``ganscape.metrics.inception_score`` and ``ganscape.metrics.memorization``
are these functions, not the modules of the same name; import from the
modules with ``from ganscape.metrics.memorization import ...``.
"""
from __future__ import annotations

from typing import Tuple

from . import msssim as _msssim
from . import prdc as _prdc
from .c2st import c2st_accuracy
from .checks import public_metric
from .conditional import class_consistency, intra_class_fid, per_class_precision_recall
from .fid import fid_from_features
from .inception_score import inception_score
from .kid import kid_from_features
from .memorization import memorization

__all__ = ["fid_from_features", "kid_from_features", "inception_score", "precision_recall",
           "density_coverage", "c2st_accuracy", "memorization", "ms_ssim", "ms_ssim_diversity",
           "intra_class_fid", "class_consistency", "per_class_precision_recall"]


# prdc.py takes (real, fake), as the papers' code does; these put the sets in
# ganscape's order. Keywords fake= and real= mean the same in both.
@public_metric
def precision_recall(fake, real, *, k: int = 3) -> Tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al., 2019) of features.

    fake: (M, D) generated features, M > k; real: (N, D) reference features,
    N > k. Returns (precision, recall), each in [0, 1], higher better:
    precision = share of fakes inside some real k-NN ball (quality), recall =
    share of reals inside some fake k-NN ball (diversity).
    """
    return _prdc.precision_recall(real, fake, k=k)


@public_metric
def density_coverage(fake, real, *, k: int = 5) -> Tuple[float, float]:
    """Density and coverage (Naeem et al., 2020) of features.

    fake: (M, D) generated features; real: (N, D) reference features, N > k.
    Returns (density, coverage): density >= 0, about 1 when fake matches real
    (unbounded above); coverage in [0, 1], higher better.
    """
    return _prdc.density_coverage(real, fake, k=k)


ms_ssim = public_metric(_msssim.ms_ssim)
ms_ssim_diversity = public_metric(_msssim.ms_ssim_diversity)
