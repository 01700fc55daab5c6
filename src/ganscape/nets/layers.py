"""Layers and base classes shared by every architecture."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import torch
from torch import nn

from .. import ranks
from .norms import Norm


@dataclass(frozen=True)
class NetSpec:
    """What an architecture builder needs to know besides its own params.

    shape: one data example, (C, H, W) for images, (D,) for points or (L,)
    for tokens; for a packed discriminator (PacGAN) this is the shape of ONE
    unpacked example.
    kind: "image", "points" or "tokens"; "" infers image or points from the shape.
    vocab_size: the number of token ids (tokens only).
    levels: the data's discrete levels per pixel (17 for the 8x8 digits), for
    the likelihood models that quantize their samples to them; 0 if none.
    output: what a generator's last layer gives: "tanh" (images and points
    in [-1, 1], or unbounded points, as each architecture defines) or
    "logits" (no output activation: the per-pixel logits of a discrete
    image generator, whose shape then holds C x levels channels).
    """
    role: str                       # "generator" | "discriminator"
    shape: Tuple[int, ...]
    z_dim: int
    norm: Norm
    minibatch_features: int = 0
    minibatch_kernel_dim: int = 5
    pack: int = 1
    kind: str = ""
    vocab_size: int = 0
    output: str = "tanh"
    levels: int = 0                 # discrete levels per pixel (likelihood models: realnvp, pixelcnn); 0: continuous

    @property
    def is_image(self) -> bool:
        return self.kind == "image" or (not self.kind and len(self.shape) == 3)

    @property
    def data_kind(self) -> str:
        return self.kind or ("image" if len(self.shape) == 3 else "points")

    @property
    def in_shape(self) -> Tuple[int, ...]:
        """The discriminator's input shape after packing `pack` examples."""
        if self.is_image:
            return (self.shape[0] * self.pack,) + tuple(self.shape[1:])
        return (self.shape[0] * self.pack,)


