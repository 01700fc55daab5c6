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

- `train.compile`: torch.compile of the nets being trained (nn.Module.compile:
  in place, so checkpoints keep their keys; EMA copies, which only sample,
  stay eager). torch.compile does not support a double backward, so with a
  gradient penalty (gp, dragan, r1, r2) the discriminator D stays eager, with
  a warning. Where compile cannot run (a Python dynamo does not support, no
  C++ compiler for CPU kernels, no triton for GPU ones) the run trains eagerly
  and warns once: the same results, only slower.

Methods whose step runs environments (the recipes that act) refuse bf16: their
rollouts turn actions into NumPy arrays, which have no bfloat16.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from typing import Dict, Optional

import torch
from torch import nn

from ..registry import PENALTIES, ConfigError

BACKEND = "inductor"  # torch.compile's backend (tests use "eager": the same wiring, no kernel compilation)


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


def compile_unavailable(device: torch.device) -> Optional[str]:
    """Why torch.compile cannot run here, or None when it can."""
    if not hasattr(torch, "compile"):
        return "this torch has no torch.compile"
    try:
        import torch._dynamo as dynamo
        if not dynamo.is_dynamo_supported():
            return "torch.compile does not support this Python"
    except Exception as e:  # noqa: BLE001 (an import that fails in any way means: not available)
        return f"torch.compile cannot be imported ({type(e).__name__})"
    if BACKEND != "inductor":
        return None
    if device.type == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:
            return "compiling GPU kernels needs the triton package"
    elif not any(shutil.which(c) for c in (os.environ.get("CXX", "g++"), "g++", "clang++")):
        return "compiling CPU kernels needs a C++ compiler (g++ or clang++)"
    return None


def compile_nets(cfg, nets: Dict[str, nn.Module], device: torch.device) -> Dict[str, str]:
    """train.compile: compile every net in place (see the module docstring); returns {net: "compiled" or
    why it stays eager}."""
    if not cfg.train.compile:
        return {}
    why = compile_unavailable(device)
    if why is not None:
        warnings.warn(f"train.compile: {why}; training without compiling (same results, slower)",
                      RuntimeWarning, stacklevel=2)
        return {k: why for k in nets}
    double = [p.name for p in cfg.penalties if PENALTIES.get(p.name).tags.get("double_backward")]
    out = {}
    for name, net in nets.items():
        if name == "D" and double:
            out[name] = f"penalty {', '.join(double)} takes a double backward, which torch.compile does not support"
            warnings.warn(f"train.compile: D stays eager: {out[name]}", RuntimeWarning, stacklevel=2)
            continue
        net.compile(backend=BACKEND)
        out[name] = "compiled"
    return out
