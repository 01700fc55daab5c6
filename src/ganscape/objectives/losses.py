"""Adversarial losses: pure functions with one signature.

    loss(params, real, fake) -> {"d": scalar, "g": scalar}

real, fake: raw discriminator outputs ("logits" v), shape (N,). `real` is
None in the generator phase, and then only "g" is returned. "d" is minimized
by the discriminator, "g" by the generator. sp = softplus. Formulas follow
shared/REFERENCES.md; every loss is checked against hand-computed values in
tests/objectives.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Literal, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..registry import LOSSES, ConfigError, NoParams

Terms = Dict[str, Tensor]


@dataclass(frozen=True)
class SmoothingParams:
    # One-sided label smoothing (Salimans et al. 2016): the real target is
    # 1 - smoothing, fakes keep target 0. 0 disables it.
    smoothing: float = 0.0

    def validate(self, where: str) -> None:
        if not 0.0 <= self.smoothing < 0.5:
            raise ConfigError(f"{where}.smoothing: must be in [0, 0.5), got {self.smoothing}")


def _d_cross_entropy(p: SmoothingParams, real: Tensor, fake: Tensor) -> Tensor:
    # BCE with target t on real: t sp(-v) + (1 - t) sp(v); target 0 on fake: sp(v).
    t = 1.0 - p.smoothing
    real_term = t * F.softplus(-real) + (1.0 - t) * F.softplus(real)
    return real_term.mean() + F.softplus(fake).mean()


@LOSSES.register("minimax", params=SmoothingParams)
def minimax(p: SmoothingParams, real: Optional[Tensor], fake: Tensor) -> Terms:
    """Original GAN (Goodfellow et al. 2014): D: sp(-v_r) + sp(v_f); G: -sp(v_f) = log(1 - D(G(z)))."""
    out = {"g": -F.softplus(fake).mean()}
    if real is not None:
        out["d"] = _d_cross_entropy(p, real, fake)
    return out


@LOSSES.register("ns", params=SmoothingParams)
def non_saturating(p: SmoothingParams, real: Optional[Tensor], fake: Tensor) -> Terms:
    """Non-saturating GAN: D as minimax; G: sp(-v_f) = -log D(G(z))."""
    out = {"g": F.softplus(-fake).mean()}
    if real is not None:
        out["d"] = _d_cross_entropy(p, real, fake)
    return out


@LOSSES.register("wasserstein")
def wasserstein(p: NoParams, real: Optional[Tensor], fake: Tensor) -> Terms:
    """Wasserstein GAN (Arjovsky et al. 2017): D: -v_r + v_f; G: -v_f.

    The critic must be kept Lipschitz: either with the gradient penalty
    (penalties: [gp]) or with the original weight clipping
    (method.params.weight_clip=0.01, optim rmsprop lr 5e-5, n_disc 5).
    """
    out = {"g": -fake.mean()}
    if real is not None:
        out["d"] = fake.mean() - real.mean()
    return out


@dataclass(frozen=True)
class LeastSquaresParams:
    # "raw": the LSGAN paper's a=0, b=1, c=1 on the raw output v (Mao et al. 2017);
    # "sigmoid": compare_gan's variant, the same squares applied to sigmoid(v).
    output: Literal["raw", "sigmoid"] = "raw"


@LOSSES.register("least-squares", params=LeastSquaresParams)
def least_squares(p: LeastSquaresParams, real: Optional[Tensor], fake: Tensor) -> Terms:
    """LSGAN: D: 0.5[(v_r - 1)^2 + v_f^2]; G: 0.5 (v_f - 1)^2 (on raw v, or on sigmoid(v))."""
    f = torch.sigmoid(fake) if p.output == "sigmoid" else fake
    out = {"g": 0.5 * ((f - 1.0) ** 2).mean()}
    if real is not None:
        r = torch.sigmoid(real) if p.output == "sigmoid" else real
        out["d"] = 0.5 * (((r - 1.0) ** 2).mean() + (f ** 2).mean())
    return out


@LOSSES.register("hinge")
def hinge(p: NoParams, real: Optional[Tensor], fake: Tensor) -> Terms:
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): D: relu(1 - v_r) + relu(1 + v_f); G: -v_f."""
    out = {"g": -fake.mean()}
    if real is not None:
        out["d"] = F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()
    return out


