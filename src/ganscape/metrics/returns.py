"""The metrics of a policy: its return over fixed-seed episodes.

    return              mean, std, min and max of the episodes' summed
                        environment rewards (`episodes`, 50 by default as in
                        Ho & Ermon's evaluation); the stochastic policy by
                        default, its mode with deterministic: true
    normalized-return   (R - R_random) / (R_expert - R_random): 1 is the
                        expert, 0 a uniformly random policy run on the same
                        episode seeds; R_expert is `expert` when given, else
                        the demonstrations' expert return
    success-rate        the fraction of episodes whose environment reported
                        info["success"] (the sparse tasks: envs/sparse.py)

Episode k of an evaluation resets with a seed derived from (`seed`, k), the
same for every run and checkpoint, and apart from every training episode's
seed. The policy acts in the plain task (no fixed-horizon wrapper: its
absorbing steps add nothing to the return). `n` of an evaluation is not used:
`episodes` says how many.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence

import numpy as np

from ..registry import METRICS, ConfigError

EVAL_STEP = 2 ** 40   # the rollout "step" of evaluation episodes: never a training step
POLICY_DEFAULTS = ("return",)


@dataclass(frozen=True)
class ReturnParams:
    episodes: int = 50
    deterministic: bool = False
    seed: int = 0
    expert: Optional[float] = None   # normalized-return's expert return (None: the demonstrations')

    def validate(self, where: str) -> None:
        if self.episodes < 1:
            raise ConfigError(f"{where}.episodes: must be >= 1, got {self.episodes}")


def _not_samples(name: str):
    def fn(p, ctx):
        raise ConfigError(f"metric {name} scores a policy's episodes, not samples: evaluate a run of a method "
                          f"that acts (expert, gail, airl, bc, vime)")
    fn.__doc__ = {"return": "Mean (std, min, max) return of the policy over fixed-seed episodes.",
                  "normalized-return": "(R - R_random) / (R_expert - R_random) over fixed-seed episodes.",
                  "success-rate": "Fraction of fixed-seed episodes in which the task reported success."}[name]
    return fn


METRICS.register("return", params=ReturnParams, results=("return", "return_std", "return_min", "return_max"),
                 scores="policy")(_not_samples("return"))
METRICS.register("normalized-return", params=ReturnParams, results=("normalized_return", "random_return",
                                                                    "expert_return"),
                 scores="policy")(_not_samples("normalized-return"))
METRICS.register("success-rate", params=ReturnParams, results=("success_rate",),
                 scores="policy")(_not_samples("success-rate"))

HIGHER_IS_BETTER = {"return", "return_min", "return_max", "normalized_return", "success_rate"}


def policy_episodes(policy, cfg, episodes: int, seed: int = 0, deterministic: bool = False,
                    progress: bool = False, random: bool = False):
    """The Rollout of `episodes` evaluation episodes of `policy` (None or
    random=True: uniformly random actions) in the run's task."""
    from ..envs.make import make_envs
    from ..envs.rollout import collect
    envs = make_envs(cfg.env, min(cfg.env.num_envs, episodes), fixed_horizon=False)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(desc="random policy" if random or policy is None else "episodes", unit="step", leave=False)
    was = policy.training if policy is not None else None
    if policy is not None:
        policy.eval()
    try:
        return collect(None if random else policy, envs, seed, EVAL_STEP, episodes=episodes,
                       deterministic=deterministic, progress=bar.update if bar is not None else None)
    finally:
        if policy is not None:
            policy.train(was)
        if bar is not None:
            bar.close()
        for env in envs:
            env.close()


def expert_return_of(cfg) -> Optional[float]:
    """The demonstrations' expert return of a run trained on demonstrations, else None."""
    if cfg.data.name != "demonstrations":
        return None
    from ..train.state import load_data
    value = load_data(cfg, "train").info.get("expert_return")
    return None if value is None or not math.isfinite(value) else float(value)


def evaluate_policy(policy, cfg, metrics: Sequence[str], seed: int = 0, progress: bool = False,
                    metric_params: Optional[Dict[str, Dict[str, Any]]] = None) -> Dict[str, Any]:
    """Score a policy by `metrics` (return, normalized-return, success-rate):
    the record evaluate_generator returns for samples."""
    t0 = time.perf_counter()
    results: Dict[str, float] = {}
    protocol: Dict[str, Any] = {}
    cache: Dict[tuple, Any] = {}
    params = {m: METRICS.params(m, (metric_params or {}).get(m, {})) for m in metrics}
    if "normalized-return" in params and params["normalized-return"].expert is None \
            and expert_return_of(cfg) is None:  # said before any episode is run
        raise ConfigError("metric normalized-return needs the expert's return: give it as "
                          "eval.params.normalized-return.expert (`ganscape eval --param "
                          "normalized-return.expert=R`), or train on demonstrations that record it")
    for m in metrics:
        entry = METRICS.get(m)
        if entry.tags.get("scores") != "policy":
            raise ConfigError(f"metric {m} scores images or tokens; a policy is scored by return, "
                              f"normalized-return and success-rate")
        p = params[m]
        key = (p.episodes, p.deterministic, p.seed)
        if key not in cache:
            cache[key] = policy_episodes(policy, cfg, p.episodes, p.seed, p.deterministic, progress)
        ro = cache[key]
        r = np.asarray(ro.returns, np.float64)
        if m == "return":
            results.update({"return": float(r.mean()), "return_std": float(r.std()),
                            "return_min": float(r.min()), "return_max": float(r.max())})
        elif m == "success-rate":
            results["success_rate"] = float(np.mean(ro.success))
        else:
            expert = p.expert if p.expert is not None else expert_return_of(cfg)
            rkey = ("random", p.episodes, p.seed)
            if rkey not in cache:
                cache[rkey] = policy_episodes(policy, cfg, p.episodes, p.seed, progress=progress, random=True)
            rand = float(np.mean(cache[rkey].returns))
            if expert == rand:
                raise ConfigError(f"metric normalized-return: the expert's return {expert} equals the random "
                                  f"policy's; nothing to normalize by")
            results.update({"normalized_return": (float(r.mean()) - rand) / (expert - rand),
                            "random_return": rand, "expert_return": float(expert)})
        protocol[m] = {"episodes": p.episodes, "deterministic": p.deterministic, "seed": p.seed,
                       "env": cfg.env.id}
    return {"results": results, "n_episodes": max(len(v.returns) for v in cache.values()) if cache else 0,
            "protocol": protocol, "seconds": time.perf_counter() - t0}
