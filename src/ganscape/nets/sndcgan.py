"""SNDCGAN: the "standard CNN" of Miyato et al. 2018 (Table 3), as used by the
GAN landscape study (Kurach et al. 2019, compare_gan's ``sndcgan``).

With c = ``width`` (64 in the paper) and an H x W image (both multiples of 8):

Discriminator (LeakyReLU 0.1 after every conv):

    conv 3x3 s1 -> c        conv 4x4 s2 -> 2c      (H/2)
    conv 3x3 s1 -> 2c       conv 4x4 s2 -> 4c      (H/4)
    conv 3x3 s1 -> 4c       conv 4x4 s2 -> 8c      (H/8)
    conv 3x3 s1 -> 8c       flatten (8c * H/8 * W/8) -> linear head

Generator:

    z -> linear 8c * H/8 * W/8 -> norm -> ReLU -> reshape (8c, H/8, W/8)
    deconv 4x4 s2 -> 4c, 2c, c (each followed by norm and ReLU)
    conv 3x3 s1 -> C, tanh

Channels follow the authors' code (Miyato's chainer DCGAN discriminator and
compare_gan): each stride-2 conv doubles the channels, so the discriminator
widths are c, 2c, 2c, 4c, 4c, 8c, 8c. The paper's Table 3 prints c, c, 2c, 2c,
4c, 4c, 8c instead; the landscape study's numbers come from the code, so the
code is followed here.

Size rule: the design has exactly three stride-2 stages, so any H, W that are
multiples of 8 work unchanged (8 -> 1x1 seed, 16 -> 2x2, 32 -> 4x4 as in the
paper, 48 -> 6x6 as for STL-10, 128 -> 16x16 as for CelebA-HQ); no stage is
added or removed. Non-square images are allowed.

Normalization: the generator's ``spec.norm`` (none or batch) follows the
linear layer and every deconv, as in the paper; after the linear layer it
normalizes each of the 8c * H/8 * W/8 features separately (BatchNorm1d before
the reshape), as both reference implementations do. The discriminator's
``spec.norm.weight`` wraps every conv (and, in the shared base, the head),
which is all compare_gan's SNDCGAN discriminator offers: its only
normalization there is spectral norm (``use_sn``); it never calls batch or
layer norm, so the landscape study's SNDCGAN results with a normalized D are
spectral-norm results. Batch and layer norm in this discriminator are a
ganscape extension: ``spec.norm.feature`` follows every conv but the first,
the DCGAN convention (Radford et al. 2016), not something either reference
implementation does.

Deviations from compare_gan: the last generator layer is a 3x3 stride-1 conv
where compare_gan uses a 3x3 stride-1 transposed conv (the same function class
and parameter count); images are in [-1, 1] directly (compare_gan rescales to
[0, 1] and back). Weights start N(0, 0.02) as in both reference
implementations (``dcgan_init``; layers under spectral or weight normalization
keep PyTorch's default init).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch
from torch import nn

from ..registry import ARCHITECTURES, ConfigError
from .layers import Discriminator, Generator, NetSpec, output_layer, dcgan_init

LEAK = 0.1          # LeakyReLU slope of the discriminator (Miyato et al. 2018)
STAGES = 3          # stride-2 stages: the seed is H/8 x W/8


@dataclass(frozen=True)
class SNDCGANParams:
    width: int = 64   # c: channels of the highest-resolution layer; 8c at the lowest

    def validate(self, where: str) -> None:
        if self.width < 1:
            raise ConfigError(f"{where}.width: must be >= 1, got {self.width}")


def _seed_size(spec: NetSpec) -> Tuple[int, int]:
    """(H/8, W/8), the spatial size of the generator's seed and of the
    discriminator's last feature map; raises ConfigError for other shapes."""
    if not spec.is_image:
        raise ConfigError(f"sndcgan needs image data (C, H, W), got shape {tuple(spec.shape)}; "
                          "use mlp for points")
    _, h, w = spec.shape
    if h < 8 or w < 8 or h % 8 or w % 8:
        raise ConfigError(f"sndcgan needs image sides that are multiples of 8 (8, 16, 32, 48, 64, "
                          f"..., 128, ...), got {h}x{w}")
    return h // 8, w // 8


class SNDCGANGenerator(Generator):
    """z (N, z_dim) -> images (N, C, H, W) in [-1, 1]."""

    def __init__(self, p: SNDCGANParams, spec: NetSpec):
        super().__init__(spec.z_dim, spec.shape)
        self.seed = _seed_size(spec)
        c = p.width
        self.seed_channels = 8 * c
        seed_features = self.seed_channels * self.seed[0] * self.seed[1]
        self.fc = nn.Linear(spec.z_dim, seed_features)
        self.fc_act = nn.Sequential(spec.norm.feature(seed_features, spatial=False), nn.ReLU())
        layers = []
        for cin, cout in ((8 * c, 4 * c), (4 * c, 2 * c), (2 * c, c)):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1),  # exactly doubles H and W
                       spec.norm.feature(cout, spatial=True), nn.ReLU()]
        layers += [nn.Conv2d(c, spec.shape[0], 3, 1, 1), output_layer(spec)]
        self.blocks = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc_act(self.fc(z)).view(-1, self.seed_channels, *self.seed)
        return self.blocks(h)


def sndcgan_trunk(p: SNDCGANParams, spec: NetSpec) -> Tuple[nn.Sequential, int]:
    """The discriminator's seven convs: x (N, C_in, H, W) -> h (N, 8c * H/8 * W/8).

    C_in = spec.in_shape[0] (channels times the PacGAN pack). Returns the trunk
    and its feature dimension.
    """
    seed = _seed_size(spec)
    c = p.width
    # (out channels, kernel, stride): 3x3 s1 convs refine, 4x4 s2 convs halve the side.
    plan = [(c, 3, 1), (2 * c, 4, 2), (2 * c, 3, 1), (4 * c, 4, 2),
            (4 * c, 3, 1), (8 * c, 4, 2), (8 * c, 3, 1)]
    layers, cin = [], spec.in_shape[0]
    for i, (cout, k, s) in enumerate(plan):
        layers.append(spec.norm.weight(nn.Conv2d(cin, cout, k, s, 1)))
        if i > 0:  # no activation normalization after the input layer
            layers.append(spec.norm.feature(cout, spatial=True))
        layers.append(nn.LeakyReLU(LEAK))
        cin = cout
    layers.append(nn.Flatten())
    return nn.Sequential(*layers), cin * seed[0] * seed[1]


@ARCHITECTURES.register("sndcgan", params=SNDCGANParams, kinds=("image",))
def sndcgan(params: SNDCGANParams, spec: NetSpec) -> nn.Module:
    """SNDCGAN (Miyato et al. 2018): 7-conv LeakyReLU(0.1) D, 3-deconv G; sides multiple of 8."""
    if spec.role == "generator":
        return SNDCGANGenerator(params, spec)
    if spec.role != "discriminator":
        raise ValueError(f"spec.role: {spec.role!r} is not allowed; choose 'generator' or 'discriminator'")
    trunk, dim = sndcgan_trunk(params, spec)
    d = Discriminator(trunk, dim, spec)
    dcgan_init(d)
    return d
