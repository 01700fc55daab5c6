"""Whole episodes from a policy, as a pure function of (seed, step).

Episode number e of collection `step` resets its environment with a seed
derived from (seed, step, e), and the policy's draws come from one torch
generator seeded with (seed, step): the same policy weights give the same
episodes, bit for bit, whichever process collects them and whatever ran
before. That is what lets a recipe that acts resume exactly from a
checkpoint with no environment state saved.

`num_envs` copies are stepped in lockstep (one policy forward for all of
them); each starts a new episode when its own ends, until `min_steps`
transitions are collected (episodes already running are finished: episodes
are always whole) or `episodes` episodes have started.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional

import numpy as np
import torch


def episode_seed(seed: int, step: int, episode: int) -> int:
    """The reset seed of episode `episode` of collection `step` (a 31-bit integer)."""
    return int(np.random.SeedSequence([int(seed), int(step), int(episode)]).generate_state(1)[0] >> 1)


def action_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(np.random.SeedSequence([int(seed), int(step), 7]).generate_state(1)[0]))


@dataclass
class Rollout:
    """Transitions of whole episodes, episode after episode (row t+1 follows
    row t in the same episode unless row t ends it)."""
    obs: torch.Tensor           # (T, obs_dim) float32, the observation the action was taken in
    acts: torch.Tensor          # (T,) int64 or (T, act_dim) float32: the policy's draw (unclipped)
    rews: torch.Tensor          # (T,) float32: the environment's reward
    next_obs: torch.Tensor      # (T, obs_dim): the observation after the step
    terminated: torch.Tensor    # (T,) bool: the task ended (no bootstrapping)
    truncated: torch.Tensor     # (T,) bool: the time limit ended it (bootstrap from V(next_obs))
    # (T,) bool: the step was taken in an absorbing state (envs/wrappers.FixedHorizon, after the task ended)
    absorbing: torch.Tensor = None
    returns: List[float] = field(default_factory=list)   # each episode's sum of environment rewards
    lengths: List[int] = field(default_factory=list)
    success: List[bool] = field(default_factory=list)    # info["success"] seen in the episode

    def __len__(self) -> int:
        return len(self.obs)

    @property
    def dones(self) -> torch.Tensor:
        return self.terminated | self.truncated


def _env_action(a: np.ndarray, space):
    if hasattr(space, "n"):
        return int(a)
    return np.clip(a, space.low, space.high).astype(space.dtype)


def random_actions(space, n: int, generator: torch.Generator) -> torch.Tensor:
    """n uniform actions of `space` drawn with `generator` (a Gaussian per
    unbounded coordinate): the random policy of normalized returns."""
    if hasattr(space, "n"):
        return torch.randint(int(space.n), (n,), generator=generator)
    low, high = torch.as_tensor(space.low, dtype=torch.float32), torch.as_tensor(space.high, dtype=torch.float32)
    u = torch.rand((n, *low.shape), generator=generator)
    bounded = torch.isfinite(low) & torch.isfinite(high)
    z = torch.randn((n, *low.shape), generator=generator)
    return torch.where(bounded, low + u * (high - low), z)


@torch.no_grad()
def collect(policy: Optional[torch.nn.Module], envs: list, seed: int, step: int, min_steps: int = 0,
            episodes: int = 0, deterministic: bool = False,
            on_frame: Optional[Callable[[int, np.ndarray], None]] = None,
            progress: Optional[Callable[[int], None]] = None) -> Rollout:
    """Collect whole episodes with `policy` (None: uniformly random actions)
    from `envs` (gymnasium environments of one task). Stops starting
    episodes once `min_steps` transitions are in (min_steps > 0) or
    `episodes` have started (episodes > 0). on_frame(episode, rgb) gets
    each rendered frame (environments made with render_mode rgb_array);
    progress(n) is called with the transitions of each lockstep step."""
    if not (min_steps > 0) ^ (episodes > 0):
        raise ValueError("collect: give exactly one of min_steps or episodes")
    gen = action_generator(seed, step)
    space = envs[0].action_space
    device = next(policy.parameters()).device if policy is not None else torch.device("cpu")
    k = len(envs)
    started = 0
    total = 0
    live: List[Optional[dict]] = [None] * k
    current = [None] * k
    done_eps: List[dict] = []

    def can_start() -> bool:
        return (episodes and started < episodes) or (min_steps and total < min_steps)

    def start(i: int) -> None:
        nonlocal started
        obs, _ = envs[i].reset(seed=episode_seed(seed, step, started))
        live[i] = {"obs": [], "acts": [], "rews": [], "next": [], "term": [], "trunc": [], "abs": [],
                   "success": False, "order": started, "in_abs": False}
        current[i] = np.asarray(obs, np.float32)
        if on_frame is not None:
            on_frame(started, envs[i].render())
        started += 1

    for i in range(k):
        if can_start():
            start(i)
    while any(ep is not None for ep in live):
        idx = [i for i in range(k) if live[i] is not None]
        obs = torch.as_tensor(np.stack([current[i].reshape(-1) for i in idx]), device=device)
        if policy is None:
            acts = random_actions(space, len(idx), gen)
        else:
            acts = policy.act(obs, deterministic=deterministic, generator=gen if device.type == "cpu" else None)
        acts_np = acts.cpu().numpy()
        for j, i in enumerate(idx):
            ep = live[i]
            nxt, r, term, trunc, info = envs[i].step(_env_action(acts_np[j], space))
            nxt = np.asarray(nxt, np.float32)
            ep["obs"].append(current[i].reshape(-1))
            ep["acts"].append(acts_np[j])
            ep["rews"].append(float(r))
            ep["next"].append(nxt.reshape(-1))
            ep["term"].append(bool(term))
            ep["trunc"].append(bool(trunc) and not term)
            ep["abs"].append(ep["in_abs"])
            ep["in_abs"] = bool(info.get("absorbing", False))  # the next step starts in the absorbing state
            ep["success"] = ep["success"] or bool(info.get("success", False))
            if on_frame is not None:
                on_frame(ep["order"], envs[i].render())
            current[i] = nxt
            total += 1
            if term or trunc:
                done_eps.append(ep)
                live[i] = None
        # new episodes only once the whole lockstep step is counted: with 4 copies and 4000 wanted, four
        # 500-step episodes each end at 4000 together, and none starts a fifth because the others were not
        # counted yet
        for i in idx:
            if live[i] is None and can_start():
                start(i)
        if progress is not None:
            progress(len(idx))
    done_eps.sort(key=lambda e: e["order"])  # episode order, not the order they happened to end in

    def cat(key, dtype):
        return torch.as_tensor(np.concatenate([np.asarray(e[key], dtype) for e in done_eps]))

    acts_dtype = np.int64 if hasattr(space, "n") else np.float32
    return Rollout(obs=cat("obs", np.float32), acts=cat("acts", acts_dtype), rews=cat("rews", np.float32),
                   next_obs=cat("next", np.float32), terminated=cat("term", bool), truncated=cat("trunc", bool),
                   absorbing=cat("abs", bool),
                   returns=[float(np.sum(e["rews"])) for e in done_eps], lengths=[len(e["rews"]) for e in done_eps],
                   success=[e["success"] for e in done_eps])
