"""Device speed settings of a run, applied in one place each (issue 19, part 3):

- `train.precision`: bf16 runs every training step under torch.autocast
  (matrix products and convolutions in bfloat16, reductions and losses in
  float32 as autocast decides; weights, optimizer states and checkpoints stay
  float32), on CPUs and GPUs. fp16 (CUDA) runs it in float16 with a dynamic
  loss scaler per optimizer (`LossScaler`, GradScaler's rule): float16's
  range would underflow small gradients. Samples, evaluations and metrics
  run outside the step, in float32.
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

FP16_DEVICES = ("cuda",)  # where train.precision fp16 is allowed (tests add "cpu" to check the scaler)
BACKEND = "inductor"  # torch.compile's backend (tests use "eager": the same wiring, no kernel compilation)


def check(cfg, method, device: torch.device) -> None:
    """One line for a precision this run cannot use."""
    p = cfg.train.precision
    if p == "fp16" and device.type not in FP16_DEVICES:
        raise ConfigError("train.precision: fp16 needs a CUDA device; use bf16 (autocast, CPU and GPU) or fp32")
    if p in ("bf16", "fp16") and not method.autocast_ok:
        raise ConfigError(f"train.precision: {p} is for methods that train on batches; method "
                          f"{cfg.method.name!r} steps environments (NumPy has no {p}); use fp32")


def step_context(cfg, device: torch.device):
    """The context every training step runs in: autocast for bf16, nothing otherwise."""
    if cfg.train.precision in ("bf16", "fp16"):
        return torch.autocast(device_type=device.type,
                              dtype=torch.bfloat16 if cfg.train.precision == "bf16" else torch.float16)
    return contextlib.nullcontext()


class LossScaler:
    """Dynamic loss scaling for one optimizer under fp16 (the rule of torch.amp.GradScaler: start at
    2^16, halve on a non-finite gradient and skip that step, double after `interval` good steps).

    The method's backward goes through `backward(loss)` (TrainState.backward): the loss is scaled,
    back-propagated, and the gradients are divided back at once, so that what a method logs
    (gradient norms) and what the distributed all-reduce averages are true gradients. A step
    pre-hook, registered after the all-reduce's, skips the step (drops the gradients) when any is
    non-finite; a post-hook updates the scale. One backward per optimizer step, as every method here
    does: a second one would be refused, since both would share one finiteness check."""

    def __init__(self, opt: torch.optim.Optimizer, init_scale: float = 2.0 ** 16, growth: float = 2.0,
                 backoff: float = 0.5, interval: int = 2000):
        self.opt, self.scale, self.growth, self.backoff, self.interval = opt, float(init_scale), growth, backoff, \
            interval
        self.good, self.pending, self.skipped = 0, 0, 0
        self._skip = False
        opt.register_step_pre_hook(self._pre)
        opt.register_step_post_hook(self._post)

    def _grads(self):
        return [p.grad for g in self.opt.param_groups for p in g["params"] if p.grad is not None]

    def backward(self, loss: torch.Tensor) -> None:
        (loss.float() * self.scale).backward()
        self.unscale(self.scale)

    def unscale(self, scale: float) -> None:
        """After a backward of the loss times `scale` (TrainState.backward: one backward may feed several
        optimizers, scaled by the smallest of their scales): this optimizer's gradients divided back."""
        self.pending += 1
        grads = self._grads()
        if grads:
            torch._foreach_mul_(grads, 1.0 / scale)

    def _pre(self, opt, args, kwargs) -> None:
        if self.pending != 1:
            raise RuntimeError(f"train.precision fp16: {self.pending} backward passes through state.backward "
                               "before this optimizer step; a method steps each optimizer after exactly one")
        grads = self._grads()
        self._skip = bool(grads) and not bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())
        if self._skip:   # the optimizer skips parameters without gradients: this step changes nothing
            for g in opt.param_groups:
                for p in g["params"]:
                    p.grad = None

    def _post(self, opt, args, kwargs) -> None:
        self.pending = 0
        if self._skip:
            self.scale *= self.backoff
            self.good, self.skipped = 0, self.skipped + 1
        else:
            self.good += 1
            if self.good >= self.interval:
                self.scale *= self.growth
                self.good = 0

    def state_dict(self) -> dict:
        return {"scale": self.scale, "good": self.good, "skipped": self.skipped}

    def load_state_dict(self, sd: dict) -> None:
        self.scale, self.good, self.skipped = float(sd["scale"]), int(sd["good"]), int(sd.get("skipped", 0))


def attach_scalers(cfg, state) -> None:
    """fp16: a LossScaler per optimizer (after the distributed hooks, so it checks averaged gradients)."""
    if cfg.train.precision == "fp16":
        state.scalers = {name: LossScaler(opt) for name, opt in state.optims.items()}


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
