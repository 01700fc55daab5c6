"""Building a gymnasium environment from an id, with one clear line for what
can go wrong: gymnasium (or MuJoCo) not installed, an unknown id (with the
close matches), bad keyword arguments."""
from __future__ import annotations

import difflib
from typing import Any, Dict, Optional

from ..registry import ConfigError
from .deps import require_gymnasium


def make_env(env_id: str, params: Optional[Dict[str, Any]] = None, max_episode_steps: int = 0,
             fixed_horizon: bool = False, render_mode: Optional[str] = None):
    """gymnasium.make(env_id, **params), with the time limit `max_episode_steps`
    (0: the registered one) and, with `fixed_horizon`, FixedHorizon on top (every
    episode lasts exactly the time limit; see wrappers.py)."""
    gym = require_gymnasium()
    from .sparse import register  # ganscape/Sparse*: VIME's sparse-reward tasks
    register()
    if env_id not in gym.envs.registry:
        close = difflib.get_close_matches(env_id, list(gym.envs.registry), n=3, cutoff=0.5)
        hint = (f"; close matches: {', '.join(close)}" if close
                else "; gymnasium's registry lists them (gymnasium.pprint_registry())")
        raise ConfigError(f"env.id: unknown environment {env_id!r}{hint}")
    spec = gym.envs.registry[env_id]
    limit = max_episode_steps or spec.max_episode_steps
    if fixed_horizon and not limit:
        raise ConfigError(f"env.fixed_horizon: {env_id} has no time limit; set env.max_episode_steps")
    try:
        env = gym.make(env_id, max_episode_steps=limit or None, render_mode=render_mode, **(params or {}))
    except TypeError as e:
        raise ConfigError(f"env.params: {env_id} does not take {sorted(params or {})}: {e}") from None
    except gym.error.DependencyNotInstalled as e:
        extra = "mujoco" if "mujoco" in str(e).lower() else "rl"
        raise ConfigError(f"env.id: {env_id} needs a package that is not installed "
                          f"(pip install -e \".[{extra}]\"): {str(e).splitlines()[0]}") from None
    if fixed_horizon:
        from .wrappers import FixedHorizon
        env = FixedHorizon(env, limit)
    return env


def make_envs(env_cfg, n: int = 0, fixed_horizon: Optional[bool] = None, render_mode: Optional[str] = None) -> list:
    """`n` copies (0: env_cfg.num_envs) of a config's `env` section (config.EnvConfig);
    fixed_horizon None: the section's own (evaluation and rendering pass False: the plain task)."""
    fh = env_cfg.fixed_horizon if fixed_horizon is None else fixed_horizon
    return [make_env(env_cfg.id, dict(env_cfg.params), env_cfg.max_episode_steps, fh, render_mode)
            for _ in range(n or env_cfg.num_envs)]
