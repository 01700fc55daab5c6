"""Checkpoints: plain state dicts plus config and step, written atomically,
loaded with weights_only=True. Never pickled code.

Layout: checkpoints/latest.pt (the newest), previous.pt (the one before it,
kept so that a checkpoint damaged while being copied or by a full disk still
leaves a good one), step_NNNNNN.pt (kept every `checkpoint_every` steps).
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any, Dict, List, Tuple

import torch

FORMAT = 1


class CheckpointError(RuntimeError):
    """No usable checkpoint (missing, truncated, corrupt or of another format)."""


def save(path: Path, payload: Dict[str, Any]) -> None:
    """Write atomically: a temp file in the same folder, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save({"format": FORMAT, **payload}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_latest(folder: Path, payload: Dict[str, Any]) -> None:
    folder = Path(folder)
    latest = folder / "latest.pt"
    if latest.exists():
        os.replace(latest, folder / "previous.pt")
    save(latest, payload)


def load(path: Path) -> Dict[str, Any]:
    """Load one checkpoint; CheckpointError naming the file if it is unusable."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, bad pickle opcode, disallowed global, ...
        raise CheckpointError(f"checkpoint {path} is truncated or corrupt ({type(e).__name__}: {e})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a ganscape checkpoint of format {FORMAT}")
    return ckpt


def candidates(folder: Path) -> List[Path]:
    """Checkpoints newest first: latest, previous, then step_N by decreasing N."""
    folder = Path(folder)
    steps = sorted(folder.glob("step_*.pt"), key=lambda p: -int(re.findall(r"\d+", p.stem)[0]))
    return [p for p in [folder / "latest.pt", folder / "previous.pt", *steps] if p.exists()]


def load_newest(folder: Path, which: str = "latest") -> Tuple[Dict[str, Any], Path]:
    """The newest loadable checkpoint, falling back over damaged ones with a
    warning that names each. `which`: latest | best | a step number."""
    folder = Path(folder)
    if which not in ("latest", None):
        path = folder / ("best.pt" if which == "best" else f"step_{int(which):06d}.pt")
        return load(path), path
    errors = []
    for path in candidates(folder):
        try:
            ckpt = load(path)
        except CheckpointError as e:
            warnings.warn(f"{e}; trying an older checkpoint", stacklevel=2)
            errors.append(str(e))
            continue
        return ckpt, path
    detail = "; ".join(errors) if errors else "none were written"
    raise CheckpointError(f"no usable checkpoint in {folder}: {detail}")
