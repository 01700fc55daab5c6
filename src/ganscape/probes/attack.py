"""Adversarial examples of the discriminator, and whether a generator update
is an "accidental attack" on it (issue 20, part 4; the open-questions
article's question, after Goodfellow et al.'s adversarial examples).

- `flip_budget`: for each image, the smallest perturbation (L-inf or L2) that
  makes D change its mind (the sign of its logit: > 0 real), found by
  projected gradient descent (PGD) at each budget of a bisection. For a
  linear D(x) = w.x + b the answer is |D(x)| / ||w||_1 (L-inf) or
  |D(x)| / ||w||_2 (L2), which the tests check.
- `success_rate`: the share of images whose decision PGD flips within a
  budget (images stay in [-1, 1]).
- `accidental_attack`: one training step of the run's own method from a
  checkpoint moves each sample by delta = G'(z) - G(z); against the
  gradient of the old D at G(z) (the direction that raises D's logit
  fastest) the measure reports the cosine of delta with it, and D's change
  per unit of pixel change along delta divided by its change along a
  gradient step of the same L2 length. 1 would mean the generator's update
  is as adversarial to D as an attack; 0, unrelated to D's gradient.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Dict

import numpy as np
import torch

NORMS = ("linf", "l2")


def _logit(D, x: torch.Tensor) -> torch.Tensor:
    return D(x).float().flatten()


def _project(delta: torch.Tensor, eps: torch.Tensor, norm: str) -> torch.Tensor:
    shape = (-1,) + (1,) * (delta.ndim - 1)
    if norm == "linf":
        return torch.maximum(torch.minimum(delta, eps.view(shape)), -eps.view(shape))
    n = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
    return delta * torch.clamp(eps / n, max=1.0).view(shape)


def pgd(D, x: torch.Tensor, eps: torch.Tensor, norm: str = "linf", steps: int = 20) -> torch.Tensor:
    """x + delta with ||delta|| <= eps (per image) pushing each logit towards the other side of 0, kept in
    [-1, 1] for images. Step size 2.5 eps / steps (Madry et al.'s rule of thumb)."""
    if norm not in NORMS:
        raise ValueError(f"norm {norm!r} is not allowed; choose linf or l2")
    eps = torch.as_tensor(eps, dtype=x.dtype, device=x.device).expand(len(x))
    sign = torch.where(_logit(D, x) > 0, -1.0, 1.0).to(x)   # real-looking: push down; fake-looking: up
    delta = torch.zeros_like(x)
    alpha = 2.5 * eps / steps
    shape = (-1,) + (1,) * (x.ndim - 1)
    for _ in range(steps):
        delta.requires_grad_(True)
        obj = (sign * _logit(D, x + delta)).sum()
        (g,) = torch.autograd.grad(obj, delta)
        with torch.no_grad():
            if norm == "linf":
                step = g.sign()
            else:
                step = g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(shape)
            delta = _project(delta + alpha.view(shape) * step, eps, norm)
            if x.ndim == 4:
                delta = (x + delta).clamp(-1, 1) - x
    return (x + delta).detach()


def flipped(D, x: torch.Tensor, eps, norm: str = "linf", steps: int = 20) -> torch.Tensor:
    """bool (N,): D's decision on x changes under a PGD attack of budget eps."""
    with torch.no_grad():
        before = _logit(D, x) > 0
    adv = pgd(D, x, eps, norm, steps)
    with torch.no_grad():
        return (_logit(D, adv) > 0) != before


def success_rate(D, x: torch.Tensor, eps: float, norm: str = "linf", steps: int = 20) -> float:
    return float(flipped(D, x, eps, norm, steps).float().mean())


def flip_budget(D, x: torch.Tensor, norm: str = "linf", eps_max: float = 1.0, iters: int = 12,
                steps: int = 20) -> np.ndarray:
    """(N,) the smallest budget (to eps_max / 2^iters) that flips each decision; inf where eps_max does not."""
    lo = torch.zeros(len(x), dtype=x.dtype, device=x.device)
    hi = torch.full_like(lo, eps_max)
    ok = flipped(D, x, hi, norm, steps)
    for _ in range(iters):
        mid = (lo + hi) / 2
        f = flipped(D, x, mid, norm, steps)
        hi = torch.where(f, mid, hi)
        lo = torch.where(f, lo, mid)
    out = hi.cpu().numpy().astype(np.float64)
    out[~ok.cpu().numpy()] = np.inf
    return out


@dataclass
class Accidental:
    cosine: float          # mean cosine of G's move with the old D's input gradient
    rate_g: float          # mean |change of D per unit L2 move| along G's move
    rate_attack: float     # the same along a gradient step of equal length
    move: float            # mean L2 length of G's move per sample

    @property
    def ratio(self) -> float:
        return self.rate_g / self.rate_attack if self.rate_attack else float("nan")


def accidental_attack(state, method, batches, n: int = 256, seed: int = 0) -> Accidental:
    """One step of `method` on `batches` from `state` (changed in place), measured against the
    discriminator as it was before the step."""
    # the net the step trains (not its EMA copy, which the loop updates after the step)
    G, D0 = state.nets[state.sampler_name], copy.deepcopy(state.nets["D"]).eval()
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)).to(next(G.parameters()).device)
    was = G.training
    G.eval()
    with torch.no_grad():
        x0 = G(z).float().clone()   # not a view of G's parameters, which the step changes
    G.train(was)
    method.step(state, batches, False)
    G.eval()
    with torch.no_grad():
        x1 = G(z).float().clone()
    G.train(was)
    delta = (x1 - x0).flatten(1)
    x = x0.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(_logit(D0, x).sum(), x)
    g = grad.flatten(1)
    length = delta.norm(dim=1).clamp_min(1e-12)
    cos = (delta * g).sum(1) / (length * g.norm(dim=1).clamp_min(1e-12))
    with torch.no_grad():
        base = _logit(D0, x0)
        along_g = (_logit(D0, x1) - base).abs() / length
        step = x0 + (g / g.norm(dim=1, keepdim=True).clamp_min(1e-12) * length[:, None]).view_as(x0)
        along_attack = (_logit(D0, step) - base).abs() / length
    return Accidental(float(cos.mean()), float(along_g.mean()), float(along_attack.mean()), float(length.mean()))


def summary(D, real: torch.Tensor, fake: torch.Tensor, norm: str, budgets) -> Dict[str, object]:
    """Success rates at each budget and the median budget to flip, on real and on generated images."""
    out: Dict[str, object] = {}
    for name, x in (("real", real), ("fake", fake)):
        b = flip_budget(D, x, norm)
        out[name] = {"success": {f"{e:g}": success_rate(D, x, e, norm) for e in budgets},
                     "median_budget": float(np.median(b)), "unflipped_at_max": float(np.isinf(b).mean())}
    return out
