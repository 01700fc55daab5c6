"""A trained policy's episodes: demonstrations files and pictures.

`demos` rolls a run's policy out into a demonstrations .npz (data/demos.py),
the "real data" of GAIL, AIRL and behaviour cloning; `render` writes its
episodes as an animated GIF (or, for a .png, a strip of frames) beside an
.npz of their trajectories. Both reset episode k with a seed derived from
(`seed`, k), so the same command gives the same file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np

from .envs.make import make_envs
from .registry import ConfigError

PathLike = Union[str, Path]
DEMOS_STEP = 2 ** 41      # the rollout "step" of demonstrations: never a training or evaluation step


def load_policy(run_dir: PathLike, checkpoint: str = "latest"):
    """(config, policy in eval mode) of a run of a method that acts; one clear
    line for a run whose sampler is not a policy."""
    from .api import load_generator, load_run
    cfg = load_run(run_dir)
    pi = load_generator(run_dir, checkpoint)
    if not getattr(pi, "is_policy", False):
        raise ConfigError(f"{run_dir} is a run of method {cfg.method.name!r}, which trains no policy; demos and "
                          f"episodes come from runs of expert, gail, airl, bc or vime")
    return cfg, pi


def _bar(desc: str, total: Optional[int] = None, show: bool = True):
    from tqdm.auto import tqdm
    return tqdm(desc=desc, total=total, unit="step", disable=not show, leave=False)


def demos(run_dir: PathLike, out: PathLike, episodes: int = 10, checkpoint: str = "latest", seed: int = 0,
          deterministic: bool = False, progress: bool = True) -> Dict[str, Any]:
    """Roll the run's policy out for `episodes` episodes into a demonstrations
    file `out` (obs, acts, rews, dones, env_id, expert_return). The expert
    acts as it was trained: its stochastic policy unless `deterministic`."""
    from .data.demos import write_demonstrations
    from .envs.rollout import collect
    if episodes < 1:
        raise ConfigError(f"--episodes: must be >= 1, got {episodes}")
    cfg, pi = load_policy(run_dir, checkpoint)
    envs = make_envs(cfg.env, min(cfg.env.num_envs, episodes), fixed_horizon=False)
    bar = _bar("demonstrations", show=progress)
    try:
        ro = collect(pi, envs, seed, DEMOS_STEP, episodes=episodes, deterministic=deterministic,
                     progress=bar.update)
    finally:
        bar.close()
    mean = float(np.mean(ro.returns))
    path = write_demonstrations(out, ro.obs.numpy(), ro.acts.numpy(), ro.rews.numpy(), ro.dones.numpy(),
                                cfg.env.id, mean, next_obs=ro.next_obs.numpy(), terminated=ro.terminated.numpy())
    return {"path": str(path), "episodes": len(ro.returns), "transitions": len(ro), "mean_return": mean,
            "std_return": float(np.std(ro.returns)), "env_id": cfg.env.id}


def render(run_dir: PathLike, out: PathLike, episodes: int = 1, checkpoint: str = "latest", seed: int = 0,
           deterministic: bool = False, fps: int = 30, every: Optional[int] = None,
           progress: bool = True) -> Dict[str, Any]:
    """Render `episodes` episodes of the run's policy into `out`: an animated
    .gif (episodes one after another) or a .png strip of every `every`-th
    frame (one row per episode; default: 8 frames of each episode, the
    .gif's default every frame); their trajectories go beside it as
    OUT.npz. Rendering needs the environment's rgb_array mode (classic
    control: pygame, in the `rl` extra)."""
    from PIL import Image

    from .envs.rollout import collect
    out = Path(out)
    if out.suffix.lower() not in (".gif", ".png"):
        raise ConfigError(f"--out: {out.name} must end in .gif (an animation) or .png (a strip of frames)")
    if episodes < 1 or (every is not None and every < 1) or fps < 1:
        raise ConfigError(f"--episodes, --every and --fps must be >= 1, got {episodes}, {every} and {fps}")
    cfg, pi = load_policy(run_dir, checkpoint)
    try:
        envs = make_envs(cfg.env, 1, fixed_horizon=False, render_mode="rgb_array")
    except ConfigError as e:
        raise ConfigError(f"rendering {cfg.env.id} is unavailable: {e}") from None
    frames: Dict[int, List[np.ndarray]] = {}

    def on_frame(ep: int, rgb) -> None:
        if rgb is None:
            raise ConfigError(f"rendering {cfg.env.id} is unavailable: its render() returned nothing in "
                              f"rgb_array mode")
        frames.setdefault(ep, []).append(np.asarray(rgb, np.uint8))

    bar = _bar("episodes", show=progress)
    try:
        ro = collect(pi, envs, seed, DEMOS_STEP, episodes=episodes, deterministic=deterministic, on_frame=on_frame,
                     progress=bar.update)
    except Exception as e:  # pygame missing or no display: gymnasium raises its own types
        if isinstance(e, ConfigError):
            raise
        name = type(e).__name__
        if "DependencyNotInstalled" in name or "pygame" in str(e).lower():
            raise ConfigError(f"rendering {cfg.env.id} is unavailable ({str(e).splitlines()[0]}); "
                              f"pip install -e \".[rl]\" installs pygame") from None
        raise
    finally:
        bar.close()
        for env in envs:
            env.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    ordered = [frames[k] for k in sorted(frames)]
    if out.suffix.lower() == ".gif":
        images = [Image.fromarray(f) for ep in ordered for f in ep[::every or 1]]
        images[0].save(out, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    else:
        rows = []
        for ep in ordered:
            picked = ep[::every or max(1, -(-len(ep) // 8))]
            rows.append(np.concatenate(picked, 1))
        width = max(r.shape[1] for r in rows)
        rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
        Image.fromarray(np.concatenate(rows, 0)).save(out)
    traj = out.with_suffix(".npz")
    np.savez_compressed(traj, obs=ro.obs.numpy(), acts=ro.acts.numpy(), rews=ro.rews.numpy(),
                        dones=ro.dones.numpy(), env_id=np.array(cfg.env.id),
                        expert_return=np.array(float(np.mean(ro.returns))))
    return {"path": str(out), "trajectories": str(traj), "episodes": len(ro.returns), "returns": ro.returns,
            "frames": sum(len(f) for f in ordered)}
