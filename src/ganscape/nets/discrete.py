"""Generators of discrete images: any image architecture's per-pixel logits
made into a distribution over discrete pixel values.

A discrete data set (data/discrete.py) says which values a pixel takes in
its info["discrete"]:

- {"mode": "channel", "values": [v_0, ..., v_{K-1}]}: every channel of every
  pixel independently takes one of K grey values (binarized digits: [-1, 1]);
- {"mode": "palette", "colors": [[c_0...], ..., [c_{K-1}...]]}: every pixel
  takes one of K colours, each a C-vector (a k-means palette, as the BGAN
  paper's quantized CelebA).

The wrapped architecture is built with `output: logits` and as many output
channels as the distribution needs: C for Bernoulli pixels (channel mode with
K = 2: one logit per pixel, p(v_1) = sigmoid(logit)), C x K for K-way
channels, K for a palette. What the discriminator sees of a discrete image
is its natural encoding: the +-1 values of Bernoulli pixels, a one-hot over
the K levels otherwise (C x K channels), so `d_shape` gives D's input shape.
`forward(z)` draws one image per z and returns it as pixel values in
[-1, 1], so sampling, sample grids and every image metric work unchanged.
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import ranks
from ..registry import ConfigError


def discrete_info(info: Dict[str, Any], what: str) -> Dict[str, Any]:
    """The data set's description of its pixel values, checked."""
    d = (info or {}).get("discrete")
    if not isinstance(d, dict) or d.get("mode") not in ("channel", "palette"):
        raise ConfigError(f"{what} needs a data set of discrete images (binary-digits, quantized-digits): "
                          "its info has no 'discrete' description of the pixel values")
    k = len(d["values"] if d["mode"] == "channel" else d["colors"])
    if k < 2:
        raise ConfigError(f"{what}: a discrete data set needs at least 2 pixel values, got {k}")
    return d


