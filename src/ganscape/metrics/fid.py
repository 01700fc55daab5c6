"""Frechet Inception Distance (Heusel et al., 2017) on precomputed features.

FID fits a Gaussian to each feature set and reports the Frechet (2-Wasserstein)
distance between the two Gaussians:

    FID = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)).

How the trace term is computed
------------------------------
S1 S2 is not symmetric, which is why pytorch-fid / clean-fid call
``scipy.linalg.sqrtm`` on it and then discard an "imaginary component" produced
by rounding. Here the term is computed from a symmetric positive semi-definite
matrix instead, so no complex arithmetic is involved:

    Tr((S1 S2)^(1/2)) = sum_i sqrt(lambda_i(A^T S2 A)),   for any A with A A^T = S1,

because A^T S2 A and S1 S2 = A (A^T S2) have the same non-zero eigenvalues, and
the eigenvalues of S1 S2 (a product of PSD matrices) are real and >= 0. With
A = S1^(1/2) this is the textbook formula via S1^(1/2) S2 S1^(1/2).

Deviation from the textbook construction (speed, same value): A is the
Cholesky factor of S1 (or of S2, roles swapped, if S1 is singular) rather than
S1^(1/2) from an eigendecomposition. Both give the same eigenvalues; Cholesky is
about 20x cheaper than an eigendecomposition with eigenvectors, which at
D = 2048 takes longer than ``scipy.linalg.sqrtm`` itself. Only when both
covariances are singular (fewer samples than dimensions) does it fall back to
A = V diag(sqrt(max(w, 0))) from the symmetric eigendecomposition S1 = V diag(w) V^T.
Negative eigenvalues of A^T S2 A (rounding only) are clipped at 0.

FID is biased: its expectation decreases with the number of samples n. Always
report n alongside it and compare FIDs only at equal n.
"""
from __future__ import annotations

import warnings
from typing import Tuple

import numpy as np
import torch

__all__ = ["gaussian_stats", "frechet_distance", "fid_from_features", "trace_sqrt_product"]


def _as_features(x, name: str) -> np.ndarray:
    """Validate a feature matrix and return it as float64 (N, D)."""
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (N, D) of features, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or Inf")
    return arr


def gaussian_stats(features) -> Tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a feature set, in float64.

    Args:
        features: (N, D) real array, N >= 2, finite.

    Returns:
        (mu, sigma): mu (D,) float64, sigma (D, D) float64, the unbiased sample
        covariance (divisor N - 1), exactly symmetric.

    Warns (UserWarning) when N < D: the covariance is then singular (rank at
    most N - 1), and FID computed from it is strongly biased upwards relative to
    a large-N estimate; do not compare such FIDs with published values.
    """
    x = _as_features(features, "features")
    n, d = x.shape
    if n < 2:
        raise ValueError(f"features needs at least 2 samples to estimate a covariance, got N={n}")
    if n < d:
        warnings.warn(
            f"gaussian_stats: N={n} samples < feature dimension D={d}; the covariance is "
            f"singular (rank <= {n - 1}) and FID will be biased (too high). Use N >= D, "
            f"ideally N >= 10k for 2048-d Inception features.",
            UserWarning, stacklevel=2)
    mu = x.mean(axis=0)
    # Centered Gram matrix; torch's float64 GEMM is used for speed (same result as np.cov).
    xc = torch.from_numpy(x - mu)
    sigma = (xc.T @ xc).numpy() / (n - 1)
    # Rounding makes xc^T xc very slightly asymmetric; the trace term assumes symmetry.
    sigma = 0.5 * (sigma + sigma.T)
    return mu, sigma


def _check_stats(mu, sigma, name: str) -> Tuple[np.ndarray, np.ndarray]:
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    if mu.ndim != 1:
        raise ValueError(f"mu{name} must be a 1-D mean vector (D,), got shape {mu.shape}")
    d = mu.shape[0]
    if sigma.shape != (d, d):
        raise ValueError(f"sigma{name} must be a ({d}, {d}) covariance matching mu{name}, "
                         f"got shape {sigma.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise ValueError(f"mu{name} / sigma{name} contain NaN or Inf")
    scale = max(np.abs(sigma).max(), np.finfo(np.float64).tiny)
    if np.abs(sigma - sigma.T).max() > 1e-8 * scale:
        raise ValueError(f"sigma{name} must be symmetric (a covariance matrix); "
                         f"max |S - S^T| = {np.abs(sigma - sigma.T).max():.3g}")
    if np.diagonal(sigma).min() < -1e-12 * scale:
        raise ValueError(f"sigma{name} has negative variances on its diagonal; not a covariance")
    return mu, 0.5 * (sigma + sigma.T)


def _psd_factor(s1: torch.Tensor, s2: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Return (A, B) with A A^T = one of the covariances and B the other one.

    Tr((S1 S2)^(1/2)) is symmetric in S1 and S2, so either may be factored.
    """
    for a, b in ((s1, s2), (s2, s1)):
        factor, info = torch.linalg.cholesky_ex(a)
        if int(info) == 0:
            return factor, b
    # Both singular (e.g. N < D): factor S1 through its eigendecomposition.
    w, v = torch.linalg.eigh(s1)
    return v * torch.sqrt(torch.clamp(w, min=0.0)), s2


