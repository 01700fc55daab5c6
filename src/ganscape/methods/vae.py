"""The variational autoencoder as a method (Kingma & Welling 2014), with the
IAF posterior (Kingma et al. 2016) as an option: one net "G" (nets/vae.py),
the encoder built from `model.discriminator` (its architecture's trunk) and
the decoder from `model.generator` (with per-pixel likelihood parameters as
its output), one optimizer (`optim.generator`).

The step maximizes the ELBO, E_q[log p(x | z)] + E_q[log p(z) - log q(z | x)],
estimated with one reparameterized draw per example and averaged over the
batch. Optional KL annealing (Bowman et al. 2016): over `warmup` steps the
weight of the E_q[log p(z) - log q] term rises linearly from 0 to 1 (the
reported elbo always uses weight 1). IAF's "free bits" is not implemented. With the Gaussian
decoder the data are dequantized (likelihood.core) each step, as a flow's.

Stats: elbo (nats per example, on this batch; the KL weight applied is
`kl_weight`), recon (E log p(x | z)), kl (the Monte Carlo KL term).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, List, Literal

import torch

from ..likelihood import core
from ..registry import METHODS, ConfigError
from .base import Batch, Method, Stats, grad_norm


def check_images(data, what: str) -> None:
    if len(data.shape) != 3 or getattr(data, "kind", "image") not in ("image", ""):
        raise ConfigError(f"method {what} models images (C, H, W); got {getattr(data, 'kind', '') or 'point'} "
                          f"data of shape {tuple(data.shape)}")


@dataclass(frozen=True)
class VAEParams:
    decoder: Literal["auto", "bernoulli", "logistic", "gaussian"] = "auto"  # auto: bernoulli for 2 levels, else logistic
    iaf_steps: int = 0            # 0: a diagonal Gaussian posterior
    iaf_hidden: int = 0           # MADE width (0: 4 x z_dim)
    context_dim: int = 0          # IAF context h (0: z_dim)
    warmup: int = 0               # steps of linear KL annealing from 0 to 1
    samples: Literal["mean", "draw"] = "mean"   # what `sample` shows: E[x | z] on the level grid, or a draw

    def validate(self, where: str) -> None:
        for k in ("iaf_steps", "iaf_hidden", "context_dim", "warmup"):
            if getattr(self, k) < 0:
                raise ConfigError(f"{where}.{k}: must be >= 0, got {getattr(self, k)}")


class VAEMethod(Method):
    name = "vae"
    ema = ()

    def __init__(self, p: VAEParams, config):
        self.p = p

    def decoder_kind(self, levels: int) -> str:
        kind = self.p.decoder
        if kind == "auto":
            return "bernoulli" if levels == 2 else "logistic"
        if kind == "bernoulli" and levels != 2:
            raise ConfigError(f"method.params.decoder: bernoulli needs 2-level data (binary-digits); this data "
                              f"has {levels} levels: use logistic or gaussian")
        return kind

    def build_nets(self, cfg, data) -> Dict[str, torch.nn.Module]:
        from ..nets.vae import VAE
        from ..train.state import build_net
        check_images(data, self.name)
        levels = core.levels_of(data.info, f"method {self.name}")
        kind = self.decoder_kind(levels)
        self.levels, self.kind = levels, kind
        c, h, w = data.shape
        m = cfg.model
        enc = build_net(cfg, "discriminator", m.discriminator, data.shape)
        with torch.no_grad():
            enc.eval()
            feat = enc.features(torch.zeros(2, *data.shape)).shape[1]
            enc.train()
        out_c = c if kind == "bernoulli" else 2 * c
        dec = build_net(cfg, "generator", m.generator, (out_c, h, w), output="logits")
        z = m.z_dim
        vae = VAE(enc, feat, dec, data.shape, z, kind, levels, iaf_steps=self.p.iaf_steps,
                  iaf_hidden=self.p.iaf_hidden or 4 * z, context_dim=self.p.context_dim or z,
                  samples=self.p.samples)
        return {"G": vae}

    def optimizers(self, cfg, nets):
        return {"G": (cfg.optim.generator, nets["G"].parameters())}

    def kl_weight(self, step: int) -> float:
        return min(1.0, (step + 1) / self.p.warmup) if self.p.warmup else 1.0

    def step(self, state, batches: List[Batch], log: bool) -> Stats:
        vae, opt = state.nets["G"], state.optims["G"]
        stats: Stats = {}
        for b in batches:  # n_disc > 1: more updates per step
            x = b.x
            if self.kind == "gaussian":
                x = core.dequantize(x, self.levels)
            z, log_q = vae.posterior(x, 1)
            z = z[:, 0]
            recon = vae.log_likelihood(x, z)
            log_pz = (-0.5 * z.pow(2) - 0.5 * math.log(2 * math.pi)).sum(-1)
            kl = log_q[:, 0] - log_pz
            beta = self.kl_weight(state.step)
            loss = -(recon - beta * kl).mean()
            opt.zero_grad(set_to_none=True)
            state.backward(loss, opt)
            stats = {"vae_loss": loss.detach(), "elbo": (recon - kl).mean().detach(), "recon": recon.mean().detach(),
                     "kl": kl.mean().detach(), "kl_weight": torch.tensor(beta)}
            if log:
                stats["g_grad_norm"] = grad_norm(vae)
            opt.step()
        return stats


@METHODS.register("vae", params=VAEParams)
def vae(params: VAEParams, config) -> Method:
    """Variational autoencoder (Kingma & Welling 2014) with an optional IAF posterior (Kingma et al. 2016)."""
    return VAEMethod(params, config)
