"""Boundary-seeking GANs for discrete images (Hjelm et al., ICLR 2018), and
the relaxations the paper compares them with.

`bgan`: the generator outputs a distribution g(x | z) over discrete images
(nets/discrete.py). For each z it draws M images x_m; D's logit v_m = D(x_m)
gives the importance weight w_m = (df*/dT)(T(x_m)) of the chosen
f-divergence, an estimate of the density ratio p(x) / g(x) once D is near its
optimum:

    GAN, JS, reverse KL: log w = v      KL: log w = v - 1
    squared Hellinger:   log w = 2 v    Pearson chi^2: w = v / 2 + 1

- estimator "importance" (the paper's main estimator; MaliGAN's form): the
  weights are normalized over the M draws of each z, w~ = softmax_m(log w),
  and G minimizes -mean_z sum_m stopgrad(w~_m) log g(x_m | z);
- estimator "reinforce": the reward r = stopgrad(log w - log Z) with log Z an
  exponential moving average (decay `baseline_decay`) of the batch's
  log-mean-exp of log w, and G minimizes -mean(r log g(x | z)).

D sees N real images and all N x M draws (the paper trains it on every
sample) with the configured loss, which must estimate the same divergence:
the GAN and JS weights need minimax, ns or f-gan (gan or js); the others
f-gan with that divergence. Penalties see the reals and the first draw of
each z (one fake per real, as interpolation needs). The stats log the
log-partition estimate log Z = mean_z logmeanexp_m log w and the effective
sample size 1 / sum_m w~_m^2 (between 1 and M).

`relaxed`: WGAN-GP on the softmax outputs (D sees one-hot real data and G's
softmax probabilities; pair with loss wasserstein and penalty gp) or the
Gumbel-softmax relaxation (Jang et al. 2017) with temperature
tau_t = max(tau_end, tau_start exp(-anneal_rate t)) at generator step t,
straight-through when `hard`; any loss.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Literal, Optional

import torch
from torch import Tensor

from ..nets.discrete import DiscreteImageGenerator, discrete_info
from ..registry import LOSSES, METHODS, ConfigError
from .base import Batch, Method, Stats, grad_norm, set_requires_grad
from .gan import GAN, GANParams

Divergence = Literal["gan", "js", "kl", "reverse-kl", "hellinger", "pearson"]


def log_weight(divergence: str, v: Tensor) -> Tensor:
    """log w = log (df*/dT)(T(v)) for D's logit v (see the module docstring)."""
    if divergence in ("gan", "js", "reverse-kl"):
        return v
    if divergence == "kl":
        return v - 1.0
    if divergence == "hellinger":
        return 2.0 * v
    if divergence == "pearson":
        # w = v / 2 + 1 is a density ratio only where positive; a D that
        # strays below v = -2 gives the draw (almost) no weight.
        return torch.log((0.5 * v + 1.0).clamp_min(1e-12))
    raise ValueError(f"unknown divergence {divergence!r}")


def normalized_weights(logw: Tensor):
    """From log w (groups, M): the weights normalized within each group
    w~ = softmax_m(log w), the log-partition estimate log Z = mean over
    groups of logmeanexp_m log w, and the effective sample size
    1 / sum_m w~^2 (between 1 and M), averaged over groups."""
    w = torch.softmax(logw, dim=1)
    log_z = (torch.logsumexp(logw, 1) - math.log(logw.shape[1])).mean()
    return w, log_z, (1.0 / (w ** 2).sum(1)).mean()


def check_loss_matches(divergence: str, config, where: str) -> None:
    """D must be trained on the divergence whose weights G uses."""
    name = config.loss.name
    params = LOSSES.params(name, config.loss.params)
    f = getattr(params, "divergence", None) if name == "f-gan" else None
    if divergence in ("gan", "js"):
        ok = name in ("minimax", "ns") or f in ("gan", "js")
        allowed = "minimax, ns, or f-gan with divergence gan or js"
    else:
        ok = f == divergence
        allowed = f"f-gan with divergence {divergence}"
    if not ok:
        got = f"f-gan ({f})" if name == "f-gan" else name
        raise ConfigError(f"{where}.divergence: {divergence!r} weights need D trained on the same divergence; "
                          f"loss is {got}, use {allowed}")


