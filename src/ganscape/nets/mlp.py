"""Multilayer perceptron generator and discriminator, for 2-D points and small images."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..registry import ARCHITECTURES, ConfigError
from .layers import Discriminator, Generator, NetSpec


@dataclass(frozen=True)
class MLPParams:
    width: int = 256     # hidden units per layer
    depth: int = 3       # hidden layers

    def validate(self, where: str) -> None:
        if self.width < 1 or self.depth < 1:
            raise ConfigError(f"{where}: width and depth must be >= 1")


class MLPGenerator(Generator):
    def __init__(self, p: MLPParams, spec: NetSpec):
        super().__init__(spec.z_dim, spec.shape)
        layers, d = [], spec.z_dim
        for _ in range(p.depth):
            layers += [nn.Linear(d, p.width), spec.norm.feature(p.width, spatial=False), nn.ReLU()]
            d = p.width
        layers.append(nn.Linear(d, math.prod(spec.shape)))
        self.net = nn.Sequential(*layers)
        self.image = spec.is_image

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.net(z)
        if self.image:  # images live in [-1, 1]; points are unbounded
            x = torch.tanh(x)
        return x.view(-1, *self.shape)


def _mlp_trunk(p: MLPParams, spec: NetSpec) -> nn.Module:
    layers, d = [nn.Flatten()], math.prod(spec.in_shape)
    for i in range(p.depth):
        layers.append(spec.norm.weight(nn.Linear(d, p.width)))
        if i > 0:  # no activation normalization on the input layer (DCGAN convention)
            layers.append(spec.norm.feature(p.width, spatial=False))
        layers.append(nn.LeakyReLU(0.2))
        d = p.width
    return nn.Sequential(*layers)


@ARCHITECTURES.register("mlp", params=MLPParams, kinds=("points", "image"))
def mlp(params: MLPParams, spec: NetSpec) -> nn.Module:
    """MLP: ReLU generator, LeakyReLU(0.2) discriminator; any data shape."""
    if spec.role == "generator":
        return MLPGenerator(params, spec)
    return Discriminator(_mlp_trunk(params, spec), params.width, spec)
