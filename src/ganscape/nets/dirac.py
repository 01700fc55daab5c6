"""The Dirac-GAN of Mescheder et al. (2018, "Which training methods for GANs
do actually converge?"), Sec. 2: data a point mass at 0 (data set `dirac`),
a generator that is a point mass at theta (G(z) = theta for every z) and a
linear discriminator D(x) = psi * x, no bias. The equilibrium is theta = psi = 0;
the whole game is two numbers, so the Jacobian of its gradient field is
exact (ganscape/probes/convergence.py) and its trajectories can be drawn.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..registry import ARCHITECTURES, ConfigError
from .layers import Generator, NetSpec


@dataclass(frozen=True)
class DiracParams:
    theta0: float = 1.0  # the generator's starting point (Mescheder et al.'s figures start at (1, 1))
    psi0: float = 1.0    # the discriminator's starting slope

    def validate(self, where: str) -> None:
        pass


class DiracGenerator(Generator):
    def __init__(self, p: DiracParams, spec: NetSpec):
        super().__init__(spec.z_dim, spec.shape)
        self.theta = nn.Parameter(torch.tensor([p.theta0]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.theta.expand(len(z), 1) + 0.0 * z[:, :1]   # keeps z's dtype, device and graph


class DiracDiscriminator(nn.Module):
    def __init__(self, p: DiracParams):
        super().__init__()
        self.psi = nn.Parameter(torch.tensor([p.psi0]))
        self.pack = 1

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), 1)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        h = self.features(x)
        v = (h * self.psi).flatten()
        return (v, h) if return_features else v


# toy: for the Dirac-GAN's 1-D point only, so never offered as an alternative for other points data
@ARCHITECTURES.register("dirac", params=DiracParams, kinds=("points",), toy=True)
def dirac(params: DiracParams, spec: NetSpec) -> nn.Module:
    """Dirac-GAN (Mescheder et al. 2018): G is the point theta, D(x) = psi x; 1-D point data only."""
    if tuple(spec.shape) != (1,):
        raise ConfigError(f"architecture dirac plays on 1-D points (data set dirac), not shape {tuple(spec.shape)}")
    if spec.pack != 1 or spec.minibatch_features:
        raise ConfigError("architecture dirac has no packing or minibatch features")
    return DiracGenerator(params, spec) if spec.role == "generator" else DiracDiscriminator(params)
