"""Precision/recall (Kynkaanniemi et al., 2019) and density/coverage (Naeem et al., 2020).

All four estimate the support of a distribution by the union of k-nearest-
neighbour balls around its samples: B(x, NND_k(x)), where NND_k(x) is the
distance from x to its k-th nearest *other* sample of the same set (the point
itself is excluded by index, so duplicates still count as neighbours).

With real samples X (N of them) and fake samples Y (M):

- precision = fraction of fakes inside at least one real ball (k = 3): quality;
- recall    = fraction of reals inside at least one fake ball (k = 3): diversity;
- density   = (1 / (k M)) sum_j #{i : Y_j in B(X_i, NND_k(X_i))} (k = 5); ~1 when
  Y matches X, above 1 when fakes crowd dense real regions;
- coverage  = fraction of reals whose ball contains at least one fake (k = 5).

"Inside" follows each metric's reference code, which differ on exact ties:
precision and recall count distance <= radius (Kynkaanniemi et al.'s
kynkaat/improved-precision-and-recall-metric, `distance_batch <= radii`);
density and coverage count distance < radius (Naeem et al.'s
clovaai/generative-evaluation-prdc, `distance_real_fake < radii`). They differ
on quantized or duplicated data: a fake that is an exact copy of a real point
whose k nearest neighbours are copies too (radius 0) counts for precision but
not for density or coverage.

Distances are Euclidean, computed in float64 as ||a||^2 + ||b||^2 - 2 a.b in
row blocks, so 10k x 10k pairs of 2048-d features never materialise an
N x M matrix (peak extra memory ~ `block_bytes`, 64 MB by default). The Gram
formula is exact only up to rounding (an exact copy comes out at ~1e-8 |x|
rather than 0), which would decide ties at random, so the k nearest-neighbour
distances (the radii) and every real-fake distance within rounding of a radius
it is compared with are recomputed directly as ||a - b||: ties are then exact.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

from .checks import as_features
import torch

__all__ = ["knn_distances", "knn_radii", "precision_recall", "density_coverage", "prdc"]

_BLOCK_BYTES = 64 * 2 ** 20


def _check_pair(real, fake) -> Tuple[np.ndarray, np.ndarray]:
    real = as_features(real, "real")
    fake = as_features(fake, "fake")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature dimensions differ: real has D={real.shape[1]}, "
                         f"fake has D={fake.shape[1]}")
    return real, fake


def _check_k(k, n: int, what: str, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {k!r}")
    if k >= n:
        raise ValueError(f"{name}={k} needs more than {k} {what} samples (k neighbours besides "
                         f"the point itself), got {n}")
    return int(k)


def _distance_blocks(query: np.ndarray, reference: np.ndarray, rows: int):
    """Yield (start, block, D): query rows [start, start + rows) as a tensor and
    D, their (rows, R) Euclidean distances to all reference rows (float64)."""
    # C-contiguous, writable copies only where needed (torch.from_numpy shares memory).
    q = torch.from_numpy(np.require(query, requirements=["C", "W"]))
    r = torch.from_numpy(np.require(reference, requirements=["C", "W"]))
    r_sq = (r * r).sum(dim=1)
    for start in range(0, len(query), rows):
        block = q[start:start + rows]
        # In place, so that one (rows, R) buffer is live per block.
        dist = block @ r.T
        dist.mul_(-2.0).add_(r_sq[None, :]).add_((block * block).sum(dim=1, keepdim=True))
        # Cancellation can make squared distances of near-identical points slightly negative.
        yield start, block, dist.clamp_(min=0.0).sqrt_()


def _norms(diff: torch.Tensor) -> torch.Tensor:
    """||.|| over the last axis: the one direct computation of a distance, so
    that the radii and the real-fake distances compared with them agree
    bit for bit on exact ties."""
    return torch.linalg.vector_norm(diff, dim=-1)


def knn_distances(query, reference, k: int, exclude_index: Optional[np.ndarray] = None,
                  block_bytes: int = _BLOCK_BYTES) -> np.ndarray:
    """Distances from each query row to its k nearest reference rows.

    Args:
        query: (Q, D) features.
        reference: (R, D) features.
        k: number of neighbours, 1 <= k <= R (R - 1 with exclude_index).
        exclude_index: optional (Q,) integer array; reference row
            exclude_index[i] is skipped for query i (its own copy when query rows
            are drawn from reference). Use np.arange(N) for a set against itself.
        block_bytes: memory bound of one distance block.

    Returns:
        (Q, k) float64 Euclidean distances, ascending along axis 1.
    """
    query = as_features(query, "query")
    reference = as_features(reference, "reference")
    if query.shape[1] != reference.shape[1]:
        raise ValueError(f"feature dimensions differ: query has D={query.shape[1]}, "
                         f"reference has D={reference.shape[1]}")
    available = len(reference) - (exclude_index is not None)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= available:
        raise ValueError(f"k must be an integer in [1, {available}] (reference size"
                         f"{' minus the excluded point' if exclude_index is not None else ''}), got {k!r}")
    if exclude_index is not None:
        exclude_index = np.asarray(exclude_index)
        if exclude_index.shape != (len(query),) or not np.issubdtype(exclude_index.dtype, np.integer):
            raise ValueError(f"exclude_index must be an integer array of shape ({len(query)},)")
        if len(exclude_index) and (exclude_index.min() < 0 or exclude_index.max() >= len(reference)):
            raise ValueError(f"exclude_index entries must lie in [0, {len(reference)})")
        excluded = torch.from_numpy(exclude_index.astype(np.int64))
    out = np.empty((len(query), k))
    ref = torch.from_numpy(np.require(reference, requirements=["C", "W"]))
    # Bound both the (rows, R) distance block and the (rows, k, D) re-check below.
    rows = max(1, block_bytes // (8 * max(len(reference), k * reference.shape[1])))
    for start, block, dist in _distance_blocks(query, reference, rows):
        if exclude_index is not None:
            dist[torch.arange(len(block)), excluded[start:start + len(block)]] = float("inf")
        idx = torch.topk(dist, k, dim=1, largest=False).indices
        # The Gram-matrix formula loses precision for close pairs (an exact copy
        # comes out at ~1e-8 |x| rather than 0); recompute the k winners directly.
        exact = _norms(block[:, None, :] - ref[idx])
        out[start:start + len(block)] = torch.sort(exact, dim=1).values.numpy()
    return out


def knn_radii(features, k: int, block_bytes: int = _BLOCK_BYTES) -> np.ndarray:
    """(N,) distance of each row of features (N, D) to its k-th nearest other row (k < N)."""
    features = as_features(features, "features")
    k = _check_k(k, len(features), "feature")
    return knn_distances(features, features, k, np.arange(len(features)), block_bytes)[:, k - 1]


def _prdc(real: np.ndarray, fake: np.ndarray, k_pr: Optional[int], k_dc: Optional[int],
          block_bytes: int) -> Dict[str, float]:
    """One pass over the real-fake distances for whichever metrics have a k."""
    n, m = len(real), len(fake)
    ks = [k for k in (k_pr, k_dc) if k is not None]
    real_knn = knn_distances(real, real, max(ks), np.arange(n), block_bytes)
    results: Dict[str, float] = {}
    if k_pr is not None:
        real_r_pr = torch.from_numpy(real_knn[:, k_pr - 1].copy())
        fake_r_pr = torch.from_numpy(knn_distances(fake, fake, k_pr, np.arange(m), block_bytes)[:, k_pr - 1])
        fake_in_real = torch.zeros(m, dtype=torch.bool)
        real_in_fake = torch.zeros(n, dtype=torch.bool)
    if k_dc is not None:
        real_r_dc = torch.from_numpy(real_knn[:, k_dc - 1].copy())
        ball_counts = torch.zeros(m, dtype=torch.int64)
        covered = torch.zeros(n, dtype=torch.bool)
    fake_t = torch.from_numpy(np.require(fake, requirements=["C", "W"]))
    # Rounding bound of the Gram distances: sqrt(eps) times the largest norm
    # covers a copy (true distance 0); 1e-6 leaves a wide margin.
    tol = 1e-6 * max(np.sqrt((real ** 2).sum(1).max()), np.sqrt((fake ** 2).sum(1).max()), 1e-300)
    # dist plus the tie check's temporaries: about three (rows, M) float64 buffers.
    rows_per_block = max(1, block_bytes // (3 * 8 * m))
    for start, block, dist in _distance_blocks(real, fake, rows_per_block):
        rows = slice(start, start + len(block))
        near = torch.zeros_like(dist, dtype=torch.bool)
        if k_pr is not None:
            near |= ((dist - real_r_pr[rows, None]).abs() <= tol) | ((dist - fake_r_pr[None, :]).abs() <= tol)
        if k_dc is not None:
            near |= (dist - real_r_dc[rows, None]).abs() <= tol
        i, j = near.nonzero(as_tuple=True)
        if len(i):
            dist[i, j] = _norms(block[i] - fake_t[j])
        if k_pr is not None:  # Kynkaanniemi et al.: inside means <=
            fake_in_real |= (dist <= real_r_pr[rows, None]).any(dim=0)
            real_in_fake[rows] = (dist <= fake_r_pr[None, :]).any(dim=1)
        if k_dc is not None:  # Naeem et al.: inside means <
            inside = dist < real_r_dc[rows, None]
            ball_counts += inside.sum(dim=0)
            covered[rows] = inside.any(dim=1)
    if k_pr is not None:
        results["precision"] = float(fake_in_real.double().mean())
        results["recall"] = float(real_in_fake.double().mean())
    if k_dc is not None:
        results["density"] = float(ball_counts.sum()) / (k_dc * m)
        results["coverage"] = float(covered.double().mean())
    return results


def precision_recall(real, fake, k: int = 3, block_bytes: int = _BLOCK_BYTES) -> Tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al., 2019).

    Args:
        real: (N, D) features of real samples, N > k.
        fake: (M, D) features of generated samples, M > k.
        k: neighbourhood size of the manifold balls (paper: 3).

    Returns:
        (precision, recall), each in [0, 1]: precision = fraction of fake samples
        within the k-NN radius of at least one real sample; recall = fraction of
        real samples within the k-NN radius of at least one fake sample.
    """
    real, fake = _check_pair(real, fake)
    k = _check_k(k, len(real), "real")
    _check_k(k, len(fake), "fake")
    r = _prdc(real, fake, k, None, block_bytes)
    return r["precision"], r["recall"]


