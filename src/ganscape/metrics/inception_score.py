"""Inception Score (Salimans et al., 2016) from class logits or probabilities.

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

from .checks import public_metric, real_array

__all__ = ["inception_score"]

# Softmax outputs computed in float32 sum to 1 only up to ~1e-6 per row.
_ROW_SUM_TOLERANCE = 1e-4


def _matrix(x, name: str) -> np.ndarray:
    return real_array(x, name, 2, f"a 2-D array (N, K) of class {name}")


def _log_probs_from_logits(logits: np.ndarray) -> np.ndarray:
    # log-softmax in float64, shifted by the row maximum so exp never overflows
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _log_probs_from_probs(p: np.ndarray) -> np.ndarray:
    if (p < 0).any():
        raise ValueError(f"probs must be non-negative (pass logits=... for raw classifier outputs); "
                         f"min is {p.min():.3g}")
    sums = p.sum(axis=1)
    worst = np.abs(sums - 1.0).max() if len(p) else 0.0
    if worst > _ROW_SUM_TOLERANCE:
        raise ValueError(f"rows of probs must sum to 1 (softmax outputs); worst row sums to "
                         f"{sums[np.argmax(np.abs(sums - 1.0))]:.6g}; pass logits=... for raw classifier outputs")
    p = p / sums[:, None]
    with np.errstate(divide="ignore"):
        return np.log(p)  # -inf where p = 0; those terms are 0 log 0 = 0 below


@public_metric
def inception_score(*, logits=None, probs=None, splits: int = 10) -> Tuple[float, float]:
    """Inception Score of a sample set from its classifier outputs.

    Give exactly one, by keyword:
        logits: (N, K) raw classifier outputs (any real values); softmax is
            applied here, in float64.
        probs: (N, K) p(y|x), rows non-negative and summing to 1 (within 1e-4;
            rows are renormalised to sum to exactly 1).
    Arrays or tensors (tensors that require grad are detached).

    splits: number of chunks (1 <= splits <= N). Chunk i holds rows
        [i N // splits, (i + 1) N // splits).

    Returns:
        (mean, std) of exp(mean_x KL(p(y|x) || p(y))) over the chunks, std with
        divisor `splits` (as in the original code); higher is better, in [1, K].
        KL uses 0 log 0 = 0.
    """
    if (logits is None) == (probs is None):
        raise TypeError("inception_score() takes exactly one of logits=... (raw classifier outputs) "
                        "or probs=... (softmax outputs)")
    if logits is not None:
        log_p = _log_probs_from_logits(_matrix(logits, "logits"))
    else:
        log_p = _log_probs_from_probs(_matrix(probs, "probs"))
    n = len(log_p)
    if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or not 1 <= splits <= n:
        raise ValueError(f"splits must be an integer in [1, N={n}], got {splits!r}")
    p = np.exp(log_p)

    scores = np.empty(splits)
    for i in range(splits):
        rows = slice(i * n // splits, (i + 1) * n // splits)
        part, log_part = p[rows], log_p[rows]
        marginal = part.mean(axis=0, keepdims=True)
        # p log(p / m) with 0 log 0 = 0: m is 0 only where every row of the
        # chunk is 0, so no p > 0 meets m = 0; the p = 0 entries (-inf - log m)
        # are computed and discarded, hence the silenced warnings.
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(part > 0, part * (log_part - np.log(marginal)), 0.0)
        scores[i] = np.exp(terms.sum(axis=1).mean())
    return float(scores.mean()), float(scores.std())
