"""The standard GAN recipe: alternating discriminator and generator updates
with any registered loss and penalties, plus the improved-GAN techniques
(Salimans et al. 2016) that act on the training step."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
from torch import Tensor

from .. import ranks
from ..registry import LOSSES, METHODS, PENALTIES, ConfigError
from ..nets.conditional import LabelledD
from .base import Batch, Method, Stats, grad_norm, set_requires_grad


@dataclass(frozen=True)
class GANParams:
    # Weight of the loss's generator term. 0 with feature_matching > 0 gives
    # pure feature matching, as in Salimans et al. 2016.
    adversarial: float = 1.0
    # Feature matching: weight of ||E f(x) - E f(G(z))||^2, f = the
    # discriminator's last hidden layer (its trunk features).
    feature_matching: float = 0.0
    # Historical averaging: weight of ||theta - mean of past thetas||^2 added
    # to both players' losses. Each player's mean runs over its own past
    # parameter values, one per update of that player: the discriminator's
    # is updated after every D update (n_disc per generator step), the
    # generator's after every G update (Salimans et al. 2016, section 3.3:
    # theta[i] "the value of the parameters at past time i").
    historical_averaging: float = 0.0
    # Clip every discriminator weight to [-c, c] after each D update (the
    # original WGAN's Lipschitz constraint, c = 0.01). 0 disables it.
    weight_clip: float = 0.0
    # Instance noise (Sonderby et al. 2016; Mescheder et al. 2018, Sec. 3): the std sigma of N(0, sigma^2)
    # added to every real and generated example wherever D scores it (both players' losses and the
    # penalties), drawn afresh per example and step. Constant: Sonderby et al.'s annealing schedule is not
    # built (Mescheder et al.'s analysis is of a fixed sigma). 0 disables it.
    instance_noise: float = 0.0

    def validate(self, where: str) -> None:
        for k in ("adversarial", "feature_matching", "historical_averaging", "weight_clip", "instance_noise"):
            if getattr(self, k) < 0:
                raise ConfigError(f"{where}.{k}: must be >= 0, got {getattr(self, k)}")
        if self.adversarial == 0 and self.feature_matching == 0:
            raise ConfigError(f"{where}: the generator has no objective; set adversarial or feature_matching > 0")


class HistoricalAverage:
    """Running mean of a module's parameters over all past updates."""

    def __init__(self, module: torch.nn.Module):
        self.mean = [p.detach().clone() for p in module.parameters()]
        self.count = 1

    def update(self, module: torch.nn.Module) -> None:
        self.count += 1
        torch._foreach_lerp_(self.mean, [p.detach() for p in module.parameters()], 1.0 / self.count)

    def penalty(self, module: torch.nn.Module) -> Tensor:
        return sum(((p - m) ** 2).sum() for p, m in zip(module.parameters(), self.mean))

    def state_dict(self) -> Dict:
        return {"mean": self.mean, "count": self.count}

    def load_state_dict(self, sd: Dict) -> None:
        self.mean = [t.clone() for t in sd["mean"]]
        self.count = int(sd["count"])


