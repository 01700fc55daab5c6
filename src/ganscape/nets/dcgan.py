"""DCGAN (Radford et al. 2016) for square images of any power-of-two side from 8 to 128.

Generator: z -> linear -> (ch * 2^(k-1), 4, 4) -> k transposed convs (stride
2), each halving the channels and doubling the side, norm + ReLU between, tanh
at the end (k = log2(side / 4)). Discriminator: the mirror image, strided convs
with LeakyReLU(0.2), no activation normalization on the first layer, flattened
4x4 features into a linear head.

Kernel size (`kernel`), a documented choice:
- 4 (default): 4x4, padding 1, the PyTorch DCGAN example's convention.
- 5: 5x5 as in Radford et al.'s code (Newmu/dcgan_code: dnn_conv / deconv with
  subsample (2, 2), border_mode (2, 2)) and compare_gan's dcgan: padding 2, and
  output_padding 1 on the transposed convs, which makes them exactly the
  adjoint of the stride-2 conv that halves an even side (Theano's deconv is
  that adjoint). compare_gan's TF "SAME" padding puts 1 pixel before and 2
  after instead of 2 and 2: the same shapes, the sampling grid one pixel apart.
Either way every conv exactly halves and every transposed conv exactly
doubles the side.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..registry import ARCHITECTURES, ConfigError
from .layers import Discriminator, Generator, NetSpec, output_layer, dcgan_init, is_power_of_two


@dataclass(frozen=True)
class DCGANParams:
    width: int = 64          # channels of the highest-resolution hidden layer
    max_width: int = 512     # cap on channels at low resolutions
    kernel: int = 4          # 4 (PyTorch convention) or 5 (Radford et al.'s code, compare_gan)

    def validate(self, where: str) -> None:
        if self.width < 1 or self.max_width < self.width:
            raise ConfigError(f"{where}: need 1 <= width <= max_width")
        if self.kernel not in (4, 5):
            raise ConfigError(f"{where}.kernel: {self.kernel!r} is not allowed; choose 4 or 5")


def _down(cin: int, cout: int, k: int) -> nn.Conv2d:
    """Stride-2 conv that exactly halves an even side: k 4 pad 1, or k 5 pad 2."""
    return nn.Conv2d(cin, cout, k, 2, (k - 1) // 2)


def _up(cin: int, cout: int, k: int) -> nn.ConvTranspose2d:
    """Stride-2 transposed conv that exactly doubles the side: (H - 1) 2 - 2 pad + k + out_pad = 2H."""
    return nn.ConvTranspose2d(cin, cout, k, 2, (k - 1) // 2, output_padding=k % 2)


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
            blocks += [_up(w[i], w[i + 1], p.kernel),
                       spec.norm.feature(w[i + 1], spatial=True), nn.ReLU()]
        blocks += [_up(w[-1], spec.shape[0], p.kernel), output_layer(spec)]
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
        layers.append(spec.norm.weight(_down(c, out, p.kernel)))
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
