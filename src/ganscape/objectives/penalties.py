"""Discriminator penalties: pure functions with one signature.

    penalty(params, D, real, fake) -> scalar (already multiplied by its weight)

D: the discriminator (x -> logits (N / pack,)); real, fake: batches (N, *shape).
For a PacGAN discriminator (D.pack > 1) the gradient penalties treat each
packed input (`pack` consecutive examples) as one point: one interpolation
coefficient per packed input, the gradient norm over the whole packed input.
Penalties are added to the discriminator loss. Every one has `weight` and
`every` (lazy regularization: applied on every `every`-th D step with its
weight multiplied by `every`, so the expected gradient is unchanged, as in
StyleGAN2; the default 1 is the papers' setting).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import List

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .. import ranks
from ..nets.layers import MinibatchDiscrimination
from ..registry import PENALTIES, ConfigError


def _pack(D: nn.Module) -> int:
    """Examples per discriminator input: D.pack for a PacGAN discriminator, else 1."""
    return int(getattr(D, "pack", 1))


def _fp16_autocast(device_type: str) -> bool:
    """True inside float16 autocast on `device_type` (torch >= 2.4 asks per device; older, CUDA only)."""
    try:
        return torch.is_autocast_enabled(device_type) and torch.get_autocast_dtype(device_type) == torch.float16
    except (TypeError, AttributeError):
        return device_type == "cuda" and torch.is_autocast_enabled() and \
            torch.get_autocast_gpu_dtype() == torch.float16


def _grad_norm_sq(D: nn.Module, x: Tensor) -> Tensor:
    """||dD(x)/dx||^2 per discriminator input, kept in the graph for double backprop.

    x: (N, *shape) -> (N / pack,). A packed discriminator (PacGAN) scores one
    input made of `pack` consecutive examples, so its gradient is taken over
    the whole packed input: the squared norms of its `pack` examples are summed.
    """
    x = x.detach().requires_grad_(True)
    # under fp16 autocast the inner gradient runs in float32: float16 would underflow it, and no loss
    # scale reaches autograd.grad (bf16 has float32's range and stays as it is)
    half = _fp16_autocast(x.device.type)
    with torch.autocast(x.device.type, enabled=False) if half else contextlib.nullcontext():
        out = D(x.float() if half else x)
        (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return g.reshape(g.shape[0] // _pack(D), -1).pow(2).sum(1)


def _unit_grad_penalty(D: nn.Module, x: Tensor, eps: float = 1e-12) -> Tensor:
    """E[(||grad D(x)|| - 1)^2] over discriminator inputs; ||g|| = sqrt(||g||^2 + eps).

    sqrt has an infinite derivative at 0; the default epsilon only keeps double
    backprop finite. compare_gan adds 1e-4 (its DRAGAN passes that).
    """
    norm = torch.sqrt(_grad_norm_sq(D, x) + eps)
    return ((norm - 1.0) ** 2).mean()


def _uniform_per_input(x: Tensor, pack: int) -> Tensor:
    """U[0,1] of shape (N, 1, ..., 1): one draw per discriminator input, shared by
    the `pack` examples that make up a packed input."""
    shape = (x.shape[0] // pack,) + (1,) * (x.ndim - 1)
    u = ranks.per_example(lambda m: torch.rand((m,) + shape[1:], device=x.device, dtype=x.dtype), shape[0])
    return u.repeat_interleave(pack, dim=0) if pack > 1 else u


@dataclass(frozen=True)
class PenaltyParams:
    weight: float = 10.0
    every: int = 1

    def validate(self, where: str) -> None:
        if self.weight < 0:
            raise ConfigError(f"{where}.weight: must be >= 0, got {self.weight}")
        if self.every < 1:
            raise ConfigError(f"{where}.every: must be >= 1, got {self.every}")


@PENALTIES.register("gp", params=PenaltyParams, double_backward=True)
def gradient_penalty(p: PenaltyParams, D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): weight * E[(||grad D(x_hat)|| - 1)^2],
    x_hat = a x_r + (1-a) x_f, a ~ U[0,1] per discriminator input (per packed
    input for a PacGAN discriminator, the norm taken over the whole packed input)."""
    a = _uniform_per_input(real, _pack(D))
    x_hat = a * real.detach() + (1.0 - a) * fake.detach()
    return p.weight * _unit_grad_penalty(D, x_hat)


@dataclass(frozen=True)
class DraganParams(PenaltyParams):
    # "compare_gan": google/compare_gan, gans/penalty_lib.py, dragan_penalty;
    # "paper": the DRAGAN authors' code, kodalinaveen3/DRAGAN, DRAGAN.ipynb.
    # See `dragan` for what each does.
    style: str = "compare_gan"

    def validate(self, where: str) -> None:
        super().validate(where)
        if self.style not in ("compare_gan", "paper"):
            raise ConfigError(f"{where}.style: {self.style!r} is not allowed; choose compare_gan or paper")


