"""Study analysis: pure functions over the study runner's trial table.

The table is a list of dicts, one per Optuna trial:

    {"number": 7, "state": "complete" | "pruned" | "failed" | "running" | "waiting",
     "params": {"loss": "ns", "lr_d": 0.0003, ...},   # conditional params absent when inactive
     "value": 12.3 or None,         # the objective (lower is better unless direction says otherwise)
     "seed_values": [12.3, 13.0],   # the objective per seed
     "reason": None or "diverged: ...",
     "run_dirs": ["/abs/STUDY/trials/trial-0007", ...],
     "seconds": 41.2, "steps": 2000, "examples_seen": 128000,
     "curve": [[step, value], ...]}  # intermediate objective values (seed 0)

Everything here reads only that table (and, for `importance`, the Optuna study);
the only I/O is the CSV writers. The report (report.py) draws what these
functions compute. The analyses follow the large-scale GAN studies: Lucic et
al. 2018 ("Are GANs Created Equal?": best FID per model, FID distributions,
FID as a function of the computational budget) and Kurach et al. 2019 ("A
Large-Scale Study on Regularization and Normalization in GANs": the same
per-factor comparisons and budget curves over losses, penalties and
normalizations, plus their cost in wall-clock time).
"""
from __future__ import annotations

import csv
import math
import re
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

DIRECTIONS = ("minimize", "maximize")
# the columns of trials.csv before the flattened params
CSV_COLUMNS = ("number", "state", "value", "seed_values", "seconds", "steps", "examples_seen",
               "reason", "run_dirs")


# ----------------------------------------------------------------------------- helpers

def _finite(v: Any) -> bool:
    """A real, finite number (bools are not numbers here)."""
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) \
        and math.isfinite(float(v))


def _check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
    return direction


def _sign(direction: str) -> float:
    """+1 when lower is better, -1 when higher is better: sign * value is minimized."""
    return 1.0 if _check_direction(direction) == "minimize" else -1.0


def _level_key(level: Any) -> Tuple[int, Any]:
    """Sort levels numerically when they are numbers, else by their text."""
    if _finite(level) or isinstance(level, bool):
        return (0, float(level))
    return (1, str(level))


def _steps_of(trial: Dict[str, Any]) -> float:
    """Steps a trial trained: its `steps`, else the last step of its curve, else 0."""
    if _finite(trial.get("steps")):
        return float(trial["steps"])
    curve = trial.get("curve") or []
    if curve and _finite(curve[-1][0]):
        return float(curve[-1][0])
    return 0.0


# ----------------------------------------------------------------------------- selection

