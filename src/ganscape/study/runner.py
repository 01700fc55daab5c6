"""The study runner: workers that ask Optuna for settings, train each as an
ordinary run folder, and tell Optuna the objective.

    STUDY/
      spec.yaml            the spec, as given (a re-run must use the same one; trials may change)
      study.json           the storage ("study.db", relative to the folder, or the --storage URL as
                           given), the --set overrides, --trials, the spec's name (see folder.py)
      study.db             the Optuna storage (SQLite by default; optuna.load_study opens it)
      study.lock           serializes "what runs next" between local workers
      trials/trial-0007/   the run folder of trial 7 (seed 0); trial-0007-seed1/ ... for more seeds
                           each holds trial.json: the trial's parameters (labels and config values)

Crash safety. Every trial records the host, pid and a heartbeat of the
worker running it. Before a worker asks for a new trial it looks for
running trials whose worker is gone (a dead pid on this host, or a
heartbeat older than `grace` seconds) and fails them, re-enqueueing their
parameters with `retry_of` (at most MAX_RETRIES times): the retry resumes
the same run folders from their checkpoints. A worker whose coordinator
was killed finishes its trial (so no finished work is lost) and then
stops. The number of trials counted against the budget is the number of
trials minus those replaced by a retry, decided under a file lock, so the
study ends with exactly `trials` finished trials and never runs a finished
trial twice. A trial whose run diverges is a failed trial with its reason
(no sentinel values); a pruned trial is recorded as pruned.

A trial folder is reused only when its recorded config equals the trial's:
`prepare` refuses (one line) trial folders the storage does not record or
records with other settings (an emptied, deleted or replaced database),
and a worker handed such a folder fails the trial without touching it.

Backends: `local` starts worker processes (spawn); each trial measures its
torch thread count among the worker's share, CPUs // workers (train/threads.py),
unless `threads` fixes it; `ray` runs the same worker function as Ray
tasks (a local Ray instance, or the cluster at `address`; the study folder
must be on a file system every node sees, and with several machines the
storage should be a server database such as PostgreSQL).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import math
import multiprocessing
import os
import socket
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from ..config import load_config, to_plain
from ..registry import ConfigError
from .folder import (check_sqlite, check_storage_url, describe_diff, read_meta, read_spec, settings_diff, sqlite_file,
                     storage_url, stored_form)
from .optuna_io import (_optuna, budget_used, db_errors, default_storage, grid_points, load_optuna_study,  # noqa: F401
                        make_pruner, make_sampler, open_storage, replaced)
from .spec import StudySpec, apply_params, load_spec
from .storage import counts

HEARTBEAT_S = 10.0     # a running trial's heartbeat interval
GRACE_S = 120.0        # a trial whose heartbeat is older than this is taken as dead (other hosts)
MAX_RETRIES = 2        # re-runs of a trial whose worker died

# ---- dead workers ----------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_dead(study, grace: float = GRACE_S) -> List[int]:
    """Fail the running trials whose worker is gone and re-enqueue them
    (resuming their run folders), at most MAX_RETRIES times each. Returns
    the numbers failed."""
    optuna = _optuna()
    host, now, failed = socket.gethostname(), time.time(), []
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        a = t.user_attrs
        if "pid" not in a:
            continue  # between ask and the first attributes: its worker holds the lock now
        dead = (a.get("host") == host and not _pid_alive(int(a["pid"]))) or now - a.get("heartbeat", now) > grace
        if not dead:
            continue
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        failed.append(t.number)
        retries = int(a.get("retries", 0))
        if retries < MAX_RETRIES:
            keep = {k: v for k, v in a.items() if k in ("run_dirs", "seed_values")}
            study.enqueue_trial(t.params, user_attrs={**keep, "retry_of": t.number, "retries": retries + 1,
                                                      "retry_reason": f"the worker (pid {a['pid']} on "
                                                                      f"{a.get('host')}) died"})
    return failed


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ---- one trial ------------------------------------------------------------------------------
def suggest(trial, spec: StudySpec) -> Dict[str, Any]:
    """The trial's parameters (Optuna values: labels for categoricals),
    conditional ones only where their condition holds."""
    chosen: Dict[str, Any] = {}
    for p in spec.space:
        if not p.active(chosen):
            continue
        if p.kind == "categorical":
            chosen[p.name] = trial.suggest_categorical(p.name, [label for label, _ in p.choices])
        elif p.kind == "float":
            chosen[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log, step=p.step)
        else:
            chosen[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log,
                                               step=int(p.step or 1))
    return chosen


def base_tree(spec: StudySpec, overrides: Sequence[str] = ()) -> Dict[str, Any]:
    """Every trial's config before its parameters: the base preset or file,
    the spec's `set`, the command's --set, and the objective's evaluation."""
    o = spec.objective
    base = spec.base
    is_file = base.endswith((".yaml", ".yml")) or Path(base).is_file()
    evals = [f"eval.metrics=[{o.metric}]", f"eval.n={o.n}", f"eval.every={o.every}", f"eval.best={o.key}",
             "train.progress=false"]
    cfg = load_config(None if is_file else base, base if is_file else None, list(spec.set) + list(overrides) + evals)
    return to_plain(cfg)


