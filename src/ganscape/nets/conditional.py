"""Class conditioning for any architecture, as wrappers around its nets.

Generator (``model.generator.cond``):

- ``concat``: a learned label embedding (``embed_dim``) concatenated with z
  (Mirza & Osindero 2014); the architecture is built for z_dim + embed_dim.
- ``cbn``: conditional batch norm (de Vries et al. 2017; Miyato & Koyama
  2018): every batch norm of the generator normalizes without its own affine
  and applies a per-class gamma = 1 + embedding and beta = embedding, both
  embeddings starting at zero so that training starts from plain batch norm.
  The "+1" is what compare_gan's conditional batch norm missed (it scaled by
  the raw embedding, initialised near zero, which starts every class with its
  features nearly switched off).

Discriminator (``model.discriminator.cond``):

- ``concat``: one-hot label maps appended to the input as K extra channels
  (images) or K extra features (points), the cGAN paper's input conditioning;
- ``projection``: logit = psi(h) + <embed(y), h> with h the trunk's features
  (Miyato & Koyama 2018, eq. 3); the embedding gets the discriminator's weight
  normalization (spectral norm in the paper);
- ``acgan``: an auxiliary classifier head on h giving K class logits (Odena et
  al. 2017); the adversarial logit is unconditional.

The wrappers leave the architecture files untouched: the generator's
conditional batch norms read the batch's labels from a LabelContext that the
wrapper fills for the duration of one forward pass (threading y through
every architecture's Sequential blocks would change all of them for this one
layer type). PacGAN packing is not combined with conditioning.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import torch
from torch import nn

from ..config import DISCRIMINATOR_CONDITIONING, GENERATOR_CONDITIONING  # noqa: F401  (the allowed values of cond)
from ..registry import ConfigError
from .layers import Generator, NetSpec
from .norms import Norm


class LabelContext:
    """The labels of the batch a conditional generator is processing."""

    def __init__(self):
        self.y: Optional[torch.Tensor] = None


class ConditionalBatchNorm(nn.Module):
    """BN(x) * (1 + gamma[y]) + beta[y], per class y; gamma and beta start at 0."""

    def __init__(self, channels: int, num_classes: int, ctx: LabelContext, spatial: bool,
                 eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        cls = nn.BatchNorm2d if spatial else nn.BatchNorm1d
        self.bn = cls(channels, eps=eps, momentum=momentum, affine=False)
        self.gamma = nn.Embedding(num_classes, channels)
        self.beta = nn.Embedding(num_classes, channels)
        nn.init.zeros_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)
        self.ctx = ctx

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ctx.y
        if y is None:
            raise RuntimeError("conditional batch norm called outside a conditional generator's forward pass")
        shape = (-1, x.shape[1]) + (1,) * (x.ndim - 2)
        return self.bn(x) * (1.0 + self.gamma(y).view(shape)) + self.beta(y).view(shape)


class _ConditionalBatchNormFactory(Norm):
    name = "cbn"

    def __init__(self, num_classes: int, ctx: LabelContext, eps: float, momentum: float):
        self.num_classes, self.ctx, self.eps, self.momentum = num_classes, ctx, eps, momentum

    def feature(self, channels: int, spatial: bool) -> nn.Module:
        return ConditionalBatchNorm(channels, self.num_classes, self.ctx, spatial, self.eps, self.momentum)


def _check_labels(y: Optional[torch.Tensor], num_classes: int, who: str, n: int) -> torch.Tensor:
    if y is None:
        raise ValueError(f"the {who} is class-conditional: pass labels y (N,) in 0..{num_classes - 1}")
    if y.shape != (n,):
        raise ValueError(f"labels y must have shape ({n},), got {tuple(y.shape)}")
    return y


class ConditionalGenerator(Generator):
    """forward(z (N, z_dim), y (N,) int64) -> x; any architecture's generator inside."""

    def __init__(self, build: Callable[[NetSpec], nn.Module], spec: NetSpec, cond: str, num_classes: int,
                 embed_dim: int):
        super().__init__(spec.z_dim, spec.shape)
        self.num_classes, self.cond = num_classes, cond
        self.ctx = LabelContext()
        inner = spec
        if cond == "concat":
            self.embed = nn.Embedding(num_classes, embed_dim)
            inner = dataclasses.replace(spec, z_dim=spec.z_dim + embed_dim)
        elif cond == "cbn":
            if spec.norm.name != "batch":
                raise ConfigError("model.generator.cond: cbn replaces the generator's batch norm; "
                                  "set model.generator.norm to batch")
            inner = dataclasses.replace(spec, norm=_ConditionalBatchNormFactory(
                num_classes, self.ctx, spec.norm.p.eps, spec.norm.p.momentum))
        self.net = build(inner)

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        y = _check_labels(y, self.num_classes, "generator", z.shape[0])
        if self.cond == "concat":
            z = torch.cat([z, self.embed(y)], dim=1)
        self.ctx.y = y
        try:
            return self.net(z)
        finally:
            self.ctx.y = None


