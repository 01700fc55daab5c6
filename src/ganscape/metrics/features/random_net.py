"""A fixed, randomly initialised conv net as a feature extractor ("random-conv").

For tests and quick *relative* comparisons only (e.g. "did FID go down as
training went on?" on a data set with no trained extractor). Its numbers are
not comparable with published FID/KID values, nor with those of any other
extractor, nor across different `seed` / `feature_dim` settings.

Network (bias-free, so it is built only from the seeded weights)::

    x (N, 3, H, W) -> [conv3x3 stride 2 pad 1 -> LeakyReLU(0.2)] x 4,
                      widths 32, 64, 128, 128 (each halves H and W, rounding up)
    descriptor = concat( global mean of each of the 4 layers' maps  (352),
                         2x2 average pool of the last layer's map   (512) )
    features   = descriptor @ P,  P (864, feature_dim) a random projection

Pooling every layer gives texture statistics at several scales; the 2x2 pool
of the last layer keeps coarse spatial layout (where the content is), which
global pooling alone would discard. The projection sets the output dimension
and approximately preserves distances (Johnson-Lindenstrauss).

Weights: drawn from ``torch.Generator().manual_seed(seed)`` in float64 on the
CPU and rounded to float32, conv weights with He (Kaiming) scaling for
LeakyReLU(0.2) and P with variance 1/864. torch's CPU generator is the same
algorithm on every platform, so the weights are identical everywhere; the
features may still differ in the last float32 bits between machines, thread
counts and devices (summation order in convolutions).

Any image size works (H, W >= 1). Channels: C == 3 is used as is; C == 1
(grey) is repeated to 3 channels, so a grey image and its grey RGB copy have
the same features. Other channel counts are rejected.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import EXTRACTORS, ConfigError
from .base import FeatureExtractor

WIDTHS = (32, 64, 128, 128)
NEGATIVE_SLOPE = 0.2
IN_CHANNELS = 3
DESCRIPTOR_DIM = sum(WIDTHS) + WIDTHS[-1] * 4


def _randn(gen: torch.Generator, *shape: int) -> torch.Tensor:
    # float64 draws then rounding: the float32 CPU sampler has a vectorized
    # (AVX2) path whose last bits can differ from the scalar one.
    return torch.randn(*shape, generator=gen, dtype=torch.float64).float()


class RandomConvExtractor(FeatureExtractor):
    """Seeded random conv net: images (N, C in {1, 3}, H, W) in [-1, 1] ->
    {"features": (N, feature_dim)}. No logits."""

    name = "random-conv"
    num_classes = 0

    def __init__(self, seed: int = 0, feature_dim: int = 256):
        super().__init__()
        if feature_dim < 1:
            raise ValueError(f"feature_dim must be >= 1, got {feature_dim}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.seed = int(seed)
        self.feature_dim = int(feature_dim)
        gen = torch.Generator().manual_seed(self.seed)
        gain = math.sqrt(2.0 / (1.0 + NEGATIVE_SLOPE ** 2))
        weights = []
        c_in = IN_CHANNELS
        for c_out in WIDTHS:
            fan_in = c_in * 9
            weights.append(_randn(gen, c_out, c_in, 3, 3) * (gain / math.sqrt(fan_in)))
            c_in = c_out
        # Parameters (frozen), not buffers, so .to(device) moves them and
        # ganscape's extract() finds the device from extractor.parameters().
        self.convs = nn.ParameterList(nn.Parameter(w, requires_grad=False) for w in weights)
        self.projection = nn.Parameter(
            _randn(gen, DESCRIPTOR_DIM, self.feature_dim) / math.sqrt(DESCRIPTOR_DIM),
            requires_grad=False)

    def identity(self) -> str:
        return (f"random-conv(v1,seed={self.seed},feature_dim={self.feature_dim},"
                f"widths={'-'.join(map(str, WIDTHS))},grey=repeat3)")

    def forward(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        """images (N, C, H, W) in [-1, 1], C in {1, 3}, any H, W ->
        {"features": float32 (N, feature_dim)}."""
        if images.ndim != 4:
            raise ValueError(f"random-conv expects images (N, C, H, W), got shape {tuple(images.shape)}")
        c = images.shape[1]
        if c == 1:
            images = images.expand(-1, IN_CHANNELS, -1, -1)
        elif c != IN_CHANNELS:
            raise ValueError(f"random-conv accepts 1 (grey) or 3 (RGB) channels, got {c}")
        h = images.to(self.projection.dtype)
        pooled = []
        for w in self.convs:
            h = F.leaky_relu(F.conv2d(h, w, stride=2, padding=1), NEGATIVE_SLOPE)
            pooled.append(h.mean(dim=(2, 3)))
        pooled.append(F.adaptive_avg_pool2d(h, 2).flatten(1))
        return {"features": torch.cat(pooled, dim=1) @ self.projection}


@dataclass(frozen=True)
class RandomConvParams:
    seed: int = 0          # seeds every weight; different seeds give different feature spaces
    feature_dim: int = 256

    def validate(self, where: str) -> None:
        if self.feature_dim < 1:
            raise ConfigError(f"{where}.feature_dim: must be a positive integer, got {self.feature_dim}")
        if self.seed < 0:
            raise ConfigError(f"{where}.seed: must be >= 0, got {self.seed}")


@EXTRACTORS.register("random-conv", params=RandomConvParams)
def random_conv(params: RandomConvParams) -> RandomConvExtractor:
    """Fixed-seed random conv net (any size, 1 or 3 channels); tests and relative comparisons only."""
    return RandomConvExtractor(seed=params.seed, feature_dim=params.feature_dim)
