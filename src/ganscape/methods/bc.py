"""Behaviour cloning: the baseline of imitation (Ho & Ermon 2016 compare
GAIL with it). The policy is fitted to the expert's pairs by maximum
likelihood, -mean log pi(a | s) over the loop's batches of demonstrations
(`train.n_disc` Adam steps per training step, `optim.generator`); no
environment step is taken while training (the environment builds the nets
and scores the policy). Ho & Ermon train BC with a 70/30 split of the
demonstrations and keep the weights with the best held-out likelihood:
here the held-out episodes are data split "test" (the episodes
data.params.trajectories leaves out) and `eval` can select best.pt on
return, which needs no held-out pairs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

import torch
from torch import nn

from ..registry import METHODS, ConfigError
from .acting import ActingMethod
from .base import Batch, Stats, grad_norm


def bc_loss(policy, obs: torch.Tensor, acts: torch.Tensor) -> torch.Tensor:
    """-mean log pi(a | s): the negative log-likelihood of the expert's actions."""
    return -policy.log_prob(obs, acts).mean()


@dataclass(frozen=True)
class BCParams:
    hidden: Tuple[int, ...] = (64, 64)   # the policy's tanh layers
    init_log_std: float = 0.0            # Gaussian policies' starting log std

    def validate(self, where: str) -> None:
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError(f"{where}.hidden: sizes must be >= 1, got {list(self.hidden)}")


class BCMethod(ActingMethod):
    name = "bc"
    uses_data = True

    def check_data(self, data) -> None:
        self.check_demos(data)

    def build_nets(self, cfg, data) -> Dict[str, nn.Module]:
        nets = super().build_nets(cfg, data)
        del nets["V"]  # no returns to predict
        return nets

    def optimizers(self, cfg, nets):
        return {"pi": (cfg.optim.generator, nets["pi"].parameters())}

    def step(self, state, batches: List[Batch], log: bool) -> Stats:
        pi, opt = state.nets["pi"], state.optims["pi"]
        stats: Stats = {}
        for b in batches:
            obs, acts, _, _ = self.split_pairs(b.x)
            loss = bc_loss(pi, obs, acts)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if log:
                stats["pi_grad_norm"] = grad_norm(pi)
            opt.step()
            stats["bc_loss"] = loss.detach()
        return stats


@METHODS.register("bc", params=BCParams)
def bc(params: BCParams, config) -> ActingMethod:
    """Behaviour cloning: the policy fitted to the demonstrations by maximum likelihood (the imitation baseline)."""
    return BCMethod(params, config)
