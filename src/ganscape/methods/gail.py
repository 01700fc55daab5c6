"""Generative adversarial imitation learning (Ho & Ermon 2016) and
adversarial inverse reinforcement learning (Fu et al. 2018).

GAIL: the generator is the policy, the "real data" are the expert's
(state, action) pairs (data: demonstrations). A discriminator D(s, a)
(nets/policy.PairNet; discrete actions: one output per action, as the GAIL
code) is trained with the run's adversarial loss (`loss`, the landscape's;
the original's logistic loss is `ns`'s or `minimax`'s D term) and penalties,
the expert labelled real, plus openai/imitation's entropy regularizer
(`d_entropy_weight` x the mean binary entropy of D's output, subtracted).
The policy's reward is -log(1 - D(s, a)) (reward_form positive, always > 0)
or log D(s, a) (negative: openai/imitation's favor_zero_expert_reward, for
tasks that end on success, MountainCar and Acrobot), and it is improved by
the shared policy iteration (methods/acting.py; TRPO in the paper). Per step
the reward is computed with the current D, the policy updated, then D takes
`train.n_disc` Adam steps, each on one of the loop's expert batches against
as many pairs drawn from this step's episodes. The environment's own reward
is never used, only logged (stats `return`). Under env.fixed_horizon the
steps taken in the absorbing state after a task ended get one learned D
value of their own, whatever the action (nets/policy.PairNet, after
Kostrikov et al. 2019): expert demonstrations hold no absorbing steps, so D
learns that ending early is not expert-like. (DAC also adds absorbing steps
to expert episodes that terminate; not done here: use fixed horizons for
tasks whose expert never terminates, such as CartPole.)

AIRL: D(s, a, s') = exp f / (exp f + pi(a | s)) with f = g(s, a) +
gamma h(s') - h(s) (h(s') = 0 after a terminal step), so D's logit is
f - log pi(a | s); the policy's reward is that logit, log D - log(1 - D)
= f - log pi (absorbing steps are not told apart: a deviation, use AIRL
without env.fixed_horizon). That is the paper's Algorithm 1 and the
default (`policy_reward: logit`). `policy_reward: g` is justinjfu/inverse_rl's
default (`score_discrim=False`): the policy is trained on the
learned reward g alone plus an entropy bonus (its scripts: entropy weight 0.1,
"this should be 1.0 but 0.1 seems to work better"; here
`method.params.entropy_weight`), and D takes 10-100 Adam steps (lr 1e-3) of
32 + 32 pairs per policy iteration (`train.n_disc`, `train.batch_size`). On
Pendulum-v1 (airl-pendulum, seed 0, 100 iterations) g reached the expert and
the logit did not (see the README). A trap of that code: its f uses the
model's own discount, 1.0 unless passed, not the policy's; here f uses
`gamma`, the policy's. `state_only` makes g a function of s alone, the disentangled
reward that transfers across dynamics. g and h are nets "g" and "h" of the
checkpoints (the learned reward, reusable: `load_reward`). Expert rows need
next observations (files written by `ganscape demos` have them).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Dict, List, Literal, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..registry import LOSSES, METHODS, PENALTIES, ConfigError
from .acting import ActingMethod, ActingParams, step_seed
from .base import Batch, Stats, grad_norm


@dataclass(frozen=True)
class GAILParams(ActingParams):
    reward_form: Literal["positive", "negative"] = "positive"   # -log(1 - D) or log D
    d_hidden: Tuple[int, ...] = (100, 100)
    d_entropy_weight: float = 0.001     # openai/imitation's entropy regularizer on D's output

    def validate(self, where: str) -> None:
        super().validate(where)
        if not self.d_hidden or min(self.d_hidden) < 1 or self.d_entropy_weight < 0:
            raise ConfigError(f"{where}: need d_hidden sizes >= 1 and d_entropy_weight >= 0")


@dataclass(frozen=True)
class AIRLParams(ActingParams):
    d_hidden: Tuple[int, ...] = (100, 100)
    state_only: bool = True             # g(s): the disentangled reward of Fu et al.
    policy_reward: Literal["logit", "g"] = "logit"   # f - log pi (the paper) or g alone (the official default)

    def validate(self, where: str) -> None:
        super().validate(where)
        if not self.d_hidden or min(self.d_hidden) < 1:
            raise ConfigError(f"{where}: need d_hidden sizes >= 1")


def binary_entropy(logits: Tensor) -> Tensor:
    """H(Bernoulli(sigmoid(v))) = sp(v) - v sigmoid(v), elementwise (nats)."""
    return F.softplus(logits) - logits * torch.sigmoid(logits)


def gail_reward(logits: Tensor, form: str = "positive") -> Tensor:
    """The policy's reward from D's logits v (D = sigmoid(v)): -log(1 - D) =
    sp(v) ("positive") or log D = -sp(-v) ("negative"). Both grow with D."""
    return F.softplus(logits) if form == "positive" else -F.softplus(-logits)


def airl_logits(g: Tensor, h_s: Tensor, h_next: Tensor, terminated: Tensor, log_pi: Tensor, gamma: float) -> Tensor:
    """AIRL's discriminator logit f - log pi, f = g + gamma (1 - terminated) h(s') - h(s)."""
    f = g + gamma * (1.0 - terminated.to(g.dtype)) * h_next - h_s
    return f - log_pi


class AdversarialImitation(ActingMethod):
    """What GAIL and AIRL share: demonstrations, a discriminator on (s, a)
    pairs trained with the run's loss and penalties, a reward from it."""

    uses_data = True
    need_next = False
    takes_penalties = True    # the landscape's penalties need D as a function of [s, a] alone

    def __init__(self, p, config):
        super().__init__(p, config)
        self.loss_fn = LOSSES.get(config.loss.name).fn
        self.loss_params = LOSSES.params(config.loss.name, config.loss.params)
        self.penalties = [(PENALTIES.get(c.name).fn, PENALTIES.params(c.name, c.params), c.name)
                          for c in config.penalties]

    def check_data(self, data) -> None:
        self.check_demos(data, need_next=self.need_next)
        if self.penalties and not self.takes_penalties:
            raise ConfigError(f"penalties: method {self.cfg.method.name!r} takes none (its D depends on pi and s')")
        if self.penalties and self.n_actions:
            raise ConfigError(f"penalties: {', '.join(n for _, _, n in self.penalties)} take gradients with respect "
                              f"to D's input, and {self.cfg.env.id}'s actions are discrete; use them with "
                              f"continuous actions")

    def optimizers(self, cfg, nets):
        out = super().optimizers(cfg, nets)
        out["D"] = (cfg.optim.discriminator, [p for k in self.d_nets for p in nets[k].parameters()])
        return out

    @abc.abstractmethod
    def d_logits(self, state, obs, acts, next_obs, terminated, absorbing=None) -> Tensor:
        """D's logits on pairs (with s' and the terminated flag where the recipe uses them)."""

    def policy_pairs(self, ro, n: int, gen: torch.Generator):
        idx = torch.randint(len(ro), (n,), generator=gen) if n > len(ro) else torch.randperm(len(ro), generator=gen)[:n]
        return ro.obs[idx], ro.acts[idx], ro.next_obs[idx], ro.terminated[idx], ro.absorbing[idx]

    def after_policy(self, state, ro, batches: List[Batch], log: bool) -> Stats:
        opt = state.optims["D"]
        gen = torch.Generator().manual_seed(step_seed(self.cfg.seed, state.step, 13))
        stats: Stats = {}
        for b in batches:
            e_obs, e_acts, e_next, e_term = self.split_pairs(b.x)
            p_obs, p_acts, p_next, p_term, p_abs = self.policy_pairs(ro, len(b.x), gen)
            v_real = self.d_logits(state, e_obs, e_acts, e_next, e_term)
            v_fake = self.d_logits(state, p_obs, p_acts, p_next, p_term, p_abs)
            terms = self.loss_fn(self.loss_params, v_real, v_fake)
            total = terms["d"]
            stats["d_loss"] = terms["d"].detach()
            total = total + self.d_regularizer(v_real, v_fake, stats)
            if self.penalties:
                D_in = _ConcatD(self, state, self.obs_dim)
                real, fake = torch.cat([e_obs, e_acts], 1), torch.cat([p_obs, p_acts], 1)
                for fn, p, name in self.penalties:
                    if state.d_step % p.every == 0:
                        pen = fn(p, D_in, real, fake) * p.every
                        total = total + pen
                        stats[f"penalty/{name}"] = pen.detach()
            opt.zero_grad(set_to_none=True)
            total.backward()
            if log:
                stats["d_grad_norm"] = grad_norm(state.nets["D" if "D" in state.nets else "g"])
            opt.step()
            state.d_step += 1
            with torch.no_grad():
                stats["d_real"] = torch.sigmoid(v_real).mean().detach()
                stats["d_fake"] = torch.sigmoid(v_fake).mean().detach()
        return stats

    def d_regularizer(self, v_real: Tensor, v_fake: Tensor, stats: Stats) -> Tensor:
        return torch.zeros(())


