"""SSIM and multi-scale SSIM (Wang, Simoncelli & Bovik, 2003) for image batches.

Images come in as float (N, C, H, W) in [-1, 1] (ganscape's image range) and
are mapped to [0, 1] before anything is computed, with data range L = 1,
C1 = (0.01 L)^2, C2 = (0.03 L)^2, as in the standard implementations
(pytorch-msssim with data_range=1, tf.image.ssim_multiscale with max_val=1,
PGGAN's ms_ssim on [0, 1]-scaled images). The range matters: SSIM's luminance
term (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1) is not shift-invariant, so
computing on [-1, 1] with L = 2 gives different numbers (the real digits'
pair diversity is 0.223 on [0, 1] against 0.099 on [-1, 1] at 8x8, 0.223
against 0.117 at 32x32); the contrast-structure term cs is the same either
way. At one scale, with Gaussian-weighted local
means mu, variances s^2 and covariance s_ab (window 11 x 11, sigma 1.5, "valid"
filtering, i.e. no padding, as in Wang's reference code):

    l  = (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1)
    cs = (2 s_ab + C2) / (s_a^2 + s_b^2 + C2)
    SSIM = mean over the map of l * cs.

MS-SSIM combines M scales, halving the image between scales by 2 x 2 block
averaging (an odd trailing row/column is dropped):

    MS-SSIM = prod_{j < M} mean(cs_j)^{w_j} * mean(l_M cs_M)^{w_M},

with the paper's weights w = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333). Colour
images: computed per channel, then averaged over channels (tf.image convention).
Mean cs / SSIM values below 0 (anti-correlated images) are clipped to 0 before
the fractional powers, as tf.image.ssim_multiscale does.

Small images (documented deviation): five scales with an 11 x 11 window need
sides >= 176. Following the MS-SSIM code used for GAN diversity studies, the
window at each scale is min(11, side) pixels with sigma scaled in proportion,
1.5 * size / 11; and only as many scales are used as keep the coarsest side
>= 4 pixels (64 x 64 -> 5 scales, 32 -> 4, 28 and 16 -> 3, 8 -> 2, 4 -> 1), with
the first M weights renormalised to sum to 1 when M < 5 (the five published
weights are used unchanged). Images need min(H, W) >= 4. From 176 x 176 up
(five scales, full 11 x 11 window at every scale) with even sides at every
scale, the result equals pytorch-msssim's ms_ssim(data_range=1) (to about
1e-6, its float32 Gaussian taps; exactly with float64 taps); its odd-side
pooling pads where this one drops the trailing row/column.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .checks import real_array

__all__ = ["ssim", "ms_ssim", "ms_ssim_diversity", "num_scales", "MS_SSIM_WEIGHTS"]

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW_SIZE = 11
WINDOW_SIGMA = 1.5
K1, K2 = 0.01, 0.03
DATA_RANGE = 1.0  # computed on [0, 1]: the inputs' [-1, 1] is mapped there first
MIN_SIDE = 4      # coarsest scale kept by MS-SSIM


def _as_images(x, name: str) -> torch.Tensor:
    arr = real_array(x, name, 4, "an image batch (N, C, H, W)")
    if arr.size and (arr.min() < -1.0 - 1e-4 or arr.max() > 1.0 + 1e-4):
        raise ValueError(f"{name} must lie in [-1, 1] (ganscape's image range); got "
                         f"[{arr.min():.4g}, {arr.max():.4g}]")
    if min(arr.shape[2:]) < MIN_SIDE:
        raise ValueError(f"{name}: images must be at least {MIN_SIDE}x{MIN_SIDE}, got "
                         f"{arr.shape[2]}x{arr.shape[3]}")
    # [-1, 1] -> [0, 1], the range (with L = 1) the standard MS-SSIM is defined on.
    return torch.from_numpy((arr + 1.0) / 2.0)


def _check_pair(a, b) -> Tuple[torch.Tensor, torch.Tensor]:
    a, b = _as_images(a, "a"), _as_images(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    return a, b


def num_scales(height: int, width: int) -> int:
    """Scales MS-SSIM uses for an image of this size: at most 5, coarsest side >= 4."""
    side = min(height, width)
    if side < MIN_SIDE:
        raise ValueError(f"images must be at least {MIN_SIDE}x{MIN_SIDE}, got {height}x{width}")
    m = 1
    while m < len(MS_SSIM_WEIGHTS) and side // 2 ** m >= MIN_SIDE:
        m += 1
    return m


def _gaussian_window(side: int) -> torch.Tensor:
    """1-D normalised Gaussian taps: size min(11, side), sigma 1.5 * size / 11."""
    size = min(WINDOW_SIZE, side)
    sigma = WINDOW_SIGMA * size / WINDOW_SIZE
    # Centred taps; an even size puts the centre between two pixels.
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-t ** 2 / (2.0 * sigma ** 2))
    return g / g.sum()


def _filter(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filtering of (B, 1, H, W)."""
    x = F.conv2d(x, g.view(1, 1, -1, 1))
    return F.conv2d(x, g.view(1, 1, 1, -1))


