"""NetGAN (Bojchevski et al. 2018): a Wasserstein GAN of random walks on one graph.

G (nets/netgan.py, architecture `netgan`) generates walks of node ids through straight-through
Gumbel-softmax outputs (or the softmax: `relaxation`); D scores one-hot walks. The loss and the
penalty are the config's (the preset: `wasserstein` with `gp` weight 10, as NetGAN). Real walks
(data set `graph`: fresh first-order walks every batch) are fed to D as one-hots; WGAN-GP
interpolates between them and G's relaxed one-hots, one uniform per walk, the gradient's norm taken
over the whole (L, N) walk, as the code's.

Faithful to the authors' code (netgan/netgan.py):
- Gumbel temperature annealed as the code: tau = max(temp_start exp(-temp_decay * it), temp_min),
  temp_start 5, temp_decay 5e-5 (temperature_decay = 1 - 5e-5), temp_min 0.5, updated every
  `anneal_every` (500, the code's eval_every) iterations: constant in between (tau_0 = 5).
- each iteration is one G update then `train.n_disc` (3) D updates (the code's order), every D
  update on a fresh batch of real walks and fresh fakes;
- L2 penalties l2_generator 1e-7 and l2_discriminator 5e-5 times sum(w^2) / 2 (TensorFlow's l2_loss)
  over each net's weights except W_down (biases included, as the code's trainable variables);
- Adam lr 3e-4, betas (0.5, 0.9), batch 128, walk length 16, z_dim 16 (the preset).

Deviations: the score matrix, graph assembly, edge overlap and link prediction are the graph metric's
(metrics/graphs.py), run by the loop's evaluator on `eval.n` generated walks, not the code's 15
million transitions every 500 iterations, and there is no early stopping on the validation AUC (the
run trains `train.steps`; eval.best can keep the best checkpoint). torch's LSTM initialization (see
nets/netgan.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Literal, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from ..registry import METHODS, ConfigError
from .base import Batch, Stats
from .gan import GAN, GANParams


@dataclass(frozen=True)
class NetGANParams(GANParams):
    relaxation: Literal["gumbel", "softmax"] = "gumbel"
    hard: bool = True                 # gumbel: straight-through one-hots (the code's hard=True)
    temp_start: float = 5.0
    temp_min: float = 0.5
    temp_decay: float = 5e-5          # tau = max(temp_start exp(-temp_decay * it), temp_min)
    anneal_every: int = 500           # tau is updated every this many iterations (the code's eval_every)
    l2_generator: float = 1e-7
    l2_discriminator: float = 5e-5

    def validate(self, where: str) -> None:
        super().validate(where)
        if self.relaxation not in ("gumbel", "softmax"):
            raise ConfigError(f"{where}.relaxation: {self.relaxation!r} is not allowed; choose gumbel or softmax")
        if self.temp_start <= 0 or self.temp_min <= 0:
            raise ConfigError(f"{where}.temp_start, temp_min: temperatures must be > 0")
        for k in ("temp_decay", "l2_generator", "l2_discriminator"):
            if getattr(self, k) < 0:
                raise ConfigError(f"{where}.{k}: must be >= 0, got {getattr(self, k)}")
        if self.anneal_every < 1:
            raise ConfigError(f"{where}.anneal_every: must be >= 1, got {self.anneal_every}")


def temperature(p: NetGANParams, step: int) -> float:
    """The Gumbel temperature at iteration `step`: NetGAN's schedule, updated every anneal_every steps."""
    it = (step // p.anneal_every) * p.anneal_every
    return max(p.temp_start * math.exp(-p.temp_decay * it), p.temp_min)


def l2_loss(module: torch.nn.Module) -> Tensor:
    """sum(w^2) / 2 over every parameter but W_down (TensorFlow's tf.nn.l2_loss, as NetGAN's code)."""
    terms = [(p * p).sum() for name, p in module.named_parameters() if not name.endswith("W_down")]
    return 0.5 * torch.stack(terms).sum() if terms else torch.zeros(())


class NetGAN(GAN):
    data_kind = "tokens"      # eval's defaults are the token ones; the preset asks for metric `graph`
    distributed_refusal = ("NetGAN's Gumbel noise and latents are drawn from the process's own stream, not "
                           "per example of the global batch; train it in one process")

    def __init__(self, params: NetGANParams, config):
        super().__init__(params, config)
        self.tau = params.temp_start
        self._G = None

    def build_nets(self, cfg, data) -> Dict[str, torch.nn.Module]:
        from ..train.state import build_net
        if getattr(data, "kind", "") != "tokens":
            raise ConfigError(f"method netgan trains generators of random walks: it needs token data (data: graph), "
                              f"got {getattr(data, 'kind', '') or 'image/points'} data of shape {tuple(data.shape)}")
        m = cfg.model
        for role, net in (("generator", m.generator), ("discriminator", m.discriminator)):
            if net.arch.name != "netgan":
                raise ConfigError(f"model.{role}.arch: method netgan trains the netgan nets, not {net.arch.name!r}")
        kw = dict(kind="tokens", vocab_size=data.vocab_size)
        return {"G": build_net(cfg, "generator", m.generator, data.shape, **kw),
                "D": build_net(cfg, "discriminator", m.discriminator, data.shape, **kw)}

    def generate(self, G, n: int, y: Optional[Tensor]) -> Tensor:
        return G.relaxed(G.sample_z(n), self.tau, self.p.hard, self.p.relaxation)

    def d_extra(self, D, h_real: Tensor, h_fake: Tensor, y: Optional[Tensor]):
        if not self.p.l2_discriminator:
            return None, {}
        return self.p.l2_discriminator * l2_loss(D), {}

    def g_extra(self, D, h_fake: Tensor, y: Optional[Tensor]):
        if not self.p.l2_generator:
            return None, {}
        return self.p.l2_generator * l2_loss(self._G), {}

    def step(self, state, batches: List[Batch], log: bool) -> Stats:
        G = state.nets["G"]
        self._G = G
        self.tau = temperature(self.p, state.step) if self.p.relaxation == "gumbel" else 0.0
        V = G.vocab_size
        stats: Stats = {}
        # NetGAN's order: one G update, then n_disc D updates on fresh real walks
        stats.update(self.g_step(state, F.one_hot(batches[0].x, V).float(), log))
        for b in batches:
            stats.update(self.d_step(state, F.one_hot(b.x, V).float(), log))
        stats["tau"] = torch.tensor(self.tau)
        return stats


@METHODS.register("netgan", params=NetGANParams)
def netgan(params: NetGANParams, config) -> GAN:
    """NetGAN: WGAN-GP on random walks, LSTM G with straight-through Gumbel outputs (Bojchevski et al. 2018)."""
    return NetGAN(params, config)
