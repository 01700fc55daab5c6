"""Demonstrations: an expert's transitions, the "real data" of imitation
(GAIL, AIRL, behaviour cloning), and `none`, the data set of a method that
learns from an environment's reward alone (an expert, VIME).

A demonstrations file is an .npz with one row per transition:

    obs    (T, *obs_shape) float   the observation the action was taken in
    acts   (T,) int                a discrete action, or (T, act_dim) float
    rews   (T,) float              the environment's reward
    dones  (T,) bool               True on the last step of each episode
    env_id ()  str                 the environment the expert acted in
    expert_return () float         the expert's mean return over the file's episodes
    next_obs   (T, *obs_shape)     optional: the observation after the step (AIRL needs it)
    terminated (T,) bool           optional: the task ended there (not a time limit)

(`write_demonstrations` writes one; `ganscape demos RUN` rolls a trained
policy out into one.) The data set keeps `trajectories` whole episodes chosen
with the run's seed (0: all) and, with `subsample` k > 1, every k-th step of
each from a random offset (Ho & Ermon 2016 keep every 20th step on MuJoCo,
every 10th or 5th on classic control, so that D cannot memorize whole
trajectories). One example is one (observation, action) pair, flattened to
x = [obs, act] (a discrete action as its index): the loop's batches are
pairs, followed by the next observation and a terminated flag when the
file has them (x = [obs, act, next_obs, terminated]); `info` says how to
split them back (obs_dim, act_dim, discrete, has_next) and
carries the environment id, the expert's return and the observation mean and
std over the kept pairs. Split "test" holds the episodes not kept (behaviour
cloning's held-out pairs; empty when every episode is kept). The file is read without pickle; shipped files
(package data, made by scripts/make_demos.py) are used when `path` is empty.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch

from ..registry import DATASETS, ConfigError, NoParams
from .base import ArrayDataset, check_split

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "demos"
KEYS = ("obs", "acts", "rews", "dones")


def shipped_path(env_id: str) -> Path:
    """The demonstrations shipped for `env_id` (ganscape/demos/<id>.npz, '/' as '__')."""
    return SHIPPED_DIR / (env_id.replace("/", "__") + ".npz")


def shipped_envs() -> list:
    return sorted(p.stem.replace("__", "/") for p in SHIPPED_DIR.glob("*.npz")) if SHIPPED_DIR.is_dir() else []


def write_demonstrations(path, obs, acts, rews, dones, env_id: str, expert_return: Optional[float] = None,
                         next_obs=None, terminated=None) -> Path:
    """Write a demonstrations file (see the module docstring); returns its path."""
    obs, acts = np.asarray(obs, np.float32), np.asarray(acts)
    rews, dones = np.asarray(rews, np.float32), np.asarray(dones, bool)
    if not (len(obs) == len(acts) == len(rews) == len(dones)) or not len(obs):
        raise ValueError(f"demonstrations: obs, acts, rews, dones need one row per transition, got lengths "
                         f"{len(obs)}, {len(acts)}, {len(rews)}, {len(dones)}")
    if not dones[-1]:
        raise ValueError("demonstrations: the last transition must end an episode (dones[-1] True)")
    if expert_return is None:
        expert_return = float(np.mean([r.sum() for r in np.split(rews, np.flatnonzero(dones)[:-1] + 1)]))
    acts = acts.astype(np.int64) if np.issubdtype(acts.dtype, np.integer) else acts.astype(np.float32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    extra = {}
    if next_obs is not None:
        extra["next_obs"] = np.asarray(next_obs, np.float32)
    if terminated is not None:
        extra["terminated"] = np.asarray(terminated, bool)
    np.savez_compressed(tmp, obs=obs, acts=acts, rews=rews, dones=dones, env_id=np.array(env_id),
                        expert_return=np.array(float(expert_return)), **extra)
    tmp.replace(path)
    return path


def read_demonstrations(path) -> Dict[str, Any]:
    """The arrays and metadata of a demonstrations file, checked: one clear
    ValueError for a file that is missing, not an .npz, lacks a key, has
    rows of different lengths or holds NaN/Inf."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"demonstrations: {path} does not exist (write one with `ganscape demos RUN --out {path}`)")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"demonstrations: {path} is not an .npz file")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in (*KEYS, "env_id") if k not in f.files]
            if missing:
                raise ValueError(f"demonstrations: {path} lacks {', '.join(missing)} (a demonstrations file has "
                                 f"obs, acts, rews, dones, env_id, expert_return)")
            d = {k: f[k] for k in KEYS}
            d["env_id"] = str(f["env_id"])
            d["expert_return"] = float(f["expert_return"]) if "expert_return" in f.files else float("nan")
            for k in ("next_obs", "terminated"):
                if k in f.files:
                    d[k] = f[k]
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ValueError(f"demonstrations: {path} cannot be read ({e})") from None
    n = {k: len(d[k]) for k in (*KEYS, "next_obs", "terminated") if k in d}
    if len(set(n.values())) != 1 or not n["obs"]:
        raise ValueError(f"demonstrations: {path} needs one row per transition in every key, got {n}")
    for k in ("obs", "acts", "rews", "next_obs"):
        if k not in d:
            continue
        if np.issubdtype(d[k].dtype, np.floating) and not np.isfinite(d[k]).all():
            bad = int((~np.isfinite(d[k])).reshape(len(d[k]), -1).any(1).sum())
            raise ValueError(f"demonstrations: {path} has NaN or Inf in {k!r} ({bad} of {len(d[k])} rows)")
    if not d["dones"].astype(bool)[-1]:
        raise ValueError(f"demonstrations: {path} ends inside an episode (the last row's dones is False)")
    d["dones"] = d["dones"].astype(bool)
    return d