def trial_config(spec: StudySpec, tree: Dict[str, Any], chosen: Dict[str, Any], number: int, seed_index: int):
    from ..config import from_dict
    t = apply_params(spec, tree, chosen)
    t["name"] = f"trial-{number:04d}" + (f"-seed{seed_index}" if seed_index else "")
    t["seed"] = int(tree.get("seed", 0)) + seed_index
    return from_dict(t)


def objective_value(run_dir: Path, spec: StudySpec) -> Optional[float]:
    """The best (or last) value of the objective over the evaluations
    training wrote; None when there is none."""
    from ..train import rundir
    vals = [r["results"][spec.objective.key] for r in rundir.read_jsonl(run_dir / rundir.METRICS)
            if r.get("source") == "train" and spec.objective.key in r.get("results", {})]
    vals = [float(v) for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
    if not vals:
        return None
    if spec.objective.reduce == "last":
        return vals[-1]
    return min(vals) if spec.objective.direction == "minimize" else max(vals)


class TrialInterrupted(Exception):
    """A trial's run was interrupted by a signal; the worker stops without telling Optuna."""


class _Heartbeat:
    def __init__(self, trial, interval: float):
        self.trial, self.interval = trial, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self.stop.wait(self.interval):
            with contextlib.suppress(Exception):  # a busy database: the next beat will do
                self.trial.set_user_attr("heartbeat", time.time())

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()


def run_trial(study, trial, spec: StudySpec, tree: Dict[str, Any], out: Path, heartbeat: float) -> None:
    """Train one trial (all its seeds) and tell Optuna how it ended."""
    import ganscape
    from ..train import rundir
    optuna = _optuna()
    TS = optuna.trial.TrialState
    chosen = suggest(trial, spec)
    attrs = trial.user_attrs
    run_dirs = attrs.get("run_dirs") or [f"trials/trial-{trial.number:04d}" + (f"-seed{s}" if s else "")
                                         for s in range(spec.seeds)]
    trial.set_user_attr("run_dirs", run_dirs)
    try:
        configs = [trial_config(spec, tree, chosen, trial.number, s) for s in range(spec.seeds)]
    except ConfigError as e:  # a combination the engine refuses: a failed trial, the study goes on
        trial.set_user_attr("reason", f"invalid config: {e}")
        study.tell(trial, state=TS.FAIL)
        return
    values, seconds, pruned, reason = [], 0.0, False, None
    with _Heartbeat(trial, heartbeat):
        for s, (cfg, rel) in enumerate(zip(configs, run_dirs)):
            run = out / rel

            def on_eval(step: int, results: Dict[str, Any]) -> bool:
                if s or spec.pruner == "none" or spec.objective.key not in results:
                    return False
                trial.report(float(results[spec.objective.key]), step)
                return trial.should_prune()

            t0 = time.perf_counter()
            try:
                status = rundir.read_status(run).get("status") if (run / rundir.STATUS).exists() else None
                ckpt = (run / "checkpoints" / "latest.pt").exists() or (run / "checkpoints" / "previous.pt").exists()
                diff = settings_diff(run, cfg) if status is not None else None
                if diff:  # prepare() refuses such folders; this holds when the storage changed since
                    reason = f"{rel} holds a run trained with other settings ({describe_diff(diff, 2)}); not reused"
                    break
                if status == "completed":
                    pass  # a retry of a trial whose worker died after this seed finished
                elif status in ("running", "interrupted") and ckpt:
                    ganscape.resume(run, progress=False, on_eval=on_eval)
                else:
                    if run.exists():  # a start that died before its first checkpoint: start it again
                        import shutil
                        shutil.rmtree(run)
                    ganscape.train(cfg, run_dir=run, on_eval=on_eval)
                if not (run / "trial.json").exists():
                    _write_trial_json(run, spec, trial.number, chosen, s)
            except ConfigError as e:  # refused when the nets are built (e.g. a norm a net does not offer)
                reason = f"invalid config: {e}"
                break
            except Exception as e:  # noqa: BLE001 - any failure of one trial is recorded, the study goes on
                reason = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                break
            finally:
                seconds += time.perf_counter() - t0
            st = rundir.read_status(run)
            if st.get("status") == "interrupted":
                # Ctrl-C or SIGTERM reached the worker: the run saved a checkpoint. The trial stays
                # running until a later `study run` finds its worker gone and resumes it.
                raise TrialInterrupted(st.get("reason", ""))
            if st.get("status") == "pruned":
                pruned = True
                break
            if st.get("status") != "completed":
                reason = f"{st.get('status')}: {st.get('reason', '')}".rstrip(": ")
                break
            v = objective_value(run, spec)
            if v is None:
                reason = f"no {spec.objective.key} was recorded by the run's evaluations"
                break
            values.append(v)
    tc = configs[0].train   # the trial's own config: a spec's parameter may set train.steps
    trial.set_user_attr("seed_values", values)
    trial.set_user_attr("seconds", seconds + float(attrs.get("seconds", 0.0)))
    trial.set_user_attr("steps", int(tc.steps))
    trial.set_user_attr("examples_seen", int(tc.steps * tc.batch_size * tc.n_disc))
    trial.set_user_attr("config_values", {p.name: p.value_of(chosen[p.name]) for p in spec.space
                                          if p.name in chosen})
    if pruned:
        study.tell(trial, state=TS.PRUNED)
    elif reason is not None:
        trial.set_user_attr("reason", reason)
        study.tell(trial, state=TS.FAIL)
    else:
        study.tell(trial, sum(values) / len(values))


def _write_trial_json(run: Path, spec: StudySpec, number: int, chosen: Dict[str, Any], seed_index: int) -> None:
    run.mkdir(parents=True, exist_ok=True)
    values = {p.name: p.value_of(chosen[p.name]) for p in spec.space if p.name in chosen}
    (run / "trial.json").write_text(json.dumps({"study": spec.name, "trial": number, "seed_index": seed_index,
                                                "params": chosen, "config_values": values}, indent=2) + "\n")


# ---- a worker ---------------------------------------------------------------------------------
def worker_main(out: str, worker: int, threads: int, coordinator_pid: Optional[int], heartbeat: float = HEARTBEAT_S,
                grace: float = GRACE_S, auto_threads: bool = False) -> int:
    """Run trials until the study has its number of trials. Returns how
    many this worker finished. The same function runs as a local process
    or as a Ray task. auto_threads: `threads` is the worker's share of the
    CPUs, within which each trial measures its count; else the count."""
    import torch
    from ..train import threads as thr
    torch.set_num_threads(max(1, threads))
    thr.set_process(threads=None if auto_threads else threads, cap=threads)
    out = Path(out)
    meta, spec = read_meta(out), read_spec(out)
    n_trials = int(meta["trials"])
    url = storage_url(out, meta)
    tree = base_tree(spec, meta["overrides"])
    done = 0
    while True:
        if coordinator_pid is not None and os.getppid() != coordinator_pid:
            return done  # the coordinator is gone: the trial before this check was finished and told
        with _locked(out / "study.lock"):
            study = load_optuna_study(out, spec, stream=worker * 7919 + len(_trial_numbers(url, spec)))
            recover_dead(study, grace)
            trials = study.get_trials(deepcopy=False)
            waiting = [t for t in trials if t.state.name == "WAITING"]
            if budget_used(trials) >= n_trials and not waiting:
                return done
            trial = study.ask()
            trial.set_user_attr("host", socket.gethostname())
            trial.set_user_attr("pid", os.getpid())
            trial.set_user_attr("heartbeat", time.time())
            trial.set_user_attr("worker", worker)
        try:
            run_trial(study, trial, spec, tree, out, heartbeat)
        except TrialInterrupted:
            return done
        done += 1


def _trial_numbers(url: str, spec) -> List[int]:
    # how many trials the study has when the worker (re)starts: a new random stream for each session
    optuna = _optuna()
    try:
        st = optuna.load_study(study_name=spec.name, storage=open_storage(url))
    except KeyError:
        return []
    return [t.number for t in st.get_trials(deepcopy=False)]


def _local_worker(out: str, worker: int, threads: int, coordinator_pid: int, heartbeat: float, grace: float,
                  auto_threads: bool = False) -> None:
    try:
        worker_main(out, worker, threads, coordinator_pid, heartbeat, grace, auto_threads)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the coordinator says what to do
        raise SystemExit(130)
    except BaseException:
        traceback.print_exc()
        raise SystemExit(1)


# ---- the coordinator ---------------------------------------------------------------------------
def _trial_folders(out: Path) -> List[str]:
    folder = out / "trials"
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name.startswith("trial-")) \
        if folder.is_dir() else []