def build_discrete_nets(cfg, data, what: str) -> Dict[str, torch.nn.Module]:
    from ..train.state import build_net
    m = cfg.model
    if m.generator.cond != "none" or m.discriminator.cond != "none":
        raise ConfigError(f"method {what}: class-conditional nets are not offered for discrete images; "
                          "set model.*.cond: none")
    if len(data.shape) != 3:
        raise ConfigError(f"method {what} trains generators of discrete images; data has shape {data.shape}")
    disc = discrete_info(data.info, f"method {what}")
    G = DiscreteImageGenerator(lambda shape: build_net(cfg, "generator", m.generator, shape, output="logits"),
                               tuple(data.shape), m.z_dim, disc)
    D = build_net(cfg, "discriminator", m.discriminator, G.d_shape)
    return {"G": G, "D": D}


class _DiscreteGAN(GAN):
    distributed_refusal = "its categorical draws are not split over processes (every rank would draw the same fakes)"

    """What both recipes share: the nets, and real images in D's encoding."""
    name = "discrete"

    def build_nets(self, cfg, data):
        return build_discrete_nets(cfg, data, self.name)

    def encode_real(self, G: DiscreteImageGenerator, x: Tensor) -> Tensor:
        return G.d_input(G.to_indices(x))


@dataclass(frozen=True)
class BGANParams:
    divergence: Divergence = "gan"
    samples: int = 20                                   # M draws per z
    estimator: Literal["importance", "reinforce"] = "importance"
    baseline_decay: float = 0.995                       # reinforce: EMA decay of log Z

    def validate(self, where: str) -> None:
        if self.samples < 1 or (self.estimator == "importance" and self.samples < 2):
            raise ConfigError(f"{where}.samples: at least 2 draws per z to normalize weights over "
                              f"(1 is allowed for reinforce), got {self.samples}")
        if not 0.0 <= self.baseline_decay < 1.0:
            raise ConfigError(f"{where}.baseline_decay: must be in [0, 1), got {self.baseline_decay}")


class BGAN(_DiscreteGAN):
    name = "bgan"

    def __init__(self, params: BGANParams, config):
        super().__init__(GANParams(), config)
        self.b = params
        check_loss_matches(params.divergence, config, "method.params")
        self.log_z: Optional[Tensor] = None  # reinforce's EMA baseline (None until the first G step)

    def state_dict(self) -> Dict:
        return {"log_z": self.log_z}

    def load_state_dict(self, sd: Dict) -> None:
        self.log_z = sd.get("log_z")

    def d_step(self, state, real: Tensor, log: bool, y=None) -> Stats:
        G, D, opt = state.nets["G"], state.nets["D"], state.optims["D"]
        n, m = real.shape[0], self.b.samples
        with torch.no_grad():
            idx, _ = G.sample(G.sample_z(n), m)
            fake = G.d_input(idx.flatten(0, 1))          # (N*M, ...), draw j of z i at i*M + j
        v_real, v_fake = D(real), D(fake)
        terms = self.loss(v_real, v_fake)
        total = terms["d"]
        stats: Stats = {"d_loss": terms["d"].detach()}
        for fn, p, pname in self.penalties:
            if state.d_step % p.every == 0:
                pen = fn(p, D, real, fake[::m]) * p.every
                total = total + pen
                stats[f"penalty/{pname}"] = pen.detach()
        opt.zero_grad(set_to_none=True)
        state.backward(total, opt)
        if log:
            stats["d_grad_norm"] = grad_norm(D)
        opt.step()
        state.d_step += 1
        stats["d_real"] = v_real.detach().mean()
        stats["d_fake"] = v_fake.detach().mean()
        return stats

    def g_loss(self, logw: Tensor, logg: Tensor) -> Dict[str, Tensor]:
        """G's loss and diagnostics from log w (N, M) and log g(x_m | z) (N, M)."""
        w, log_z, ess = normalized_weights(logw)
        out = {"log_z": log_z, "ess": ess}
        if self.b.estimator == "importance":
            out["loss"] = -(w.detach() * logg).sum(1).mean()
            return out
        batch = torch.logsumexp(logw.flatten(), 0) - math.log(logw.numel())
        d = self.b.baseline_decay
        # The first batch's estimate starts the average (a start at 0 would
        # bias the early rewards by the whole log-partition).
        self.log_z = batch.detach() if self.log_z is None else d * self.log_z + (1.0 - d) * batch.detach()
        out["loss"] = -((logw - self.log_z).detach() * logg).mean()
        out["log_z_ema"] = self.log_z
        return out

    def g_step(self, state, real: Tensor, log: bool, y=None) -> Stats:
        G, D, opt = state.nets["G"], state.nets["D"], state.optims["G"]
        n, m = real.shape[0], self.b.samples
        set_requires_grad(D, False)
        idx, logg = G.sample(G.sample_z(n), m)
        with torch.no_grad():
            v = D(G.d_input(idx.flatten(0, 1))).view(n, m)
        out = self.g_loss(log_weight(self.b.divergence, v), logg)
        opt.zero_grad(set_to_none=True)
        state.backward(out["loss"], opt)
        stats: Stats = {"g_loss": out["loss"].detach(), "log_z": out["log_z"].detach(), "ess": out["ess"].detach()}
        if "log_z_ema" in out:
            stats["log_z_ema"] = out["log_z_ema"]
        if log:
            stats["g_grad_norm"] = grad_norm(G)
        opt.step()
        set_requires_grad(D, True)
        return stats

    def step(self, state, batches: List[Batch], log: bool) -> Stats:
        G = state.nets["G"]
        stats: Stats = {}
        for b in batches:
            stats.update(self.d_step(state, self.encode_real(G, b.x), log))
        stats.update(self.g_step(state, batches[-1].x, log))
        return stats


