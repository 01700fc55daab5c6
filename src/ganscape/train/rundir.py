"""The run folder: the single source of truth for a run.

    RUN/
      config.json        resolved config (enough to reproduce the run)
      status.json        {"status": running|completed|diverged|interrupted|failed, "step": ...,
                          "checkpoint_step": ..., "reason": ...}
      stats.jsonl        one JSON object per log step (append-only)
      stats.png          training curves (losses, D outputs, gradient norms), redrawn at the end
      metrics.jsonl      one JSON object per evaluation (append-only); records the
                         training loop wrote carry "source": "train"
      samples/           step_000500.png grids (scatter plots for 2-D data)
      checkpoints/       latest.pt, previous.pt, step_001000.pt ...
      tensorboard/       event files, when tensorboard is installed
      doctor.jsonl       the training doctor's checks (train.doctor; probes/doctor_checks.py)
      doctor.json        its findings, doctor.png its figure (written at the end with train.doctor, and
                         by `ganscape doctor RUN`)
      threads.jsonl      each choice of the torch thread count and what was measured (train/threads.py)
      .lock              locked (flock) by the process training in the folder; holds its pid
"""
from __future__ import annotations

import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

CONFIG = "config.json"
STATUS = "status.json"
STATS = "stats.jsonl"
METRICS = "metrics.jsonl"
SAMPLES = "samples"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tensorboard"
THREADS = "threads.jsonl"
DOCTOR = "doctor.jsonl"
LOCK = ".lock"


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/Inf; keep them readable
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


class LinkRefused(ValueError):
    """A file of a run folder is a symbolic link. ganscape reads and writes
    a run folder's own files only: a link could make `eval` append to, or
    `report` publish, a file anywhere else."""

    def __init__(self, path: Path):
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        super().__init__(f"{path} is a symbolic link (to {target}); ganscape reads and writes only a run "
                         "folder's own files, never through a link: replace it with the file itself")


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def open_own(path: Path, mode: str = "r"):
    """open(path, mode) for a file of a run folder, refusing a symbolic link
    (LinkRefused) instead of following it. O_NOFOLLOW makes the check and the
    open one step, so a link put in place between them is refused too."""
    path = Path(path)
    flags = {"r": os.O_RDONLY, "rb": os.O_RDONLY, "a": os.O_WRONLY | os.O_APPEND | os.O_CREAT}[mode]
    if not _NOFOLLOW and path.is_symlink():  # a platform without O_NOFOLLOW
        raise LinkRefused(path)
    try:
        fd = os.open(path, flags | _NOFOLLOW, 0o644)
    except OSError as e:
        if path.is_symlink():  # ELOOP (Linux), EMLINK (FreeBSD), ...
            raise LinkRefused(path) from None
        raise
    if mode == "rb":
        return os.fdopen(fd, mode)
    return os.fdopen(fd, mode, encoding="utf-8", errors="replace" if mode == "r" else "strict")


def read_own_text(path: Path) -> str:
    with open_own(path) as f:
        return f.read()


def append_jsonl(path: Path, record: Dict[str, Any]) -> None:
    line = json.dumps(_json_safe(record)) + "\n"
    try:
        with open_own(path, "a") as f:
            f.write(line)
    except LinkRefused:
        raise
    except OSError as e:
        from .checkpoint import WriteError
        raise WriteError(Path(path), e) from None


def _parse_jsonl(path: Path) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """(records, torn): the records of an append-only JSON-lines file and its
    last line when that one does not parse (a write cut short by a kill or a
    full disk), else None. A bad line anywhere else is corruption: ValueError
    naming the file and the line."""
    lines = read_own_text(path).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):  # every record is an object; a cut one may still parse (`12`)
            if i == len(lines) - 1:
                return out, line
            raise ValueError(f"{path}: line {i + 1} is not a JSON object")
        out.append(record)
    return out, None


def read_jsonl(path: Path) -> List[Dict[str, Any]]:
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return []
    return _parse_jsonl(path)[0]


def truncate_jsonl(path: Path, max_step: int, source: Optional[str] = None) -> None:
    """Drop records with step > max_step (after resuming from an earlier
    checkpoint, training writes them again), and a torn last line (what a
    kill during a write leaves; records appended after it would otherwise
    make it a bad line in the middle). With `source`, only the records
    that carry that source are dropped: metrics.jsonl also holds what
    `ganscape eval` wrote, which training cannot recreate."""
    path = Path(path)
    if not path.exists():
        return
    records, torn = _parse_jsonl(path)
    if torn is not None:
        warnings.warn(f"{path}: dropped a torn last line ({torn[:60]!r}), written by a process that was "
                      "stopped mid-write", stacklevel=2)
    keep = [r for r in records
            if r.get("step", 0) <= max_step or (source is not None and r.get("source") != source)]
    if len(keep) == len(records) and torn is None and read_own_text(path).endswith("\n"):
        return
    _write_text(path, "".join(json.dumps(r) + "\n" for r in keep))


