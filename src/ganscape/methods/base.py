"""What every training recipe shares: its interface and small helpers.

A method owns one training step:

    step(state, reals, log) -> dict of scalar tensors

`reals` is a list of `train.n_disc` real batches (one per discriminator
update), `state` the TrainState (nets, optimizers, step counters). The step
updates the nets in place. When `log` is true it also returns diagnostics that
cost extra work (gradient norms); the loop converts values to floats only on
log steps, so the hot path never waits on the device.
"""
from __future__ import annotations

import abc
from typing import Dict, List

import torch
from torch import Tensor, nn

Stats = Dict[str, Tensor]


class Method(abc.ABC):
    def setup(self, state) -> None:
        """Called once after the nets are built and before any checkpoint is loaded."""

    def state_dict(self) -> Dict:
        """The method's own training state (saved in checkpoints)."""
        return {}

    def load_state_dict(self, sd: Dict) -> None:
        """Restore what state_dict() returned."""

    @abc.abstractmethod
    def step(self, state, reals: List[Tensor], log: bool) -> Stats:
        """One generator update preceded by len(reals) discriminator updates."""


def grad_norm(module: nn.Module) -> Tensor:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads)


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    # Freezing D during the G update skips D's weight gradients (about a third
    # of that backward pass) without changing G's gradient.
    for p in module.parameters():
        p.requires_grad_(flag)

