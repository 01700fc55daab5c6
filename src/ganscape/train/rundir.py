"""The run folder: the single source of truth for a run.

    RUN/
      config.json        resolved config (enough to reproduce the run)
      status.json        {"status": running|completed|diverged|interrupted, "step": ..., ...}
      stats.jsonl        one JSON object per log step (append-only)
      stats.png          training curves (losses, D outputs, gradient norms), redrawn at the end
      metrics.jsonl      one JSON object per evaluation (append-only)
      samples/           step_000500.png grids (scatter plots for 2-D data)
      checkpoints/       latest.pt, previous.pt, step_001000.pt ...
      tensorboard/       event files, when tensorboard is installed
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Dict, List

CONFIG = "config.json"
STATUS = "status.json"
STATS = "stats.jsonl"
METRICS = "metrics.jsonl"
SAMPLES = "samples"
CHECKPOINTS = "checkpoints"
TENSORBOARD = "tensorboard"


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)  # JSON has no NaN/Inf; keep them readable
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_safe(x) for x in v]
    return v


def append_jsonl(path: Path, record: Dict[str, Any]) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(_json_safe(record)) + "\n")


def read_jsonl(path: Path) -> List[Dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for i, line in enumerate(path.read_text().splitlines()):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                # a crash can leave a half-written last line; anything else is corruption
                if i == len(path.read_text().splitlines()) - 1:
                    break
                raise ValueError(f"{path}: line {i + 1} is not valid JSON")
    return out


def truncate_jsonl(path: Path, max_step: int) -> None:
    """Drop records with step > max_step (after resuming from an earlier checkpoint)."""
    path = Path(path)
    if not path.exists():
        return
    keep = [r for r in read_jsonl(path) if r.get("step", 0) <= max_step]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in keep))
    os.replace(tmp, path)


def write_status(run: Path, status: str, **extra: Any) -> None:
    record = {"status": status, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **extra}
    tmp = Path(run) / (STATUS + ".tmp")
    tmp.write_text(json.dumps(_json_safe(record), indent=2) + "\n")
    os.replace(tmp, Path(run) / STATUS)


def read_status(run: Path) -> Dict[str, Any]:
    p = Path(run) / STATUS
    return json.loads(p.read_text()) if p.exists() else {}


def new_run_dir(out: Path, name: str) -> Path:
    """out/<name>-NNN, numbered after the existing ones."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    taken = [p.name for p in out.glob(f"{name}-*") if p.name[len(name) + 1:].isdigit()]
    n = 1 + max((int(t[len(name) + 1:]) for t in taken), default=0)
    run = out / f"{name}-{n:03d}"
    run.mkdir()
    return run