def check_trial_folders(out: Path, study, spec: StudySpec, tree: Dict[str, Any], url: str) -> None:
    """Refuse, in one line, to continue a study whose trial folders the
    storage does not account for: a trials/trial-NNNN folder that no trial
    of the storage records (the database was emptied, deleted or replaced),
    or one trained with other settings than the trial that records it
    (a recreated database). Reusing either would report one setting with
    another setting's result."""
    folder = out / "trials"
    found = _trial_folders(out)  # folders first, then the trials: a worker records run_dirs, then makes the folder
    owner: Dict[str, tuple] = {}
    for t in study.get_trials(deepcopy=False):
        for s, rel in enumerate(t.user_attrs.get("run_dirs") or []):
            if t.params:  # a retry waiting in the queue names the folder before it has parameters
                owner.setdefault(rel, (t, s))
            else:
                owner.setdefault(rel, None)
    where = sqlite_file(url) or url.split("@")[-1]
    for name in found:
        if f"trials/{name}" not in owner:
            raise ConfigError(f"{folder / name} holds a run that the study's storage {where} does not record (the "
                              f"database was emptied, deleted or replaced?); restore the database, or move "
                              f"{folder} away to run the trials afresh")
    for rel, entry in owner.items():
        if entry is None or not (out / rel / "config.json").exists():
            continue
        t, s = entry
        try:
            cfg = trial_config(spec, tree, dict(t.params), t.number, s)
        except ConfigError:
            continue  # a refused combination never trained
        diff = settings_diff(out / rel, cfg)
        if diff:
            raise ConfigError(f"{out / rel} was trained with other settings than trial {t.number} of {where} "
                              f"({describe_diff(diff, 2)}); restore the database, or move {folder} away to "
                              f"run the trials afresh")


