"""Reading a study back: the table of trials the analysis and the report
use, and the counts `ganscape study status` prints. Trials replaced by a
retry (their worker died) are left out; Optuna's own storage still has
them, as failed trials.

A trial's number here is the number of its run folder: a retry trains in
the folder of the trial it replaces (trials/trial-0003 for Optuna's trial 8
that retried trial 3), so it is trial 3 in the table, the report and
`study status`, as in the folder a reader opens; `optuna_number` keeps
Optuna's own number.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Union

from .folder import read_meta, read_spec, storage_url
from .optuna_io import db_errors, load_optuna_study, replaced

_FOLDER = re.compile(r"^trials/trial-(\d+)$")


def folder_number(trial) -> int:
    """The number of the trial's first run folder (its own number when it has none)."""
    dirs = trial.user_attrs.get("run_dirs") or []
    m = _FOLDER.match(dirs[0]) if dirs else None
    return int(m.group(1)) if m else trial.number

STATES = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}


def _curve(run: Path, key: str) -> List[List[float]]:
    from ..train import rundir
    return [[r["step"], float(r["results"][key])] for r in rundir.read_jsonl(run / rundir.METRICS)
            if r.get("source") == "train" and isinstance(r.get("results", {}).get(key), (int, float))]


def load_table(out: Union[str, Path], study=None) -> List[Dict[str, Any]]:
    """One record per trial (see analysis.py): number, state, params,
    value, seed_values, reason, run_dirs (absolute), seconds, steps,
    examples_seen, curve (the objective over training, first seed)."""
    out = Path(out)
    spec = read_spec(out)
    study = study or load_optuna_study(out, spec)
    with db_errors(storage_url(out)):
        trials = study.get_trials(deepcopy=False)
    gone = replaced(trials)
    table = []
    for t in trials:
        if t.number in gone:
            continue
        a = t.user_attrs
        runs = [str((out / r).resolve()) for r in a.get("run_dirs", [])]
        reason = a.get("reason")
        if reason is None and "retry_reason" in a and t.state.name == "FAIL":
            reason = a["retry_reason"]
        table.append({
            "number": folder_number(t), "optuna_number": t.number,
            "state": STATES.get(t.state.name, t.state.name.lower()),
            "params": dict(t.params), "value": t.value if t.state.name == "COMPLETE" else None,
            "seed_values": list(a.get("seed_values", [])), "reason": reason, "run_dirs": runs,
            "seconds": float(a["seconds"]) if "seconds" in a else None, "steps": int(a.get("steps", 0)),
            "examples_seen": int(a.get("examples_seen", 0)),
            "curve": _curve(Path(runs[0]), spec.objective.key) if runs and Path(runs[0]).exists() else [],
        })
    return table


def counts(out: Union[str, Path], study=None) -> Dict[str, Any]:
    """Trials by state, the budget, and the best value so far (best_trial:
    the number of its run folder, as in load_table)."""
    out = Path(out)
    spec = read_spec(out)
    study = study or load_optuna_study(out, spec)
    with db_errors(storage_url(out)):
        trials = study.get_trials(deepcopy=False)
    gone = replaced(trials)
    c: Dict[str, Any] = {s: 0 for s in STATES.values()}
    for t in trials:
        if t.number not in gone:
            c[STATES.get(t.state.name, t.state.name.lower())] += 1
    c["trials"] = read_meta(out)["trials"]
    done = [t for t in trials if t.state.name == "COMPLETE"]
    if done:
        best = min(done, key=lambda t: t.value) if spec.objective.direction == "minimize" else \
            max(done, key=lambda t: t.value)
        c["best"] = round(best.value, 4)
        c["best_trial"] = folder_number(best)
        c["best_params"] = dict(best.params)
    return c
