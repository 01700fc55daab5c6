"""The LQG setting of Feizi, Farnia, Ginart & Tse (2017, "Understanding GANs:
the LQG setting"): data N(0, K) in d dimensions (data set `gaussian`), a
Linear generator x = A z with z ~ N(0, I_r) (A is d x r, r = model.z_dim <= d)
and a Quadratic discriminator D(x) = x^T W x (W is d x d, the kernel of a
bias-free linear layer, so the `l2` penalty sees it).

With the wasserstein loss and the l2 penalty on W (preset lqg-gan), D's best
response to G is W = (K - A A^T) / lambda and the game's value
||K - A A^T||_F^2 / (2 lambda): G's optimum is the best rank-r approximation of
K, the span of its top r principal components with their variances
(A A^T = U_r diag(lambda_1..r) U_r^T, Eckart-Young): the PCA solution that
Feizi et al. prove optimal for the W2 loss. Deviation, named: their quadratic
discriminator enters the W2 dual through a convex function and its conjugate
(different on real and fake points), which the engine's one-function
discriminator cannot express; the regularized quadratic IPM here has the same
optimal generator and is what ganscape/probes/convergence.py analyzes.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..registry import ARCHITECTURES, ConfigError
from .layers import Generator, NetSpec


@dataclass(frozen=True)
class LQGParams:
    init_std: float = 0.1   # entries of A (generator) and W (discriminator) start N(0, init_std^2)

    def validate(self, where: str) -> None:
        if self.init_std < 0:
            raise ConfigError(f"{where}.init_std: must be >= 0, got {self.init_std}")


class LinearGenerator(Generator):
    def __init__(self, p: LQGParams, spec: NetSpec):
        super().__init__(spec.z_dim, spec.shape)
        self.A = nn.Linear(spec.z_dim, spec.shape[0], bias=False)   # weight (d, r) = A
        nn.init.normal_(self.A.weight, 0.0, p.init_std)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.A(z)


class QuadraticDiscriminator(nn.Module):
    def __init__(self, p: LQGParams, d: int):
        super().__init__()
        self.W = nn.Linear(d, d, bias=False)
        nn.init.normal_(self.W.weight, 0.0, p.init_std)
        self.pack = 1

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def forward(self, x: torch.Tensor, return_features: bool = False):
        v = (x * self.W(x)).sum(1)            # x^T W x
        return (v, x) if return_features else v


# toy: the LQG game's nets only, never offered as an alternative architecture for other points data
@ARCHITECTURES.register("lqg", params=LQGParams, kinds=("points",), toy=True)
def lqg(params: LQGParams, spec: NetSpec) -> nn.Module:
    """LQG (Feizi et al. 2017): G(z) = A z (linear, rank z_dim), D(x) = x^T W x (quadratic); points only."""
    if len(spec.shape) != 1:
        raise ConfigError(f"architecture lqg plays on points (data set gaussian), not shape {tuple(spec.shape)}")
    if spec.pack != 1 or spec.minibatch_features:
        raise ConfigError("architecture lqg has no packing or minibatch features")
    if spec.role == "generator":
        if not 1 <= spec.z_dim <= spec.shape[0]:
            raise ConfigError(f"model.z_dim: architecture lqg's generator has rank z_dim, which must be in "
                              f"[1, {spec.shape[0]}] (the data's dimension), got {spec.z_dim}")
        return LinearGenerator(params, spec)
    return QuadraticDiscriminator(params, spec.shape[0])
