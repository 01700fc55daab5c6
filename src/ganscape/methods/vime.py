"""VIME: variational information maximizing exploration (Houthooft et al.
2016), on the shared policy iteration (methods/acting.py; TRPO in the paper).

A Bayesian neural network "BNN" models the dynamics p(s' | s, a)
(rl/bnn.py: factorized Gaussian posterior, local reparameterization). Each
step the policy's transitions are rewarded, on top of the environment's
reward, by the information they carry about the dynamics:

    r'(s, a, s') = r(s, a) + eta * KL(q after an update on (s, a, s') || q) / norm

with the KL by the second-order approximation (vectorized over the batch) or
by an explicit one-step update (`info_gain: explicit`, a slow reference
loop), and `norm` the mean of the medians of the last 10 batches' gains
(rl/bnn.MedianNormalizer). The policy is then updated, the transitions join
a replay pool (`pool_size`, input and target standardization from the pool),
and once the pool holds `min_pool` transitions the BNN takes `bnn_updates`
Adam steps on minibatches of `bnn_batch` drawn from it (the official order:
gains are computed with the model from before the step's data).

The paper's baselines are options of this recipe: eta 0 is plain TRPO with
Gaussian action noise (the BNN is then never trained), and `bonus: l2` is the
L2 prediction-error bonus (Stadie et al. 2015), ||f(s, a) - s'||^2 in the
pool's standardized units, of one weight sample, normalized the same way.

Deviations from openai/vime: every transition has its next observation, so
the last step of a path gets its own gain (the official code copies the one
before it); the VIME presets' line search halves the step over 10 tries
(rllab shrinks by 0.8 over 15: `--set method.params.shrink=0.8 --set
method.params.backtracks=15`; the presets' figures were measured with the
halving): see rl/trpo.py. The pool and the normalizer's medians are part of
the method's state, so a run resumes bit-exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Literal, Tuple

import torch
from torch import Tensor, nn

from ..registry import METHODS, ConfigError
from .acting import ActingMethod, ActingParams, adam, step_seed
from .base import Batch, Stats


@dataclass(frozen=True)
class VIMEParams(ActingParams):
    eta: float = 1e-4                   # weight of the bonus; 0: plain TRPO / PPO
    bonus: Literal["vime", "l2"] = "vime"
    info_gain: Literal["second-order", "explicit"] = "second-order"
    normalize: bool = True              # divide by the mean of the last `median_window` medians
    median_window: int = 10
    step_size: float = 0.01             # of the update whose KL is the gain
    bnn_hidden: Tuple[int, ...] = (32,)
    prior_std: float = 0.5
    likelihood_std: float = 5.0
    weight_samples: int = 10
    pool_size: int = 100_000
    min_pool: int = 500
    bnn_updates: int = 500
    bnn_batch: int = 10
    bnn_lr: float = 1e-3

    def validate(self, where: str) -> None:
        super().validate(where)
        if self.eta < 0 or self.step_size <= 0 or self.bnn_lr <= 0 or self.prior_std <= 0 \
                or self.likelihood_std <= 0:
            raise ConfigError(f"{where}: need eta >= 0 and step_size, bnn_lr, prior_std, likelihood_std > 0")
        for k in ("median_window", "weight_samples", "pool_size", "bnn_updates", "bnn_batch"):
            if getattr(self, k) < 1:
                raise ConfigError(f"{where}.{k}: must be >= 1, got {getattr(self, k)}")
        if not self.bnn_hidden or min(self.bnn_hidden) < 1 or not 1 <= self.min_pool <= self.pool_size:
            raise ConfigError(f"{where}: need bnn_hidden sizes >= 1 and 1 <= min_pool <= pool_size")


class VIMEMethod(ActingMethod):
    name = "vime"

    def __init__(self, p: VIMEParams, config):
        super().__init__(p, config)
        from ..rl.bnn import MedianNormalizer
        self.normalizer = MedianNormalizer(p.median_window)
        self.pool_x = self.pool_y = None
        self.pool_n = 0       # transitions stored (<= pool_size)
        self.pool_next = 0    # where the next one goes (a ring)

    def extra_nets(self, cfg, data) -> Dict[str, nn.Module]:
        from ..rl.bnn import BNN
        self.in_dim = self.obs_dim + (self.n_actions or self.act_dim)
        gen = torch.Generator().manual_seed(step_seed(cfg.seed, 0, 17))
        return {"BNN": BNN(self.in_dim, self.obs_dim, self.p.bnn_hidden, self.p.prior_std, self.p.likelihood_std,
                           self.p.weight_samples, generator=gen)}

    def optimizers(self, cfg, nets):
        out = super().optimizers(cfg, nets)
        out["BNN"] = (adam(self.p.bnn_lr), nets["BNN"].parameters())
        return out

    def state_dict(self) -> Dict:
        sd = {**super().state_dict(), "normalizer": self.normalizer.state_dict(), "pool_n": self.pool_n,
              "pool_next": self.pool_next}
        if self.pool_x is not None:
            sd["pool_x"], sd["pool_y"] = self.pool_x[:self.pool_n].clone(), self.pool_y[:self.pool_n].clone()
        return sd

    def load_state_dict(self, sd: Dict) -> None:
        super().load_state_dict(sd)
        self.normalizer.load_state_dict(sd["normalizer"])
        self.pool_n, self.pool_next = int(sd["pool_n"]), int(sd["pool_next"])
        if "pool_x" in sd:
            self._ensure_pool(sd["pool_x"].shape[1])
            self.pool_x[:self.pool_n], self.pool_y[:self.pool_n] = sd["pool_x"], sd["pool_y"]

    # ---- the model's inputs and the pool -------------------------------------------------------
    def inputs(self, obs: Tensor, acts: Tensor) -> Tensor:
        a = nn.functional.one_hot(acts.long(), self.n_actions).float() if self.n_actions else acts
        return torch.cat([obs, a], 1)

    def _ensure_pool(self, width: int) -> None:
        if self.pool_x is None:
            self.pool_x = torch.zeros(self.p.pool_size, width)
            self.pool_y = torch.zeros(self.p.pool_size, self.obs_dim)

    def _add(self, x: Tensor, y: Tensor) -> None:
        self._ensure_pool(x.shape[1])
        x, y = x[-self.p.pool_size:], y[-self.p.pool_size:]
        idx = (self.pool_next + torch.arange(len(x))) % self.p.pool_size
        self.pool_x[idx], self.pool_y[idx] = x, y
        self.pool_next = int((self.pool_next + len(x)) % self.p.pool_size)
        self.pool_n = min(self.p.pool_size, self.pool_n + len(x))

    # ---- the bonus and the model's update -------------------------------------------------------
    def reward(self, state, ro, batches: List[Batch]):
        if not self.p.eta:
            return ro.rews, {}
        from ..rl.bnn import info_gain_explicit, info_gain_second_order
        bnn = state.nets["BNN"]
        gen = torch.Generator().manual_seed(step_seed(self.cfg.seed, state.step, 19))
        x = self.inputs(ro.obs, ro.acts)
        if self.p.bonus == "l2":
            with torch.no_grad():
                gain = (bnn(x, gen) - bnn.normalize_y(ro.next_obs)).pow(2).sum(-1)
        elif self.p.info_gain == "explicit":
            gain = info_gain_explicit(bnn, x, ro.next_obs, self.p.step_size, generator=gen)
        else:
            gain = info_gain_second_order(bnn, x, ro.next_obs, self.p.step_size, generator=gen)
        gain = gain.detach()
        raw = gain.mean()
        if self.p.normalize:
            gain = self.normalizer.normalize(gain)
        bonus = self.p.eta * gain
        return ro.rews + bonus, {"vime/gain": raw, "vime/bonus": bonus.mean()}

    def after_policy(self, state, ro, batches: List[Batch], log: bool) -> Stats:
        if not self.p.eta:
            return {}
        from ..rl.bnn import train_bnn
        self._add(self.inputs(ro.obs, ro.acts), ro.next_obs)
        if self.pool_n < self.p.min_pool:
            return {}
        bnn = state.nets["BNN"]
        x, y = self.pool_x[:self.pool_n], self.pool_y[:self.pool_n]
        bnn.set_normalization(x.mean(0), x.std(0), y.mean(0), y.std(0))
        gen = torch.Generator().manual_seed(step_seed(self.cfg.seed, state.step, 23))
        loss = train_bnn(bnn, state.optims["BNN"], x, y, self.p.bnn_updates, self.p.bnn_batch, gen)
        return {"bnn_loss": torch.tensor(loss)}


@METHODS.register("vime", params=VIMEParams)
def vime(params: VIMEParams, config) -> ActingMethod:
    """VIME (Houthooft et al. 2016): TRPO plus eta x the information gain of a BNN dynamics model
    (eta 0: plain TRPO; bonus l2: the prediction-error baseline)."""
    return VIMEMethod(params, config)
