"""Instruments for the field's open questions (issue 20): each works on a
config or a run folder and answers with numbers and a figure. Shared here:
which checkpoints of a run an instrument looks at, and a GAN's training
state loaded from one."""
from __future__ import annotations

import re
from pathlib import Path
from typing import List

import numpy as np


def step_of(path: Path) -> int:
    """The step in a checkpoint's name (step_000120.pt -> 120; -1 for latest.pt)."""
    m = re.findall(r"\d+", Path(path).stem)
    return int(m[0]) if m else -1


def kept_checkpoints(run: Path, most: int, with_latest: bool = True) -> List[Path]:
    """The run's kept checkpoints (step_N.pt), at most `most` evenly spaced, then latest.pt when it is
    newer than the last of them (or the only one)."""
    from ..train import checkpoint as ckpt_io
    from ..train import rundir
    folder = Path(run) / rundir.CHECKPOINTS
    steps = sorted(folder.glob("step_*.pt"), key=step_of)
    if len(steps) > most:
        steps = [steps[int(round(i))] for i in np.linspace(0, len(steps) - 1, most)]
    latest = folder / "latest.pt"
    if latest.exists() and (not steps or (with_latest and int(ckpt_io.load(latest)["step"]) > step_of(steps[-1]))):
        steps.append(latest)
    return steps


def gan_state(cfg, data, path: Path, what: str):
    """(state, method, checkpoint) of an unconditional GAN run at checkpoint `path`, on the CPU; one
    line naming `what` for another kind of run."""
    import torch

    from ..registry import ConfigError
    from ..train import checkpoint as ckpt_io
    from ..train.state import DataSpec, build_state
    ck = ckpt_io.load(path)
    state, method = build_state(cfg, DataSpec.of(data), torch.device("cpu"))
    if "D" not in state.nets or method.sampler is None:
        raise ConfigError(f"{what}: method {cfg.method.name!r} has no generator and discriminator; it is for "
                          f"GAN runs")
    if getattr(state.sampler, "num_classes", 0) or getattr(state.nets["D"], "num_classes", 0):
        raise ConfigError(f"{what}: the run is class-conditional; conditional nets are not built into it yet "
                          f"(they would need labels on both sides)")
    state.load_state_dict(ck)
    method.load_state_dict(ck.get("method", {}))
    return state, method, ck
