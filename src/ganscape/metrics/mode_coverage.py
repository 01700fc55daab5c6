"""Mode-collapse metrics for 2-D Gaussian mixtures (the PacGAN protocol).

Protocol (Lin et al., 2018, "PacGAN", Section 5.1 and their evaluation code):
- each sample is assigned to its nearest mode centre (Euclidean distance; all
  modes share one isotropic sigma, so this is also the nearest mode in units
  of sigma, as the PacGAN code measures it);
- it is *high quality* (HQ) if that distance is below 3 sigma;
- a mode is *captured* if at least one HQ sample is assigned to it;
- reverse KL = KL(p_gen || uniform) over the K modes, where p_gen is the
  histogram of HQ samples per mode normalised by the number of HQ samples
  (non-HQ samples do not enter it); 0 log 0 = 0. It equals log K minus the
  entropy of that histogram (the quantity the PacGAN code logs as "entropy of
  coverage"); 0 for perfectly balanced coverage, log(K / k) when k modes are
  covered equally.

Benchmarks: ring of 8 modes on the unit circle, sigma 0.01; grid of 25 modes
at {-4, -2, 0, 2, 4}^2, sigma 0.05 (the PacGAN code evaluates 2500 generated
samples per run). Note the metric is computed on whatever samples are given.
"""
from __future__ import annotations

from typing import Dict, List, Union

import numpy as np

# The benchmark geometry lives with the data sets that sample it.
from ..data.synthetic import GRID25_SIGMA, RING8_SIGMA, grid25_centers, ring8_centers
from .checks import as_features

__all__ = ["mode_coverage", "ring8_centers", "grid25_centers", "RING8_SIGMA", "GRID25_SIGMA"]

HQ_THRESHOLD = 3.0  # in units of sigma


def mode_coverage(samples, centers, sigma: float,
                  hq_threshold: float = HQ_THRESHOLD) -> Dict[str, Union[float, int, List[int]]]:
    """Modes captured, high-quality fraction and reverse KL of 2-D samples.

    Args:
        samples: (N, 2) generated points, N >= 1.
        centers: (K, 2) mode centres (e.g. ring8_centers(), grid25_centers()).
        sigma: the modes' common standard deviation (> 0).
        hq_threshold: HQ radius in units of sigma (protocol: 3).

    Returns:
        {"modes_captured": int in [0, K], "num_modes": K,
         "hq_fraction": share of samples that are HQ, in [0, 1],
         "reverse_kl": KL(HQ mode histogram || uniform) in [0, log K], NaN when
         no sample is HQ (the histogram is undefined),
         "n": N, "mode_counts": HQ samples per mode (list of K ints)}.
    """
    x = as_features(samples, "samples", dim=2)
    c = as_features(centers, "centers", dim=2)
    if len(x) == 0 or len(c) == 0:
        raise ValueError(f"samples and centers must be non-empty, got {len(x)} and {len(c)}")
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive number, got {sigma!r}")
    if not (np.isfinite(hq_threshold) and hq_threshold > 0):
        raise ValueError(f"hq_threshold must be a positive number, got {hq_threshold!r}")

    dist = np.sqrt(((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2))  # (N, K)
    nearest = dist.argmin(axis=1)
    hq = dist[np.arange(len(x)), nearest] < hq_threshold * sigma
    counts = np.bincount(nearest[hq], minlength=len(c))
    n_hq = int(counts.sum())
    if n_hq:
        p = counts[counts > 0] / n_hq
        reverse_kl = float(np.sum(p * np.log(p * len(c))))
    else:
        reverse_kl = float("nan")
    return {
        "modes_captured": int((counts > 0).sum()),
        "num_modes": len(c),
        "hq_fraction": n_hq / len(x),
        "reverse_kl": reverse_kl,
        "n": len(x),
        "mode_counts": counts.tolist(),
    }