def _ssim_terms(a: torch.Tensor, b: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and mean cs of (B, 1, H, W) pairs at one scale -> two (B,) tensors."""
    g = _gaussian_window(min(a.shape[-2:]))
    c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
    mu_a, mu_b = _filter(a, g), _filter(b, g)
    var_a = _filter(a * a, g) - mu_a ** 2
    var_b = _filter(b * b, g) - mu_b ** 2
    cov = _filter(a * b, g) - mu_a * mu_b
    cs_map = (2.0 * cov + c2) / (var_a + var_b + c2)
    l_map = (2.0 * mu_a * mu_b + c1) / (mu_a ** 2 + mu_b ** 2 + c1)
    return (l_map * cs_map).mean(dim=(1, 2, 3)), cs_map.mean(dim=(1, 2, 3))


def ssim(a, b) -> np.ndarray:
    """Single-scale SSIM of image pairs.

    Args:
        a, b: (N, C, H, W) in [-1, 1], same shape, min(H, W) >= 4.

    Returns:
        (N,) float64, the mean SSIM map averaged over channels; 1 for identical
        images, in [-1, 1]. Window min(11, H, W) (sigma scaled as documented).
    """
    a, b = _check_pair(a, b)
    n, c, h, w = a.shape
    value, _ = _ssim_terms(a.reshape(n * c, 1, h, w), b.reshape(n * c, 1, h, w))
    return value.reshape(n, c).mean(dim=1).numpy()


def ms_ssim(a, b) -> np.ndarray:
    """Multi-scale SSIM of image pairs.

    Args:
        a, b: (N, C, H, W) in [-1, 1], same shape, min(H, W) >= 4.

    Returns:
        (N,) float64 in [0, 1]; 1 for identical images. Uses num_scales(H, W)
        scales with renormalised weights (see the module docstring).
    """
    a, b = _check_pair(a, b)
    n, c, h, w = a.shape
    x, y = a.reshape(n * c, 1, h, w), b.reshape(n * c, 1, h, w)
    m = num_scales(h, w)
    weights = torch.tensor(MS_SSIM_WEIGHTS[:m], dtype=torch.float64)
    if m < len(MS_SSIM_WEIGHTS):
        # The paper's five weights are used as published (they sum to 1.0001);
        # a truncated set is renormalised to sum to 1.
        weights = weights / weights.sum()
    terms: List[torch.Tensor] = []
    for j in range(m):
        if j > 0:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        full, cs = _ssim_terms(x, y)
        terms.append(full if j == m - 1 else cs)
    stacked = torch.clamp(torch.stack(terms, dim=1), min=0.0)  # (N*C, m)
    per_channel = torch.prod(stacked ** weights, dim=1)
    return per_channel.reshape(n, c).mean(dim=1).numpy()


def ms_ssim_diversity(samples, n_pairs: int = 1000, seed: int = 0, batch_size: int = 256) -> float:
    """Mean MS-SSIM over random pairs of distinct samples (lower = more diverse).

    Args:
        samples: (N, C, H, W) in [-1, 1], N >= 2.
        n_pairs: number of pairs (i, j), i != j, drawn uniformly with replacement.
        seed: seed of the pair draws (numpy Generator).
        batch_size: pairs per MS-SSIM call (memory only).

    Returns:
        Mean MS-SSIM of the pairs, a float in [0, 1]. Compare with the same
        statistic on real data of the same resolution.
    """
    x = _as_images(samples, "samples")
    if len(x) < 2:
        raise ValueError(f"samples needs at least 2 images to form pairs, got {len(x)}")
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, (int, np.integer)) or n_pairs < 1:
        raise ValueError(f"n_pairs must be an integer >= 1, got {n_pairs!r}")
    rng = np.random.default_rng(seed)
    first = rng.integers(len(x), size=n_pairs)
    # Uniform over the other N - 1 indices: draw from [0, N - 1) and skip `first`.
    second = rng.integers(len(x) - 1, size=n_pairs)
    second += second >= first
    first, second = torch.from_numpy(first), torch.from_numpy(second)
    values = [ms_ssim(x[first[s:s + batch_size]], x[second[s:s + batch_size]])
              for s in range(0, n_pairs, batch_size)]
    return float(np.concatenate(values).mean())
