"""An expert by reinforcement learning on the environment's true reward:
TRPO (Schulman et al. 2015) or PPO (Schulman et al. 2017), written here
(rl/) and run by the policy iteration every recipe that acts shares
(methods/acting.py). Its runs are what `ganscape demos` rolls out into
demonstrations for GAIL, AIRL and behaviour cloning; with a sparse-reward
task it is also the "plain TRPO" baseline of VIME (Gaussian action noise,
no bonus)."""
from __future__ import annotations

from ..registry import METHODS
from .acting import ActingMethod, ActingParams


class ExpertMethod(ActingMethod):
    name = "expert"


@METHODS.register("expert", params=ActingParams)
def expert(params: ActingParams, config) -> ActingMethod:
    """A policy trained by TRPO or PPO on the environment's reward (data: none; env.id: the task)."""
    return ExpertMethod(params, config)
