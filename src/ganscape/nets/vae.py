"""A variational autoencoder on the image backbones (Kingma & Welling 2014),
with an optional inverse autoregressive flow posterior (Kingma et al. 2016).

- Encoder: any image discriminator's trunk (its `features`) and a linear
  head to the posterior's mean and log standard deviation, plus IAF's
  context vector h.
- Decoder: any image generator with `output: logits`, giving per pixel
  * `bernoulli`: one logit (2-level data, e.g. binarized digits);
  * `logistic`: the mean and log scale of a logistic discretized over the
    data's K levels (PixelCNN++'s likelihood with one component: the first
    and last bins extend to -inf / +inf), an exact log P(v | z);
  * `gaussian`: the mean and log standard deviation of a Gaussian density
    on dequantized data (likelihood.core), a bound on log P(v | z).
  Log scales are clamped below at -7 (a density cannot collapse onto a level).
- IAF (Kingma et al. 2016, section 4 and its "numerically stable" update):
  z_0 = mu + sigma * eps; each step t computes [m_t, s_t] = MADE_t(z_{t-1}, h)
  and z_t = sigmoid(s_t) * z_{t-1} + (1 - sigmoid(s_t)) * m_t, so
  log q(z_T | x) = log N(eps; 0, I) - sum log sigma - sum_t sum log sigmoid(s_t).
  The variable order is reversed between steps. MADE (Germain et al. 2015):
  masked linear layers, ELU, the context added to the first hidden layer; the
  s output's bias starts at +1 (sigmoid 0.73: each step starts near the
  identity, as the paper's forget-gate bias advice).

The model's `forward(z)` is what `ganscape sample` and the image metrics see:
the decoder's mean (the probability 2 p - 1 for Bernoulli) on the data's
level grid, or, with `samples: draw`, a draw from p(x | z).
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import ranks
from ..likelihood import core
from .pixelcnn import discretized_logistic_mixture_log_prob

LOG_SCALE_MIN = -7.0
DECODERS = ("bernoulli", "logistic", "gaussian")


class MaskedLinear(nn.Linear):
    def __init__(self, d_in: int, d_out: int, mask: Tensor):
        super().__init__(d_in, d_out)
        self.register_buffer("mask", mask.float())

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def made_degrees(dim: int, hidden: int, reverse: bool) -> Tuple[Tensor, Tensor]:
    """Input degrees 1..dim (reversed if asked) and hidden degrees 0..dim-1 in
    turn; a hidden unit of degree 0 sees only the context."""
    d_in = torch.arange(1, dim + 1)
    if reverse:
        d_in = d_in.flip(0)
    return d_in, torch.arange(hidden) % dim


class IAFStep(nn.Module):
    """One IAF step: z -> sigmoid(s) z + (1 - sigmoid(s)) m, [m, s] = MADE(z, h)."""

    def __init__(self, dim: int, hidden: int, context: int, reverse: bool):
        super().__init__()
        d_in, d_h = made_degrees(dim, hidden, reverse)
        self.inp = MaskedLinear(dim, hidden, d_h[:, None] >= d_in[None, :])
        self.ctx = nn.Linear(context, hidden) if context else None
        self.hid = MaskedLinear(hidden, hidden, d_h[:, None] >= d_h[None, :])
        out_mask = d_in[:, None] > d_h[None, :]
        self.out = MaskedLinear(hidden, 2 * dim, torch.cat([out_mask, out_mask]))
        with torch.no_grad():
            self.out.weight.mul_(0.01)
            self.out.bias.zero_()
            self.out.bias[dim:] = 1.0
        self.dim = dim

    def forward(self, z: Tensor, h: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        a = self.inp(z)
        if self.ctx is not None:
            a = a + self.ctx(h)
        a = self.hid(F.elu(a))
        m, s = self.out(F.elu(a)).chunk(2, -1)
        gate = torch.sigmoid(s)
        return gate * z + (1 - gate) * m, F.logsigmoid(s).sum(-1)


class VAE(nn.Module):
    def __init__(self, encoder: nn.Module, feature_dim: int, decoder: nn.Module, shape: Tuple[int, ...],
                 z_dim: int, decoder_kind: str, levels: int, iaf_steps: int = 0, iaf_hidden: int = 0,
                 context_dim: int = 0, samples: str = "mean"):
        super().__init__()
        if decoder_kind not in DECODERS:
            raise ValueError(f"decoder must be one of {DECODERS}, got {decoder_kind!r}")
        self.encoder, self.decoder = encoder, decoder
        self.shape, self.z_dim, self.dim = tuple(shape), z_dim, math.prod(shape)
        self.kind, self.levels, self.samples = decoder_kind, levels, samples
        self.context_dim = context_dim if iaf_steps else 0
        self.head = nn.Linear(feature_dim, 2 * z_dim + self.context_dim)
        self.iaf = nn.ModuleList(IAFStep(z_dim, iaf_hidden, self.context_dim, reverse=bool(t % 2))
                                 for t in range(iaf_steps))

    # -- the prior and the generator interface (sample, eval, AIS) --
    def sample_z(self, n: int, generator: Optional[torch.Generator] = None, device=None) -> Tensor:
        device = device or next(self.parameters()).device
        return ranks.per_example(lambda m: torch.randn(m, self.z_dim, generator=generator), n).to(device)

    def decode(self, z: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """The decoder's per-pixel parameters: (logit, None) for Bernoulli,
        (mean, log scale) otherwise, each (N, *shape)."""
        out = self.decoder(z)
        if self.kind == "bernoulli":
            return out.reshape(-1, *self.shape), None
        c = self.shape[0]
        mean, log_scale = out[:, :c], out[:, c:]
        return mean, log_scale.clamp(min=LOG_SCALE_MIN)

    def mean(self, z: Tensor) -> Tensor:
        """E[x | z] in [-1, 1] (Bernoulli: 2 p - 1; others: the location, clamped)."""
        a, _ = self.decode(z)
        return 2 * torch.sigmoid(a) - 1 if self.kind == "bernoulli" else a.clamp(-1, 1)

    def forward(self, z: Tensor) -> Tensor:
        a, log_scale = self.decode(z)
        if self.samples == "mean":
            if self.kind == "bernoulli":
                return 2 * torch.sigmoid(a) - 1
            return core.quantize(a.clamp(-1, 1), self.levels)
        if self.kind == "bernoulli":
            return torch.bernoulli(torch.sigmoid(a)) * 2 - 1
        u = torch.rand_like(a).clamp(1e-6, 1 - 1e-6)
        noise = torch.log(u) - torch.log1p(-u) if self.kind == "logistic" else torch.randn_like(a)
        return core.quantize((a + torch.exp(log_scale) * noise).clamp(-1, 1), self.levels)

    # -- the posterior --
    def posterior(self, x: Tensor, k: int = 1) -> Tuple[Tensor, Tensor]:
        """k draws z (N, k, z_dim) from q(z | x) and log q(z | x) (N, k)."""
        a = self.head(self.encoder.features(x))
        mu, log_sigma = a[:, :self.z_dim], a[:, self.z_dim:2 * self.z_dim].clamp(min=LOG_SCALE_MIN)
        h = a[:, 2 * self.z_dim:]
        eps = ranks.per_example(lambda m: torch.randn(m, k, self.z_dim, device=x.device, dtype=mu.dtype), len(x))
        z = mu[:, None] + torch.exp(log_sigma)[:, None] * eps
        log_q = (-0.5 * eps.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1) - log_sigma.sum(-1, keepdim=True)
        if len(self.iaf):
            hk = h[:, None].expand(-1, k, -1)
            for step in self.iaf:
                z, log_gate = step(z, hk)
                log_q = log_q - log_gate
        return z, log_q

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x | z) (N,) for z (N, z_dim): exact log P(v | z) for the
        discrete decoders; the density of (dequantized) x for Gaussian."""
        a, log_scale = self.decode(z)
        if self.kind == "bernoulli":
            t = (x > 0).float()
            lp = -F.binary_cross_entropy_with_logits(a, t, reduction="none")
        elif self.kind == "logistic":
            lp = discretized_logistic_mixture_log_prob(x, torch.zeros_like(a)[..., None], a[..., None],
                                                       log_scale[..., None], self.levels)
        else:
            lp = -0.5 * ((x - a) * torch.exp(-log_scale)).pow(2) - log_scale - 0.5 * math.log(2 * math.pi)
        return lp.flatten(1).sum(1)

    def log_weights(self, x: Tensor, k: int = 1) -> Tensor:
        """log p(x, z_i) - log q(z_i | x) for k posterior draws: (N, k)."""
        z, log_q = self.posterior(x, k)
        n = len(x)
        flat = z.reshape(n * k, self.z_dim)
        xk = x[:, None].expand(n, k, *x.shape[1:]).reshape(n * k, *x.shape[1:])
        log_px = self.log_likelihood(xk, flat).reshape(n, k)
        log_pz = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1)
        return log_px + log_pz - log_q

    def elbo(self, x: Tensor) -> Tensor:
        """The evidence lower bound per example (N,), one posterior draw."""
        return self.log_weights(x, 1)[:, 0]

    def iwae(self, x: Tensor, k: int) -> Tensor:
        """The importance-weighted bound with k draws (Burda et al. 2016), (N,)."""
        return torch.logsumexp(self.log_weights(x, k), 1) - math.log(k)