def trace_sqrt_product(sigma1, sigma2) -> float:
    """Tr((S1 S2)^(1/2)) for symmetric PSD (D, D) matrices, as a float.

    Computed as the sum of square roots of the (clipped at 0) eigenvalues of the
    symmetric PSD matrix A^T S2 A with A A^T = S1; see the module docstring.
    """
    s1 = torch.from_numpy(np.ascontiguousarray(sigma1, dtype=np.float64))
    s2 = torch.from_numpy(np.ascontiguousarray(sigma2, dtype=np.float64))
    a, other = _psd_factor(s1, s2)
    m = a.T @ (other @ a)
    m = 0.5 * (m + m.T)
    eig = torch.linalg.eigvalsh(m)
    return float(torch.sqrt(torch.clamp(eig, min=0.0)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    Args:
        mu1, mu2: (D,) means.
        sigma1, sigma2: (D, D) symmetric positive semi-definite covariances.

    Returns:
        ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)) as a Python float,
        >= 0 (negative rounding error near 0 is clipped to 0). Never complex:
        the trace term comes from a symmetric eigenproblem. The covariances are
        assumed PSD; only symmetry and the diagonal are checked.
    """
    mu1, sigma1 = _check_stats(mu1, sigma1, "1")
    mu2, sigma2 = _check_stats(mu2, sigma2, "2")
    if mu1.shape != mu2.shape:
        raise ValueError(f"feature dimensions differ: mu1 has D={mu1.shape[0]}, "
                         f"mu2 has D={mu2.shape[0]}")
    diff = mu1 - mu2
    tr_sqrt = trace_sqrt_product(sigma1, sigma2)
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_sqrt)
    # The exact value is >= 0 (a squared distance). A negative result is
    # cancellation error in Tr(S1) + Tr(S2) - 2 Tr(...): near-zero eigenvalues
    # perturbed by rounding (~eps * ||S||) enter through a square root, so for
    # (near-)identical singular covariances the error can reach ~1e-8 * ||S|| per
    # null direction. Clip rather than report a meaningless negative distance.
    return max(value, 0.0)


def fid_from_features(features1, features2) -> float:
    """FID between two feature sets (N1, D) and (N2, D); N1, N2 >= 2.

    Fits gaussian_stats to each set (warning when N < D) and returns
    frechet_distance of the two fits. Report N1 and N2 with the result: FID
    depends on the sample size.
    """
    f1 = _as_features(features1, "features1")
    f2 = _as_features(features2, "features2")
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"feature dimensions differ: features1 has D={f1.shape[1]}, "
                         f"features2 has D={f2.shape[1]}")
    mu1, s1 = gaussian_stats(f1)
    mu2, s2 = gaussian_stats(f2)
    return frechet_distance(mu1, s1, mu2, s2)