def completed(table: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The trials with state "complete" and a finite objective value, in table order.

    These are the trials the rankings below are computed over (Lucic et al.
    2018 and Kurach et al. 2019 rank finished settings); the budget curves
    also count the failed and pruned trials (budget_pools)."""
    return [t for t in table if t.get("state") == "complete" and _finite(t.get("value"))]


def factor_levels(table: Sequence[Dict[str, Any]], factor: str) -> List[Any]:
    """The distinct values (levels) that the trials of `table` gave the param
    `factor`, sorted (numbers numerically, the rest by text). Trials where the
    param is absent (inactive conditional params) give no level.

    A factor in the sense of Kurach et al. 2019's comparisons (loss,
    normalization, penalty, architecture)."""
    seen: Dict[Any, None] = {}
    for t in table:
        params = t.get("params") or {}
        if factor in params:
            seen.setdefault(params[factor], None)
    return sorted(seen, key=_level_key)


def values_per_level(table: Sequence[Dict[str, Any]], factor: str) -> Dict[Any, List[float]]:
    """{level: [objective values of the completed trials at that level]}, in
    trial order; levels with no completed trial map to [].

    The distributions behind the box/violin plots of Lucic et al. 2018 (Fig. 4,
    FID distribution per model) and Kurach et al. 2019 (per loss, penalty,
    normalization)."""
    out: Dict[Any, List[float]] = {lv: [] for lv in factor_levels(table, factor)}
    for t in sorted(completed(table), key=lambda t: t.get("number", 0)):
        params = t.get("params") or {}
        if factor in params:
            out[params[factor]].append(float(t["value"]))
    return out


def best_per_level(table: Sequence[Dict[str, Any]], factor: str,
                   direction: str = "minimize") -> Dict[Any, Tuple[float, int]]:
    """{level: (best objective value, number of the trial that reached it)}
    over the completed trials; a tie goes to the lower trial number. Levels
    without a completed trial are left out.

    The "best FID per model" tables of Lucic et al. 2018 (Table 2) and the
    best-per-setting tables of Kurach et al. 2019."""
    sign = _sign(direction)
    best: Dict[Any, Tuple[float, int]] = {}
    for t in completed(table):
        params = t.get("params") or {}
        if factor not in params:
            continue
        lv, v, n = params[factor], float(t["value"]), int(t.get("number", 0))
        old = best.get(lv)
        if old is None or (sign * v, n) < (sign * old[0], old[1]):
            best[lv] = (v, n)
    return {lv: best[lv] for lv in sorted(best, key=_level_key)}


# ----------------------------------------------------------------------------- budget curves

def default_budgets(n: int) -> np.ndarray:
    """The budgets k for a pool of n settings: every k from 1 to n (n <= 64),
    else about 40 log-spaced integers from 1 to n."""
    if n <= 1:
        return np.array([1])
    if n <= 64:
        return np.arange(1, n + 1)
    return np.unique(np.round(np.geomspace(1, n, 40)).astype(int))


def budget_curve(values: Iterable[float], ks: Optional[Iterable[int]] = None, n_boot: int = 1000,
                 seed: int = 0, direction: str = "minimize", level: float = 0.95) -> Dict[str, Any]:
    """The best objective reachable with a budget of k settings.

    For each budget k, draw k values with replacement from the pool of
    `values` (non-finite ones are dropped), n_boot times, and keep the best
    of each draw (the minimum; the maximum for direction="maximize"). Returns
    {"k", "mean", "lo", "hi"}: arrays over ks of the mean of the best and the
    quantiles (1-level)/2 and (1+level)/2 of the best over the draws, plus
    "n": the pool size. An empty pool gives NaNs.

    lo..hi is the spread of best-of-k outcomes (where the best of k settings
    tried lands, central `level` of the draws): what a practitioner trying k
    settings may get, not a confidence interval for the mean. A budget k
    larger than the pool is NaN: k draws from fewer settings would mostly
    repeat settings, a budget the study never had (Lucic et al. draw k up
    to their pool of 100).

    This is Lucic et al. 2018's "FID as a function of the computational
    budget" (Fig. 5: the minimum FID of k settings drawn from the 100-setting
    random-search pool, mean and spread over bootstrap draws), also used
    by Kurach et al. 2019. All budgets come from one (n_boot, max k) draw:
    the best of the first k columns is a running minimum, so each k's draws
    are k independent picks and the mean is non-increasing in k. Deterministic
    for a seed (numpy's default_rng).
    """
    sign = _sign(direction)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    pool = np.array([float(v) for v in values if _finite(v)], dtype=float)
    k = default_budgets(len(pool)) if ks is None else np.asarray(list(ks), dtype=int).reshape(-1)
    if k.size and k.min() < 1:
        raise ValueError(f"budgets k must be at least 1, got {k.min()}")
    mean, lo, hi = (np.full(k.shape, np.nan) for _ in range(3))
    inside = k <= pool.size  # a budget beyond the pool stays NaN
    if pool.size == 0 or not inside.any():
        return {"k": k, "mean": mean, "lo": lo, "hi": hi, "n": int(pool.size)}
    kin = k[inside]
    rng = np.random.default_rng(seed)
    kmax = int(kin.max())
    # rows in chunks so that memory stays near 32 MB whatever n_boot * kmax is
    rows = max(1, min(int(n_boot), 4_000_000 // kmax))
    best = np.empty((int(n_boot), kin.size))
    for start in range(0, int(n_boot), rows):
        m = min(rows, int(n_boot) - start)
        draws = sign * pool[rng.integers(0, pool.size, size=(m, kmax))]
        best[start:start + m] = sign * np.minimum.accumulate(draws, axis=1)[:, kin - 1]
    mean[inside] = best.mean(axis=0)
    lo[inside], hi[inside] = np.quantile(best, [(1.0 - level) / 2.0, (1.0 + level) / 2.0], axis=0)
    return {"k": k, "mean": mean, "lo": lo, "hi": hi, "n": int(pool.size)}


def worst_outcome(table: Sequence[Dict[str, Any]], direction: str = "minimize") -> Optional[float]:
    """The worst objective any finished trial of the study reached: over the
    completed trials' values and the pruned trials' last intermediate values
    (None when there is none). What a failed trial counts as in the budget
    pools: a diverged run would score at least this badly, so it is a
    lenient stand-in that still charges the failure."""
    sign = _sign(direction)
    vals = [float(t["value"]) for t in completed(table)]
    vals += [v for v in (_last_value(t) for t in table if t.get("state") == "pruned") if v is not None]
    return sign * max(sign * v for v in vals) if vals else None


def _last_value(trial: Dict[str, Any]) -> Optional[float]:
    pts = [c for c in (trial.get("curve") or []) if len(c) == 2 and _finite(c[0]) and _finite(c[1])]
    return float(max(pts, key=lambda c: float(c[0]))[1]) if pts else None


def budget_pools(table: Sequence[Dict[str, Any]], factor: str,
                 direction: str = "minimize") -> Dict[Any, List[float]]:
    """{level: the outcomes of every finished trial at that level}, in trial
    order: the pools the budget curves draw from. A setting that often
    diverges must not look better than it is, so the failures count:

    - complete: its objective value (a non-finite one counts as failed);
    - pruned: its last intermediate value (seed 0; the worst outcome when it
      reported none), the value it was stopped at;
    - failed: the worst outcome of the study (`worst_outcome`), except a
      combination the engine refused ("invalid config"), which never was a
      setting to train and is left out;
    - running and waiting trials are left out (not finished).
    Levels whose pool would be empty map to [] (no outcome to count a
    failure as)."""
    worst = worst_outcome(table, direction)
    out: Dict[Any, List[float]] = {lv: [] for lv in factor_levels(table, factor)}
    for t in sorted(table, key=lambda t: t.get("number", 0)):
        params = t.get("params") or {}
        if factor not in params:
            continue
        state, v = t.get("state"), None
        if state == "complete":
            v = float(t["value"]) if _finite(t.get("value")) else worst
        elif state == "pruned":
            v = _last_value(t)
            v = worst if v is None else v
        elif state == "failed" and not str(t.get("reason") or "").startswith("invalid config"):
            v = worst
        if v is not None:
            out[params[factor]].append(float(v))
    return out


def budget_curves_per_level(table: Sequence[Dict[str, Any]], factor: str, ks: Optional[Iterable[int]] = None,
                            n_boot: int = 1000, seed: int = 0, direction: str = "minimize",
                            level: float = 0.95) -> Dict[Any, Dict[str, Any]]:
    """{level: budget_curve(budget_pools(...)[level])} for the levels with a
    non-empty pool (completed, pruned and failed trials: see budget_pools).
    Each level's budgets run from 1 to its own pool size (by default every
    k; given `ks` are capped there, NaN beyond).

    Lucic et al. 2018 Fig. 5 (one curve per model); Kurach et al. 2019 (one
    curve per normalization / penalty)."""
    pools = {lv: vs for lv, vs in budget_pools(table, factor, direction).items() if vs}
    ks = None if ks is None else np.asarray(list(ks), dtype=int)
    return {lv: budget_curve(vs, ks, n_boot=n_boot, seed=seed, direction=direction, level=level)
            for lv, vs in pools.items()}


# ----------------------------------------------------------------------------- cost

def pareto_front(table: Sequence[Dict[str, Any]], cost: str = "seconds",
                 direction: str = "minimize") -> List[Dict[str, Any]]:
    """The completed trials not dominated in (cost, value), sorted by cost.

    A trial is dominated when another has cost <= its cost and a value at
    least as good, one of the two strictly. Trials with equal cost and equal
    value do not dominate each other: all of them are on the front. Trials
    without a finite `cost` are left out.

    The quality-versus-compute trade-off of Kurach et al. 2019 (SN reaches a
    given FID cheaper than GP) and Lucic et al. 2018 (FID per budget)."""
    sign = _sign(direction)
    pts = [t for t in completed(table) if _finite(t.get(cost))]
    pts.sort(key=lambda t: (float(t[cost]), sign * float(t["value"]), t.get("number", 0)))
    front: List[Dict[str, Any]] = []
    best_before = math.inf  # best signed value among strictly cheaper trials
    i = 0
    while i < len(pts):
        c = float(pts[i][cost])
        j = i
        while j < len(pts) and float(pts[j][cost]) == c:
            j += 1
        group_best = sign * float(pts[i]["value"])  # the group is sorted by signed value
        if group_best < best_before:
            front.extend(t for t in pts[i:j] if sign * float(t["value"]) == group_best)
        best_before = min(best_before, group_best)
        i = j
    return front


class Importances(dict):
    """{param: importance} (normalized to sum to 1, largest first) with a
    `reason`: why it is empty (or None when it is not)."""

    def __init__(self, values: Any = (), reason: Optional[str] = None):
        super().__init__(values)
        self.reason = reason


def importance(study: Any, params: Optional[List[str]] = None) -> Importances:
    """Hyperparameter importances of an Optuna study: fANOVA (Hutter et al.
    2014, functional ANOVA over a random forest fit to the completed trials)
    through optuna.importance.get_param_importances with
    FanovaImportanceEvaluator(seed=0), over the params that all completed
    trials share (or `params`).

    Returns an Importances dict ({param: importance}, summing to 1); it is
    empty, with `.reason` saying why, when there are fewer than 2 completed
    trials, no shared params, a multi-objective study, or when Optuna cannot
    compute them (e.g. every trial has the same value). Kurach et al. 2019
    ask the same question ("which choices matter") of their study."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances
    from optuna.trial import TrialState

    if len(study.directions) > 1:
        return Importances(reason="the study has several objectives; importance needs one")
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(trials) < 2:
        return Importances(reason=f"importance needs at least 2 completed trials; the study has {len(trials)}")
    shared = set(trials[0].params)
    for t in trials[1:]:
        shared &= set(t.params)
    names = sorted(shared) if params is None else [p for p in params if p in shared]
    if not names:
        what = "no parameter" if params is None else f"none of {list(params)}"
        return Importances(reason=f"the completed trials share {what} (fANOVA leaves out conditional "
                                  "parameters, which only some trials have)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            res = get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0), params=names)
    except RuntimeError as e:
        if "zero total variance" in str(e):
            return Importances(reason="every completed trial has the same objective value, so no "
                                      "parameter explains any of its variance")
        return Importances(reason=f"optuna could not compute importances: {e}")
    except ValueError as e:
        return Importances(reason=f"optuna could not compute importances: {e}")
    if not res:
        return Importances(reason="optuna returned no importances")
    return Importances({k: float(v) for k, v in res.items()})


def pruning_savings(table: Sequence[Dict[str, Any]], direction: str = "minimize") -> Dict[str, Any]:
    """What pruning saved: the steps the pruned trials trained against the
    steps they would have trained had they run to the end (the full budget:
    the most steps any completed trial trained), and the best value among the
    completed trials (the result the saved compute did not change, as far as
    the completed trials show).

    Returns {"n_pruned", "n_complete", "full_steps", "steps_trained" (by the
    pruned trials), "steps_if_not_pruned", "steps_saved", "fraction_saved"
    (of what the whole study would have trained without pruning),
    "seconds_trained" (by the pruned trials), "seconds_saved" (estimated from
    each pruned trial's own seconds per step, else the completed trials'
    median), "best_value", "best_number", "pruned": [{"number", "steps",
    "last_value"}]}. Counts are None where no completed trial defines the
    full budget. Steps are a trial's `steps` as the table gives them (else
    its curve's last step). Successive halving / Hyperband (Li et al. 2018)
    is the pruner whose savings this reports."""
    sign = _sign(direction)
    done = completed(table)
    pruned = [t for t in table if t.get("state") == "pruned"]
    full = max((_steps_of(t) for t in done), default=0.0) or None
    rates = [float(t["seconds"]) / _steps_of(t) for t in done if _finite(t.get("seconds")) and _steps_of(t) > 0]
    median_rate = float(np.median(rates)) if rates else None
    trained = sum(_steps_of(t) for t in pruned)
    secs = sum(float(t["seconds"]) for t in pruned if _finite(t.get("seconds")))
    out: Dict[str, Any] = {"n_pruned": len(pruned), "n_complete": len(done), "full_steps": full,
                           "steps_trained": trained, "seconds_trained": secs, "steps_if_not_pruned": None,
                           "steps_saved": None, "fraction_saved": None, "seconds_saved": None,
                           "best_value": None, "best_number": None, "pruned": []}
    for t in pruned:
        curve = [c for c in (t.get("curve") or []) if len(c) == 2 and _finite(c[1])]
        out["pruned"].append({"number": t.get("number"), "steps": _steps_of(t),
                              "last_value": float(curve[-1][1]) if curve else None})
    if done:
        best = min(done, key=lambda t: (sign * float(t["value"]), t.get("number", 0)))
        out["best_value"], out["best_number"] = float(best["value"]), best.get("number")
    if full is not None:
        saved, secs_saved = 0.0, 0.0
        for t in pruned:
            left = max(0.0, full - _steps_of(t))
            saved += left
            own = float(t["seconds"]) / _steps_of(t) if _finite(t.get("seconds")) and _steps_of(t) > 0 else None
            rate = own if own is not None else median_rate
            if rate is None:
                secs_saved = None  # no trial says how long a step takes
            elif secs_saved is not None:
                secs_saved += left * rate
        total = sum(_steps_of(t) for t in table) + saved
        out.update(steps_if_not_pruned=full * len(pruned), steps_saved=saved,
                   fraction_saved=saved / total if total > 0 else 0.0, seconds_saved=secs_saved)
    return out


def seed_spread(table: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """For each trial with more than one finite seed value: {"number",
    "params", "n", "mean", "std" (sample std, ddof=1), "min", "max"}, in
    trial order.

    How much of a difference between settings is seed noise: Lucic et al.
    2018 rerun the best setting of each model with 50 seeds (their phase 3)
    and report the spread; Kurach et al. 2019 likewise report variance over
    seeds."""
    out = []
    for t in sorted(table, key=lambda t: t.get("number", 0)):
        vs = np.array([float(v) for v in (t.get("seed_values") or []) if _finite(v)])
        if vs.size > 1:
            out.append({"number": t.get("number"), "params": dict(t.get("params") or {}), "n": int(vs.size),
                        "mean": float(vs.mean()), "std": float(vs.std(ddof=1)),
                        "min": float(vs.min()), "max": float(vs.max())})
    return out


def wallclock_at(stats: Sequence[Dict[str, Any]], steps: Iterable[float]) -> List[Optional[float]]:
    """Training seconds elapsed at each of `steps`, from a run's stats.jsonl.

    Each stats record has "step" and "sec_per_step", the mean time of the
    steps since the previous record (evaluation and checkpoint time are not
    training time, and are left out, so trials that evaluate more often are
    not charged for it). The elapsed time at a logged step is the sum of
    sec_per_step x steps since the previous record; between records it is
    interpolated linearly; before the first record the first rate applies.
    A step after the last record, or records without a rate, gives None
    (unknown, never a guess past the data)."""
    pts: List[Tuple[float, float]] = [(0.0, 0.0)]
    for r in sorted((r for r in stats if _finite(r.get("step")) and _finite(r.get("sec_per_step"))),
                    key=lambda r: float(r["step"])):
        s = float(r["step"])
        if s <= pts[-1][0]:
            continue  # a repeated step (a resumed run re-logs it): keep the first
        pts.append((s, pts[-1][1] + (s - pts[-1][0]) * float(r["sec_per_step"])))
    xs = np.array([p[0] for p in pts])
    ys = np.array([p[1] for p in pts])
    out: List[Optional[float]] = []
    for s in steps:
        s = float(s)
        out.append(None if len(pts) < 2 or s < 0 or s > xs[-1] else float(np.interp(s, xs, ys)))
    return out


def objective_by_cost(table: Sequence[Dict[str, Any]], stats: Dict[Any, Sequence[Dict[str, Any]]],
                      factor: Optional[str] = None) -> List[Dict[str, Any]]:
    """The intermediate objective of every trial against examples seen and
    against training seconds: the batch-size study's question (is a bigger
    batch better per example, or per second?).

    stats: {trial number: that trial's first-seed stats records}. Returns one
    record per trial with a curve, in trial order: {"number", "state",
    "level" (its value of `factor`, or None), "steps", "examples", "seconds",
    "values"}. Examples seen at step s are s x the trial's examples per step
    (its examples_seen / steps, which counts every D step's real batch);
    seconds come from `wallclock_at` (None where unknown)."""
    out = []
    for t in sorted(table, key=lambda t: t.get("number", 0)):
        pts = [(float(s), float(v)) for s, v in (c for c in (t.get("curve") or []) if len(c) == 2)
               if _finite(s) and _finite(v)]
        if not pts:
            continue
        steps = [s for s, _ in pts]
        per_step = (float(t["examples_seen"]) / float(t["steps"])
                    if _finite(t.get("examples_seen")) and _finite(t.get("steps")) and t["steps"] else None)
        out.append({"number": t.get("number"), "state": t.get("state"),
                    "level": (t.get("params") or {}).get(factor) if factor else None,
                    "steps": steps, "values": [v for _, v in pts],
                    "examples": [s * per_step if per_step is not None else None for s in steps],
                    "seconds": wallclock_at(stats.get(t.get("number"), []), steps)})
    return out


def _split_reruns(r: Dict[str, Any]) -> Tuple[List[Any], List[Any]]:
    """(search values, fresh values) of one reruns.json entry. Files from
    before the split held both in "values": the fresh seeds are those whose
    run folder is under reruns/."""
    if "search_values" in r:
        return list(r.get("search_values") or []), list(r.get("values") or [])
    vals, dirs = list(r.get("values") or []), [str(d).replace("\\", "/") for d in (r.get("run_dirs") or [])]
    fresh = [i for i, d in enumerate(dirs[:len(vals)]) if "/reruns/" in d or d.startswith("reruns/")]
    return [v for i, v in enumerate(vals) if i not in fresh], [vals[i] for i in fresh]


def rerun_summary(reruns: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The rows of `ganscape study rerun`'s reruns.json: per re-run setting
    {"label", "number", "params", "search" (the mean of the seeds the search
    itself trained: the value it was chosen by, None when unknown), "n"
    (finite fresh seeds), "failed" (fresh seeds with no value: diverged or
    failed), "mean", "std" (ddof=1, None below 2 seeds), "min", "max",
    "values" (per fresh seed, None where failed)}, ordered best mean first
    by the file's direction (settings with no value last).

    Only fresh seeds enter the statistics: the search's own value won a
    selection among many noisy values, so it is biased toward luck (the
    winner's curse); it is reported apart."""
    sign = _sign(reruns.get("direction", "minimize"))
    rows = []
    for r in reruns.get("reruns") or []:
        search, fresh = _split_reruns(r)
        vals = [float(v) if _finite(v) else None for v in fresh]
        ok = np.array([v for v in vals if v is not None])
        found = [float(v) for v in search if _finite(v)]
        rows.append({"label": r.get("label"), "number": r.get("number"), "params": dict(r.get("params") or {}),
                     "search": float(np.mean(found)) if found else None,
                     "n": int(ok.size), "failed": sum(v is None for v in vals),
                     "mean": float(ok.mean()) if ok.size else None,
                     "std": float(ok.std(ddof=1)) if ok.size > 1 else None,
                     "min": float(ok.min()) if ok.size else None, "max": float(ok.max()) if ok.size else None,
                     "values": vals})
    return sorted(rows, key=lambda r: (r["mean"] is None, sign * r["mean"] if r["mean"] is not None else 0.0))


# ----------------------------------------------------------------------------- CSV

def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (list, tuple)):
        return ";".join(_cell(x) for x in v)
    if isinstance(v, (float, np.floating)):
        return repr(float(v))  # shortest text that reads back as the same float
    return str(v)


def param_names(table: Sequence[Dict[str, Any]]) -> List[str]:
    """Every param name that some trial of the table has, sorted."""
    return sorted({k for t in table for k in (t.get("params") or {})})


def to_csv(table: Sequence[Dict[str, Any]], path: Path) -> Path:
    """Write one row per trial: number, state, value, seed_values (";"-joined),
    seconds, steps, examples_seen, reason, run_dirs (";"-joined), then one
    column "params.<name>" per param (empty where a trial lacks it). The
    curves are not written. Returns the path."""
    path = Path(path)
    names = param_names(table)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(CSV_COLUMNS) + [f"params.{p}" for p in names])
        for t in sorted(table, key=lambda t: t.get("number", 0)):
            params = t.get("params") or {}
            w.writerow([_cell(t.get(c)) for c in CSV_COLUMNS] + [_cell(params.get(p)) for p in names])
    return path


def level_summary(table: Sequence[Dict[str, Any]], factor: str,
                  direction: str = "minimize") -> List[Dict[str, Any]]:
    """One row per level of `factor`: trial counts by state and the objective's
    best (with its trial), mean, median and worst over the completed trials."""
    sign = _sign(direction)
    values = values_per_level(table, factor)
    best = best_per_level(table, factor, direction)
    rows = []
    for lv, vs in values.items():
        at = [t for t in table if factor in (t.get("params") or {}) and t["params"][factor] == lv]
        a = np.array(vs, dtype=float)
        rows.append({"level": lv, "n_trials": len(at),
                     "n_complete": len(vs),
                     "n_pruned": sum(t.get("state") == "pruned" for t in at),
                     "n_failed": sum(t.get("state") == "failed" for t in at),
                     "best": best[lv][0] if lv in best else None,
                     "best_trial": best[lv][1] if lv in best else None,
                     "mean": float(a.mean()) if a.size else None,
                     "median": float(np.median(a)) if a.size else None,
                     "worst": float((sign * a).max() * sign) if a.size else None})
    return rows


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._") or "factor"


def write_csvs(table: Sequence[Dict[str, Any]], folder: Path, factors: Iterable[str],
               direction: str = "minimize") -> Dict[str, Path]:
    """Write folder/trials.csv (to_csv) and, per factor, folder/levels-<factor>.csv
    (level_summary: one row per level). Returns {"trials": path, factor: path}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {"trials": to_csv(table, folder / "trials.csv")}
    cols = ["level", "n_trials", "n_complete", "n_pruned", "n_failed", "best", "best_trial", "mean",
            "median", "worst"]
    for factor in factors:
        path = folder / f"levels-{_safe_name(factor)}.csv"
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols)
            for row in level_summary(table, factor, direction):
                w.writerow([_cell(row[c]) for c in cols])
        out[factor] = path
    return out
