"""`ganscape study rerun`: the best settings over fresh seeds (Lucic et al.
2018's last phase), outside the search's own runs."""
from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path
from typing import List, Optional, Union

from ..registry import ConfigError
from . import analysis
from .folder import describe_diff, read_meta, read_spec, settings_diff
from .runner import _write_trial_json, base_tree, objective_value, trial_config
from .storage import load_table


def _rerun_job(job) -> Optional[float]:
    """Train (or finish) one seed of a chosen setting; its objective value, or None when it failed."""
    out, number, chosen, seed_index, rel, threads, auto_threads = job
    import torch
    from ..train import threads as thr
    torch.set_num_threads(max(1, threads))
    # as a study worker (worker_main); a block, not the whole process: with one worker this runs in the caller's
    with thr.using(threads=None if auto_threads else threads, cap=threads):
        return _rerun_seed(out, number, chosen, seed_index, rel)


def _rerun_seed(out, number, chosen, seed_index, rel) -> Optional[float]:
    import ganscape
    from ..train import rundir
    out = Path(out)
    meta, spec = read_meta(out), read_spec(out)
    run = out / rel
    status = rundir.read_status(run).get("status") if (run / rundir.STATUS).exists() else None
    try:
        if status != "completed":
            if status in ("running", "interrupted") and (run / "checkpoints" / "latest.pt").exists():
                ganscape.resume(run, progress=False)
            else:
                if run.exists():
                    import shutil
                    shutil.rmtree(run)
                cfg = trial_config(spec, base_tree(spec, meta["overrides"]), chosen, number, seed_index)
                ganscape.train(cfg, run_dir=run)
                _write_trial_json(run, spec, number, chosen, seed_index)
    except Exception:  # noqa: BLE001 - a failed seed is recorded as None
        return None
    if rundir.read_status(run).get("status") != "completed":
        return None
    return objective_value(run, spec)


def rerun_best(out: Union[str, Path], seeds: int = 3, per_level: bool = False, workers: int = 1,
               threads: Optional[int] = None, progress: bool = True) -> Path:
    """Train the best setting (and with per_level, the best setting of every
    level of every factor) with `seeds` fresh seeds, numbered after the
    seeds the search trained (seed 1.. for a spec with seeds: 1), in
    STUDY/reruns/. Writes STUDY/reruns.json (the report's "best settings
    over seeds") and returns its path. Running it again reuses the finished
    seeds; a rerun folder trained with other settings is refused.

    The search's own value is kept apart ("search_values"): it won a
    selection among noisy values, so averaging it in would bias the mean
    toward luck (the winner's curse). `progress` shows a bar over the runs."""
    if seeds < 2:
        raise ConfigError(f"--seeds: the spread needs at least 2 fresh seeds, got {seeds}")
    out = Path(out)
    spec, meta = read_spec(out), read_meta(out)
    table = load_table(out)
    direction = spec.objective.direction
    done = analysis.completed(table)
    if not done:
        raise ValueError(f"{out}: no completed trial to re-run yet")
    pick = min if direction == "minimize" else max
    chosen: List[tuple] = [("best overall", pick(done, key=lambda r: r["value"]))]
    if per_level:
        for f in spec.factors:
            for level, (_, number) in analysis.best_per_level(table, f, direction).items():
                chosen.append((f"{f}={level}", next(r for r in done if r["number"] == number)))
    fresh = list(range(spec.seeds, spec.seeds + seeds))  # the search trained seeds 0 .. spec.seeds - 1
    tree = base_tree(spec, meta["overrides"])
    from ..train.threads import available_cpus
    share = threads or max(1, available_cpus() // workers)  # no threads: each run measures its count within it
    jobs, layout = [], []
    for label, r in chosen:
        dirs = []
        for s in fresh:
            rel = f"reruns/trial-{r['number']:04d}-seed{s}"
            dirs.append(str((out / rel).resolve()))
            if (r["number"], s) in {(j[1], j[3]) for j in jobs}:
                continue
            diff = settings_diff(out / rel, trial_config(spec, tree, r["params"], r["number"], s))
            if diff:
                raise ConfigError(f"{out / rel} was trained with other settings than trial {r['number']} "
                                  f"({describe_diff(diff, 2)}); move {out / 'reruns'} away to re-run afresh")
            jobs.append((str(out), r["number"], r["params"], s, rel, share, not threads))
        layout.append((label, r, dirs))
    values = _run_reruns(jobs, workers, progress)
    by_job = {(j[1], j[3]): v for j, v in zip(jobs, values)}
    reruns = []
    for label, r, dirs in layout:
        reruns.append({"label": label, "number": r["number"], "params": r["params"],
                       "search_seeds": list(range(len(r["seed_values"]))), "search_values": r["seed_values"],
                       "seeds": fresh, "values": [by_job.get((r["number"], s)) for s in fresh], "run_dirs": dirs})
    path = out / "reruns.json"
    tmp = out / "reruns.json.tmp"
    tmp.write_text(json.dumps({"metric": spec.objective.key, "direction": direction, "reruns": reruns},
                              indent=2) + "\n")
    os.replace(tmp, path)
    return path


def _run_reruns(jobs: List[tuple], workers: int, progress: bool) -> List[Optional[float]]:
    """Each job's objective value (None where it failed), in job order, with
    a progress bar over the runs (a rerun of a few settings takes minutes)."""
    from tqdm.auto import tqdm
    bar = tqdm(total=len(jobs), desc="study rerun", unit="run", disable=not progress or not jobs)
    try:
        if workers > 1 and len(jobs) > 1:
            with multiprocessing.get_context("spawn").Pool(workers) as pool:
                values = []
                for v in pool.imap(_rerun_job, jobs, chunksize=1):  # in order, as each finishes
                    values.append(v)
                    bar.update(1)
                return values
        values = []
        for j in jobs:
            values.append(_rerun_job(j))
            bar.update(1)
        return values
    finally:
        bar.close()
