"""The Optuna side of a study: opening its storage (a database error is one
line naming it), the sampler and pruner a spec asks for, loading the study
of a folder, and the budget (trials replaced by a retry do not count).
Shared by the runner (study/runner.py) and the readers (study/storage.py),
which import it and not each other."""
from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from .folder import (DB_NAME, StudyStorageError, check_sqlite, describe_db_error, read_meta, read_spec, sqlite_file,
                     storage_url)
from .spec import StudySpec


def _optuna():
    try:
        import optuna
    except ImportError:  # pragma: no cover - optuna is a dependency
        raise ImportError("ganscape study needs optuna: pip install optuna") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


# ---- storage and the Optuna study -------------------------------------------------------
def default_storage(out: Path) -> str:
    """The URL of the folder's own SQLite file (study.json stores it as "study.db", relative)."""
    return f"sqlite:///{(Path(out) / DB_NAME).resolve()}"


def open_storage(url: str):
    optuna = _optuna()
    kwargs: Dict[str, Any] = {}
    if url.startswith("sqlite"):
        # several processes write the same file: wait for the lock instead of failing at once
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 120}}
    try:
        return optuna.storages.RDBStorage(url, **kwargs)
    except Exception as e:  # noqa: BLE001 - sqlalchemy's and optuna's errors: one line naming the storage
        raise StudyStorageError(describe_db_error(url, e)) from None


@contextlib.contextmanager
def db_errors(url: str):
    """Errors of the database layer while reading a study, as one line naming the storage."""
    from sqlalchemy.exc import SQLAlchemyError
    try:
        yield
    except (SQLAlchemyError, sqlite3.Error) as e:
        raise StudyStorageError(describe_db_error(url, e)) from None


def make_sampler(spec: StudySpec, stream: int = 0):
    """Optuna's sampler for the spec. `stream` separates the random streams
    of workers and of re-runs (the same seed in two workers would propose
    the same settings)."""
    optuna = _optuna()
    import numpy as np
    seed = int(np.random.SeedSequence([spec.sampler_seed, stream]).generate_state(1)[0])
    if spec.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if spec.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if spec.sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    # grid: the points are enqueued by prepare() (see grid_points); trials beyond the grid are random
    return optuna.samplers.RandomSampler(seed=seed)


def grid_points(spec: StudySpec) -> List[Dict[str, Any]]:
    """Every setting of the grid, in a seeded random order, without the
    duplicates a conditional parameter would add where it is inactive.
    (Optuna's GridSampler knows no conditions and stops the study from
    inside a trial, which ask-and-tell workers cannot use.)"""
    import itertools
    import random
    points, seen = [], set()
    for combo in itertools.product(*[p.grid_values() for p in spec.space]):
        chosen: Dict[str, Any] = {}
        for p, v in zip(spec.space, combo):
            if p.active(chosen):
                chosen[p.name] = v
        key = tuple(sorted(chosen.items()))
        if key not in seen:
            seen.add(key)
            points.append(chosen)
    random.Random(spec.sampler_seed).shuffle(points)
    return points


def make_pruner(spec: StudySpec, steps: int):
    optuna = _optuna()
    kw = dict(spec.pruner_params)
    if spec.pruner == "median":
        kw.setdefault("n_startup_trials", 3)
        return optuna.pruners.MedianPruner(**kw)
    if spec.pruner == "hyperband":
        kw.setdefault("min_resource", spec.objective.every)
        kw.setdefault("max_resource", steps)
        return optuna.pruners.HyperbandPruner(**kw)
    return optuna.pruners.NopPruner()


def load_optuna_study(out: Union[str, Path], spec: Optional[StudySpec] = None, stream: int = 0):
    """The folder's Optuna study; a storage that is missing, damaged or holds
    no such study is one line naming the file (StudyStorageError)."""
    out = Path(out)
    meta = read_meta(out)
    spec = spec or read_spec(out)
    url = storage_url(out, meta)
    check_sqlite(url, must_exist=True)
    optuna = _optuna()
    storage = open_storage(url)
    with db_errors(url):
        try:
            return optuna.load_study(study_name=spec.name, storage=storage, sampler=make_sampler(spec, stream),
                                     pruner=make_pruner(spec, meta["steps"]))
        except KeyError:
            raise StudyStorageError(f"the study's storage {sqlite_file(url) or url.split('@')[-1]} holds no "
                                    f"study named {spec.name!r} (emptied or replaced?)") from None


# ---- the budget ------------------------------------------------------------------------------
def replaced(trials) -> set:
    """Numbers of failed trials that a retry replaced (they do not count)."""
    return {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}


def budget_used(trials) -> int:
    """Trials that count against `trials`: all but the replaced ones."""
    return len(trials) - len(replaced(trials))
