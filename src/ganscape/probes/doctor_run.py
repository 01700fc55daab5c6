"""`ganscape doctor RUN`: the training doctor on a run folder (issue 20, part 1).

Reads stats.jsonl, status.json, config.json and the doctor's checks: those a
run with train.doctor recorded while it trained (doctor.jsonl), or, for a run
trained without it, the same checks measured now on each kept checkpoint
(step_N.pt and latest.pt; a run that kept none is judged on its stats and its
final checkpoint alone). Writes doctor.json (the findings) and doctor.png (D's
outputs, diversity, coverage per mode and memorization against step, with
each finding marked) to the run folder, and returns the findings.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .doctor import Finding, diagnose

DOCTOR_JSON = "doctor.json"
DOCTOR_PNG = "doctor.png"


def measure_checkpoints(run: Path, cfg, most: int = 20, n: int = 500, progress: bool = False) -> List[Dict]:
    """The doctor's checks of a run's kept checkpoints (at most `most`, evenly spaced, then latest.pt)."""
    import torch
    from tqdm import tqdm

    from ..train import checkpoint as ckpt_io
    from ..train.state import DataSpec, build_state, load_data
    from . import kept_checkpoints
    from .doctor_checks import Checker, heldout_for
    paths = kept_checkpoints(run, most)
    if not paths:
        return []
    data = load_data(cfg, "train")
    state, method = build_state(cfg, DataSpec.of(data), torch.device("cpu"))
    if state.sampler_name is None or getattr(state.sampler, "is_policy", False):
        return []   # a classifier or a policy: judged on its stats alone
    checker = Checker(cfg, data, heldout_for(cfg) if data.kind == "image" else None, n=n)
    out = []
    for p in tqdm(paths, desc="doctor: checkpoints", disable=not progress, leave=False):
        ck = ckpt_io.load(p)
        state.load_state_dict(ck)
        out.append(checker.measure(state.sampler, int(ck["step"])))
    return out


def examine(run: Path, recheck: bool = False, most: int = 20, n: int = 500, progress: bool = False,
            write: bool = True) -> List[Finding]:
    """The findings for a run folder (see the module docstring). recheck: measure the checkpoints even
    where doctor.jsonl exists."""
    from ..registry import ConfigError
    from ..train import rundir
    run = Path(run)
    if not (run / rundir.CONFIG).is_file():
        raise ConfigError(f"doctor: {run} is not a run folder (no {rundir.CONFIG})")
    cfg = rundir.load_config(run)
    cfg_tree = json.loads(rundir.open_own(run / rundir.CONFIG).read())
    stats = rundir.read_jsonl(run / rundir.STATS) if (run / rundir.STATS).exists() else []
    status = rundir.read_status(run) if (run / rundir.STATUS).exists() else {}
    checks_path = run / rundir.DOCTOR
    checks = [] if recheck or not checks_path.exists() else rundir.read_jsonl(checks_path)
    if not checks:
        checks = measure_checkpoints(run, cfg, most, n, progress)
    findings = diagnose(stats, checks, cfg_tree, status)
    if write:
        rundir._write_text(run / DOCTOR_JSON, json.dumps([f.to_json() for f in findings], indent=2) + "\n")
        plot(stats, checks, findings, run / DOCTOR_PNG, title=run.name)
    return findings


def plot(stats: Sequence[Dict[str, Any]], checks: Sequence[Dict[str, Any]], findings: Sequence[Finding],
         path: Path, title: str = "") -> Optional[Path]:
    """Four panels against step: D's outputs, sample diversity, the share of samples per mode (a heat map:
    a hopping generator is a diagonal staircase, a dropping one has empty rows), memorization."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..viz import save_figure
    from .doctor import _series
    fig, ax = plt.subplots(1, 4, figsize=(17, 3.4))
    for key in ("d_real", "d_fake"):
        s, v = _series(stats, key)
        if len(s):
            ax[0].plot(s, v, label=key)
    ax[0].set_title("D's mean logit")
    if ax[0].lines:
        ax[0].legend(fontsize=7)
    cs = [c for c in checks if c.get("diversity") is not None]
    ax[1].plot([c["step"] for c in cs], [c["diversity"] for c in cs], "o-")
    ax[1].axhline(1.0, color="gray", lw=0.5)
    ax[1].set_title("diversity / real data's")
    hs = [c for c in checks if c.get("hist")]
    if hs:
        h = np.asarray([c["hist"] for c in hs]).T
        ax[2].imshow(h, aspect="auto", origin="lower", cmap="viridis",
                     extent=(hs[0]["step"], hs[-1]["step"] + 1e-9, -0.5, h.shape[0] - 0.5))
        ax[2].set_ylabel("mode")
    ax[2].set_title("share of samples per mode")
    ms = [c for c in checks if c.get("memorized") is not None]
    ax[3].plot([c["step"] for c in ms], [c["memorized"] for c in ms], "o-")
    ax[3].set_title("memorized share")
    for a, empty in ((ax[1], not cs), (ax[2], not hs), (ax[3], not ms)):
        if empty:   # a check that does not apply to this data (modes without a judge, memorization of points)
            a.text(0.5, 0.5, "not measured for this data", ha="center", va="center", transform=a.transAxes,
                   color="gray")
    for f in findings:
        for a in ax:
            a.axvline(f.step, color="red", lw=0.8, ls="--")
        ax[0].annotate(f.finding, (f.step, 0.95), xycoords=("data", "axes fraction"), fontsize=7, color="red",
                       rotation=90, va="top")
    for a in ax:
        a.set_xlabel("step")
    fig.suptitle(title or "doctor")
    fig.tight_layout()
    return save_figure(fig, path)


