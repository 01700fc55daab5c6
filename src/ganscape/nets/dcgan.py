"""DCGAN (Radford et al. 2016) for square images of any power-of-two side from 8 to 128.

Generator: z -> linear -> (ch * 2^(k-1), 4, 4) -> k transposed convs (4x4,
stride 2), each halving the channels and doubling the side, norm + ReLU
between, tanh at the end (k = log2(side / 4)). Discriminator: the mirror image,
strided 4x4 convs with LeakyReLU(0.2), no activation normalization on the
first layer, flattened 4x4 features into a linear head.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..registry import ARCHITECTURES, ConfigError
from .layers import Discriminator, Generator, NetSpec, dcgan_init, is_power_of_two


@dataclass(frozen=True)
class DCGANParams:
    width: int = 64          # channels of the highest-resolution hidden layer
    max_width: int = 512     # cap on channels at low resolutions

    def validate(self, where: str) -> None:
        if self.width < 1 or self.max_width < self.width:
            raise ConfigError(f"{where}: need 1 <= width <= max_width")


def _check(spec: NetSpec) -> int:
    if not spec.is_image:
        raise ConfigError("dcgan needs image data (C, H, W); use mlp for points")
    c, h, w = spec.shape
    if h != w or not is_power_of_two(h) or not 8 <= h <= 128:
        raise ConfigError(f"dcgan needs square images with a power-of-two side in 8..128, got {h}x{w}")
    return h.bit_length() - 3  # number of stride-2 stages between 4x4 and the image side


def _widths(p: DCGANParams, stages: int) -> list:
    # widths[i]: channels at resolution 4 * 2^i, highest resolution = width
    return [min(p.width * 2 ** (stages - 1 - i), p.max_width) for i in range(stages)]


class DCGANGenerator(Generator):
    def __init__(self, p: DCGANParams, spec: NetSpec):
        super().__init__(spec.z_dim, spec.shape)
        stages = _check(spec)
        w = _widths(p, stages)
        self.stem = nn.Sequential(nn.Linear(spec.z_dim, w[0] * 16))
        self.stem_norm = nn.Sequential(spec.norm.feature(w[0], spatial=True), nn.ReLU())
        blocks = []
        for i in range(stages - 1):
            blocks += [nn.ConvTranspose2d(w[i], w[i + 1], 4, 2, 1),
                       spec.norm.feature(w[i + 1], spatial=True), nn.ReLU()]
        blocks += [nn.ConvTranspose2d(w[-1], spec.shape[0], 4, 2, 1), nn.Tanh()]
        self.blocks = nn.Sequential(*blocks)
        self.w0 = w[0]
        dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.stem(z).view(-1, self.w0, 4, 4)
        return self.blocks(self.stem_norm(h))


def _trunk(p: DCGANParams, spec: NetSpec) -> tuple:
    stages = _check(spec)
    w = _widths(p, stages)[::-1]  # from the image side down to 4x4
    layers, c = [], spec.in_shape[0]
    for i, out in enumerate(w):
        layers.append(spec.norm.weight(nn.Conv2d(c, out, 4, 2, 1)))
        if i > 0:
            layers.append(spec.norm.feature(out, spatial=True))
        layers.append(nn.LeakyReLU(0.2))
        c = out
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), c * 16


@ARCHITECTURES.register("dcgan", params=DCGANParams, kinds=("image",))
def dcgan(params: DCGANParams, spec: NetSpec) -> nn.Module:
    """DCGAN: transposed-conv generator, strided-conv discriminator; images 8..128 px."""
    if spec.role == "generator":
        return DCGANGenerator(params, spec)
    trunk, dim = _trunk(params, spec)
    d = Discriminator(trunk, dim, spec)
    dcgan_init(d)
    return d
