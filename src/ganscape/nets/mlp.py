"""Multilayer perceptron generator and discriminator, for 2-D points and small images."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..registry import ARCHITECTURES, ConfigError
from .layers import Discriminator, GaussianNoise, Generator, NetSpec


@dataclass(frozen=True)
class MLPParams:
    width: int = 256     # hidden units per layer
    depth: int = 3       # hidden layers
    # Points only: the scale of the data. The generator's output is multiplied
    # and the discriminator's input divided by it, so that both nets work at
    # unit scale (e.g. 4 for grid-25, whose modes reach +-4).
    data_scale: float = 1.0
    # Discriminator only: std of Gaussian noise added in training mode to its
    # input and to the input of every later dense layer (the head included), as
    # in the improved-GAN MNIST discriminator (0.3 and 0.5). Off by default.
    input_noise: float = 0.0
    hidden_noise: float = 0.0

    def validate(self, where: str) -> None:
        if self.width < 1 or self.depth < 1:
            raise ConfigError(f"{where}: width and depth must be >= 1")
        for k in ("input_noise", "hidden_noise"):
            if not getattr(self, k) >= 0:
                raise ConfigError(f"{where}.{k}: must be >= 0, got {getattr(self, k)}")
        if not self.data_scale > 0:
            raise ConfigError(f"{where}.data_scale: must be > 0, got {self.data_scale}")


class MLPGenerator(Generator):
    def __init__(self, p: MLPParams, spec: NetSpec):
        super().__init__(spec.z_dim, spec.shape)
        layers, d = [], spec.z_dim
        for _ in range(p.depth):
            layers += [nn.Linear(d, p.width), spec.norm.feature(p.width, spatial=False), nn.ReLU()]
            d = p.width
        layers.append(nn.Linear(d, math.prod(spec.shape)))
        self.net = nn.Sequential(*layers)
        self.image = spec.is_image and spec.output == "tanh"  # logits: no squashing
        self.scale = p.data_scale

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.net(z)
        if self.image:  # images live in [-1, 1]; points are unbounded
            x = torch.tanh(x)
        elif self.scale != 1.0:
            x = x * self.scale
        return x.view(-1, *self.shape)


class _Scale(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def _mlp_trunk(p: MLPParams, spec: NetSpec) -> nn.Module:
    layers, d = [nn.Flatten()], math.prod(spec.in_shape)
    if p.data_scale != 1.0:
        if spec.is_image:
            raise ConfigError("mlp.data_scale is for point data; images are always in [-1, 1]")
        layers.append(_Scale(1.0 / p.data_scale))
    for i in range(p.depth):
        noise = p.input_noise if i == 0 else p.hidden_noise
        if noise:
            layers.append(GaussianNoise(noise))
        layers.append(spec.norm.weight(nn.Linear(d, p.width)))
        if i > 0:  # no activation normalization on the input layer (DCGAN convention)
            layers.append(spec.norm.feature(p.width, spatial=False))
        layers.append(nn.LeakyReLU(0.2))
        d = p.width
    if p.hidden_noise:
        # before the head. Feature matching reads the trunk's output, so it
        # sees this noise too; the authors' code matches the features before
        # it, as architecture improved-gan-mlp (nets/ssgan.py) does.
        layers.append(GaussianNoise(p.hidden_noise))
    return nn.Sequential(*layers)


@ARCHITECTURES.register("mlp", params=MLPParams, kinds=("points", "image"))
def mlp(params: MLPParams, spec: NetSpec) -> nn.Module:
    """MLP: ReLU generator, LeakyReLU(0.2) discriminator; any data shape."""
    if spec.role == "generator":
        if params.input_noise or params.hidden_noise:
            raise ConfigError("mlp.input_noise and mlp.hidden_noise are discriminator options; "
                              "set them under model.discriminator.arch.params")
        return MLPGenerator(params, spec)
    return Discriminator(_mlp_trunk(params, spec), params.width, spec)
