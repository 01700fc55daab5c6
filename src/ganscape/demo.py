"""`make demo`: train the default preset on the embedded digits and show how good it is."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence


def demo(out: str = "runs", overrides: Sequence[str] = ()) -> int:
    from . import api
    from .train import rundir

    cfg = api.make_config("digits", None, list(overrides))
    print(f"training {cfg.name}: {cfg.model.generator.arch.name} G / {cfg.model.discriminator.arch.name} D, "
          f"loss {cfg.loss.name}, {cfg.train.steps} steps of batch {cfg.train.batch_size} on {cfg.data.name}")
    run = api.train(cfg, out=out)
    status = rundir.read_status(run)
    print(f"run folder: {run}  (status: {status.get('status')})")
    grids = sorted((Path(run) / rundir.SAMPLES).glob("*.png"))
    if grids:
        print(f"sample grid: {grids[-1]}")
    return 0 if status.get("status") == "completed" else 1