def prepare(spec_source: Union[str, Path], out: Union[str, Path], storage: Optional[str] = None,
            trials: Optional[int] = None, overrides: Sequence[str] = ()) -> Path:
    """Create (or check, on a re-run) the study folder and the Optuna
    study. A re-run must use the same spec and --set; the number of trials
    may change."""
    spec = load_spec(spec_source)
    out = Path(out)
    if trials is not None and trials < 1:
        raise ConfigError(f"--trials: must be >= 1, got {trials}")
    n_trials = trials or spec.trials
    tree = base_tree(spec, overrides)  # a typo in --set or the spec's base fails here, before anything exists
    if storage:
        check_storage_url(storage)
    if (out / "study.json").exists():
        old_meta, old_spec = read_meta(out), read_spec(out)
        if old_spec.text != spec.text:
            raise ConfigError(f"{out} holds the study {old_spec.name!r} with a different spec; continue it with "
                              f"the same spec (only --trials may change) or choose a new --out")
        if list(old_meta["overrides"]) != list(overrides):
            raise ConfigError(f"{out}: this study was started with --set {old_meta['overrides']}; a re-run "
                              f"must use the same --set (got {list(overrides)})")
        url = storage_url(out, old_meta)
        path = sqlite_file(url)
        found = _trial_folders(out)
        if path is not None and found and (not path.exists() or path.stat().st_size == 0):
            raise ConfigError(f"{out / 'trials' / found[0]} holds a run but the study's storage {path} is "
                              f"{'empty' if path.exists() else 'gone'}; restore the database, or move "
                              f"{out / 'trials'} away to run the trials afresh")
        if storage and storage not in (url, old_meta["storage"]):
            raise ConfigError(f"{out}: this study's storage is {old_meta['storage']}, not {storage}")
        # an old study.json's absolute path to the folder's own file becomes relative (see folder.py)
        meta = {**old_meta, "storage": stored_form(out, url), "trials": n_trials}
    else:
        if out.exists() and any(out.iterdir()):
            raise FileExistsError(f"--out {out}: the folder exists and is not a ganscape study folder")
        url = storage or default_storage(out)
        check_sqlite(url, must_exist=False)  # a damaged --storage file: refused before the folder is made
        out.mkdir(parents=True, exist_ok=True)
        (out / "spec.yaml").write_text(spec.text)
        meta = {"name": spec.name, "storage": storage or stored_form(out, url), "overrides": list(overrides),
                "trials": n_trials}
    meta["steps"] = int(tree["train"]["steps"])
    check_sqlite(url, must_exist=False)
    optuna = _optuna()
    storage_obj = open_storage(url)
    with db_errors(url):
        study = optuna.create_study(study_name=spec.name, storage=storage_obj, load_if_exists=True,
                                    direction=spec.objective.direction)
        with _locked(out / "study.lock"):
            check_trial_folders(out, study, spec, tree, url)
    if spec.sampler == "grid":
        with _locked(out / "study.lock"), db_errors(url):
            trials_now = study.get_trials(deepcopy=False)
            have = [dict(t.params) if t.params else dict(t.system_attrs.get("fixed_params", {}))
                    for t in trials_now]
            room = n_trials - budget_used(trials_now)
            for point in grid_points(spec):
                if room <= 0:
                    break
                if point not in have:
                    study.enqueue_trial(point)
                    room -= 1
    tmp = out / "study.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    os.replace(tmp, out / "study.json")
    (out / "trials").mkdir(exist_ok=True)
    return out