class DiscreteImageGenerator(nn.Module):
    """A distribution over discrete images given z, from an image net's logits."""

    def __init__(self, build, shape: Tuple[int, int, int], z_dim: int, discrete: Dict[str, Any]):
        """build(out_shape) -> an image generator with output logits of out_shape."""
        super().__init__()
        c, h, w = shape
        self.shape, self.z_dim, self.mode = tuple(shape), z_dim, discrete["mode"]
        if self.mode == "channel":
            levels = torch.tensor(discrete["values"], dtype=torch.float32)           # (K,)
        else:
            levels = torch.tensor(discrete["colors"], dtype=torch.float32)           # (K, C)
            if levels.ndim != 2 or levels.shape[1] != c:
                raise ConfigError(f"palette colours must be {c}-vectors, got shape {tuple(levels.shape)}")
        self.k = len(levels)
        self.register_buffer("levels", levels)
        self.bernoulli = self.mode == "channel" and self.k == 2
        out = c if self.bernoulli else (c * self.k if self.mode == "channel" else self.k)
        self.net = build((out, h, w))

    # ---- shapes ----
    @property
    def d_shape(self) -> Tuple[int, int, int]:
        """What D sees of one image: +-1 values (Bernoulli) or a one-hot over the levels."""
        c, h, w = self.shape
        if self.bernoulli:
            return self.shape
        return (c * self.k if self.mode == "channel" else self.k, h, w)

    def sample_z(self, n: int, generator=None, device=None) -> Tensor:
        device = device or self.levels.device
        return torch.randn(n, self.z_dim, generator=generator).to(device) if generator is not None \
            else ranks.per_example(lambda m: torch.randn(m, self.z_dim, device=device), n)

    # ---- the distribution ----
    def logits(self, z: Tensor) -> Tensor:
        """Bernoulli: (N, C, H, W); K-way channels: (N, C, K, H, W); palette: (N, K, H, W)."""
        out = self.net(z)
        if self.mode == "channel" and not self.bernoulli:
            n, _, h, w = out.shape
            out = out.view(n, self.shape[0], self.k, h, w)
        return out

    def _class_dim(self) -> int:
        return 2 if self.mode == "channel" else 1

    def sample(self, z: Tensor, m: int = 1) -> Tuple[Tensor, Tensor]:
        """m draws per z: (indices (N, m, ...) int64, log g(x | z) (N, m)).

        indices: Bernoulli and channel mode (N, m, C, H, W); palette mode
        (N, m, H, W). log g sums the per-pixel log-probabilities and carries
        the gradient to the generator; the draws carry none."""
        logits = self.logits(z)
        n = len(z)
        if self.bernoulli:
            lg = logits.unsqueeze(1).expand(n, m, *logits.shape[1:])
            idx = torch.bernoulli(torch.sigmoid(lg.detach())).long()
            logp = -F.binary_cross_entropy_with_logits(lg, idx.float(), reduction="none")
            return idx, logp.flatten(2).sum(2)
        d = self._class_dim()
        logp_all = F.log_softmax(logits, dim=d)                                 # (N, [C,] K, H, W)
        probs = logp_all.detach().exp().movedim(d, -1)                          # (N, [C,] H, W, K)
        flat = probs.reshape(-1, self.k)
        idx = torch.multinomial(flat, m, replacement=True)                      # (N*pixels, m)
        idx = idx.view(*probs.shape[:-1], m).movedim(-1, 1)                     # (N, m, [C,] H, W)
        lp = logp_all.unsqueeze(1).expand(n, m, *logp_all.shape[1:])
        logp = lp.gather(d + 1, idx.unsqueeze(d + 1)).squeeze(d + 1)
        return idx, logp.flatten(2).sum(2)

    def log_prob(self, z: Tensor, idx: Tensor) -> Tensor:
        """log g(x | z) of given indices (N, ...) for one draw per z: (N,)."""
        logits = self.logits(z)
        if self.bernoulli:
            return -F.binary_cross_entropy_with_logits(logits, idx.float(), reduction="none").flatten(1).sum(1)
        d = self._class_dim()
        return F.log_softmax(logits, dim=d).gather(d, idx.unsqueeze(d)).squeeze(d).flatten(1).sum(1)

    # ---- encodings ----
    def to_image(self, idx: Tensor) -> Tensor:
        """Indices (..., C, H, W) or palette (..., H, W) -> pixel values (..., C, H, W)."""
        if self.mode == "channel":
            return self.levels[idx]
        return self.levels[idx].movedim(-1, -3)

    def to_indices(self, x: Tensor) -> Tensor:
        """Images (N, C, H, W) -> the index of the nearest level (per channel, or per pixel for a palette)."""
        if self.mode == "channel":
            return (x.unsqueeze(-1) - self.levels).abs().argmin(-1)
        dist = ((x.unsqueeze(1) - self.levels.view(1, self.k, -1, 1, 1)) ** 2).sum(2)  # (N, K, H, W)
        return dist.argmin(1)

    def d_input(self, idx: Tensor) -> Tensor:
        """Indices (N, ...) -> what D sees: +-1 values (Bernoulli) or a one-hot (float)."""
        if self.bernoulli:
            return self.levels[idx]
        onehot = F.one_hot(idx, self.k).float()                                 # (N, [C,] H, W, K)
        if self.mode == "channel":
            n, c, h, w, k = onehot.shape
            return onehot.permute(0, 1, 4, 2, 3).reshape(n, c * k, h, w)
        return onehot.permute(0, 3, 1, 2)

    def relaxed(self, z: Tensor, tau: float = 0.0, hard: bool = False) -> Tensor:
        """A differentiable stand-in for a draw, in D's input space.

        tau = 0: the softmax probabilities (Bernoulli: 2 sigmoid - 1, the
        affine image of the two-way softmax in the +-1 encoding); tau > 0: a
        Gumbel-softmax draw at temperature tau (Jang et al. 2017; Bernoulli:
        the binary Concrete), straight-through one-hot when hard."""
        logits = self.logits(z)
        if self.bernoulli:
            if tau > 0:
                u = ranks.per_example(lambda m: torch.rand((m, *logits.shape[1:]), dtype=logits.dtype,
                                                           device=logits.device), len(logits)).clamp_(1e-6, 1 - 1e-6)
                p = torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / tau)
            else:
                p = torch.sigmoid(logits)
            if hard:
                p = (p > 0.5).float() + p - p.detach()
            return self.levels[0] + (self.levels[1] - self.levels[0]) * p
        d = self._class_dim()
        p = F.gumbel_softmax(logits, tau=tau, hard=hard, dim=d) if tau > 0 else F.softmax(logits, dim=d)
        if self.mode == "channel":
            n, c, k, h, w = p.shape
            return p.reshape(n, c * k, h, w)
        return p

    def forward(self, z: Tensor) -> Tensor:
        idx, _ = self.sample(z, 1)
        return self.to_image(idx[:, 0])
