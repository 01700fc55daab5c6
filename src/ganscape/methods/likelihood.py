"""Maximum likelihood for image models with a density, and flow-GAN.

- `likelihood`: one net G, a generator with a likelihood (`realnvp`: a flow
  on dequantized data; `pixelcnn`: exact discrete), trained by minimizing
  -log P(v) per example on the data's level grid (likelihood.core): for a
  flow the uniform-dequantization bound with fresh noise every step, for
  PixelCNN the exact value. Stats: nll (nats per example) and bits_per_dim.
- `flowgan` (Grover et al. 2018): the flow as a GAN generator, trained with
  the config's adversarial loss (and penalties, and everything method `gan`
  offers) plus `nll_weight` (lambda) x the same negative log-likelihood on
  the real batch; D sees dequantized real images against the flow's
  continuous (unquantized) samples, so it cannot tell them apart by the grid.
  nll_weight 0 is a plain adversarially trained flow ("ADV" in the paper);
  the paper's "Hybrid" uses its lambda on WGAN's critic scale.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
from torch import Tensor

from ..likelihood import core
from ..registry import METHODS, ConfigError
from .base import Batch, Method, Stats, grad_norm
from .gan import GAN, GANParams
from .vae import check_images


def build_likelihood_generator(cfg, data, what: str, archs=("realnvp", "pixelcnn")):
    from ..train.state import build_net
    check_images(data, what)
    levels = core.levels_of(data.info, f"method {what}")
    name = cfg.model.generator.arch.name
    if name not in archs:
        raise ConfigError(f"method {what}: model.generator.arch must be a model with a likelihood "
                          f"({', '.join(archs)}), got {name!r}")
    return build_net(cfg, "generator", cfg.model.generator, data.shape, levels=levels), levels


@dataclass(frozen=True)
class LikelihoodParams:
    pass


class MaximumLikelihood(Method):
    name = "likelihood"
    ema = ()

    def __init__(self, p: LikelihoodParams, config):
        self.p = p

    def build_nets(self, cfg, data):
        G, self.levels = build_likelihood_generator(cfg, data, self.name)
        return {"G": G}

    def optimizers(self, cfg, nets):
        return {"G": (cfg.optim.generator, nets["G"].parameters())}

    def step(self, state, batches: List[Batch], log: bool) -> Stats:
        G, opt = state.nets["G"], state.optims["G"]
        stats: Stats = {}
        for b in batches:
            nll = -G.log_prob_discrete(b.x).mean()
            opt.zero_grad(set_to_none=True)
            state.backward(nll, opt)
            stats = {"nll_loss": nll.detach(), "bits_per_dim": nll.detach() / (G.z_dim * math.log(2))}
            if log:
                stats["g_grad_norm"] = grad_norm(G)
            opt.step()
        return stats


@METHODS.register("likelihood", params=LikelihoodParams)
def likelihood(params: LikelihoodParams, config) -> Method:
    """Maximum likelihood for image models with a density: realnvp (dequantized) and pixelcnn (exact)."""
    return MaximumLikelihood(params, config)


@dataclass(frozen=True)
class FlowGANParams(GANParams):
    nll_weight: float = 1.0       # lambda: the weight of -log P(v) per example in G's loss

    def validate(self, where: str) -> None:
        super().validate(where)
        if self.nll_weight < 0:
            raise ConfigError(f"{where}.nll_weight: must be >= 0, got {self.nll_weight}")


class FlowGAN(GAN):
    name = "flowgan"

    def build_nets(self, cfg, data) -> Dict[str, torch.nn.Module]:
        from ..train.state import build_net
        if cfg.model.generator.cond != "none" or cfg.model.discriminator.cond != "none":
            raise ConfigError("method flowgan is unconditional: set model.*.cond: none")
        G, self.levels = build_likelihood_generator(cfg, data, self.name, archs=("realnvp",))
        return {"G": G, "D": build_net(cfg, "discriminator", cfg.model.discriminator, data.shape)}

    def generate(self, G, n: int, y: Optional[Tensor]) -> Tensor:
        return G.continuous(G.sample_z(n))

    def g_extra(self, D, h_fake, y):
        if not self.p.nll_weight:
            return None, {}
        nll = -self._G.log_prob_discrete(self._real).mean()
        return self.p.nll_weight * nll, {"nll": nll.detach(), "bits_per_dim": nll.detach() / (
            self._G.z_dim * math.log(2))}

    def step(self, state, batches: List[Batch], log: bool) -> Stats:
        self._G = state.nets["G"]
        # D compares dequantized real images with the flow's continuous samples
        deq = [Batch(core.dequantize(b.x, self.levels), b.y, b.labelled, b.labelled_batch) for b in batches]
        self._real = batches[-1].x
        return super().step(state, deq, log)


@METHODS.register("flowgan", params=FlowGANParams)
def flowgan(params: FlowGANParams, config) -> Method:
    """Flow-GAN (Grover et al. 2018): a flow generator trained adversarially plus lambda x its negative log-likelihood."""
    return FlowGAN(params, config)
