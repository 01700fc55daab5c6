"""`ganscape train`: train from a preset / YAML config, or resume a run."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .args import add_threads, positive_int


def add(sub, examples: str) -> None:
    p = sub.add_parser("train", help="train a GAN from a preset / YAML config",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=examples)
    from ..config import list_presets
    p.add_argument("--preset", choices=list_presets(),
                   help="named configuration (default: digits, an MLP GAN on 8x8 digits)")
    p.add_argument("--config", metavar="FILE.yaml",
                   help="YAML config, layered on the preset (on digits when no --preset is given)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key, e.g. --set train.steps=500 (repeatable); with --resume "
                        "only train.steps, logging/sample/checkpoint/eval settings, learning rates and device")
    p.add_argument("--out", default="runs", help="folder that receives the run folder OUT/NAME-NNN, NAME being "
                                                 "the config's name (default: the data set's) (default: runs)")
    p.add_argument("--run-dir", help="exact run folder to create; must be new or empty (default: OUT/NAME-NNN)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its newest usable checkpoint")
    p.add_argument("--steps", type=positive_int, help="train to this many generator steps (train.steps)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_threads(p)
    p.set_defaults(handler=run)


def run(a) -> int:
    from .. import api
    from ..config import dumps_yaml

    if a.resume:
        if a.preset or a.config or a.run_dir:
            print("error: --resume continues a run with its saved config; drop --preset/--config/--run-dir "
                  "(--set and --steps may change what is allowed on resume)", file=sys.stderr)
            return 2
        if a.dry_run:
            print(dumps_yaml(api.load_run(a.resume)))
            return 0
        from ..train import rundir
        try:
            before = rundir.read_status(a.resume)
        except (OSError, ValueError):  # unreadable: resume itself decides what to do with the folder
            before = {}
        run_dir = api.resume(a.resume, steps=a.steps, overrides=a.overrides,
                             progress=False if a.no_progress else None)
        after = rundir.read_status(run_dir)
        if before.get("status") == "completed" and after.get("step") == before.get("step"):
            done = before.get("step")
            asked = f"--steps {a.steps} is not beyond it" if a.steps else "without --steps it stays there"
            print(f"note: {run_dir} had already completed step {done} (train.steps); {asked}, so nothing "
                  f"was trained. To train further: --steps N with N > {done}, "
                  f"e.g. ganscape train --resume {run_dir} --steps {2 * int(done or 1)}", file=sys.stderr)
    else:
        overrides = list(a.overrides) + ([f"train.steps={a.steps}"] if a.steps else [])
        cfg, note = api.resolve_data(api.make_config(a.preset, a.config, overrides))
        if note:
            print(f"note: {note}", file=sys.stderr)
        if a.dry_run:
            print(dumps_yaml(cfg))
            return 0
        run_dir = api.train(cfg, out=a.out, run_dir=a.run_dir, progress=False if a.no_progress else None)
    from ..train.distributed import from_env
    if not from_env().lead:  # under torchrun rank 0 reports the run; the others finished their part
        return 0
    return report(run_dir)


def report(run: Path) -> int:
    """Print where the run is and how it ended; the exit code: 0 if completed or interrupted."""
    from ..train import rundir

    status = rundir.read_status(run)
    print(f"run folder: {run}")
    print(f"status: {status.get('status')} at step {status.get('step')}"
          + (f" ({status['reason']})" if status.get("reason") else ""))
    samples = sorted((Path(run) / rundir.SAMPLES).glob("step_*.png"))  # the grids, not a method's pictures
    if samples:
        print(f"samples: {samples[-1]}")
    if "mode_coverage" in status:
        mc = status["mode_coverage"]
        print("mode coverage: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                           for k, v in mc.items()))
    return 0 if status.get("status") in ("completed", "interrupted") else 1
