"""Kernel Inception Distance (Binkowski et al., 2018) on precomputed features.

KID is the squared maximum mean discrepancy (MMD^2) between two feature sets
under the cubic polynomial kernel

    k(x, y) = (x . y / d + 1)^3,    d = feature dimension,

estimated without bias and averaged over random subsets. Per subset of m
samples X from set 1 and m samples Y from set 2:

    MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m - 1))
            + sum_{i != j} k(y_i, y_j) / (m (m - 1))
            - 2 sum_{i, j} k(x_i, y_j) / m^2

(the within-set sums exclude the diagonal i = j; the cross term keeps all m^2
pairs, as in the KID paper's "unbiased" estimator). Unlike FID, its expectation
does not depend on m; single subsets can be negative when the sets match.
"""
from __future__ import annotations

import warnings
from typing import Tuple

import numpy as np

from .checks import as_features, public_metric

__all__ = ["polynomial_kernel", "mmd2_unbiased", "kid_from_features"]


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x . y / d + 1)^3 for all pairs: x (m, d), y (n, d) -> (m, n) float64."""
    d = x.shape[1]
    return (x @ y.T / d + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 estimate (formula in the module docstring) for x, y of shape (m, d), m >= 2."""
    m = x.shape[0]
    if m < 2 or y.shape[0] != m:
        raise ValueError(f"mmd2_unbiased needs two sets of equal size m >= 2, got {x.shape[0]} "
                         f"and {y.shape[0]}")
    k_xx = polynomial_kernel(x, x)
    k_yy = polynomial_kernel(y, y)
    k_xy = polynomial_kernel(x, y)
    within = ((k_xx.sum() - np.trace(k_xx)) + (k_yy.sum() - np.trace(k_yy))) / (m * (m - 1))
    return float(within - 2.0 * k_xy.mean())


@public_metric
def kid_from_features(fake, real, *, num_subsets: int = 100, subset_size: int = 1000,
                      seed: int = 0) -> Tuple[float, float]:
    """KID between generated and reference features: mean and standard deviation over subsets.

    Args:
        fake: (N1, D) features of generated samples (array or tensor; tensors
            that require grad are detached).
        real: (N2, D) features of reference samples; same D.
        num_subsets: number of random subset pairs (>= 1).
        subset_size: samples per subset, drawn without replacement from each
            set independently. Clipped to min(N1, N2) with a UserWarning when
            larger (the KID paper / torch-fidelity protocol: 100 subsets of 1000).
        seed: seed of the subset draws (numpy Generator); results are
            deterministic given the inputs and the seed.

    Returns:
        (mean, std) of the per-subset unbiased MMD^2 values, std with divisor
        num_subsets (population std, as in the reference implementations).
        Lower is better; can be slightly negative when the sets match.
        Commonly reported x 1000.
    """
    f_fake = as_features(fake, "fake")
    f_real = as_features(real, "real")
    if f_fake.shape[1] != f_real.shape[1]:
        raise ValueError(f"feature dimensions differ: fake has D={f_fake.shape[1]}, "
                         f"real has D={f_real.shape[1]}")
    if isinstance(num_subsets, bool) or not isinstance(num_subsets, (int, np.integer)) or num_subsets < 1:
        raise ValueError(f"num_subsets must be an integer >= 1, got {num_subsets!r}")
    if isinstance(subset_size, bool) or not isinstance(subset_size, (int, np.integer)) or subset_size < 2:
        raise ValueError(f"subset_size must be an integer >= 2, got {subset_size!r}")
    n_min = min(len(f_fake), len(f_real))
    if n_min < 2:
        raise ValueError(f"each feature set needs at least 2 samples, got fake N1={len(f_fake)}, "
                         f"real N2={len(f_real)}")
    if subset_size > n_min:
        warnings.warn(f"kid: subset_size={subset_size} exceeds the smaller set (N={n_min}); "
                      f"using subset_size={n_min}", UserWarning, stacklevel=3)
        subset_size = n_min

    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets)
    for s in range(num_subsets):
        # The real subset is drawn first: the order of the draws of earlier
        # versions, so recorded KIDs stay reproducible.
        y = f_real[rng.choice(len(f_real), subset_size, replace=False)]
        x = f_fake[rng.choice(len(f_fake), subset_size, replace=False)]
        values[s] = mmd2_unbiased(x, y)
    return float(values.mean()), float(values.std())
