"""Inception Score (Salimans et al., 2016) from class probabilities.

    IS = exp( E_x KL( p(y|x) || p(y) ) ),

computed separately on `splits` consecutive, equal-as-possible chunks of the
samples (p(y) is each chunk's own marginal, the mean of its p(y|x) rows), then
reported as mean and standard deviation over the chunks: the protocol of the
original code (50k samples, 10 splits). The score lies in [1, K]: 1 when every
sample has the same prediction, K when predictions are confident (one-hot) and
the classes are balanced.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
from scipy.special import rel_entr

__all__ = ["inception_score"]

# Softmax outputs computed in float32 sum to 1 only up to ~1e-6 per row.
_ROW_SUM_TOLERANCE = 1e-4


def inception_score(probs, splits: int = 10) -> Tuple[float, float]:
    """Inception Score of a sample set given its classifier probabilities.

    Args:
        probs: (N, K) array of p(y|x), rows non-negative and summing to 1
            (within 1e-4; rows are renormalised to sum to exactly 1).
        splits: number of chunks (1 <= splits <= N). Chunk i holds rows
            [i N // splits, (i + 1) N // splits).

    Returns:
        (mean, std) of exp(mean_x KL(p(y|x) || p(y))) over the chunks, std with
        divisor `splits` (as in the original code). KL uses 0 log 0 = 0.
    """
    p = np.asarray(probs)
    if p.ndim != 2:
        raise ValueError(f"probs must be a 2-D array (N, K) of class probabilities, got shape {p.shape}")
    if not np.issubdtype(p.dtype, np.number) or np.issubdtype(p.dtype, np.complexfloating):
        raise TypeError(f"probs must hold real numbers, got dtype {p.dtype}")
    p = p.astype(np.float64)
    n, k = p.shape
    if not np.isfinite(p).all():
        raise ValueError("probs contains NaN or Inf")
    if (p < 0).any():
        raise ValueError(f"probs must be non-negative; min is {p.min():.3g}")
    sums = p.sum(axis=1)
    worst = np.abs(sums - 1.0).max() if n else 0.0
    if worst > _ROW_SUM_TOLERANCE:
        raise ValueError(f"rows of probs must sum to 1 (softmax outputs, not logits); worst row "
                         f"sums to {sums[np.argmax(np.abs(sums - 1.0))]:.6g}")
    if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or not 1 <= splits <= n:
        raise ValueError(f"splits must be an integer in [1, N={n}], got {splits!r}")
    p = p / sums[:, None]

    scores = np.empty(splits)
    for i in range(splits):
        part = p[i * n // splits:(i + 1) * n // splits]
        marginal = part.mean(axis=0, keepdims=True)
        # rel_entr(a, b) = a log(a / b) with 0 log 0 = 0; marginal is 0 only where
        # every row of the chunk is 0, so no a > 0 meets b = 0.
        kl = rel_entr(part, marginal).sum(axis=1)
        scores[i] = np.exp(kl.mean())
    return float(scores.mean()), float(scores.std())
