"""Generalized advantage estimation (Schulman et al. 2016) over rollouts of
several environments, with the two ways an episode can stop told apart.

    delta_t = r_t + gamma * (1 - terminated_t) * V(s_{t+1}) - V(s_t)
    A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1},   done = terminated or truncated

`terminated`: the task ended (a true terminal state, worth 0 afterwards).
`truncated`: the episode was cut, at a time limit or at the end of the
rollout segment; the state it was cut at still has a future, so delta_t
bootstraps with V(s_{t+1}) (the value of the state it was cut at), but no
advantage flows back across the cut. Treating a time limit as a terminal
state biases the values of late states toward zero, the error gymnasium's
terminated / truncated split exists to avoid. A deviation from the official
codes: openai/baselines and rllab (VIME) treat every episode end as terminal,
and openai/imitation (GAIL) pads V = 0 at every path end but gives its value
function the time step as an input; a recipe that wants theirs flags its
time-limit ends `terminated`.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor


def gae(rewards: Tensor, values: Tensor, next_values: Tensor, terminated: Tensor, truncated: Tensor,
        gamma: float, lam: float) -> Tuple[Tensor, Tensor]:
    """(advantages, returns) of shape (T, N) from rewards, V(s_t), V(s_{t+1}), and the
    terminated / truncated flags of each transition, all (T, N) (or (T,) for one
    environment). returns = advantages + values: the value function's targets
    (TD(lambda) returns). A segment's last step must be flagged terminated or
    truncated: nothing after it is known."""
    if not (0.0 <= gamma <= 1.0 and 0.0 <= lam <= 1.0):
        raise ValueError(f"gae: gamma and lambda must lie in [0, 1], got {gamma} and {lam}")
    shapes = {tuple(t.shape) for t in (rewards, values, next_values, terminated, truncated)}
    if len(shapes) != 1:
        raise ValueError(f"gae: rewards, values, next_values, terminated and truncated need one shape, "
                         f"got {sorted(shapes)}")
    term, done = terminated.to(rewards.dtype), (terminated | truncated).to(rewards.dtype)
    if len(done) and not bool(done[-1].all()):
        raise ValueError("gae: the segment's last step must be flagged terminated or truncated")
    delta = rewards + gamma * (1.0 - term) * next_values - values
    adv = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0]) if len(rewards) else None
    for t in range(len(rewards) - 1, -1, -1):  # T steps; every environment at once
        running = delta[t] + gamma * lam * (1.0 - done[t]) * running
        adv[t] = running
    return adv, adv + values


def discounted_returns(rewards: Tensor, terminated: Tensor, truncated: Tensor, gamma: float) -> Tensor:
    """sum_k gamma^k r_{t+k} within each episode (T, N): GAE's returns with zero
    values and lambda 1, i.e. no bootstrapping at a cut."""
    zeros = torch.zeros_like(rewards)
    return gae(rewards, zeros, zeros, terminated, truncated, gamma, 1.0)[0]