def _write_text(path: Path, text: str) -> None:
    """Atomically replace `path`; WriteError (and no temp file) on failure."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as e:
        from .checkpoint import WriteError
        try:
            tmp.unlink()
        except OSError:
            pass
        raise WriteError(path, e) from None


def clean_orphans(run: Path) -> None:
    """Temp files a killed write left in the run folder and its checkpoints."""
    from . import checkpoint
    for folder in (Path(run), Path(run) / CHECKPOINTS):
        checkpoint.clean_orphans(folder)


def write_status(run: Path, status: str, **extra: Any) -> None:
    record = {"status": status, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **extra}
    _write_text(Path(run) / STATUS, json.dumps(_json_safe(record), indent=2) + "\n")


def read_status(run: Path) -> Dict[str, Any]:
    p = Path(run) / STATUS
    return json.loads(read_own_text(p)) if p.exists() or p.is_symlink() else {}


def is_run_dir(path: Path) -> bool:
    return (Path(path) / CONFIG).exists()


def load_config(run: Union[str, Path]):
    """The resolved Config of a run folder (api.load_run; here so that the
    evaluator below the API can read it too)."""
    from ..config import load_json
    path = Path(run) / CONFIG
    if not path.exists():
        raise FileNotFoundError(f"{run} is not a ganscape run folder (no {CONFIG})")
    return load_json(path)


def enclosing_run(path: Path) -> Optional[Path]:
    """The run folder that `path` is, or lies inside, if any: a folder with
    config.json and status.json or checkpoints/ (config.json alone is too
    common a name to go by)."""
    p = Path(path).resolve()
    for folder in (p, *p.parents):
        if (folder / CONFIG).is_file() and ((folder / STATUS).is_file() or (folder / CHECKPOINTS).is_dir()):
            return folder
    return None


def check_out_dir(out: Path) -> Path:
    """The folder that receives new run folders must not be a run itself."""
    if is_run_dir(out):
        raise FileExistsError(f"--out {out} is a run folder; give the folder that holds runs (e.g. "
                              f"{Path(out).parent}), or continue this one with --resume {out}")
    return Path(out)


def check_new_run_dir(run: Path) -> Path:
    """A folder to train a new run into must not exist yet or be empty."""
    run = Path(run)
    if run.exists():
        if not run.is_dir():
            raise FileExistsError(f"{run} exists and is not a folder")
        if is_run_dir(run):
            raise FileExistsError(f"{run} already holds a run; resume it with `ganscape train --resume {run}` "
                                  "or choose another folder")
        content = sorted(p.name for p in run.iterdir() if p.name != LOCK)  # a lock alone: a start that stopped early
        if content:
            raise FileExistsError(f"{run} is not empty ({', '.join(content[:5])}); "
                                  "a new run needs an empty or new folder")
    return run


def new_run_dir(out: Path, name: str) -> Path:
    """out/<name>-NNN, numbered after the existing ones."""
    from ..config import check_name
    out = check_out_dir(Path(out))
    check_name(name)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from .checkpoint import WriteError
        raise WriteError(out, e) from None
    taken = [p.name for p in out.glob(f"{name}-*") if p.name[len(name) + 1:].isdigit()]
    n = 1 + max((int(t[len(name) + 1:]) for t in taken), default=0)
    run = out / f"{name}-{n:03d}"
    run.mkdir()
    return run



class RunBusy(RuntimeError):
    """Another live process is training in this run folder."""


def lock_run(run: Path) -> Optional[int]:
    """Lock `run` for this process (an exclusive flock on RUN/.lock, which
    then holds this pid) and return the file descriptor to pass to
    unlock_run. The kernel drops the lock when its process dies however it
    dies (kill -9 included), so a dead holder never blocks; a live one makes
    this raise RunBusy naming its pid at once, before anything in the folder
    is touched. Where the platform or file system has no flock, returns None
    and the run goes unlocked."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock; the run is not locked
        return None
    path = Path(run) / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        from .checkpoint import WriteError
        raise WriteError(path, e) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        who = f"process {holder}" if holder.isdigit() else "another process"
        raise RunBusy(f"{run} is in use: {who} is training in it; wait for it to end or stop it, "
                      f"then resume") from None
    except OSError:  # a file system without flock (some network mounts)
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def unlock_run(fd: Optional[int]) -> None:
    """Release what lock_run took (closing the descriptor drops the flock).
    The file stays: removing it could let two processes lock two different
    files of the same name."""
    if fd is not None:
        os.close(fd)
