"""Device speed settings of a run, applied in one place each (issue 19, part 3):

- `train.precision`: bf16 runs every training step under torch.autocast
  (matrix products and convolutions in bfloat16, reductions and losses in
  float32 as autocast decides; weights, optimizer states and checkpoints stay
  float32), on CPUs and GPUs. fp16 needs a gradient scaler per optimizer
  (float16's range underflows small gradients) and is refused until that is
  built. Samples, evaluations and metrics run outside the step, in float32.
- `train.channels_last`: convolution weights and image batches in NHWC memory
  order, which GPU convolution kernels (and oneDNN's on CPUs) prefer; values
  are the same, the order of floating-point sums may differ.

Methods whose step runs environments (the recipes that act) refuse bf16: their
rollouts turn actions into NumPy arrays, which have no bfloat16.
"""
from __future__ import annotations

import contextlib
from typing import Dict

import torch
from torch import nn

from ..registry import ConfigError


def check(cfg, method, device: torch.device) -> None:
    """One line for a precision this run cannot use."""
    p = cfg.train.precision
    if p == "fp16":
        where = "a CUDA device" if device.type != "cuda" else "a gradient scaler per optimizer, not built yet"
        raise ConfigError(f"train.precision: fp16 needs {where}; use bf16 (autocast, CPU and GPU) or fp32")
    if p == "bf16" and not method.autocast_ok:
        raise ConfigError(f"train.precision: bf16 is for methods that train on batches; method "
                          f"{cfg.method.name!r} steps environments (NumPy has no bfloat16); use fp32")


def step_context(cfg, device: torch.device):
    """The context every training step runs in: autocast for bf16, nothing otherwise."""
    if cfg.train.precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_channels_last(nets: Dict[str, nn.Module]) -> None:
    """4-D weights (convolutions) of every net in NHWC order; other parameters are untouched."""
    for net in nets.values():
        net.to(memory_format=torch.channels_last)


def batch_layout(cfg, x: torch.Tensor) -> torch.Tensor:
    """An image batch in the run's memory order (channels_last: NHWC)."""
    if cfg.train.channels_last and x.ndim == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x
