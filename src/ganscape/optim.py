"""Optimizers, one registry entry each: fn(params, parameters) -> torch.optim.Optimizer."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Tuple

import torch

from .registry import OPTIMIZERS, ConfigError


def _check_lr(lr: float, where: str) -> None:
    if not lr > 0:
        raise ConfigError(f"{where}.lr: must be > 0, got {lr}")


@dataclass(frozen=True)
class AdamParams:
    lr: float = 2e-4
    betas: Tuple[float, float] = (0.5, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0

    def validate(self, where: str) -> None:
        _check_lr(self.lr, where)
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"{where}.betas: each must be in [0, 1), got {list(self.betas)}")


@OPTIMIZERS.register("adam", params=AdamParams)
def adam(p: AdamParams, parameters: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015); GANs usually use beta1 = 0.5 or 0."""
    # foreach: one fused kernel over all tensors; fastest on both CPU and GPU.
    return torch.optim.Adam(parameters, lr=p.lr, betas=p.betas, eps=p.eps,
                            weight_decay=p.weight_decay, foreach=True)


@dataclass(frozen=True)
class RMSpropParams:
    lr: float = 5e-5
    alpha: float = 0.99
    eps: float = 1e-8

    def validate(self, where: str) -> None:
        _check_lr(self.lr, where)


@OPTIMIZERS.register("rmsprop", params=RMSpropParams)
def rmsprop(p: RMSpropParams, parameters: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """RMSprop, the original WGAN's optimizer (lr 5e-5)."""
    return torch.optim.RMSprop(parameters, lr=p.lr, alpha=p.alpha, eps=p.eps, foreach=True)


@dataclass(frozen=True)
class SGDParams:
    lr: float = 1e-2
    momentum: float = 0.0

    def validate(self, where: str) -> None:
        _check_lr(self.lr, where)


@OPTIMIZERS.register("sgd", params=SGDParams)
def sgd(p: SGDParams, parameters: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """Stochastic gradient descent with optional momentum."""
    return torch.optim.SGD(parameters, lr=p.lr, momentum=p.momentum, foreach=True)
