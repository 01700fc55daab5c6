"""What every training recipe shares: its interface and small helpers.

A method declares the nets it trains, by name, and how each is built from the
config (`build_nets`), the optimizers and the parameters each one updates
(`optimizers`), which nets get EMA copies (`ema`), which net samples
(`sampler`; None for a method that trains no generator, such as a plain
classifier) and which net classifies (`classifier`; None for most methods).
The train state holds them by these names, checkpoints store them by these
names, `sample` / `eval` draw from `state.sampler`, and the classifier-error
metric scores `state.classifier`, so the loop and the tools never ask what
kind of model it is.

It owns one training step:

    step(state, batches, log) -> dict of scalar tensors

`batches` is a list of `train.n_disc` typed real batches (one per
discriminator update), `state` the TrainState. The step updates the nets in
place. When `log` is true it also returns diagnostics that cost extra work
(gradient norms); the loop converts values to floats only on log steps, so
the hot path never waits on the device.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

import torch
from torch import Tensor, nn

Stats = Dict[str, Tensor]


@dataclass
class Batch:
    """One batch of real data.

    x: images (N, C, H, W) in [-1, 1], points (N, D) or tokens (N, L);
    y: int64 class labels (N,) when the data set has labels;
    labelled: bool (N,), which of the labels a method may use (semi-supervised
    training); None means all of them.
    labelled_batch: a separate batch of labelled examples only (x, y), drawn
    from the labelled subset, when train.labelled_batch_size > 0; else None.
    """
    x: Tensor
    y: Optional[Tensor] = None
    labelled: Optional[Tensor] = None
    labelled_batch: Optional["Batch"] = None

    def __len__(self) -> int:
        return len(self.x)


class Method(abc.ABC):
    sampler: Optional[str] = "G"       # the net `sample` and `eval` draw from (None: nothing to sample)
    classifier: Optional[str] = None   # the net whose class logits classifier-error scores (None: none)
    autocast_ok = True                 # the step may run under torch.autocast (train.precision: bf16)
    # None: may train under torchrun (train/distributed.py: its step's randomness is per-example noise
    # drawn through ganscape.ranks); a method that samples otherwise says here why it may not
    distributed_refusal: Optional[str] = None
    ema: Tuple[str, ...] = ("G",)      # nets that get EMA copies when train.ema_decay > 0

    @abc.abstractmethod
    def build_nets(self, cfg, data) -> Dict[str, nn.Module]:
        """The method's nets by name, built from the config for `data` (a
        state.DataSpec: the shape of one example and the number of classes)."""

    @abc.abstractmethod
    def optimizers(self, cfg, nets: Dict[str, nn.Module]) -> Dict[str, Tuple[object, Iterable]]:
        """{name: (optimizer component of the config, parameters it updates)}."""

    def setup(self, state) -> None:
        """Called once after the nets are built and before any checkpoint is loaded."""

    def state_dict(self) -> Dict:
        """The method's own training state (saved in checkpoints)."""
        return {}

    def load_state_dict(self, sd: Dict) -> None:
        """Restore what state_dict() returned."""

    def pictures(self, state) -> Dict[str, Tuple[Tensor, int]]:
        """Pictures of the method's own besides the sample grid, drawn at every
        sample step: {name: (images (N, C, H, W) in [-1, 1], images per row)},
        written as RUN/samples/<name>_step_<step>.png (InfoGAN: code traversals)."""
        return {}

    @abc.abstractmethod
    def step(self, state, batches: List[Batch], log: bool) -> Stats:
        """One training step on len(batches) real batches (for a GAN: one
        generator update preceded by len(batches) discriminator updates)."""


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