class LiveDoctor:
    """train.doctor: the checks every `every` steps during training (doctor.jsonl), each new kind of finding
    printed once through `say` as soon as the rules make it, doctor.json and doctor.png at the end."""

    def __init__(self, cfg, data, run: Path, say, device: str = "cpu"):
        from .doctor_checks import Checker, heldout_for
        self.cfg, self.run, self.say = cfg, Path(run), say
        self.every = cfg.train.doctor_every or max(1, cfg.train.steps // 20)
        self.checker = Checker(cfg, data, heldout_for(cfg) if data.kind == "image" else None, device=device)
        self.last = -1
        from ..config import to_plain
        self.cfg_tree = json.loads(json.dumps(to_plain(cfg)))
        self.told: set = set()

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def check(self, sampler, step: int) -> Optional["LiveDoctor"]:
        """One check and the findings it brings; returns self, or None when the check failed (the doctor
        is an observer: a failure of its own is one warning and it stops, training goes on)."""
        import warnings

        from ..train import rundir
        try:
            rundir.append_jsonl(self.run / rundir.DOCTOR, self.checker.measure(sampler, step))
        except (RuntimeError, ValueError, MemoryError) as e:
            warnings.warn(f"train.doctor: the check at step {step} failed ({type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''}); the doctor is off for the rest of the run")
            return None
        self.last = step
        findings = self._diagnose()
        for f in findings:
            if f.finding not in self.told:
                self.told.add(f.finding)
                net = f" ({f.net})" if f.net else ""
                self.say(f"doctor, step {step}: {f.finding}{net}: {f.evidence}. Try: {'; '.join(f.advice[:2])}")
        return self

    def _diagnose(self, status: Optional[Dict[str, Any]] = None) -> List[Finding]:
        from ..train import rundir
        stats = rundir.read_jsonl(self.run / rundir.STATS) if (self.run / rundir.STATS).exists() else []
        checks = rundir.read_jsonl(self.run / rundir.DOCTOR) if (self.run / rundir.DOCTOR).exists() else []
        return diagnose(stats, checks, self.cfg_tree, status)

    def finish(self, status: Optional[Dict[str, Any]] = None, sampler=None) -> List[Finding]:
        """The last word: a check of the final step where the schedule missed it (sampler given), the
        findings of the whole run into doctor.json, the figure."""
        from ..train import rundir
        step = int((status or {}).get("step", -1))
        if sampler is not None and step > self.last:
            self.check(sampler, step)
        findings = self._diagnose(status)
        rundir._write_text(self.run / DOCTOR_JSON, json.dumps([f.to_json() for f in findings], indent=2) + "\n")
        stats = rundir.read_jsonl(self.run / rundir.STATS) if (self.run / rundir.STATS).exists() else []
        checks = rundir.read_jsonl(self.run / rundir.DOCTOR) if (self.run / rundir.DOCTOR).exists() else []
        plot(stats, checks, findings, self.run / DOCTOR_PNG, title=self.run.name)
        return findings