def run_study(spec_source: Union[str, Path], out: Union[str, Path], workers: int = 1, backend: str = "local",
              storage: Optional[str] = None, trials: Optional[int] = None, overrides: Sequence[str] = (),
              address: Optional[str] = None, progress: bool = True, threads: Optional[int] = None,
              heartbeat: float = HEARTBEAT_S, grace: float = GRACE_S) -> Dict[str, int]:
    """Run (or continue) a study until it has its number of trials.
    Returns the counts of trials by state. The local backend starts worker
    processes with multiprocessing's spawn method: in a script, call this
    under `if __name__ == "__main__":`."""
    if workers < 1:
        raise ConfigError(f"--workers: must be >= 1, got {workers}")
    if backend not in ("local", "ray"):
        raise ConfigError(f"--backend: {backend!r} is not allowed; choose local or ray")
    out = prepare(spec_source, out, storage, trials, overrides)
    from ..train.threads import available_cpus
    auto = not threads  # no --threads: each trial measures its count within the worker's share
    threads = threads or max(1, available_cpus() // workers)
    stop = threading.Event()
    bar = _progress(out, progress, stop)
    try:
        if backend == "ray":
            _run_ray(out, workers, threads, address, heartbeat, grace, auto)
        else:
            ctx = multiprocessing.get_context("spawn")
            procs = [ctx.Process(target=_local_worker, args=(str(out), i, threads, os.getpid(), heartbeat, grace, auto),
                                 daemon=False) for i in range(workers)]
            for p in procs:
                p.start()
            try:
                for p in procs:
                    p.join()
            except KeyboardInterrupt:
                # the workers got the signal too: their runs save a checkpoint and stop
                for p in procs:
                    p.join()
                raise KeyboardInterrupt(f"study interrupted; run the same command again to continue "
                                        f"(interrupted trials resume from their checkpoints)") from None
            bad = [p.exitcode for p in procs if p.exitcode]
            if bad:
                raise RuntimeError(f"{len(bad)} of {workers} study workers failed (exit codes {bad}); "
                                   f"their tracebacks are above. Running the same command again continues")
    finally:
        stop.set()
        if bar is not None:
            bar.join()
    return counts(out)


def _progress(out: Path, show: bool, stop: threading.Event):
    if not show:
        return None
    from tqdm.auto import tqdm

    def loop() -> None:
        total = read_meta(out)["trials"]
        with tqdm(total=total, desc=read_spec(out).name, unit="trial") as bar:
            while True:
                with contextlib.suppress(Exception):
                    c = counts(out)
                    bar.n = c["complete"] + c["pruned"] + c["failed"]
                    bar.set_postfix(running=c["running"], best=c.get("best"), refresh=False)
                    bar.refresh()
                if stop.wait(2.0):
                    break
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


def _run_ray(out: Path, workers: int, threads: int, address: Optional[str], heartbeat: float, grace: float,
             auto_threads: bool = False) -> None:
    try:
        import ray
    except ImportError:
        raise ImportError("--backend ray needs ray: pip install 'ray[default]' (or ganscape[ray])") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, num_cpus=None if address else workers * threads, include_dashboard=False,
                 log_to_driver=True, ignore_reinit_error=True)
    try:
        task = ray.remote(num_cpus=threads)(worker_main)
        ray.get([task.remote(str(out.resolve()), i, threads, None, heartbeat, grace, auto_threads)
                 for i in range(workers)])
    finally:
        if started:
            ray.shutdown()