def episode_bounds(dones: np.ndarray) -> list:
    """[(start, stop), ...] of the episodes, from the dones flags."""
    ends = np.flatnonzero(dones) + 1
    return list(zip(np.concatenate([[0], ends[:-1]]).tolist(), ends.tolist()))


@dataclass(frozen=True)
class DemonstrationsParams:
    path: str = ""            # an .npz of demonstrations; "": the file shipped for `env`
    env: str = "CartPole-v1"  # whose shipped demonstrations to use when path is empty
    trajectories: int = 0     # whole episodes to keep, chosen with the seed; 0: all
    subsample: int = 1        # keep every k-th step of each kept episode (from a random offset)

    def validate(self, where: str) -> None:
        if self.trajectories < 0 or self.subsample < 1:
            raise ConfigError(f"{where}: need trajectories >= 0 and subsample >= 1, got {self.trajectories} and "
                              f"{self.subsample}")


def _source(p: DemonstrationsParams) -> Path:
    if p.path:
        return Path(p.path)
    path = shipped_path(p.env)
    if not path.is_file():
        raise ConfigError(f"data.params.env: no demonstrations are shipped for {p.env!r} (shipped: "
                          f"{', '.join(shipped_envs()) or 'none'}); give data.params.path")
    return path


@DATASETS.register("demonstrations", params=DemonstrationsParams, kinds=("transitions",),
                   too_small_hint="keep more (observation, action) pairs (data.params.trajectories, a smaller "
                                  "data.params.subsample) or lower train.batch_size")
def demonstrations(p: DemonstrationsParams, split: str, seed: int = 0) -> ArrayDataset:
    """An expert's (observation, action) pairs from a demonstrations .npz (`ganscape demos`), whole episodes
    chosen with the seed; the shipped file of `env` when path is empty."""
    check_split(split)
    path = _source(p)
    d = read_demonstrations(path)
    episodes = episode_bounds(d["dones"])
    if p.trajectories > len(episodes):
        raise ConfigError(f"data.params.trajectories: {p.trajectories} asked, but {path} holds {len(episodes)} "
                          f"episodes")
    rng = np.random.default_rng([int(seed), 271_828])
    order = rng.permutation(len(episodes))
    k = p.trajectories or len(episodes)
    chosen = sorted(order[:k].tolist()) if split == "train" else sorted(order[k:].tolist())
    offsets = rng.integers(0, p.subsample, size=len(episodes))
    rows = np.concatenate([np.arange(0)] + [np.arange(episodes[e][0] + min(offsets[e], episodes[e][1] - episodes[e][0] - 1),
                                     episodes[e][1], p.subsample) for e in chosen]).astype(np.int64)
    width = lambda a: int(np.prod(a.shape[1:], dtype=np.int64))  # noqa: E731  (an empty split keeps its widths)
    obs = d["obs"][rows].reshape(len(rows), width(d["obs"])).astype(np.float32)
    acts = d["acts"][rows]
    discrete = np.issubdtype(acts.dtype, np.integer)
    act_cols = acts.reshape(len(rows), width(d["acts"])).astype(np.float32)
    cols = [obs, act_cols]
    has_next = "next_obs" in d and "terminated" in d
    if has_next:
        cols += [d["next_obs"][rows].reshape(len(rows), width(d["next_obs"])).astype(np.float32),
                 d["terminated"][rows].astype(np.float32)[:, None]]
    x = torch.from_numpy(np.concatenate(cols, 1))
    returns = [float(d["rews"][a:b].sum()) for a, b in episodes]
    info = {"env_id": d["env_id"], "obs_shape": tuple(d["obs"].shape[1:]), "obs_dim": obs.shape[1],
            "act_dim": act_cols.shape[1], "discrete": bool(discrete), "has_next": has_next,
            "n_actions": int(d["acts"].max()) + 1 if discrete else 0,
            "expert_return": d["expert_return"],
            "kept_return": float(np.mean([returns[e] for e in chosen])) if chosen else float("nan"),
            "episodes": len(chosen), "pairs": len(rows), "path": str(path),
            "obs_mean": obs.mean(0) if len(obs) else np.zeros(obs.shape[1], np.float32),
            "obs_std": obs.std(0) if len(obs) else np.ones(obs.shape[1], np.float32)}
    return ArrayDataset(x=x, kind="transitions", info=info)


@DATASETS.register("none", params=NoParams, kinds=("none",))
def no_data(p: NoParams, split: str, seed: int = 0) -> ArrayDataset:
    """No examples: the data set of a method that learns from an environment's reward (expert, vime)."""
    check_split(split)
    return ArrayDataset(x=torch.zeros(0, 0), kind="none")
