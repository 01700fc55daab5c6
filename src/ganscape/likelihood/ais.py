"""Annealed importance sampling for decoder-based models (Wu et al. 2017,
"On the Quantitative Analysis of Decoder-Based Generative Models"), with
bidirectional Monte Carlo (Grosse et al. 2015, 2016) to check it.

Any net mapping latents to images (a GAN generator, a VAE decoder's mean)
becomes a density model with a Gaussian observation model
p(x | z) = N(x; G(z), sigma^2 I) and the prior p(z) = N(0, I). AIS moves
`chains` chains per example along the geometric path
f_t(z) = p(z) p(x | z)^beta_t, beta_0 = 0 < ... < beta_T = 1 (the sigmoid
schedule of Grosse et al.: beta_t proportional to sigmoid(delta (2 t / T - 1)),
rescaled to [0, 1], delta = 4), with one HMC transition (`leapfrog` steps)
at each beta_t:

    log w = sum_t (beta_t - beta_{t-1}) log p(x | z_{t-1}),
    log p^(x) = log mean_chains exp(log w)     (a stochastic lower bound).

Reverse AIS starts from an exact posterior sample, which exists for data
simulated from the model (z* ~ p(z), x ~ p(x | z*)), and anneals from beta = 1
to 0: mean exp(log w_rev) estimates 1 / p(x), so -log mean exp(log w_rev) is a
stochastic upper bound. The gap between the two bounds shrinks to zero as T
grows (BDMC); the paper's check is that it is small (about 1 nat) on
simulated data at the T used on real data.

The step size follows eval_gen's rule (`adapt_step_size`): one step size
shared by every chain of the call, an exponential moving average of the
acceptance rate (weight 0.1 on the newest transition's mean acceptance,
starting at the target), the step size multiplied by 1.02 while that average
is above the target (0.65) and by 0.98 otherwise, clipped to [1e-4, 0.5]. A controller on the running average settles where the average
equals the target. (A multiplicative x1.02 / x0.98 per accepted / rejected
transition, without the average, balances where 1.02^a 0.98^(1-a) = 1, at
a = 0.505, whatever target is declared.) Where the 0.5 ceiling binds (near
beta = 0 the target is the prior, which HMC crosses easily) the acceptance
sits above the target; `AISResult.acceptance_trace` shows it per transition.

Deviations from the paper's code: the step size starts at 0.05, not 0.01:
the sigma search runs short chains (30 to 100 transitions), in which 0.01
grows by 1.02 per transition too slowly to leave the region where the
chains barely move; the mass matrix is the identity (as there); sigma is chosen from a grid by AIS on a validation subset
(`choose_sigma`), as the paper tunes it on validation data.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Tuple

import torch
from torch import Tensor

Decoder = Callable[[Tensor], Tensor]
LOG_2PI = math.log(2 * math.pi)


def sigmoid_schedule(steps: int, delta: float = 4.0) -> Tensor:
    """beta_0 = 0, ..., beta_T = 1 (T = steps), float64."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    s = torch.sigmoid(delta * (2 * torch.arange(steps + 1, dtype=torch.float64) / steps - 1))
    return (s - s[0]) / (s[-1] - s[0])


def log_prior(z: Tensor) -> Tensor:
    return -0.5 * (z.pow(2).sum(-1) + z.shape[-1] * LOG_2PI)


def gaussian_log_lik(decoder: Decoder, z: Tensor, x: Tensor, sigma: float) -> Tensor:
    """log N(x; G(z), sigma^2 I) per row; x and z have the same rows."""
    mean = decoder(z).reshape(len(z), -1)
    d = mean.shape[1]
    return -0.5 * ((x - mean).pow(2).sum(-1) / sigma ** 2 + d * (LOG_2PI + 2 * math.log(sigma)))


# eval_gen's HMC step-size controller (algorithms/hmc.py, sampling/samplers.py)
TARGET_ACCEPT = 0.65
STEP_INC, STEP_DEC = 1.02, 0.98
STEP_MIN, STEP_MAX = 1e-4, 0.5
ACCEPT_SLOWNESS = 0.9       # EMA: new = 0.9 old + 0.1 (this transition's mean acceptance)


def adapt_step_size(eps: float, avg_accept: float, accept_rate: float, target: float = TARGET_ACCEPT,
                    ) -> Tuple[float, float]:
    """One update of the shared HMC step size after a transition with mean
    acceptance `accept_rate` in [0, 1]: (new step size, new running average).
    The step size moves on the running average *before* this transition is
    folded in (eval_gen updates both at once from the old values)."""
    eps = eps * (STEP_INC if avg_accept > target else STEP_DEC)
    eps = min(max(eps, STEP_MIN), STEP_MAX)
    return eps, ACCEPT_SLOWNESS * avg_accept + (1.0 - ACCEPT_SLOWNESS) * accept_rate


@dataclass
class AISResult:
    log_w: Tensor             # (N, chains) log importance weights
    acceptance: float         # mean HMC acceptance rate over all transitions
    acceptance_trace: Tensor  # (T,) mean acceptance of each transition, float64
    step_size: float          # the step size at the end

    @property
    def log_p(self) -> Tensor:
        """Per-example estimate log mean exp(log w) (N,)."""
        return torch.logsumexp(self.log_w, 1) - math.log(self.log_w.shape[1])


