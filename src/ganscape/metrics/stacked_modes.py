"""Stacked-MNIST mode statistics (Metz et al., 2017; PacGAN / VEEGAN protocol).

Each generated image stacks three digits as its three channels; a pretrained
digit classifier labels every channel. The mode of a sample is the digit
triple read as a number, 100 c0 + 10 c1 + c2, one of 1000 modes. Reported:
the number of distinct modes among the samples (26k in the papers) and
KL(p_gen || uniform over the 1000 modes), with p_gen the empirical mode
histogram and 0 log 0 = 0, i.e. log(1000) - entropy(p_gen).

The functions accept any number of channels C and classes K (modes = K^C,
mode = sum_c label_c K^(C-1-c)); the protocol is C = 3, K = 10.
"""
from __future__ import annotations

from typing import Dict

import numpy as np

__all__ = ["stacked_mode_stats", "stacked_mode_stats_from_labels"]

_ROW_SUM_TOLERANCE = 1e-4


def stacked_mode_stats_from_labels(labels, num_classes: int = 10) -> Dict[str, float]:
    """Mode statistics from per-channel class labels.

    Args:
        labels: (N, C) integer labels in [0, num_classes), N >= 1.
        num_classes: K, classes per channel.

    Returns:
        {"modes_captured": distinct modes among the N samples (int, <= K^C),
         "num_modes": K^C, "kl_to_uniform": KL(mode histogram || uniform), "n": N}.
    """
    y = np.asarray(labels)
    if y.ndim != 2 or y.shape[0] == 0 or y.shape[1] == 0:
        raise ValueError(f"labels must have shape (N, C) with N, C >= 1, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"labels must be integers, got dtype {y.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if y.min() < 0 or y.max() >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes}), got range [{y.min()}, {y.max()}]")
    n, c = y.shape
    num_modes = num_classes ** c
    # Channel 0 is the most significant digit: mode = 100 c0 + 10 c1 + c2 for C = 3, K = 10.
    modes = (y.astype(np.int64) * num_classes ** np.arange(c - 1, -1, -1, dtype=np.int64)).sum(axis=1)
    _, counts = np.unique(modes, return_counts=True)
    p = counts / n
    return {
        "modes_captured": int(len(counts)),
        "num_modes": int(num_modes),
        "kl_to_uniform": float(np.sum(p * np.log(p * num_modes))),
        "n": int(n),
    }


def stacked_mode_stats(channel_probs) -> Dict[str, float]:
    """Mode statistics from per-channel classifier probabilities.

    Args:
        channel_probs: (N, C, K) probabilities, rows over K non-negative and
            summing to 1 (within 1e-4); protocol: (N, 3, 10).

    Returns:
        As stacked_mode_stats_from_labels, with each channel labelled by argmax
        (ties go to the lowest class index).
    """
    p = np.asarray(channel_probs)
    if p.ndim != 3:
        raise ValueError(f"channel_probs must have shape (N, C, K), e.g. (N, 3, 10), got {p.shape}")
    if not np.issubdtype(p.dtype, np.number) or np.issubdtype(p.dtype, np.complexfloating):
        raise TypeError(f"channel_probs must hold real numbers, got dtype {p.dtype}")
    if not np.isfinite(p).all():
        raise ValueError("channel_probs contains NaN or Inf")
    if (p < 0).any():
        raise ValueError("channel_probs must be non-negative (probabilities, not logits)")
    if p.size and np.abs(p.sum(axis=2) - 1.0).max() > _ROW_SUM_TOLERANCE:
        raise ValueError("channel_probs must sum to 1 over the class axis (softmax outputs, not logits)")
    return stacked_mode_stats_from_labels(p.argmax(axis=2), num_classes=p.shape[2])
