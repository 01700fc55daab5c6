"""The nets of the recipes that act: a policy, a value function and a
discriminator (or reward net) over (state, action) pairs, all MLPs.

Observations are standardized inside every net with buffers (obs_mean,
obs_std) that a recipe sets once (GAIL: from the demonstrations, as
openai/imitation does; otherwise 0 and 1), so a saved policy is complete: it
acts on raw observations. Hidden layers are tanh, as in the GAIL and TRPO
papers' code; the last layer of the policy starts 100x smaller
(modular_rl, openai/imitation), so the first policy is nearly uniform.

Policy: categorical over `n_actions` for a discrete action space; for a
continuous one a diagonal Gaussian with a state-independent log std (one
parameter per action dimension, TRPO's and GAIL's parameterization). The
environment receives Gaussian actions clipped to its bounds; log-probabilities
are of the unclipped draw (as rllab and openai/imitation do).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Categorical, Independent, Normal


def mlp(sizes: Sequence[int], activation=nn.Tanh) -> nn.Sequential:
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


class ObsNorm(nn.Module):
    """Standardizes observations with fixed buffers (set_stats)."""

    def __init__(self, obs_dim: int):
        super().__init__()
        self.register_buffer("obs_mean", torch.zeros(obs_dim))
        self.register_buffer("obs_std", torch.ones(obs_dim))

    @torch.no_grad()
    def set_stats(self, mean, std, floor: float = 1e-2) -> None:
        # a constant feature (an absorbing flag, a fixed coordinate) must not be divided by ~0
        self.obs_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.obs_std.copy_(torch.as_tensor(std, dtype=torch.float32).clamp_min(floor))

    def forward(self, obs: Tensor) -> Tensor:
        return (obs.flatten(1) - self.obs_mean) / self.obs_std


class Policy(nn.Module):
    """pi(a | s): categorical (n_actions > 0) or diagonal Gaussian (act_dim > 0)."""

    is_policy = True  # `sample` renders episodes and `eval` scores returns for nets that say so

    def __init__(self, obs_dim: int, n_actions: int = 0, act_dim: int = 0, hidden: Sequence[int] = (64, 64),
                 init_log_std: float = 0.0):
        super().__init__()
        if (n_actions > 0) == (act_dim > 0):
            raise ValueError("a policy has either n_actions (discrete) or act_dim (continuous)")
        self.obs_dim, self.n_actions, self.act_dim = obs_dim, n_actions, act_dim
        self.discrete = n_actions > 0
        self.norm = ObsNorm(obs_dim)
        self.net = mlp([obs_dim, *hidden, n_actions or act_dim])
        with torch.no_grad():
            self.net[-1].weight.mul_(0.01)
            self.net[-1].bias.zero_()
        self.log_std = None if self.discrete else nn.Parameter(torch.full((act_dim,), float(init_log_std)))

    def dist(self, obs: Tensor):
        out = self.net(self.norm(obs))
        if self.discrete:
            return Categorical(logits=out)
        return Independent(Normal(out, self.log_std.exp().expand_as(out)), 1)

    def forward(self, obs: Tensor) -> Tensor:
        """The deterministic action: the most likely class, or the Gaussian's mean."""
        out = self.net(self.norm(obs))
        return out.argmax(-1) if self.discrete else out

    @torch.no_grad()
    def act(self, obs: Tensor, deterministic: bool = False, generator: Optional[torch.Generator] = None) -> Tensor:
        """Actions for a batch of observations; draws use `generator` (a
        seeded one makes the episode a function of the seed)."""
        if deterministic:
            return self(obs)
        out = self.net(self.norm(obs))
        if self.discrete:
            u = torch.rand(out.shape[:-1] + (1,), generator=generator, device=out.device)
            cdf = out.softmax(-1).cumsum(-1)
            return (u > cdf).sum(-1).clamp_max(self.n_actions - 1)  # inverse-CDF draw: one uniform per row
        return out + self.log_std.exp() * torch.randn(out.shape, generator=generator, device=out.device)

    def log_prob(self, obs: Tensor, acts: Tensor) -> Tensor:
        return self.dist(obs).log_prob(acts.long() if self.discrete else acts)


class ValueNet(nn.Module):
    """V(s), with the policy's observation standardization."""

    def __init__(self, obs_dim: int, hidden: Sequence[int] = (64, 64)):
        super().__init__()
        self.norm = ObsNorm(obs_dim)
        self.net = mlp([obs_dim, *hidden, 1])

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(self.norm(obs)).squeeze(-1)


class PairNet(nn.Module):
    """A scalar function of (s, a): GAIL's discriminator logit, AIRL's g.

    Discrete actions: one output per action, the taken action's is read (the
    GAIL code's discriminator for discrete tasks); continuous: the MLP sees
    [s, a]. `state_only` ignores the action (AIRL's disentangled reward).

    Rows flagged `absorbing` (steps after the task ended, under a fixed
    horizon) get one learned value of their own, whatever the action: the
    absorbing state is a state of its own, as in Kostrikov et al. 2019 (DAC);
    an action-dependent score there would let the policy pick the action D
    happens to like in a state where actions do nothing, and end episodes
    early to collect it."""

    def __init__(self, obs_dim: int, n_actions: int = 0, act_dim: int = 0, hidden: Sequence[int] = (100, 100),
                 state_only: bool = False):
        super().__init__()
        self.discrete, self.state_only = n_actions > 0, state_only
        self.norm = ObsNorm(obs_dim)
        if state_only:
            self.net = mlp([obs_dim, *hidden, 1])
        elif self.discrete:
            self.net = mlp([obs_dim, *hidden, n_actions])
        else:
            self.net = mlp([obs_dim + act_dim, *hidden, 1])
        self.absorbing_value = nn.Parameter(torch.zeros(()))

    def forward(self, obs: Tensor, acts: Tensor, absorbing: Optional[Tensor] = None) -> Tensor:
        s = self.norm(obs)
        if self.state_only:
            out = self.net(s).squeeze(-1)
        elif self.discrete:
            out = self.net(s).gather(-1, acts.long().reshape(-1, 1)).squeeze(-1)
        else:
            out = self.net(torch.cat([s, acts.reshape(len(acts), -1)], -1)).squeeze(-1)
        if absorbing is None:
            return out
        return torch.where(absorbing, self.absorbing_value.expand_as(out), out)


class StateNet(nn.Module):
    """h(s): AIRL's shaping term."""

    def __init__(self, obs_dim: int, hidden: Sequence[int] = (100, 100)):
        super().__init__()
        self.norm = ObsNorm(obs_dim)
        self.net = mlp([obs_dim, *hidden, 1])

    def forward(self, obs: Tensor) -> Tensor:
        return self.net(self.norm(obs)).squeeze(-1)
