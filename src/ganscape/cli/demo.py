"""`ganscape demo` (`make demo`): train the default preset on the embedded digits and show how good it is.

Only the printing lives here; training, evaluation and the held-out
baseline are library calls."""
from __future__ import annotations

import time
from pathlib import Path


def add(sub) -> None:
    p = sub.add_parser("demo", help="train the default preset on digits and report how good it is")
    p.add_argument("--out", default="runs")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    from .args import add_threads
    add_threads(p)
    p.set_defaults(handler=run)


def run(a) -> int:
    from .. import api
    from ..metrics.evaluate_run import evaluate, heldout_fid
    from ..train import rundir
    from .eval import format_results

    cfg = api.make_config("digits", None, list(a.overrides))
    print(f"training {cfg.name}: {cfg.model.generator.arch.name} G / {cfg.model.discriminator.arch.name} D, "
          f"loss {cfg.loss.name}, {cfg.train.steps} steps of batch {cfg.train.batch_size} on {cfg.data.name}")
    t0 = time.perf_counter()
    run_dir = api.train(cfg, out=a.out)
    status = rundir.read_status(run_dir)
    print(f"trained in {time.perf_counter() - t0:.0f} s; run folder: {run_dir} (status: {status.get('status')})")
    if status.get("status") != "completed":
        return 1
    grids = sorted((Path(run_dir) / rundir.SAMPLES).glob("*.png"))
    print(f"sample grid: {grids[-1]}")

    print("\nevaluating 2000 samples against the training digits (digits-cnn features):")
    rec = evaluate(run_dir, metrics="fid,kid,is,prdc", n=2000)
    print(format_results(rec))
    print(f"saved to {Path(run_dir) / rundir.METRICS}")

    # A scale to read the score by: held-out real digits scored the same way, at equal n.
    b = heldout_fid(run_dir)
    print(f"\nFID at equal n = {b['n']}: generated {b['fid_generated']:.1f}, held-out real digits "
          f"{b['fid_heldout_real']:.1f} (ratio {b['ratio']:.2f}; uniform noise scores about 670)")
    return 0