@LOSSES.register("bgan", params=SmoothingParams)
def boundary_seeking(p: SmoothingParams, real: Optional[Tensor], fake: Tensor) -> Terms:
    """Boundary-seeking GAN, continuous data (Hjelm et al. 2018): D as minimax; G: 0.5 v_f^2."""
    # G moves its samples to the decision boundary D = 1/2, where
    # 0.5 (log D - log(1 - D))^2 = 0.5 v^2 vanishes; computed on the logit v
    # (log of a saturated sigmoid is fragile).
    out = {"g": 0.5 * (fake * fake).mean()}
    if real is not None:
        out["d"] = _d_cross_entropy(p, real, fake)
    return out


# f-GAN (Nowozin et al. 2016, Table 2): output activation g_f and Fenchel
# conjugate f*, for T = g_f(v). f* is written in terms of v where that avoids
# overflow or log of a non-positive number.
@dataclass(frozen=True)
class FDivergence:
    activation: Callable[[Tensor], Tensor]       # T = g_f(v)
    conjugate_of_v: Callable[[Tensor], Tensor]   # f*(g_f(v)), as a function of v
    f: Callable[[float], float]                  # the generator function f(u), for tests


LOG2 = math.log(2.0)
F_DIVERGENCES: Dict[str, FDivergence] = {
    # KL: f(u) = u log u; g_f(v) = v; f*(t) = exp(t - 1)
    "kl": FDivergence(lambda v: v, lambda v: torch.exp(v - 1.0),
                      lambda u: u * math.log(u) if u > 0 else 0.0),
    # reverse KL: f(u) = -log u; g_f(v) = -exp(-v); f*(t) = -1 - log(-t) = -1 + v
    "reverse-kl": FDivergence(lambda v: -torch.exp(-v), lambda v: v - 1.0, lambda u: -math.log(u)),
    # Pearson chi^2: f(u) = (u - 1)^2; g_f(v) = v; f*(t) = t^2 / 4 + t
    "pearson": FDivergence(lambda v: v, lambda v: 0.25 * v * v + v, lambda u: (u - 1.0) ** 2),
    # squared Hellinger: f(u) = (sqrt(u) - 1)^2; g_f(v) = 1 - exp(-v); f*(t) = t / (1 - t) = exp(v) - 1
    "hellinger": FDivergence(lambda v: 1.0 - torch.exp(-v), lambda v: torch.exp(v) - 1.0,
                             lambda u: (math.sqrt(u) - 1.0) ** 2),
    # Jensen-Shannon: f(u) = -(u + 1) log((1 + u) / 2) + u log u;
    # g_f(v) = log 2 - sp(-v); f*(t) = -log(2 - exp(t)) = sp(v) - log 2
    "js": FDivergence(lambda v: LOG2 - F.softplus(-v), lambda v: F.softplus(v) - LOG2,
                      lambda u: -(u + 1.0) * math.log((1.0 + u) / 2.0) + (u * math.log(u) if u > 0 else 0.0)),
    # GAN: f(u) = u log u - (u + 1) log(u + 1); g_f(v) = -sp(-v); f*(t) = -log(1 - exp(t)) = sp(v)
    "gan": FDivergence(lambda v: -F.softplus(-v), lambda v: F.softplus(v),
                       lambda u: (u * math.log(u) if u > 0 else 0.0) - (u + 1.0) * math.log(u + 1.0)),
    # total variation: f(u) = |u - 1| / 2; g_f(v) = tanh(v) / 2; f*(t) = t
    "tv": FDivergence(lambda v: 0.5 * torch.tanh(v), lambda v: 0.5 * torch.tanh(v),
                      lambda u: 0.5 * abs(u - 1.0)),
}


@dataclass(frozen=True)
class FGANParams:
    divergence: Literal["kl", "reverse-kl", "pearson", "hellinger", "js", "gan", "tv"] = "js"
    # "ns": G minimizes -E_Q[g_f(v)] (the paper's practical choice);
    # "minimax": G minimizes -E_Q[f*(g_f(v))], the saddle-point objective.
    generator: Literal["ns", "minimax"] = "ns"


@LOSSES.register("f-gan", params=FGANParams)
def f_gan(p: FGANParams, real: Optional[Tensor], fake: Tensor) -> Terms:
    """f-GAN (Nowozin et al. 2016): D maximizes E_P[g_f(v)] - E_Q[f*(g_f(v))]."""
    div = F_DIVERGENCES[p.divergence]
    if p.generator == "ns":
        out = {"g": -div.activation(fake).mean()}
    else:
        out = {"g": -div.conjugate_of_v(fake).mean()}
    if real is not None:
        out["d"] = div.conjugate_of_v(fake).mean() - div.activation(real).mean()
    return out
