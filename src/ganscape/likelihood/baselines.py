"""Simple likelihood baselines for discrete-level images, fitted here, so a
reader sees what a deep model adds to a number in bits/dim:

- `independent`: one categorical per pixel (and channel) over the K levels,
  fitted by counting with add-alpha smoothing;
- `mixture`: a mixture of such products (a latent class per image), fitted
  by EM from a seeded random responsibility start, with the same smoothing
  as a Dirichlet prior (MAP EM).

Both give exact log P(v) of the test images in nats (likelihood.core for
bits/dim).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class CategoricalMixture:
    """log_pi (M,), log_p (M, D, K): M products of per-pixel categoricals."""
    log_pi: Tensor
    log_p: Tensor

    def log_prob(self, v: Tensor) -> Tensor:
        """v: int levels (N, ...) -> log P(v) (N,) in nats."""
        v = v.reshape(len(v), -1)
        m, d, k = self.log_p.shape
        onehot = torch.nn.functional.one_hot(v, k).double()                  # (N, D, K)
        per_comp = torch.einsum("ndk,mdk->nm", onehot, self.log_p.double())  # (N, M)
        return torch.logsumexp(per_comp + self.log_pi.double(), 1)


def fit_independent(v: Tensor, levels: int, alpha: float = 1.0) -> CategoricalMixture:
    """One categorical per pixel: (counts + alpha) / (N + K alpha)."""
    v = v.reshape(len(v), -1)
    counts = torch.nn.functional.one_hot(v, levels).double().sum(0)          # (D, K)
    log_p = torch.log(counts + alpha) - math.log(len(v) + levels * alpha)
    return CategoricalMixture(torch.zeros(1, dtype=torch.float64), log_p[None])


def fit_mixture(v: Tensor, levels: int, components: int = 10, iters: int = 100, alpha: float = 1.0,
                seed: int = 0, tol: float = 1e-7) -> CategoricalMixture:
    """A mixture of `components` per-pixel categorical products by MAP EM
    (Dirichlet(1 + alpha) prior on each categorical); stops when the mean
    log-likelihood improves by less than `tol` nats."""
    v = v.reshape(len(v), -1)
    onehot = torch.nn.functional.one_hot(v, levels).double()                # (N, D, K)
    g = torch.Generator().manual_seed(seed)
    resp = torch.rand(len(v), components, generator=g, dtype=torch.float64)
    resp /= resp.sum(1, keepdim=True)
    prev = -math.inf
    model = None
    for _ in range(iters):
        nk = resp.sum(0)                                                     # (M,)
        counts = torch.einsum("nm,ndk->mdk", resp, onehot)
        log_p = torch.log(counts + alpha) - torch.log(nk + levels * alpha)[:, None, None]
        log_pi = torch.log(nk + 1e-12) - math.log(len(v))
        model = CategoricalMixture(log_pi, log_p)
        joint = torch.einsum("ndk,mdk->nm", onehot, log_p) + log_pi
        ll = torch.logsumexp(joint, 1)
        resp = torch.exp(joint - ll[:, None])
        cur = float(ll.mean())
        if cur - prev < tol:
            break
        prev = cur
    return model