def _hmc(z: Tensor, energy_grad, e: float, leapfrog: int, generator: Optional[torch.Generator]):
    """One HMC transition for every row, with step size e."""
    p0 = torch.randn(z.shape, generator=generator, dtype=z.dtype).to(z.device)
    u0, g = energy_grad(z)
    zn, p = z, p0 - 0.5 * e * g
    for i in range(leapfrog):
        zn = zn + e * p
        u1, g = energy_grad(zn)
        if i + 1 < leapfrog:
            p = p - e * g
    p = p - 0.5 * e * g
    log_accept = (u0 + 0.5 * p0.pow(2).sum(-1)) - (u1 + 0.5 * p.pow(2).sum(-1))
    r = torch.rand(len(z), generator=generator, dtype=z.dtype).to(z.device)
    accept = (torch.log(r) < log_accept) & torch.isfinite(log_accept)
    return torch.where(accept[:, None], zn, z), accept


def ais(decoder: Decoder, x: Tensor, z_dim: int, sigma: float, steps: int = 1000, chains: int = 16,
        leapfrog: int = 10, step_size: float = 0.05, target_accept: float = TARGET_ACCEPT,
        reverse_from: Optional[Tensor] = None, generator: Optional[torch.Generator] = None,
        on_step: Optional[Callable[[], None]] = None) -> AISResult:
    """AIS log-weights for examples x (N, ...) under N(decoder(z), sigma^2 I).

    reverse_from: exact posterior samples z* (N, z_dim) of each x (simulated
    data): run the reverse chain from beta = 1 to 0 instead; the returned
    log_w are then log weights of 1 / p(x) (see bdmc).
    step_size: the start of the shared step size (eval_gen's is 0.01; see the module docstring),
    adapted towards `target_accept` (adapt_step_size). on_step(): called after each of the
    `steps` transitions (a progress bar, the thread count)."""
    if not 0.0 < target_accept < 1.0:
        raise ValueError(f"target_accept must lie in (0, 1), got {target_accept}")
    n = len(x)
    xf = x.reshape(n, -1).double().repeat_interleave(chains, 0)                 # (N * S, D)
    betas = sigmoid_schedule(steps)
    if reverse_from is not None:
        z = reverse_from.double().repeat_interleave(chains, 0)
        betas = betas.flip(0)
    else:
        z = torch.randn(n * chains, z_dim, generator=generator, dtype=torch.float64).to(xf.device)
    dec = lambda zz: decoder(zz.to(torch.get_default_dtype())).double()  # noqa: E731
    log_w = torch.zeros(n * chains, dtype=torch.float64, device=xf.device)
    eps, avg = float(step_size), float(target_accept)   # eval_gen starts the average at the target
    trace = torch.zeros(len(betas) - 1, dtype=torch.float64)
    for t in range(1, len(betas)):
        with torch.no_grad():
            log_w += (betas[t] - betas[t - 1]) * gaussian_log_lik(dec, z, xf, sigma)
        beta = float(betas[t])

        def energy_grad(zz):
            zz = zz.detach().requires_grad_(True)
            with torch.enable_grad():
                u = -(log_prior(zz) + beta * gaussian_log_lik(dec, zz, xf, sigma))
                (g,) = torch.autograd.grad(u.sum(), zz)
            return u.detach(), g

        z, acc = _hmc(z, energy_grad, eps, leapfrog, generator)
        trace[t - 1] = float(acc.double().mean())
        eps, avg = adapt_step_size(eps, avg, float(trace[t - 1]), target_accept)
        if on_step is not None:
            on_step()
    return AISResult(log_w.reshape(n, chains), float(trace.mean()), trace, eps)


@dataclass
class BDMCResult:
    lower: Tensor          # (N,) forward AIS estimates of log p(x)
    upper: Tensor          # (N,) reverse AIS estimates (upper bounds in expectation)

    @property
    def gap(self) -> float:
        """Mean upper - lower (nats per example)."""
        return float((self.upper - self.lower).mean())


def simulate(decoder: Decoder, n: int, z_dim: int, sigma: float,
             generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
    """(x, z*) with z* ~ p(z), x ~ N(decoder(z*), sigma^2 I), flattened x."""
    z = torch.randn(n, z_dim, generator=generator)
    with torch.no_grad():
        mean = decoder(z).reshape(n, -1)
    x = mean + sigma * torch.randn(mean.shape, generator=generator)
    return x, z


def bdmc(decoder: Decoder, x: Tensor, z_star: Tensor, sigma: float, steps: int, chains: int = 16,
         leapfrog: int = 10, generator: Optional[torch.Generator] = None) -> BDMCResult:
    """Forward and reverse AIS on simulated (x, z*): a sandwich of log p(x)."""
    z_dim = z_star.shape[1]
    fwd = ais(decoder, x, z_dim, sigma, steps, chains, leapfrog, generator=generator)
    rev = ais(decoder, x, z_dim, sigma, steps, chains, leapfrog, reverse_from=z_star, generator=generator)
    upper = -(torch.logsumexp(rev.log_w, 1) - math.log(chains))
    return BDMCResult(fwd.log_p, upper)


def choose_sigma(decoder: Decoder, x_val: Tensor, z_dim: int, grid: Sequence[float], steps: int = 100,
                 chains: int = 4, leapfrog: int = 10,
                 generator: Optional[torch.Generator] = None,
                 on_step: Optional[Callable[[], None]] = None) -> Tuple[float, dict]:
    """The sigma of the grid with the highest mean AIS log-likelihood on the
    validation examples (a short AIS run each), and every grid value's score.
    on_step: as in ais()."""
    scores = {}
    for s in grid:
        r = ais(decoder, x_val, z_dim, float(s), steps, chains, leapfrog, generator=generator, on_step=on_step)
        scores[float(s)] = float(r.log_p.mean())
    best = max(scores, key=scores.get)
    return best, scores