class GAN(Method):
    def __init__(self, params: GANParams, config):
        self.p = params
        self.loss_entry = LOSSES.get(config.loss.name)
        self.loss_params = LOSSES.params(config.loss.name, config.loss.params)
        self.penalties = [(PENALTIES.get(c.name).fn, PENALTIES.params(c.name, c.params), c.name)
                          for c in config.penalties]
        self.history = None  # created in setup() (needs the nets)

    conditional = False  # whether the recipe trains class-conditional nets

    def build_nets(self, cfg, data) -> Dict[str, torch.nn.Module]:
        from ..train.state import build_net
        m = cfg.model
        if not self.conditional and (m.generator.cond != "none" or m.discriminator.cond != "none"):
            raise ConfigError("model.*.cond: class-conditional nets are trained by method cgan; "
                              "set method: cgan (or cond: none)")
        # audio's kinds cannot be told from the shape ((1, T) is not points; (1, F, frames) is not an image)
        kind = getattr(data, "kind", "") if getattr(data, "kind", "") in ("audio", "spectrogram") else ""
        return {"G": build_net(cfg, "generator", m.generator, data.shape, data.num_classes, kind=kind),
                "D": build_net(cfg, "discriminator", m.discriminator, data.shape, data.num_classes, kind=kind)}

    def optimizers(self, cfg, nets):
        return {"G": (cfg.optim.generator, nets["G"].parameters()),
                "D": (cfg.optim.discriminator, nets["D"].parameters())}

    def setup(self, state) -> None:
        if self.p.historical_averaging:
            self.history = {k: HistoricalAverage(state.nets[k]) for k in ("G", "D")}

    def state_dict(self) -> Dict:
        return {k: h.state_dict() for k, h in (self.history or {}).items()}

    def load_state_dict(self, sd: Dict) -> None:
        for k, h in (self.history or {}).items():
            h.load_state_dict(sd[k])

    def loss(self, real, fake):
        return self.loss_entry.fn(self.loss_params, real, fake)

    def noisy(self, x: Tensor) -> Tensor:
        """x (N, *shape) plus instance noise N(0, sigma^2) per element; x itself when sigma is 0. Drawn per
        example through ranks.per_example, so ranks of a distributed run add the global batch's noise."""
        if not self.p.instance_noise:
            return x
        if not x.is_floating_point():
            raise ConfigError("method.params.instance_noise: adds Gaussian noise to D's inputs, which must be "
                              f"real-valued (images or points), not {x.dtype} tokens")
        return x + self.p.instance_noise * ranks.per_example(
            lambda m: torch.randn((m, *x.shape[1:]), dtype=x.dtype, device=x.device), len(x))

    # ---- what a conditional recipe changes (methods/cgan.py); labels y are None here ----
    def generate(self, G, n: int, y: Optional[Tensor]) -> Tensor:
        return G(G.sample_z(n)) if y is None else G(G.sample_z(n), y)

    def also_stepped_with_d(self, state) -> list:
        """Optimizers besides D's that D's backward feeds and that step after it (InfoGAN's Q)."""
        return []

    def score(self, D, x: Tensor, y: Optional[Tensor]):
        """D's logits and trunk features of x (with labels y when conditional)."""
        return D(x, return_features=True) if y is None else D(x, y, return_features=True)

    def negatives(self, D, real: Tensor, y: Optional[Tensor]) -> Optional[Tensor]:
        """Logits of extra negative examples for D besides the fakes (none here)."""
        return None

    def d_extra(self, D, h_real: Tensor, h_fake: Tensor, y: Optional[Tensor]):
        """Extra discriminator loss terms and their stats (none here)."""
        return None, {}

    def g_extra(self, D, h_fake: Tensor, y: Optional[Tensor]):
        """Extra generator loss terms and their stats (none here)."""
        return None, {}

    # ---- the two updates ----
    def d_step(self, state, real: Tensor, log: bool, y: Optional[Tensor] = None) -> Stats:
        G, D, opt = state.nets["G"], state.nets["D"], state.optims["D"]
        # As many fakes as reals, so that D scores as many real as fake inputs;
        # with PacGAN's packing the real batch holds pack examples per D input
        # (Config.real_batch_size). Conditional fakes get the real batch's labels.
        with torch.no_grad():
            fake = self.generate(G, real.shape[0], y)
        real, fake = self.noisy(real), self.noisy(fake)   # D sees data and fakes through the noise
        (v_real, h_real), (v_fake, h_fake) = self.score(D, real, y), self.score(D, fake, y)
        neg = self.negatives(D, real, y)
        terms = self.loss(v_real, v_fake if neg is None else torch.cat([v_fake, neg]))
        total = terms["d"]
        stats: Stats = {"d_loss": terms["d"].detach()}
        extra, extra_stats = self.d_extra(D, h_real, h_fake, y)
        if extra is not None:
            total = total + extra
            stats.update(extra_stats)
        D_pen = D if y is None else LabelledD(D, y)  # real and fake share the labels y
        for fn, p, name in self.penalties:
            if state.d_step % p.every == 0:
                # Lazy regularization: `every` times the weight, every `every` steps.
                pen = fn(p, D_pen, real, fake) * p.every
                total = total + pen
                stats[f"penalty/{name}"] = pen.detach()
        if self.p.historical_averaging:
            total = total + self.p.historical_averaging * self.history["D"].penalty(D)
        opt.zero_grad(set_to_none=True)
        state.backward(total, opt, *self.also_stepped_with_d(state))   # scaled under fp16
        if log:
            stats["d_grad_norm"] = grad_norm(D)
        opt.step()
        if self.p.weight_clip:
            with torch.no_grad():
                for w in D.parameters():
                    w.clamp_(-self.p.weight_clip, self.p.weight_clip)
        if self.history is not None:
            self.history["D"].update(D)
        state.d_step += 1
        stats["d_real"] = v_real.detach().mean()
        stats["d_fake"] = v_fake.detach().mean()
        return stats

    def g_step(self, state, real: Tensor, log: bool, y: Optional[Tensor] = None) -> Stats:
        G, D, opt = state.nets["G"], state.nets["D"], state.optims["G"]
        set_requires_grad(D, False)
        fake = self.noisy(self.generate(G, real.shape[0], y))
        stats: Stats = {}
        total = torch.zeros((), device=real.device)
        v_fake, h_fake = self.score(D, fake, y)
        if self.p.feature_matching:
            with torch.no_grad():
                r = self.noisy(real)
                h_real = D.features(r) if y is None else D.features(r, y)
            fm = ((h_real.mean(0) - h_fake.mean(0)) ** 2).sum()
            total = total + self.p.feature_matching * fm
            stats["feature_matching"] = fm.detach()
        g = self.loss(None, v_fake)["g"]
        if self.p.adversarial:
            total = total + self.p.adversarial * g
        extra, extra_stats = self.g_extra(D, h_fake, y)
        if extra is not None:
            total = total + extra
            stats.update(extra_stats)
        if self.p.historical_averaging:
            total = total + self.p.historical_averaging * self.history["G"].penalty(G)
        opt.zero_grad(set_to_none=True)
        state.backward(total, opt)   # scaled under fp16
        if log:
            stats["g_grad_norm"] = grad_norm(G)
        opt.step()
        if self.history is not None:
            self.history["G"].update(G)
        set_requires_grad(D, True)
        stats["g_loss"] = g.detach()
        return stats

    def labels(self, batch: Batch) -> Optional[Tensor]:
        """The labels this recipe trains with: none for the unconditional GAN
        (labels in the data are ignored)."""
        return None

    def step(self, state, batches: List[Batch], log: bool) -> Stats:
        stats: Stats = {}
        for b in batches:
            stats.update(self.d_step(state, b.x, log, self.labels(b)))
        stats.update(self.g_step(state, batches[-1].x, log, self.labels(batches[-1])))
        return stats


@METHODS.register("gan", params=GANParams)
def gan(params: GANParams, config) -> Method:
    """Standard GAN training: n_disc D updates, one G update; any loss, penalties, improved-GAN options."""
    return GAN(params, config)