class _ConcatD(nn.Module):
    """D as a function of one tensor [obs, act] (continuous actions), for the
    landscape's penalties, which take gradients with respect to D's input."""

    def __init__(self, method, state, obs_dim: int):
        super().__init__()
        self.method, self.state, self.obs_dim = method, state, obs_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.method.d_logits(self.state, x[:, :self.obs_dim], x[:, self.obs_dim:], None, None)


class GAILMethod(AdversarialImitation):
    name = "gail"
    d_nets = ("D",)

    def extra_nets(self, cfg, data) -> Dict[str, nn.Module]:
        from ..nets.policy import PairNet
        return {"D": PairNet(self.obs_dim, self.n_actions, self.act_dim, self.p.d_hidden)}

    def d_logits(self, state, obs, acts, next_obs, terminated, absorbing=None) -> Tensor:
        return state.nets["D"](obs, acts, absorbing)

    def d_regularizer(self, v_real: Tensor, v_fake: Tensor, stats: Stats) -> Tensor:
        if not self.p.d_entropy_weight:
            return torch.zeros(())
        ent = binary_entropy(torch.cat([v_real, v_fake])).mean()
        stats["d_entropy"] = ent.detach()
        return -self.p.d_entropy_weight * ent

    def reward(self, state, ro, batches: List[Batch]):
        with torch.no_grad():
            r = gail_reward(state.nets["D"](ro.obs, ro.acts, ro.absorbing), self.p.reward_form)
        return r, {"reward_mean": r.mean()}


