"""Consensus optimization (Mescheder, Nowozin & Geiger 2017, "The Numerics of
GANs", Sec. 4, Algorithm 1).

The game's gradient field is v = (-grad_theta L_G, -grad_psi L_D): each
player's gradient of its own loss (the registered loss, with D's penalties
in L_D). Consensus optimization adds the same term gamma * L(x),
L = 1/2 ||v||^2, to both players' losses and updates both players
simultaneously from the same point:

    theta <- theta - h_G (grad_theta L_G + gamma grad_theta L)
    psi   <- psi   - h_D (grad_psi L_D   + gamma grad_psi L)

(each optimizer applies its own rule to these gradients; the paper's
experiments use RMSProp). At a stationary point v = 0 the Jacobian of the
modified field is J - gamma J^T J (the paper's Sec. 4); on the Dirac-GAN
its eigenvalues are -gamma f'(0)^2 +- i f'(0) (Mescheder et al. 2018,
Sec. 3), negative real parts for every gamma > 0
(ganscape/probes/convergence.py computes them exactly).

grad L = J^T v is computed by double backpropagation: the gradients of both
losses are taken with create_graph, L from them, and one backward of
gamma L + sum_p <stop_grad(g_p), p> gives every parameter g_p + gamma dL/dp
(the paper's code does the same with tf.gradients of L).

Deviations, named: D's penalties that look at the fakes (R2, GP, DRAGAN)
take them as drawn, so their dependence on G is not differentiated inside
grad L (the penalties detach their inputs, as for the GAN method); one D and
one G update per step (train.n_disc must be 1: the updates are simultaneous);
not under torchrun (grad of ||v||^2 of the global batch is not the mean of
the ranks' own) and not under fp16 (the inner gradients carry no loss scale).
Instance noise (method.params.instance_noise) works as in the GAN method.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

import torch

from ..registry import METHODS, ConfigError
from .base import Batch, Method, Stats, grad_norm
from .gan import GAN, GANParams


@dataclass(frozen=True)
class ConsensusParams:
    gamma: float = 10.0          # the weight of 1/2 ||v||^2 (the paper's experiments: 10)
    instance_noise: float = 0.0  # as method gan's: the std of Gaussian noise on D's inputs

    def validate(self, where: str) -> None:
        if self.gamma < 0:
            raise ConfigError(f"{where}.gamma: must be >= 0, got {self.gamma}")
        if self.instance_noise < 0:
            raise ConfigError(f"{where}.instance_noise: must be >= 0, got {self.instance_noise}")


class Consensus(GAN):
    distributed_refusal = ("its regularizer is the squared norm of the whole batch's gradient, whose gradient "
                           "is not the mean of the ranks' own")

    def __init__(self, params: ConsensusParams, config):
        super().__init__(GANParams(instance_noise=params.instance_noise), config)
        self.gamma = float(params.gamma)
        if config.train.n_disc != 1:
            raise ConfigError(f"train.n_disc: method consensus updates D and G simultaneously, once per step; "
                              f"set n_disc 1 (got {config.train.n_disc})")
        if config.train.precision == "fp16":
            raise ConfigError("train.precision: method consensus differentiates gradients, which fp16 would "
                              "underflow without a loss scale; use fp32 or bf16")

    def step(self, state, batches: List[Batch], log: bool) -> Stats:
        G, D = state.nets["G"], state.nets["D"]
        opt_g, opt_d = state.optims["G"], state.optims["D"]
        real = self.noisy(batches[0].x)
        fake = self.noisy(self.generate(G, real.shape[0], None))   # keeps its graph to G: v_D depends on theta
        v_real, v_fake = D(real), D(fake)
        terms = self.loss(v_real, v_fake)
        d_total = terms["d"]
        stats: Stats = {}
        for fn, p, name in self.penalties:
            if state.d_step % p.every == 0:
                pen = fn(p, D, real, fake) * p.every
                d_total = d_total + pen
                stats[f"penalty/{name}"] = pen.detach()
        g_loss = self.loss(None, v_fake)["g"]
        p_d = [p for p in D.parameters() if p.requires_grad]
        p_g = [p for p in G.parameters() if p.requires_grad]
        g_d = torch.autograd.grad(d_total, p_d, create_graph=True)
        g_g = torch.autograd.grad(g_loss, p_g, create_graph=True)
        reg = 0.5 * sum((g.float() ** 2).sum() for g in (*g_d, *g_g))
        # d/dp of this is g_p + gamma dL/dp for each player's own parameters p
        surrogate = self.gamma * reg + sum((g.detach() * p).sum() for g, p in zip((*g_d, *g_g), (*p_d, *p_g)))
        opt_d.zero_grad(set_to_none=True)
        opt_g.zero_grad(set_to_none=True)
        state.backward(surrogate, opt_d, opt_g)
        if log:
            stats["d_grad_norm"] = grad_norm(D)
            stats["g_grad_norm"] = grad_norm(G)
        opt_d.step()
        opt_g.step()
        state.d_step += 1
        stats.update({"d_loss": terms["d"].detach(), "g_loss": g_loss.detach(), "consensus": reg.detach(),
                      "d_real": v_real.detach().mean(), "d_fake": v_fake.detach().mean()})
        return stats


@METHODS.register("consensus", params=ConsensusParams)
def consensus(params: ConsensusParams, config) -> Method:
    """Consensus optimization (Mescheder et al. 2017): both players' losses plus gamma/2 ||v||^2, simultaneous."""
    return Consensus(params, config)
