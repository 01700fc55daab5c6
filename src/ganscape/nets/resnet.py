"""The CIFAR ResNet of Miyato et al. 2018 (Table 4), the landscape study's
"ResNet CIFAR" (Kurach et al. 2019, compare_gan's ``resnet_cifar``).

Generator (g = generator width, 256 in the paper), for a 32x32 image:

    z -> linear 4*4*g -> reshape (g, 4, 4)
    3 x up block g -> g:  residual  norm-ReLU-up-conv3x3-norm-ReLU-conv3x3
                          shortcut  up-conv1x1            (up = nearest 2x)
    norm-ReLU-conv3x3 -> C, tanh

Discriminator (d = discriminator width, 128 in the paper):

    optimized block C -> d:  residual  conv3x3-norm-ReLU-conv3x3-avgpool2
                             shortcut  avgpool2-conv1x1
    down block d -> d:       residual  norm-ReLU-conv3x3-norm-ReLU-conv3x3-avgpool2
                             shortcut  conv1x1-avgpool2
    2 x block d -> d:        residual  norm-ReLU-conv3x3-norm-ReLU-conv3x3
                             shortcut  identity
    ReLU, global sum pooling over the 8x8 map -> (d,) -> linear head

Size rule (square power-of-two sides 16..128): the generator's seed is 4x4
and it has log2(side / 4) up blocks (2 for 16, 3 for 32, 4 for 64); the
discriminator always pools down to 8x8 with the optimized block plus
log2(side / 16) down blocks (0 for 16, 1 for 32, 2 for 64), then has the two
blocks without resampling. 32x32 is exactly the paper's network.

Width: one ``width`` parameter sets every block's channels; left unset it is
the paper's 256 for the generator and 128 for the discriminator (the config
gives each network its own parameters).

Normalization: the generator's ``spec.norm`` (none or batch) sits where the
paper has batch norm. In the discriminator, ``spec.norm.weight`` wraps every
conv, shortcut 1x1 convs included, and ``spec.norm.feature`` precedes every
ReLU inside a residual branch, as compare_gan places batch and layer norm in
its discriminator blocks; the raw image is not normalized, the final ReLU
before pooling has no norm, and shortcuts carry no activation normalization.

Deviations, all where compare_gan departs from the paper and the authors'
chainer code, which are followed here: compare_gan upsamples by inserting
zeros (nearest neighbour here), uses 3x3 conv shortcuts in every block
(1x1, and identity where the shape is unchanged, here), uses a plain
pre-activation block first (the optimized block here), and averages rather
than sums the final features (``pooling: mean`` gives compare_gan's choice).
Weights start N(0, 0.02), compare_gan's default initializer (``dcgan_init``;
layers under spectral or weight normalization keep PyTorch's default init).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import ARCHITECTURES, ConfigError
from .layers import Discriminator, Generator, NetSpec, output_layer, dcgan_init, is_power_of_two

PAPER_WIDTH = {"generator": 256, "discriminator": 128}
SEED = 4          # generator seed side
LAST_MAP = 8      # discriminator feature-map side before pooling
PLAIN_BLOCKS = 2  # discriminator blocks without resampling at the end


@dataclass(frozen=True)
class ResNetParams:
    width: Optional[int] = None                  # channels of every block; None = 256 (G) / 128 (D)
    pooling: Literal["sum", "mean"] = "sum"      # D's global pooling: paper (sum) or compare_gan (mean)

    def validate(self, where: str) -> None:
        if self.width is not None and self.width < 1:
            raise ConfigError(f"{where}.width: must be >= 1 (or unset for the paper's width), got {self.width}")


def _side(spec: NetSpec) -> int:
    if not spec.is_image:
        raise ConfigError(f"resnet needs image data (C, H, W), got shape {tuple(spec.shape)}; "
                          "use mlp for points")
    _, h, w = spec.shape
    if h != w or not is_power_of_two(h) or not 16 <= h <= 128:
        raise ConfigError(f"resnet needs square images with side 16, 32, 64 or 128, got {h}x{w}")
    return h


def _width(p: ResNetParams, role: str) -> int:
    return p.width if p.width is not None else PAPER_WIDTH[role]


class UpBlock(nn.Module):
    """Generator block: (N, cin, s, s) -> (N, cout, 2s, 2s).

    residual: norm-ReLU-up-conv3x3-norm-ReLU-conv3x3; shortcut: up-conv1x1,
    with up = nearest-neighbour 2x upsampling.
    """

    def __init__(self, cin: int, cout: int, spec: NetSpec):
        super().__init__()
        self.norm1 = spec.norm.feature(cin, spatial=True)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = spec.norm.feature(cout, spatial=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1)

    @staticmethod
    def _up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self._up(F.relu(self.norm1(x))))
        h = self.conv2(F.relu(self.norm2(h)))
        return h + self.shortcut(self._up(x))


class DownBlock(nn.Module):
    """Discriminator block: (N, cin, s, s) -> (N, cout, s/2, s/2) if down else (N, cout, s, s).

    residual: norm-ReLU-conv3x3-norm-ReLU-conv3x3[-avgpool2]; shortcut:
    conv1x1[-avgpool2] when the shape changes, else the identity.
    """

    def __init__(self, cin: int, cout: int, down: bool, spec: NetSpec):
        super().__init__()
        self.down = down
        self.norm1 = spec.norm.feature(cin, spatial=True)
        self.conv1 = spec.norm.weight(nn.Conv2d(cin, cout, 3, 1, 1))
        self.norm2 = spec.norm.feature(cout, spatial=True)
        self.conv2 = spec.norm.weight(nn.Conv2d(cout, cout, 3, 1, 1))
        learnable = down or cin != cout
        self.shortcut = spec.norm.weight(nn.Conv2d(cin, cout, 1)) if learnable else nn.Identity()

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.down else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.relu(self.norm1(x)))
        h = self._pool(self.conv2(F.relu(self.norm2(h))))
        return h + self._pool(self.shortcut(x))


class OptimizedBlock(nn.Module):
    """The discriminator's first block: (N, cin, s, s) -> (N, cout, s/2, s/2).

    residual: conv3x3-norm-ReLU-conv3x3-avgpool2; shortcut: avgpool2-conv1x1.
    No activation or normalization touches the raw input (Miyato et al. 2018).
    """

    def __init__(self, cin: int, cout: int, spec: NetSpec):
        super().__init__()
        self.conv1 = spec.norm.weight(nn.Conv2d(cin, cout, 3, 1, 1))
        self.norm = spec.norm.feature(cout, spatial=True)
        self.conv2 = spec.norm.weight(nn.Conv2d(cout, cout, 3, 1, 1))
        self.shortcut = spec.norm.weight(nn.Conv2d(cin, cout, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.avg_pool2d(self.conv2(F.relu(self.norm(self.conv1(x)))), 2)
        return h + self.shortcut(F.avg_pool2d(x, 2))


class GlobalPool(nn.Module):
    """ReLU then sum (or mean) over H and W: (N, C, H, W) -> (N, C)."""

    def __init__(self, mode: str):
        super().__init__()
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        return x.sum((2, 3)) if self.mode == "sum" else x.mean((2, 3))

    def extra_repr(self) -> str:
        return f"mode={self.mode}"


class ResNetGenerator(Generator):
    """z (N, z_dim) -> images (N, C, side, side) in [-1, 1]."""

    def __init__(self, p: ResNetParams, spec: NetSpec):
        super().__init__(spec.z_dim, spec.shape)
        side = _side(spec)
        self.width = g = _width(p, "generator")
        self.fc = nn.Linear(spec.z_dim, SEED * SEED * g)
        n_up = (side // SEED).bit_length() - 1  # log2(side / 4)
        self.blocks = nn.Sequential(*[UpBlock(g, g, spec) for _ in range(n_up)])
        self.out = nn.Sequential(spec.norm.feature(g, spatial=True), nn.ReLU(),
                                 nn.Conv2d(g, spec.shape[0], 3, 1, 1), output_layer(spec))
        dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, self.width, SEED, SEED)
        return self.out(self.blocks(h))


def resnet_trunk(p: ResNetParams, spec: NetSpec) -> nn.Sequential:
    """The discriminator's blocks and pooling: x (N, C_in, side, side) -> h (N, d).

    C_in = spec.in_shape[0] (channels times the PacGAN pack). The last module
    is the GlobalPool; everything before it maps to (N, d, 8, 8).
    """
    side = _side(spec)
    d = _width(p, "discriminator")
    n_down = (side // (2 * LAST_MAP)).bit_length() - 1  # log2(side / 16), after the optimized block
    blocks = [OptimizedBlock(spec.in_shape[0], d, spec)]
    blocks += [DownBlock(d, d, True, spec) for _ in range(n_down)]
    blocks += [DownBlock(d, d, False, spec) for _ in range(PLAIN_BLOCKS)]
    return nn.Sequential(*blocks, GlobalPool(p.pooling))


@ARCHITECTURES.register("resnet", params=ResNetParams, kinds=("image",))
def resnet(params: ResNetParams, spec: NetSpec) -> nn.Module:
    """CIFAR ResNet (Miyato et al. 2018): 3 up blocks G, 4-block D with sum pooling; sides 16..128."""
    if spec.role == "generator":
        return ResNetGenerator(params, spec)
    if spec.role != "discriminator":
        raise ValueError(f"spec.role: {spec.role!r} is not allowed; choose 'generator' or 'discriminator'")
    d = Discriminator(resnet_trunk(params, spec), _width(params, "discriminator"), spec)
    dcgan_init(d)
    return d
