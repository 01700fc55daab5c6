"""Discriminator penalties: pure functions with one signature.

    penalty(params, D, real, fake) -> scalar (already multiplied by its weight)

D: the discriminator (x -> logits (N,)); real, fake: batches (N, *shape).
Penalties are added to the discriminator loss. Every one has `weight` and
`every` (lazy regularization: applied on every `every`-th D step with its
weight multiplied by `every`, so the expected gradient is unchanged, as in
StyleGAN2; the default 1 is the papers' setting).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..registry import PENALTIES, ConfigError


def _grad_norm_sq(D: nn.Module, x: Tensor) -> Tensor:
    """||dD(x)/dx||^2 per example (N,), kept in the graph for double backprop."""
    x = x.detach().requires_grad_(True)
    out = D(x)
    (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return g.flatten(1).pow(2).sum(1)


def _unit_grad_penalty(D: nn.Module, x: Tensor) -> Tensor:
    # sqrt has an infinite derivative at 0; the epsilon keeps double backprop finite.
    norm = torch.sqrt(_grad_norm_sq(D, x) + 1e-12)
    return ((norm - 1.0) ** 2).mean()


def _uniform_like(x: Tensor, per_example: bool) -> Tensor:
    shape = (x.shape[0],) + (1,) * (x.ndim - 1) if per_example else x.shape
    return torch.rand(shape, device=x.device, dtype=x.dtype)


@dataclass(frozen=True)
class PenaltyParams:
    weight: float = 10.0
    every: int = 1

    def validate(self, where: str) -> None:
        if self.weight < 0:
            raise ConfigError(f"{where}.weight: must be >= 0, got {self.weight}")
        if self.every < 1:
            raise ConfigError(f"{where}.every: must be >= 1, got {self.every}")


@PENALTIES.register("gp", params=PenaltyParams)
def gradient_penalty(p: PenaltyParams, D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): weight * E[(||grad D(x_hat)|| - 1)^2], x_hat = a x_r + (1-a) x_f, a ~ U[0,1]."""
    a = _uniform_like(real, per_example=True)
    x_hat = a * real.detach() + (1.0 - a) * fake.detach()
    return p.weight * _unit_grad_penalty(D, x_hat)


@dataclass(frozen=True)
class DraganParams(PenaltyParams):
    # compare_gan's perturbation: x + c * std(x) * (U[0,1] - 0.5) with c = 1;
    # the DRAGAN paper's x + 0.5 * std(x) * U[0,1] is style "paper".
    style: str = "compare_gan"

    def validate(self, where: str) -> None:
        super().validate(where)
        if self.style not in ("compare_gan", "paper"):
            raise ConfigError(f"{where}.style: {self.style!r} is not allowed; choose compare_gan or paper")


@PENALTIES.register("dragan", params=DraganParams)
def dragan(p: DraganParams, D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """DRAGAN (Kodali et al. 2017): the unit-gradient penalty at noisy perturbations of real data."""
    x = real.detach()
    std = x.std()  # over the whole batch, as both reference implementations do
    u = _uniform_like(x, per_example=False)
    noise = std * (u - 0.5) if p.style == "compare_gan" else 0.5 * std * u
    return p.weight * _unit_grad_penalty(D, x + noise)


@PENALTIES.register("r1", params=PenaltyParams)
def r1(p: PenaltyParams, D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): weight/2 * E_real ||grad D(x)||^2 (weight is gamma)."""
    return 0.5 * p.weight * _grad_norm_sq(D, real).mean()


@PENALTIES.register("r2", params=PenaltyParams)
def r2(p: PenaltyParams, D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """R2 (Mescheder et al. 2018): weight/2 * E_fake ||grad D(x)||^2 (weight is gamma)."""
    return 0.5 * p.weight * _grad_norm_sq(D, fake).mean()


@dataclass(frozen=True)
class L2Params(PenaltyParams):
    weight: float = 1e-4


@PENALTIES.register("l2", params=L2Params)
def l2(p: L2Params, D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """L2 weight decay on the discriminator: weight * sum of squared weights (compare_gan's "l2")."""
    return p.weight * sum((w ** 2).sum() for name, w in D.named_parameters() if "bias" not in name)
