"""What every recipe that acts shares: a policy "pi" (the sampler), a value
net "V", environments from config `env`, and one policy iteration per step.

One step (`ActingMethod.step`):
1. collect whole episodes (>= `steps_per_iter` transitions) with pi from
   `env.num_envs` copies of the environment, seeded by (run seed, step)
   (envs/rollout.py), so a checkpoint resumes bit-exactly with no
   environment state saved;
2. the reward the policy is trained on: the environment's (an expert), or
   the recipe's (GAIL: -log(1 - D(s, a)); VIME: plus an information gain),
   `reward()`;
3. advantages by GAE (time-limit ends bootstrap from V, task ends do not;
   rl/advantages.py), standardized;
4. the policy update: TRPO (rl/trpo.py; conjugate gradient on Fisher-vector
   products over `fvp_fraction` of the states, a line search on KL and the
   surrogate) or PPO (clipped surrogate, `epochs` x minibatches, Adam from
   `optim.generator`);
5. the value net regressed on the TD(lambda) returns by Adam minibatches
   (`vf_epochs`, lr `vf_lr`). A deviation from openai/imitation, which fits
   V under a trust region with time as an input; this is sb3-contrib's and
   OpenAI baselines' way;
6. the recipe's own update, `after_policy()` (GAIL: its discriminator on the
   loop's expert batches against as many of the episodes' pairs).

Stats: return (mean environment return of this step's episodes: the true
task's, whatever reward the policy was trained on), episode_length,
env_steps (cumulative), success_rate (tasks whose info says "success").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Literal, Tuple

import torch
from torch import Tensor, nn
from torch.distributions import kl_divergence

from ..config import Component
from ..registry import ConfigError
from .base import Batch, Method, Stats


@dataclass(frozen=True)
class ActingParams:
    algo: Literal["trpo", "ppo"] = "trpo"
    steps_per_iter: int = 5000      # transitions per policy iteration (whole episodes: a few more)
    gamma: float = 0.99
    lam: float = 0.97               # GAE lambda
    hidden: Tuple[int, ...] = (64, 64)   # policy and value net, tanh
    init_log_std: float = 0.0       # Gaussian policies' starting log std
    entropy_weight: float = 0.0     # causal-entropy bonus in the policy's objective
    # TRPO (defaults: the paper's constraint, openai/imitation's CG settings)
    max_kl: float = 0.01
    damping: float = 0.1
    cg_iters: int = 10
    backtracks: int = 10
    shrink: float = 0.5             # the line search's step ratio (rllab, sb3-contrib: 0.8)
    accept_ratio: float = 0.1
    kl_slack: float = 1.0
    fvp_fraction: float = 1.0       # states the Fisher-vector products use (openai/imitation: 0.1)
    # PPO (lr: optim.generator)
    clip: float = 0.2
    epochs: int = 10
    minibatch: int = 64
    max_grad_norm: float = 0.5      # 0: no clipping
    # the value net
    vf_lr: float = 1e-3
    vf_epochs: int = 5
    vf_minibatch: int = 64

    def validate(self, where: str) -> None:
        if self.steps_per_iter < 1 or not self.hidden or min(self.hidden) < 1:
            raise ConfigError(f"{where}: need steps_per_iter >= 1 and hidden sizes >= 1")
        if not (0 <= self.gamma <= 1 and 0 <= self.lam <= 1):
            raise ConfigError(f"{where}: gamma and lam must lie in [0, 1], got {self.gamma} and {self.lam}")
        if not 0 < self.shrink < 1:
            raise ConfigError(f"{where}.shrink: must be in (0, 1), got {self.shrink}")
        if not 0 < self.fvp_fraction <= 1:
            raise ConfigError(f"{where}.fvp_fraction: must be in (0, 1], got {self.fvp_fraction}")
        for k in ("max_kl", "clip", "vf_lr"):
            if getattr(self, k) <= 0:
                raise ConfigError(f"{where}.{k}: must be > 0, got {getattr(self, k)}")
        for k in ("cg_iters", "backtracks", "epochs", "minibatch", "vf_epochs", "vf_minibatch"):
            if getattr(self, k) < 1:
                raise ConfigError(f"{where}.{k}: must be >= 1, got {getattr(self, k)}")
        if self.damping < 0 or self.accept_ratio < 0 or self.kl_slack < 1 or self.max_grad_norm < 0 \
                or self.entropy_weight < 0:
            raise ConfigError(f"{where}: need damping, accept_ratio, max_grad_norm, entropy_weight >= 0 and "
                              f"kl_slack >= 1")


def space_dims(space) -> Tuple[int, int]:
    """(n_actions, act_dim) of a gymnasium action space: one of them is 0."""
    if hasattr(space, "n"):
        return int(space.n), 0
    if len(space.shape) != 1:
        raise ConfigError(f"env.id: action space {space} is not supported (discrete or a 1-D box)")
    return 0, int(space.shape[0])


def adam(lr: float) -> Component:
    """Adam at `lr` with torch's defaults otherwise: the optimizer of a method's own
    regression nets (the value net, VIME's BNN), which have no section in `optim`."""
    return Component("adam", {"lr": lr, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0})


def minibatches(n: int, size: int, epochs: int, gen: torch.Generator):
    """Index tensors of `epochs` passes over n rows, each a fresh permutation
    from `gen` cut into minibatches of `size` (the last, shorter one dropped;
    one minibatch of all n rows when n < size)."""
    size = min(size, n)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - size + 1, size):
            yield perm[i:i + size]