def density_coverage(real, fake, k: int = 5, block_bytes: int = _BLOCK_BYTES) -> Tuple[float, float]:
    """Density and coverage (Naeem et al., 2020).

    Args:
        real: (N, D) features of real samples, N > k.
        fake: (M, D) features of generated samples, M >= 1.
        k: neighbourhood size of the real k-NN balls (paper: 5).

    Returns:
        (density, coverage): density >= 0 (expected ~1 when fake matches real;
        unbounded above), coverage in [0, 1]. Only real balls are used, which
        makes both robust to fake outliers.
    """
    real, fake = _check_pair(real, fake)
    k = _check_k(k, len(real), "real")
    r = _prdc(real, fake, None, k, block_bytes)
    return r["density"], r["coverage"]


def prdc(real, fake, k_pr: int = 3, k_dc: int = 5, block_bytes: int = _BLOCK_BYTES) -> Dict[str, float]:
    """All four metrics sharing one pass of distance computations.

    Args:
        real: (N, D) features, N > max(k_pr, k_dc).
        fake: (M, D) features, M > k_pr.
        k_pr: k for precision/recall (paper: 3).
        k_dc: k for density/coverage (paper: 5).

    Returns:
        {"precision", "recall", "density", "coverage"} as floats; identical to
        precision_recall(real, fake, k_pr) and density_coverage(real, fake, k_dc).
    """
    real, fake = _check_pair(real, fake)
    k_pr = _check_k(k_pr, len(real), "real", "k_pr")
    _check_k(k_pr, len(fake), "fake", "k_pr")
    k_dc = _check_k(k_dc, len(real), "real", "k_dc")
    return _prdc(real, fake, k_pr, k_dc, block_bytes)