# ganscape's image range; compare_gan clips to its own image range, [0, 1].
IMAGE_RANGE = (-1.0, 1.0)


@PENALTIES.register("dragan", params=DraganParams, double_backward=True)
def dragan(p: DraganParams, D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """DRAGAN (Kodali et al. 2017): the unit-gradient penalty near real data.

    s = std(x), the population standard deviation over every element of the
    real batch (tf.nn.moments in compare_gan, numpy's std in the DRAGAN code).

    style "compare_gan" (compare_gan's penalty_lib.dragan_penalty):
        x_noisy = clip(x + s (U - 0.5), data range), U ~ U[0,1] per element;
        weight * E[(sqrt(||grad D(x_noisy)||^2 + 1e-4) - 1)^2].
      compare_gan's images live in [0, 1]; ganscape's in [-1, 1], so image
      batches (N, C, H, W) are clipped to [-1, 1]. Point data (N, D) has no
      bounded range and is not clipped.
    style "paper" (kodalinaveen3/DRAGAN, DRAGAN.ipynb: get_perturbed_batch and
    the gradient-penalty cell):
        x_p = x + 0.5 s U, U ~ U[0,1] per element;
        x_hat = x + a (x_p - x), a ~ U[0,1] per discriminator input;
        weight * E[(||grad D(x_hat)|| - 1)^2].

    For a PacGAN discriminator the gradient norm is taken per packed input.
    """
    x = real.detach()
    std = x.std(correction=0)
    u = ranks.per_example(lambda m: torch.rand((m,) + x.shape[1:], device=x.device, dtype=x.dtype), len(x))
    if p.style == "compare_gan":
        x_noisy = x + std * (u - 0.5)
        if x.ndim == 4:
            x_noisy = x_noisy.clamp(*IMAGE_RANGE)
        return p.weight * _unit_grad_penalty(D, x_noisy, eps=1e-4)
    x_p = x + 0.5 * std * u
    a = _uniform_per_input(x, _pack(D))
    return p.weight * _unit_grad_penalty(D, x + a * (x_p - x))


@PENALTIES.register("r1", params=PenaltyParams, double_backward=True)
def r1(p: PenaltyParams, D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """R1 (Mescheder et al. 2018): weight/2 * E_real ||grad D(x)||^2 (weight is gamma);
    the expectation runs over discriminator inputs (packed inputs under PacGAN)."""
    return 0.5 * p.weight * _grad_norm_sq(D, real).mean()


@PENALTIES.register("r2", params=PenaltyParams, double_backward=True)
def r2(p: PenaltyParams, D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """R2 (Mescheder et al. 2018): weight/2 * E_fake ||grad D(x)||^2 (weight is gamma);
    the expectation runs over discriminator inputs (packed inputs under PacGAN)."""
    return 0.5 * p.weight * _grad_norm_sq(D, fake).mean()


def discriminator_kernels(D: nn.Module) -> List[Tensor]:
    """The trainable kernels of D's conv, transposed-conv and linear layers.

    Following compare_gan (its l2_penalty takes every discriminator variable
    named ".../kernel"), biases and normalization scales and offsets are left
    out. Under a parametrization the kernel is the trainable tensor the layer
    owns, not the weight it computes: spectral normalization's unnormalized W
    (`parametrizations.weight.original`, compare_gan's "kernel" variable is
    likewise the W before normalization), and weight normalization's direction
    v (`original1`; its magnitude g, `original0`, is a per-unit scale like a
    normalization's and is left alone; compare_gan's discriminators offer no
    weight norm). Minibatch discrimination's T is included: f T is a linear
    layer without bias, so T is a kernel in compare_gan's sense.
    """
    kernels = []
    for m in D.modules():
        if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
            if parametrize.is_parametrized(m, "weight"):
                params = m.parametrizations.weight
                kernels.append(params.original1 if hasattr(params, "original1") else params.original)
            else:
                kernels.append(m.weight)
        elif isinstance(m, MinibatchDiscrimination):
            kernels.append(m.T)
    return kernels


@dataclass(frozen=True)
class L2Params(PenaltyParams):
    weight: float = 1e-4


@PENALTIES.register("l2", params=L2Params)
def l2(p: L2Params, D: nn.Module, real: Tensor, fake: Tensor) -> Tensor:
    """compare_gan's L2 penalty (penalty_lib.l2_penalty): weight * the MEAN over
    D's kernels W (see discriminator_kernels) of tf.nn.l2_loss(W) = ||W||^2 / 2."""
    kernels = discriminator_kernels(D)
    if not kernels:
        raise ValueError("l2 penalty: the discriminator has no conv or linear layers to penalize")
    return p.weight * torch.stack([0.5 * (w ** 2).sum() for w in kernels]).mean()
