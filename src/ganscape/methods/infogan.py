"""InfoGAN (Chen et al. 2016): the GAN recipe (any loss, penalty,
normalization, architecture, improved-GAN option) plus latent codes c whose
mutual information with the samples is maximized through its variational
lower bound

    L_I(G, Q) = E_{c ~ p(c), x ~ G(z, c)} [log Q(c | x)] + H(c)  <=  I(c; G(z, c)),

min_{G, Q} max_D V(D, G) - lambda L_I(G, Q). The nets are in
nets/infogan.py: G carries the codes in its latent (G(z) for any standard
normal z samples the codes from their priors), Q is a head on D's trunk
features.

Which parameters get -lambda L_I, as the official code does it
(openai/InfoGAN, algos/infogan_trainer.py and models/regularized_gan.py):
Q's layers live in the discriminator's scope ("d_net"), so Q and D's shared
trunk are updated by the DISCRIMINATOR's optimizer (Adam, D's learning rate)
on D's loss minus lambda * L_I of that update's fakes, and G by its own
optimizer on G's loss minus lambda * L_I. Here Q is its own named net with
its own optimizer entry built from ``optim.discriminator``, stepped in every
discriminator update (n_disc per training step); D's trunk gets the L_I
gradient in that update too. In the generator update D and Q are frozen.

L_I's terms, each summed over the codes of its kind and averaged over the
batch (H(c) is a constant; it is added only to the logged bound):
categorical log Q = log softmax(logits)[c]; continuous: the factored Gaussian
log-density -1/2 log(2 pi) - log sigma - (c - mu)^2 / (2 sigma^2);
Bernoulli: c log sigmoid(l) + (1 - c) log sigmoid(-l).

Weights: ``info_weight`` (lambda) scales the categorical and Bernoulli terms,
``continuous_weight`` the continuous ones. The official MNIST run uses 1 for
both, with the Gaussian's std fixed at 1 (``Uniform(1, fix_std=True)``,
``learn_std: false`` here); the paper notes that with continuous codes a
smaller lambda is typically used, so that lambda L_I, which then contains a
differential entropy (unbounded once the std is learned), stays on the scale
of the GAN objective.

ClusterGAN's latent (Mukherjee et al. 2019; nets/infogan.py), two options
off by default: ``noise_std`` (sigma: G sees sigma * noise; ClusterGAN 0.1)
and ``noise_weight`` (beta_n: Q also regresses the scaled noise, and
-lambda L_I gains beta_n * mean over batch and coordinates of
(Q_noise(x) - sigma * noise)^2, ClusterGAN's term with its beta_n = 10 for
MNIST). ClusterGAN's categorical term is this module's (beta_c = 10 there:
info_weight). Deviation: ClusterGAN's encoder is a separate net trained with
G's optimizer on fakes only; here it is Q, on D's trunk, stepped with D as
every InfoGAN code (so D's trunk also gets the weighted terms). ClusterGAN
has no continuous codes (continuous: 0; its MNIST latent is 30 noise
coordinates and one categorical: z_dim 31) and trains with WGAN-GP.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..nets.infogan import Codes, CodeSpec, InfoGANGenerator, QHead, QOutput, traversal_grid
from ..registry import METHODS, ConfigError
from .base import Method, Stats, set_requires_grad
from .gan import GAN, GANParams


@dataclass(frozen=True)
class InfoGANParams(GANParams):
    # Latent codes: one categorical code per entry (its number of values),
    # continuous codes uniform on [-1, 1], Bernoulli(1/2) codes. Each takes
    # one of model.z_dim's latent coordinates; the rest is noise.
    categorical: Tuple[int, ...] = (10,)
    continuous: int = 2
    bernoulli: int = 0
    # lambda for the categorical and Bernoulli terms of L_I, and for the continuous ones.
    info_weight: float = 1.0
    continuous_weight: float = 1.0
    # Q predicts a log-std per continuous code (the paper's factored
    # Gaussian); false fixes the std at 1 (the official MNIST setting).
    learn_std: bool = True
    # Q's hidden layer width (fc + batch norm + LeakyReLU as the official
    # code, 128); 0 = a linear head on D's features.
    q_hidden: int = 128
    # ClusterGAN (Mukherjee et al. 2019): the noise's scale as G sees it (0.1
    # there), and beta_n, the weight of Q's squared error on that scaled noise
    # (10 there; 0: Q does not estimate the noise).
    noise_std: float = 1.0
    noise_weight: float = 0.0
    # Columns of the code traversal pictures (samples/traversal_c*).
    traversal_steps: int = 10

    @property
    def codes(self) -> CodeSpec:
        return CodeSpec(tuple(self.categorical), self.continuous, self.bernoulli)

    def validate(self, where: str) -> None:
        super().validate(where)
        self.codes.validate(where)
        if self.noise_std <= 0:
            raise ConfigError(f"{where}.noise_std: must be > 0, got {self.noise_std}")
        for k in ("info_weight", "continuous_weight", "q_hidden", "noise_weight"):
            if getattr(self, k) < 0:
                raise ConfigError(f"{where}.{k}: must be >= 0, got {getattr(self, k)}")
        if self.traversal_steps < 2:
            raise ConfigError(f"{where}.traversal_steps: must be >= 2, got {self.traversal_steps}")


# ---- the terms of L_I: log Q(c | x) per example (N,), summed over the codes of one kind ----
def categorical_loglik(logits: Tensor, c: Tensor) -> Tensor:
    """logits (N, K), c (N,) int64 in 0..K-1 -> log softmax(logits)[c], (N,)."""
    return -F.cross_entropy(logits, c, reduction="none")


def gaussian_loglik(c: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """c, mean, log_std (N, M) -> sum over M of log N(c; mean, exp(log_std)^2), (N,)."""
    return (-0.5 * math.log(2 * math.pi) - log_std - 0.5 * ((c - mean) * torch.exp(-log_std)) ** 2).sum(1)


def bernoulli_loglik(logits: Tensor, c: Tensor) -> Tensor:
    """logits (N, M), c (N, M) in {0, 1} -> sum over M of log Bernoulli(c; sigmoid(logits)), (N,)."""
    return -F.binary_cross_entropy_with_logits(logits, c, reduction="none").sum(1)


def code_entropy(spec: CodeSpec) -> float:
    """H(c) of the priors: log K per categorical code, log 2 (nats) per
    continuous code (differential entropy of U(-1, 1)) and per Bernoulli code."""
    return sum(math.log(k) for k in spec.categorical) + (spec.continuous + spec.bernoulli) * math.log(2.0)


def info_terms(q: QOutput, codes: Codes) -> Dict[str, Tensor]:
    """Batch means of log Q(c | x) by kind: {"cat", "cont", "bern"} (0 where there are none)."""
    zero = q.mean.new_zeros(())
    cat = sum((categorical_loglik(l, codes.cat[:, i]) for i, l in enumerate(q.cat_logits)), zero.expand(len(q.mean)))
    cont = gaussian_loglik(codes.cont, q.mean, q.log_std) if codes.cont.shape[1] else zero.expand(len(q.mean))
    bern = bernoulli_loglik(q.bern_logits, codes.bern) if codes.bern.shape[1] else zero.expand(len(q.mean))
    return {"cat": cat.mean(), "cont": cont.mean(), "bern": bern.mean()}


class InfoGAN(GAN):
    def __init__(self, params: InfoGANParams, config):
        super().__init__(params, config)
        m = config.model
        if m.generator.cond != "none" or m.discriminator.cond != "none":
            raise ConfigError("method infogan: its codes are unsupervised; class-conditional nets (model.*.cond) "
                              "are trained by method cgan; set cond: none")
        if m.discriminator.pack != 1:
            raise ConfigError("method infogan: Q reads one example's features, so PacGAN packing "
                              "(model.discriminator.pack > 1) is not combined with it; set pack: 1")
        self.spec = params.codes
        self.Q = None       # set in setup(): the hooks below get D, not the state
        self._codes = None  # codes of the fakes generate() made last
        self._noise = None  # and their noise as G saw it (noise_std * noise)

    def build_nets(self, cfg, data):
        import dataclasses
        from ..train.state import build_net
        m = cfg.model
        n_slots = self.spec.n_slots
        if m.z_dim - n_slots < 1:
            raise ConfigError(f"model.z_dim: InfoGAN's {n_slots} codes take one latent coordinate each "
                              f"(categorical {list(self.spec.categorical)}, continuous {self.spec.continuous}, "
                              f"bernoulli {self.spec.bernoulli}), so z_dim = {m.z_dim} leaves no "
                              f"incompressible noise; set z_dim > {n_slots}")
        # The wrapped generator takes noise + codes as the paper's input (categoricals one-hot).
        inner = dataclasses.replace(cfg, model=dataclasses.replace(m, z_dim=m.z_dim - n_slots + self.spec.input_dim))
        G = InfoGANGenerator(build_net(inner, "generator", m.generator, data.shape), m.z_dim, self.spec,
                             self.p.noise_std)
        D = build_net(cfg, "discriminator", m.discriminator, data.shape)
        features = D.head.in_features - m.discriminator.minibatch_features  # the trunk's h, before minibatch features
        Q = QHead(features, self.spec, self.p.q_hidden, self.p.learn_std,
                  m.z_dim - n_slots if self.p.noise_weight else 0)
        return {"G": G, "D": D, "Q": Q}

    def optimizers(self, cfg, nets):
        # Q with the discriminator's optimizer settings, as the official code
        # (its encoder is in D's variable scope); see the module docstring.
        return {"G": (cfg.optim.generator, nets["G"].parameters()),
                "D": (cfg.optim.discriminator, nets["D"].parameters()),
                "Q": (cfg.optim.discriminator, nets["Q"].parameters())}

    def setup(self, state) -> None:
        super().setup(state)
        self.Q = state.nets["Q"]

    # ---- the GAN recipe's hooks ----
    def generate(self, G, n: int, y: Optional[Tensor]) -> Tensor:
        z = G.sample_z(n)
        self._codes = G.codes(z)
        self._noise = G.noise_std * G.noise(z)
        return G(z)

    def info_loss(self, h_fake: Tensor) -> Tuple[Tensor, Dict[str, Tensor]]:
        """-(lambda (log Q_cat + log Q_bern) + lambda_cont log Q_cont) of the last fakes, and its stats."""
        q = self.Q(h_fake)
        t = info_terms(q, self._codes)
        loss = -(self.p.info_weight * (t["cat"] + t["bern"]) + self.p.continuous_weight * t["cont"])
        bound = code_entropy(self.spec) + t["cat"] + t["cont"] + t["bern"]
        stats = {"info/mi_bound": bound.detach()}
        if self.p.noise_weight:
            mse = ((q.noise - self._noise) ** 2).mean()
            loss = loss + self.p.noise_weight * mse
            stats["info/noise_mse"] = mse.detach()
        for k, name in (("cat", "categorical"), ("cont", "continuous"), ("bern", "bernoulli")):
            if getattr(self.spec, name):
                stats[f"info/{k}_nll"] = -t[k].detach()
        return loss, stats

    def d_extra(self, D, h_real: Tensor, h_fake: Tensor, y: Optional[Tensor]):
        loss, _ = self.info_loss(h_fake)
        return loss, {}

    def g_extra(self, D, h_fake: Tensor, y: Optional[Tensor]):
        return self.info_loss(h_fake)

    # ---- the updates: Q is stepped with D, frozen with G ----
    def also_stepped_with_d(self, state) -> list:
        return [state.optims["Q"]]

    def d_step(self, state, real: Tensor, log: bool, y: Optional[Tensor] = None) -> Stats:
        opt = state.optims["Q"]
        opt.zero_grad(set_to_none=True)
        stats = super().d_step(state, real, log, y)  # its backward fills Q's gradients too
        opt.step()
        return stats

    def g_step(self, state, real: Tensor, log: bool, y: Optional[Tensor] = None) -> Stats:
        Q = state.nets["Q"]
        set_requires_grad(Q, False)
        try:
            return super().g_step(state, real, log, y)
        finally:
            set_requires_grad(Q, True)

    # ---- pictures ----
    def pictures(self, state) -> Dict[str, Tuple[Tensor, int]]:
        """Code traversals of the sampler, {name: (images, images per row)}:
        one per continuous code (rows = values of the first categorical code),
        or one with noise draws as columns when there is none. Image data only."""
        G = state.sampler
        if len(G.shape) != 3:
            return {}
        steps = self.p.traversal_steps
        if not self.spec.continuous:
            return {"traversal": traversal_grid(G, steps=steps)}
        return {f"traversal_c{j}": traversal_grid(G, cont_index=j, steps=steps)
                for j in range(self.spec.continuous)}


@METHODS.register("infogan", params=InfoGANParams)
def infogan(params: InfoGANParams, config) -> Method:
    """InfoGAN: categorical / continuous / Bernoulli latent codes, a Q head on D's trunk, mutual-information bound."""
    return InfoGAN(params, config)