def step_seed(*parts: int) -> int:
    """A 32-bit seed from integers (run seed, step, a salt): the generators a step draws from."""
    import numpy as np
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


class ActingMethod(Method):
    """The policy iteration shared by expert, gail, airl and vime (see the
    module docstring). A subclass overrides `extra_nets`, `reward`,
    `after_policy` and, for its own data, `check_data`."""

    sampler = "pi"
    ema = ()
    distributed_refusal = "its rollouts would be the same on every process"
    data_kind = "policy"    # what `eval` scores by default: returns (metrics/returns.py)
    uses_data = False       # True: the loop's batches are demonstrations
    autocast_ok = False     # rollouts make NumPy actions: no bf16 (train/speed.py)

    def __init__(self, p: ActingParams, config):
        self.p = p
        self.cfg = config
        self.env_steps = 0
        self._envs = None
        if not config.env.id:
            raise ConfigError(f"env.id: method {config.method.name!r} acts in an environment; set env.id "
                              f"(e.g. CartPole-v1)")

    # ---- environments and nets -------------------------------------------------------------
    @property
    def envs(self) -> list:
        if self._envs is None:
            from ..envs.make import make_envs
            self._envs = make_envs(self.cfg.env)
        return self._envs

    def check_data(self, data) -> None:
        if data.kind != "none":
            raise ConfigError(f"method {self.cfg.method.name!r} learns from the environment's reward: set "
                              f"data: none (got data {self.cfg.data.name!r})")

    def check_demos(self, data, need_next: bool = False) -> None:
        """Demonstrations that fit this run's environment, else one line naming both sides."""
        name = self.cfg.method.name
        if data.kind != "transitions":
            raise ConfigError(f"method {name!r} imitates demonstrations: set data: demonstrations (got data "
                              f"{self.cfg.data.name!r})")
        info, env = data.info, self.envs[0]
        where = f"data: {info.get('path')}"
        if info["env_id"] != self.cfg.env.id:
            raise ConfigError(f"{where} holds demonstrations of {info['env_id']!r}, this run acts in "
                              f"{self.cfg.env.id!r} (env.id)")
        obs_shape = tuple(env.observation_space.shape)
        if tuple(info["obs_shape"]) != obs_shape:
            raise ConfigError(f"{where} has observations of shape {tuple(info['obs_shape'])}, {self.cfg.env.id} "
                              f"gives {obs_shape}")
        n_actions, act_dim = space_dims(env.action_space)
        if info["discrete"] != bool(n_actions):
            kinds = ("discrete", "continuous")
            raise ConfigError(f"{where} has {kinds[not info['discrete']]} actions, {self.cfg.env.id} takes "
                              f"{kinds[not n_actions]} ones")
        if n_actions and info["n_actions"] > n_actions:
            raise ConfigError(f"{where} has action ids up to {info['n_actions'] - 1}, {self.cfg.env.id} has "
                              f"{n_actions} actions")
        if act_dim and info["act_dim"] != act_dim:
            raise ConfigError(f"{where} has {info['act_dim']}-dimensional actions, {self.cfg.env.id} takes "
                              f"{act_dim}")
        if need_next and not info.get("has_next"):
            raise ConfigError(f"{where} has no next_obs / terminated keys, which method {name!r} needs (files "
                              f"written by `ganscape demos` have them)")

    def split_pairs(self, x: Tensor):
        """(obs, acts[, next_obs, terminated]) of a batch of demonstration rows."""
        o, a = self.obs_dim, (1 if self.n_actions else self.act_dim)
        obs, acts = x[:, :o], x[:, o:o + a]
        acts = acts[:, 0].long() if self.n_actions else acts
        if x.shape[1] > o + a:
            return obs, acts, x[:, o + a:o + a + o], x[:, -1] > 0.5
        return obs, acts, None, None

    def build_nets(self, cfg, data) -> Dict[str, nn.Module]:
        from ..nets.policy import Policy, ValueNet
        probe = self.envs[0]
        if len(probe.observation_space.shape) == 0:
            raise ConfigError(f"env.id: {cfg.env.id}'s observations are discrete; a Box observation space is needed")
        self.obs_dim = int(torch.tensor(probe.observation_space.shape).prod())
        self.n_actions, self.act_dim = space_dims(probe.action_space)
        self.check_data(data)
        nets = {"pi": Policy(self.obs_dim, self.n_actions, self.act_dim, self.p.hidden, self.p.init_log_std),
                "V": ValueNet(self.obs_dim, self.p.hidden)}
        nets.update(self.extra_nets(cfg, data))
        if cfg.env.normalize_obs == "demos":
            if "obs_mean" not in data.info:
                raise ConfigError("env.normalize_obs: demos standardizes observations with the demonstrations' "
                                  "statistics; this run has no demonstrations (data: demonstrations)")
            for net in nets.values():
                if hasattr(net, "norm"):
                    net.norm.set_stats(data.info["obs_mean"], data.info["obs_std"])
        return nets

    def extra_nets(self, cfg, data) -> Dict[str, nn.Module]:
        return {}

    def optimizers(self, cfg, nets):
        out = {"V": (adam(self.p.vf_lr), nets["V"].parameters())}
        if self.p.algo == "ppo":
            out["pi"] = (cfg.optim.generator, nets["pi"].parameters())
        return out

    def state_dict(self) -> Dict:
        return {"env_steps": self.env_steps}

    def load_state_dict(self, sd: Dict) -> None:
        self.env_steps = int(sd.get("env_steps", 0))

    # ---- the step ---------------------------------------------------------------------------
    def reward(self, state, ro, batches: List[Batch]) -> Tuple[Tensor, Stats]:
        """The reward the policy is trained on, (T,), and stats about it."""
        return ro.rews, {}

    def after_policy(self, state, ro, batches: List[Batch], log: bool) -> Stats:
        return {}

    def step(self, state, batches: List[Batch], log: bool) -> Stats:
        from ..envs.rollout import collect
        pi, V = state.nets["pi"], state.nets["V"]
        seed = self.cfg.seed
        ro = collect(pi, self.envs, seed, state.step, min_steps=self.p.steps_per_iter)
        self.env_steps += len(ro)
        rewards, stats = self.reward(state, ro, batches)
        with torch.no_grad():
            values, next_values = V(ro.obs), V(ro.next_obs)
        from ..rl.advantages import gae
        adv, returns = gae(rewards, values, next_values, ro.terminated, ro.truncated, self.p.gamma, self.p.lam)
        adv = (adv - adv.mean()) / (adv.std() + 1e-8) if len(adv) > 1 else adv
        gen = torch.Generator().manual_seed(step_seed(seed, state.step, 11))
        if self.p.algo == "trpo":
            stats.update(self._trpo(pi, ro, adv, gen))
        else:
            stats.update(self._ppo(pi, state.optims["pi"], ro, adv, gen))
        stats["v_loss"] = self._fit_value(V, state.optims["V"], ro.obs, returns, gen)
        stats.update(self.after_policy(state, ro, batches, log))
        stats.update({"return": torch.tensor(sum(ro.returns) / len(ro.returns)),
                      "episode_length": torch.tensor(sum(ro.lengths) / len(ro.lengths), dtype=torch.float32),
                      "episodes": torch.tensor(float(len(ro.returns))),
                      "env_steps": torch.tensor(float(self.env_steps))})
        if any(ro.success):
            stats["success_rate"] = torch.tensor(sum(ro.success) / len(ro.success))
        return stats

    def _old(self, pi, obs):
        with torch.no_grad():
            d = pi.dist(obs)
        if pi.discrete:
            return torch.distributions.Categorical(logits=d.logits.detach())
        base = d.base_dist
        return torch.distributions.Independent(torch.distributions.Normal(base.loc.detach(), base.scale.detach()), 1)

    def _trpo(self, pi, ro, adv: Tensor, gen: torch.Generator) -> Stats:
        from ..rl.trpo import summary, trpo_step
        obs, acts = ro.obs, ro.acts
        old = self._old(pi, obs)
        logp_old = old.log_prob(acts.long() if pi.discrete else acts)
        ent_w = self.p.entropy_weight

        def surrogate():
            d = pi.dist(obs)
            obj = (torch.exp(d.log_prob(acts.long() if pi.discrete else acts) - logp_old) * adv).mean()
            return obj + ent_w * d.entropy().mean() if ent_w else obj

        def kl():
            return kl_divergence(old, pi.dist(obs)).mean()

        kl_fvp = None
        if self.p.fvp_fraction < 1:
            n = max(1, int(round(self.p.fvp_fraction * len(obs))))
            sub = torch.randperm(len(obs), generator=gen)[:n]
            old_sub = self._old(pi, obs[sub])

            def kl_fvp():
                return kl_divergence(old_sub, pi.dist(obs[sub])).mean()

        r = trpo_step(list(pi.parameters()), surrogate, kl, self.p.max_kl, self.p.damping, self.p.cg_iters,
                      self.p.backtracks, self.p.accept_ratio, kl_fvp, self.p.kl_slack, self.p.shrink)
        with torch.no_grad():
            entropy = pi.dist(obs).entropy().mean()
        return {**{k: torch.tensor(v) for k, v in summary(r).items()}, "entropy": entropy}

    def _ppo(self, pi, opt, ro, adv: Tensor, gen: torch.Generator) -> Stats:
        from ..rl.ppo import clipped_surrogate_loss
        obs, acts = ro.obs, ro.acts
        with torch.no_grad():
            logp_old = pi.log_prob(obs, acts)
        last = torch.zeros(())
        for idx in minibatches(len(obs), self.p.minibatch, self.p.epochs, gen):
            d = pi.dist(obs[idx])
            logp = d.log_prob(acts[idx].long() if pi.discrete else acts[idx])
            loss = clipped_surrogate_loss(logp, logp_old[idx], adv[idx], self.p.clip) \
                - self.p.entropy_weight * d.entropy().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.p.max_grad_norm:
                nn.utils.clip_grad_norm_(pi.parameters(), self.p.max_grad_norm)
            opt.step()
            last = loss.detach()
        with torch.no_grad():
            d = pi.dist(obs)
            approx_kl = (logp_old - d.log_prob(acts.long() if pi.discrete else acts)).mean()
            entropy = d.entropy().mean()
        return {"pi_loss": last, "ppo/approx_kl": approx_kl, "entropy": entropy}

    def _fit_value(self, V, opt, obs: Tensor, returns: Tensor, gen: torch.Generator) -> Tensor:
        last = torch.zeros(())
        for idx in minibatches(len(obs), self.p.vf_minibatch, self.p.vf_epochs, gen):
            loss = 0.5 * (V(obs[idx]) - returns[idx]).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            last = loss.detach()
        return last
