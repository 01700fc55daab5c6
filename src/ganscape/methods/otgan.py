"""OT-GAN (Salimans, Zhang, Radford & Metaxas 2018, "Improving GANs Using Optimal Transport").

The generator minimizes and the critic maximizes the mini-batch energy distance

    L = W(X, Y) + W(X, Y') + W(X', Y) + W(X', Y') - 2 W(X, X') - 2 W(Y, Y')

(Algorithm 1; twice the unbiased estimate of the mini-batch energy distance
D^2 = 2 E[W(X, Y)] - E[W(X, X')] - E[W(Y, Y')]) between two independent real batches X, X' and two independent generated batches Y, Y',
where W is the Sinkhorn distance (entropic optimal transport, objectives/sinkhorn.py) under the cosine
cost c(x, y) = 1 - <v(x), v(y)> / (|v(x)| |v(y)|) in the critic's learned embedding v. One training
step is one iteration of Algorithm 1: the critic is updated at iterations t = n_gen + 1, 2 (n_gen + 1),
... (t counted from 1), the generator at every other one (n_gen = 3: three generator updates per critic
update, the paper's setting). The plan is held constant in the gradient (the paper's envelope-theorem
argument; `backprop: true` differentiates through the Sinkhorn iterations instead).

Why a method and not a registered loss: the loss signature (objectives/losses.py) maps D's logits (N,)
on one real and one fake batch to terms, and gets no real batch at all in the generator phase; OT-GAN's
generator objective needs the real embeddings (W(X, Y) terms), both players optimize the same L over
four batches, and the updates alternate on a schedule of their own. So: method `otgan`, whose two real
batches X, X' are the step's two real batches (train.n_disc must be 2; train.batch_size is the paper's
N, the size of each of the four batches). A study crosses it with batch size by choosing the method
section and n_disc together (see the `otgan` note in the README section of issue 21).

The critic's embedding v(x) is the discriminator's trunk features (D.features: the layer before the
linear head, e.g. the MLP's last 256 LeakyReLU units); the head is not used (its weights get no
gradient and stay at their initial values). The four batches go through D in one forward (a
batch-normalized critic normalizes over all four together). The Sinkhorn runs in fp32 whatever the
training precision.

Deviations, named: the paper's critic is a convolutional net whose output vector (not a hidden layer)
is v, with weight normalization (as recalled: the paper's text could not be re-read with the tools
available when this was written; model.discriminator.norm weight gives the normalization; the preset's
Adam lr 3e-4, betas (0.5, 0.999) are recalled the same way), and its CIFAR-10 batches are 8000. Here any registered architecture's trunk is the critic. The entropy weight
`eps` (in cost units) and the number of Sinkhorn iterations are this project's choices for cosine costs
in [0, 2] (measured: README, issue 21, OT-GAN), not the paper's values, which are not claimed. The
config's `loss` and `penalties` are not used by this recipe: penalties are refused (they score D's
logits), the loss is ignored. Not under torchrun: each rank would solve transport between its own slices
of the batches, which is not the global batch's transport.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

import torch

from ..objectives.sinkhorn import minibatch_energy_distance
from ..registry import METHODS, ConfigError
from .base import Batch, Method, Stats, grad_norm, set_requires_grad
from .gan import GAN, GANParams


@dataclass(frozen=True)
class OTGANParams:
    eps: float = 0.05          # entropy weight of the Sinkhorn problems, in units of the cosine cost (in [0, 2])
    iters: int = 50            # Sinkhorn iterations (fixed: every step costs the same)
    n_gen: int = 3             # generator updates per critic update (the paper's 3)
    backprop: bool = False     # differentiate through the Sinkhorn iterations (the paper holds the plan constant)

    def validate(self, where: str) -> None:
        if not self.eps > 0:
            raise ConfigError(f"{where}.eps: must be > 0 (the entropy weight), got {self.eps}")
        if self.iters < 1:
            raise ConfigError(f"{where}.iters: must be >= 1, got {self.iters}")
        if self.n_gen < 1:
            raise ConfigError(f"{where}.n_gen: must be >= 1 (generator updates per critic update), got {self.n_gen}")


class OTGAN(GAN):
    distributed_refusal = ("the mini-batch energy distance solves transport between whole batches; each rank "
                           "would solve it between its own slices, not the global batch's")

    def __init__(self, params: OTGANParams, config):
        super().__init__(GANParams(), config)     # nets, optimizers and sampling as the GAN recipe's
        self.otp = params
        if config.train.n_disc != 2:
            raise ConfigError(f"train.n_disc: method otgan takes the step's two real batches as the independent X "
                              f"and X' of the energy distance; set n_disc 2 (got {config.train.n_disc})")
        if config.penalties:
            raise ConfigError("penalties: method otgan's critic is trained by the energy distance alone; the "
                              f"penalties ({', '.join(c.name for c in config.penalties)}) score D's logits, which "
                              "it does not use; set penalties: []")

    def energy(self, D, x, x2, y, y2):
        """L and its six Sinkhorn distances from one forward of D over the four batches."""
        v = D.features(torch.cat([x, x2, y, y2])).float()
        vx, vx2, vy, vy2 = v.chunk(4)
        # fp32 under train.precision bf16 / fp16 too: autocast would run the cosine matmul in half precision
        with torch.autocast(device_type=v.device.type, enabled=False):
            return minibatch_energy_distance(vx, vx2, vy, vy2, self.otp.eps, self.otp.iters, self.otp.backprop)

    def step(self, state, batches: List[Batch], log: bool) -> Stats:
        G, D = state.nets["G"], state.nets["D"]
        x, x2 = batches[0].x, batches[1].x
        n = x.shape[0]
        critic_turn = (state.step + 1) % (self.otp.n_gen + 1) == 0
        stats: Stats = {}
        if critic_turn:
            with torch.no_grad():
                y, y2 = self.generate(G, n, None), self.generate(G, n, None)
            loss, w = self.energy(D, x, x2, y, y2)
            opt = state.optims["D"]
            opt.zero_grad(set_to_none=True)
            state.backward(-loss, opt)             # the critic maximizes L
            if log:
                stats["d_grad_norm"] = grad_norm(D)
            opt.step()
            state.d_step += 1
        else:
            set_requires_grad(D, False)
            y, y2 = self.generate(G, n, None), self.generate(G, n, None)
            loss, w = self.energy(D, x, x2, y, y2)
            opt = state.optims["G"]
            opt.zero_grad(set_to_none=True)
            state.backward(loss, opt)
            if log:
                stats["g_grad_norm"] = grad_norm(G)
            opt.step()
            set_requires_grad(D, True)
        loss = loss.detach()
        stats.update({"energy_distance": loss, "d_loss": -loss, "g_loss": loss,
                      "w_real_fake": w[:4].detach().mean(), "w_real_real": w[4].detach(),
                      "w_fake_fake": w[5].detach(), "critic_step": torch.tensor(float(critic_turn))})
        return stats


@METHODS.register("otgan", params=OTGANParams)
def otgan(params: OTGANParams, config) -> Method:
    """OT-GAN (Salimans et al. 2018): mini-batch energy distance with Sinkhorn in the critic's space; n_disc 2."""
    return OTGAN(params, config)