class GaussianNoise(nn.Module):
    """x + N(0, std^2) in training mode, the identity in eval mode: the noise
    layers of the improved-GAN discriminators (Salimans et al. 2016, authors'
    code: std 0.3 on the input and 0.5 before every later dense layer of the
    MNIST discriminator), a regularizer that matters with few labels."""

    def __init__(self, std: float):
        super().__init__()
        self.std = float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.std == 0.0:
            return x
        return x + self.std * ranks.per_example(lambda m: torch.randn((m, *x.shape[1:]), dtype=x.dtype,
                                                                      device=x.device), len(x))

    def extra_repr(self) -> str:
        return f"std={self.std}"


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination (Salimans et al. 2016, section 3.2).

    f (N, A) -> concat(f, o) (N, A + B) with M = f T reshaped to (N, B, C) and
    o_b(x_i) = sum_{j != i} exp(-||M_i,b - M_j,b||_1). The paper's formula sums
    over all j, but the authors' code (openai/improved-gan,
    mnist_svhn_cifar10/nn.py MinibatchLayer: + 1e6 on the diagonal of the
    distances; imagenet/discriminator.py: a mask of 1 - eye) leaves out j = i,
    whose term is the constant exp(0) = 1; it is subtracted here.
    """

    def __init__(self, in_features: int, num_kernels: int, kernel_dim: int):
        super().__init__()
        self.B, self.C = num_kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, num_kernels * kernel_dim) * 0.1)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        m = (f @ self.T).view(-1, self.B, self.C)                  # (N, B, C)
        l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(-1)        # (N, N, B)
        o = torch.exp(-l1).sum(1) - 1.0                            # (N, B); j = i left out
        return torch.cat([f, o], dim=1)


class Discriminator(nn.Module):
    """trunk (x -> flat features h) + optional minibatch discrimination + linear head.

    forward(x (N, *shape)) -> logits (N / pack,). `features(x)` gives the
    trunk's h (N / pack, F), the layer feature matching uses. Packing
    (PacGAN, Lin et al. 2018) concatenates `pack` consecutive examples along
    channels (images) or features (points) before the trunk. By default the
    training loop feeds pack * batch_size examples, so that D scores
    batch_size packed inputs as in the PacGAN code (model.discriminator.pack_mode,
    Config.real_batch_size).
    """

    def __init__(self, trunk: nn.Module, feature_dim: int, spec: NetSpec):
        super().__init__()
        self.trunk = trunk
        self.pack = spec.pack
        self.mbd = (MinibatchDiscrimination(feature_dim, spec.minibatch_features, spec.minibatch_kernel_dim)
                    if spec.minibatch_features else None)
        self.head = spec.norm.weight(nn.Linear(feature_dim + spec.minibatch_features, 1))

    def _packed(self, x: torch.Tensor) -> torch.Tensor:
        if self.pack == 1:
            return x
        n = x.shape[0]
        if n % self.pack:
            raise ValueError(f"batch of {n} is not divisible by pack={self.pack}")
        return x.reshape(n // self.pack, self.pack * x.shape[1], *x.shape[2:])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(self._packed(x)).flatten(1)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        h = self.features(x)
        logits = self.head(self.mbd(h) if self.mbd is not None else h).squeeze(1)
        return (logits, h) if return_features else logits


def output_layer(spec: "NetSpec") -> nn.Module:
    """A generator's last activation: tanh into [-1, 1], or none for
    `output: logits` (a discrete image generator's per-pixel logits)."""
    if spec.output not in ("tanh", "logits"):
        raise ValueError(f"NetSpec.output must be 'tanh' or 'logits', got {spec.output!r}")
    return nn.Tanh() if spec.output == "tanh" else nn.Identity()


class Generator(nn.Module):
    """Base of generators: forward(z (N, z_dim)) -> x (N, *shape); images in [-1, 1] via tanh."""

    def __init__(self, z_dim: int, shape: Tuple[int, ...]):
        super().__init__()
        self.z_dim = z_dim
        self.shape = tuple(shape)

    def sample_z(self, n: int, generator: Optional[torch.Generator] = None,
                 device: Optional[torch.device] = None) -> torch.Tensor:
        """Standard normal latents (N, z_dim)."""
        device = device or next(self.parameters()).device
        if generator is not None and generator.device != torch.device(device):
            return torch.randn(n, self.z_dim, generator=generator).to(device)
        # in a distributed step: this rank's rows of the global batch's latents (ganscape/ranks.py)
        return ranks.per_example(lambda m: torch.randn(m, self.z_dim, generator=generator, device=device), n)


def dcgan_init(module: nn.Module) -> None:
    """N(0, 0.02) weights for (transposed) convolutions and linear layers,
    N(1, 0.02) for batch-norm scales, as in Radford et al. 2016."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if hasattr(m, "parametrizations"):
                continue  # SN/WN layers keep the default init their reparameterization assumes
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.affine:  # conditional BN has no own affine
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def is_power_of_two(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0 and math.log2(n).is_integer()


def draw_categorical(logits: torch.Tensor, generator: Optional[torch.Generator] = None,
                     u: Optional[torch.Tensor] = None) -> torch.Tensor:
    """One id per row of unnormalized `logits` (n, V): (n, 1) int64.

    Inverts the cumulative softmax at a uniform `u` (n,) when given (a model
    whose randomness comes from its latent, e.g. PixelCNN's), else drawn from
    `generator` (a CPU generator, so the same draws on any device). It is the exact categorical
    draw and about 10x faster on CPU than torch.multinomial over thousands of
    ids, which dominated SeqGAN's rollouts. In float32 an id's slice
    c[i] - c[i-1] is off by at most half an ulp of c[i] (~6e-8 of the total).
    right=True picks the first id whose cumulative mass exceeds u, never an id
    of probability zero."""
    c = (logits.detach() - logits.detach().amax(-1, keepdim=True)).exp_().cumsum(-1)
    u = torch.rand(len(c), 1, generator=generator).to(c.device) if u is None else u.reshape(-1, 1).to(c)
    return torch.searchsorted(c, u * c[:, -1:], right=True).clamp_max(c.shape[-1] - 1)
