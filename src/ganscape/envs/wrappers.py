"""FixedHorizon: every episode lasts exactly `horizon` steps.

Why: GAIL's reward -log(1 - D(s, a)) is always positive, so on a task that
ends early (CartPole ends when the pole falls) it is a bonus for surviving,
whatever D says; and a reward that is always negative would be a bonus for
ending early. With a fixed horizon the episode's length carries no reward.
After the wrapped task terminates, the episode continues in an absorbing
state until the horizon: the observation stays the terminal one, actions do
nothing, the task's reward is 0, `terminated` stays False and the last step
is `truncated` (info["absorbing"] is True from the terminal step on). This
is the seals / HumanCompatibleAI imitation convention (their
AbsorbAfterDoneWrapper with the terminal observation and reward 0); Kostrikov
et al. 2019 add an indicator feature for the absorbing state instead, a
deviation not taken here.
"""
from __future__ import annotations

from typing import Any, Optional

from .deps import require_gymnasium

gym = require_gymnasium()  # this module is imported only where an environment is wanted


class FixedHorizon(gym.Wrapper):
    """env -> the same task, every episode exactly `horizon` steps (see the module docstring)."""

    def __init__(self, env, horizon: int):
        super().__init__(env)
        if horizon < 1:
            raise ValueError(f"FixedHorizon: horizon must be >= 1, got {horizon}")
        self.horizon = horizon
        self._t, self._absorbing, self._last_obs = 0, False, None

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self._t, self._absorbing, self._last_obs = 0, False, obs
        return obs, info

    def step(self, action: Any):
        if self._last_obs is None:
            raise RuntimeError("FixedHorizon: step() before reset()")
        self._t += 1
        if self._absorbing:
            obs, reward, info = self._last_obs, 0.0, {"absorbing": True}
        else:
            obs, reward, terminated, truncated, info = self.env.step(action)
            self._last_obs = obs
            if terminated:
                self._absorbing, info = True, {**info, "absorbing": True}
            elif truncated and self._t < self.horizon:
                raise RuntimeError(f"FixedHorizon: the wrapped environment was cut at step {self._t}, "
                                   f"before the horizon {self.horizon}; give it a time limit >= the horizon")
        return obs, reward, False, self._t >= self.horizon, info
