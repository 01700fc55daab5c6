"""Likelihoods of discrete-level images, in one convention for every family.

The image data sets are discrete: the 8x8 digits take 17 levels (0..16,
stored as x = 2 v / 16 - 1 in [-1, 1]), binarized digits 2, 8-bit images
256. A model of discrete values (PixelCNN's softmax or discretized logistic,
a Bernoulli or discretized-logistic VAE decoder) gives log P(v) directly. A
model of continuous values (a flow, a Gaussian decoder, a GAN generator under
a Gaussian observation model) is trained and scored on *dequantized* data

    y = x + (u - 1/2) delta,  u ~ U(0, 1)^D,  delta = 2 / (K - 1),

so each level owns the bin [x - delta/2, x + delta/2) of volume delta^D and

    log P(v) >= E_u[log p(y)] + D log delta            (Jensen)

(Theis et al. 2016; the convention behind RealNVP's and Glow's bits/dim). A
single draw of u gives an unbiased estimate of the right-hand side; its mean
over the test set is reported as the bound it is. Either way the figure is

    bits/dim = -log P(v) / (D ln 2),

the same unit for every family, and comparable across them.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

import torch
from torch import Tensor

from .. import ranks
from ..registry import ConfigError


def levels_of(info: Dict[str, Any], where: str = "data") -> int:
    """The number of discrete levels per pixel of a data set (its info's
    "levels"): 17 for the native 8x8 digits, 2 for binarized digits, ..."""
    k = info.get("levels")
    if not k:
        raise ConfigError(f"{where}: likelihoods in bits/dim need images on a grid of discrete levels "
                          f"(the 8x8 digits: 17, binary-digits: 2); this data set declares none "
                          f"(resized digits and point data are continuous)")
    return int(k)


def bin_width(levels: int) -> float:
    """delta: the width in [-1, 1] units of one level's bin."""
    if levels < 2:
        raise ValueError(f"levels must be >= 2, got {levels}")
    return 2.0 / (levels - 1)


def to_levels(x: Tensor, levels: int) -> Tensor:
    """[-1, 1] grid values -> integer levels 0..K-1 (nearest, clamped)."""
    return ((x + 1.0) * (levels - 1) / 2.0).round().clamp(0, levels - 1).long()


def from_levels(v: Tensor, levels: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Integer levels 0..K-1 -> grid values 2 v / (K - 1) - 1."""
    return v.to(dtype) * (2.0 / (levels - 1)) - 1.0


def quantize(x: Tensor, levels: int) -> Tensor:
    """Continuous values (a flow's or decoder's samples) -> the nearest grid value."""
    return from_levels(to_levels(x, levels), levels)


def dequantize(x: Tensor, levels: int, generator: Optional[torch.Generator] = None) -> Tensor:
    """Uniform dequantization: x + (u - 1/2) delta, u ~ U(0, 1) per pixel."""
    u = ranks.per_example(lambda m: torch.rand((m, *x.shape[1:]), generator=generator, dtype=x.dtype), len(x))
    return x + (u.to(x.device) - 0.5) * bin_width(levels)


def discrete_log_prob_bound(log_density: Tensor, dim: int, levels: int) -> Tensor:
    """log p(y) of dequantized data (N,) -> the per-example bound on log P(v):
    log p(y) + D log delta."""
    return log_density + dim * math.log(bin_width(levels))


def bits_per_dim(log_prob: Tensor, dim: int) -> float:
    """Mean over examples of -log P / (D ln 2); log_prob (N,) in nats."""
    return float(-log_prob.double().mean() / (dim * math.log(2.0)))


def nats_to_bits_per_dim(nll_nats: float, dim: int) -> float:
    return nll_nats / (dim * math.log(2.0))
