"""ResNet19, the landscape study's 128x128 ResNet (Kurach et al. 2019,
compare_gan's ``resnet5``, after the 64x64 ResNet of Gulrajani et al. 2017).

Generator (w = ``width``, 64 as compare_gan's ``ch``), for a 128x128 image:

    z -> linear 4*4*8w -> reshape (8w, 4, 4)
    5 up blocks, channels 8w -> 8w -> 4w -> 4w -> 2w -> w (4x4 -> 128x128):
        residual  norm-ReLU-up-conv3x3-norm-ReLU-conv3x3
        shortcut  up-conv1x1                      (up = nearest 2x)
    norm-ReLU-conv3x3 -> C, tanh

Discriminator (w = ``width``, 64 as compare_gan's ``ch``), for a 128x128 image:

    optimized block C -> w:  residual  conv3x3-norm-ReLU-conv3x3-avgpool2
                             shortcut  avgpool2-conv1x1
    5 down blocks, channels w -> 2w -> 4w -> 4w -> 8w -> 8w (64x64 -> 2x2):
                             residual  norm-ReLU-conv3x3-norm-ReLU-conv3x3-avgpool2
                             shortcut  conv1x1-avgpool2
    ReLU, global mean pooling over the 2x2 map -> (8w,) -> linear head

All six discriminator blocks halve the side, as compare_gan's ``resnet5``
does (every block there has ``scale="down"``), so the last feature map is
2x2. The blocks are resnet.py's UpBlock, OptimizedBlock and DownBlock.

Size rule (square power-of-two sides 32, 64, 128): the generator's seed is
always 4x4 and the discriminator always pools down to 2x2; a smaller image
drops the blocks at the low-resolution end, so every block that is kept has
the channels it has at 128 for the same side relative to the image. The
generator keeps its last log2(side / 4) up blocks (3 for 32, 4 for 64, 5 for
128; the seed has the first kept block's input channels, 4w at 32), the
discriminator its optimized block and first log2(side / 4) down blocks
(3 for 32, 4 for 64, 5 for 128; the head sees 4w features at 32). 128x128 is
exactly the paper's network.

Width: one ``width`` parameter scales every block's channels as above; 64,
compare_gan's ``ch`` (the study's network), for both networks by default.
``pooling`` picks the discriminator's global pooling: ``mean`` (default,
compare_gan's ``reduce_mean``) or ``sum`` (4x the mean at 2x2).

Normalization, as in resnet.py: the generator's ``spec.norm`` (none or batch)
precedes every ReLU of a residual branch and the output conv. In the
discriminator ``spec.norm.weight`` wraps every conv, shortcut 1x1 convs
included, and the head; ``spec.norm.feature`` precedes every ReLU inside a
residual branch, as compare_gan places batch and layer norm in its blocks;
the raw image is not normalized, the final ReLU before pooling has no norm,
and shortcuts carry no activation normalization.

Deviations from compare_gan's ``resnet5``; the first three are resnet.py's too:
compare_gan upsamples by inserting zeros (nearest neighbour here); it uses
3x3 conv shortcuts in every block (1x1 here); its first discriminator block
is a plain pre-activation block, whose ReLU on the raw image is the identity
for compare_gan's [0, 1] images without a discriminator norm, while here
images are in [-1, 1] and the first block is the optimized block, which puts
no activation on the raw image; images come out of a tanh in [-1, 1]
(compare_gan: a sigmoid in [0, 1]). Below 128 compare_gan keeps all five
generator blocks (the last ones without upsampling) and all six
down-sampling discriminator blocks; here blocks are dropped as above.
Weights start N(0, 0.02), compare_gan's default initializer
(``dcgan_init``; layers under spectral or weight normalization keep
PyTorch's default init).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ..registry import ARCHITECTURES, ConfigError
from .layers import Discriminator, Generator, NetSpec, output_layer, dcgan_init
from .resnet import DownBlock, GlobalPool, OptimizedBlock, UpBlock

G_MULT = (8, 8, 4, 4, 2, 1)  # generator channels / width: seed, then each up block's output (compare_gan)
D_MULT = (1, 2, 4, 4, 8, 8)  # discriminator channels / width: each block's output (compare_gan)
SEED = 4                     # generator seed side
SIDES = (32, 64, 128)


@dataclass(frozen=True)
class ResNet19Params:
    width: int = 64                              # base channels w (compare_gan's ch)
    pooling: Literal["sum", "mean"] = "mean"     # D's global pooling; compare_gan means

    def validate(self, where: str) -> None:
        if self.width < 1:
            raise ConfigError(f"{where}.width: must be >= 1, got {self.width}")


def _blocks(spec: NetSpec) -> int:
    """Up blocks of G, and down blocks of D after its optimized block: log2(side / 4)."""
    if not spec.is_image:
        raise ConfigError(f"resnet19 needs image data (C, H, W), got shape {tuple(spec.shape)}; "
                          "use mlp for points")
    _, h, w = spec.shape
    if h != w or h not in SIDES:
        raise ConfigError(f"resnet19 needs square images with side 32, 64 or 128, got {h}x{w}")
    return (h // SEED).bit_length() - 1


class ResNet19Generator(Generator):
    """z (N, z_dim) -> images (N, C, side, side) in [-1, 1]."""

    def __init__(self, p: ResNet19Params, spec: NetSpec):
        super().__init__(spec.z_dim, spec.shape)
        n_up = _blocks(spec)
        ch = [m * p.width for m in G_MULT[len(G_MULT) - 1 - n_up:]]  # seed, then n_up outputs
        self.seed_channels = ch[0]
        self.fc = nn.Linear(spec.z_dim, SEED * SEED * ch[0])
        self.blocks = nn.Sequential(*[UpBlock(cin, cout, spec) for cin, cout in zip(ch, ch[1:])])
        self.out = nn.Sequential(spec.norm.feature(ch[-1], spatial=True), nn.ReLU(),
                                 nn.Conv2d(ch[-1], spec.shape[0], 3, 1, 1), output_layer(spec))
        dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(-1, self.seed_channels, SEED, SEED)
        return self.out(self.blocks(h))


def resnet19_trunk(p: ResNet19Params, spec: NetSpec) -> tuple:
    """The discriminator's blocks and pooling, and its feature width:
    x (N, C_in, side, side) -> h (N, d).

    C_in = spec.in_shape[0] (channels times the PacGAN pack). The last module
    is the GlobalPool; everything before it maps to (N, d, 2, 2).
    """
    n_down = _blocks(spec)  # down blocks after the optimized block: log2(side / 4)
    ch = [m * p.width for m in D_MULT[:n_down + 1]]
    blocks = [OptimizedBlock(spec.in_shape[0], ch[0], spec)]
    blocks += [DownBlock(cin, cout, True, spec) for cin, cout in zip(ch, ch[1:])]
    return nn.Sequential(*blocks, GlobalPool(p.pooling)), ch[-1]


@ARCHITECTURES.register("resnet19", params=ResNet19Params, kinds=("image",))
def resnet19(params: ResNet19Params, spec: NetSpec) -> nn.Module:
    """ResNet19 (compare_gan resnet5): 5 up blocks G, 6 down blocks D at 128 px; sides 32..128."""
    if spec.role == "generator":
        return ResNet19Generator(params, spec)
    if spec.role != "discriminator":
        raise ValueError(f"spec.role: {spec.role!r} is not allowed; choose 'generator' or 'discriminator'")
    trunk, dim = resnet19_trunk(params, spec)
    d = Discriminator(trunk, dim, spec)
    dcgan_init(d)
    return d