class AIRLMethod(AdversarialImitation):
    name = "airl"
    d_nets = ("g", "h")
    need_next = True
    takes_penalties = False   # D depends on pi and s'

    def extra_nets(self, cfg, data) -> Dict[str, nn.Module]:
        from ..nets.policy import PairNet, StateNet
        return {"g": PairNet(self.obs_dim, self.n_actions, self.act_dim, self.p.d_hidden, self.p.state_only),
                "h": StateNet(self.obs_dim, self.p.d_hidden)}

    def d_logits(self, state, obs, acts, next_obs, terminated, absorbing=None) -> Tensor:
        g, h = state.nets["g"], state.nets["h"]
        with torch.no_grad():  # pi is not trained through D
            log_pi = state.nets["pi"].log_prob(obs, acts)
        return airl_logits(g(obs, acts), h(obs), h(next_obs), terminated, log_pi, self.p.gamma)

    def reward(self, state, ro, batches: List[Batch]):
        with torch.no_grad():
            if self.p.policy_reward == "g":
                r = state.nets["g"](ro.obs, ro.acts)
            else:
                r = self.d_logits(state, ro.obs, ro.acts, ro.next_obs, ro.terminated)
        return r, {"reward_mean": r.mean()}


@METHODS.register("gail", params=GAILParams)
def gail(params: GAILParams, config) -> ActingMethod:
    """GAIL (Ho & Ermon 2016): a policy trained on -log(1 - D(s, a)) against the expert's pairs (data: demonstrations)."""
    return GAILMethod(params, config)


@METHODS.register("airl", params=AIRLParams)
def airl(params: AIRLParams, config) -> ActingMethod:
    """AIRL (Fu et al. 2018): D = exp f / (exp f + pi), f = g + gamma h(s') - h(s); reward f - log pi."""
    return AIRLMethod(params, config)


def load_reward(run_dir, checkpoint: str = "latest") -> Tuple[nn.Module, nn.Module]:
    """AIRL's learned reward of a run: (g, h) in eval mode, from its checkpoint."""
    from pathlib import Path

    from ..train import checkpoint as ckpt_io
    from ..train import rundir
    from ..train.state import DataSpec, build_state, load_data
    cfg = rundir.load_config(run_dir)
    if cfg.method.name != "airl":
        raise ConfigError(f"{run_dir} is a run of method {cfg.method.name!r}; a learned reward is AIRL's")
    ckpt, _ = ckpt_io.load_newest(Path(run_dir) / rundir.CHECKPOINTS, checkpoint)
    state, _ = build_state(cfg, DataSpec.of(load_data(cfg, "train")), torch.device("cpu"))
    for k in ("g", "h"):
        state.nets[k].load_state_dict(ckpt["nets"][k])
    return state.nets["g"].eval(), state.nets["h"].eval()