class ConditionalDiscriminator(nn.Module):
    """forward(x, y) -> adversarial logits (N,); class_logits(h) for acgan."""

    pack = 1

    def __init__(self, build: Callable[[NetSpec], nn.Module], spec: NetSpec, cond: str, num_classes: int):
        super().__init__()
        if spec.pack != 1:
            raise ConfigError("model.discriminator.pack: PacGAN packing is not combined with class conditioning")
        self.num_classes, self.cond = num_classes, cond
        inner = spec
        if cond == "concat":
            inner = dataclasses.replace(spec, shape=(spec.shape[0] + num_classes,) + tuple(spec.shape[1:]))
        self.net = build(inner)
        features = self.net.head.in_features - spec.minibatch_features
        if cond == "projection":
            embed = nn.Embedding(num_classes, features)
            # Initialised before the normalization wraps it: each parametrization
            # stores the weight its own way (spectral: `original`; weight norm:
            # a direction `original1` and a norm `original0` computed from it),
            # and both take their state from the weight they are given.
            nn.init.normal_(embed.weight, 0.0, 0.02)
            self.embed = spec.norm.weight(embed)
        if cond == "acgan":
            self.classifier = spec.norm.weight(nn.Linear(features, num_classes))

    def _input(self, x: torch.Tensor, y: Optional[torch.Tensor]) -> torch.Tensor:
        if self.cond != "concat":
            return x
        onehot = nn.functional.one_hot(_check_labels(y, self.num_classes, "discriminator", x.shape[0]),
                                       self.num_classes).to(x.dtype)
        if x.ndim == 4:
            onehot = onehot[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return torch.cat([x, onehot], dim=1)

    def features(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.net.features(self._input(x, y))

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None, return_features: bool = False):
        logits, h = self.net(self._input(x, y), return_features=True)
        if self.cond == "projection":
            y = _check_labels(y, self.num_classes, "discriminator", x.shape[0])
            logits = logits + (self.embed(y) * h).sum(1)
        return (logits, h) if return_features else logits

    def class_logits(self, h: torch.Tensor) -> torch.Tensor:
        """ACGAN's K class logits from the trunk features h (N, F)."""
        if self.cond != "acgan":
            raise RuntimeError(f"class_logits needs an acgan discriminator, this one is {self.cond!r}")
        return self.classifier(h)


class LabelledD(nn.Module):
    """D with its labels bound, x -> logits, so that the penalties (which call
    D(x) on real, fake and interpolated batches that share these labels) work
    unchanged on a conditional discriminator."""

    def __init__(self, D: nn.Module, y: torch.Tensor):
        super().__init__()
        self.D, self.y, self.pack = D, y, getattr(D, "pack", 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.D(x, self.y)


def generator_labels(G: nn.Module, n: int) -> Optional[torch.Tensor]:
    """Labels to sample a conditional generator with: classes 0..K-1 in turn
    (a grid K images wide shows one class per column); None if G is unconditional."""
    k = getattr(G, "num_classes", 0)
    return torch.arange(n) % k if k else None