@METHODS.register("bgan", params=BGANParams)
def bgan(params: BGANParams, config) -> Method:
    """Boundary-seeking GAN for discrete images: normalized importance weights or REINFORCE (Hjelm et al. 2018)."""
    return BGAN(params, config)


@dataclass(frozen=True)
class RelaxedParams(GANParams):
    relaxation: Literal["softmax", "gumbel"] = "softmax"
    tau_start: float = 1.0        # gumbel: the temperature at step 0
    tau_end: float = 0.5          # gumbel: the floor of the schedule (Jang et al. 2017 anneal to 0.5)
    anneal_rate: float = 1e-4     # gumbel: tau_t = max(tau_end, tau_start exp(-anneal_rate t))
    hard: bool = False            # gumbel: straight-through one-hot draws

    def validate(self, where: str) -> None:
        super().validate(where)
        if self.tau_start <= 0 or self.tau_end <= 0:
            raise ConfigError(f"{where}.tau_start, tau_end: temperatures must be > 0")
        if self.anneal_rate < 0:
            raise ConfigError(f"{where}.anneal_rate: must be >= 0, got {self.anneal_rate}")
        if self.hard and self.relaxation != "gumbel":
            raise ConfigError(f"{where}.hard: straight-through draws are for relaxation gumbel")


class Relaxed(_DiscreteGAN):
    name = "relaxed"

    def __init__(self, params: RelaxedParams, config):
        super().__init__(params, config)
        self.tau = 0.0

    def temperature(self, step: int) -> float:
        if self.p.relaxation == "softmax":
            return 0.0
        return max(self.p.tau_end, self.p.tau_start * math.exp(-self.p.anneal_rate * step))

    def generate(self, G, n: int, y: Optional[Tensor]) -> Tensor:
        return G.relaxed(G.sample_z(n), self.tau, self.p.hard)

    def step(self, state, batches: List[Batch], log: bool) -> Stats:
        G = state.nets["G"]
        self.tau = self.temperature(state.step)
        stats: Stats = {}
        for b in batches:
            stats.update(self.d_step(state, self.encode_real(G, b.x), log))
        stats.update(self.g_step(state, self.encode_real(G, batches[-1].x), log))
        if self.p.relaxation == "gumbel":
            stats["tau"] = torch.tensor(self.tau)
        return stats


@METHODS.register("relaxed", params=RelaxedParams)
def relaxed(params: RelaxedParams, config) -> Method:
    """Discrete images by relaxation: WGAN-GP on softmax outputs, or Gumbel-softmax with an annealed temperature."""
    return Relaxed(params, config)
