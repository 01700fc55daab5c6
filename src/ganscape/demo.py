"""`make demo`: train the default preset on the embedded digits and show how good it is."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence


def demo(out: str = "runs", overrides: Sequence[str] = ()) -> int:
    from . import api
    from .cli_eval import format_results
    from .evaluation import evaluate
    from .metrics.evaluate import evaluate_arrays, generate, reference_images
    from .train import rundir

    cfg = api.make_config("digits", None, list(overrides))
    print(f"training {cfg.name}: {cfg.model.generator.arch.name} G / {cfg.model.discriminator.arch.name} D, "
          f"loss {cfg.loss.name}, {cfg.train.steps} steps of batch {cfg.train.batch_size} on {cfg.data.name}")
    t0 = time.perf_counter()
    run = api.train(cfg, out=out)
    status = rundir.read_status(run)
    print(f"trained in {time.perf_counter() - t0:.0f} s; run folder: {run} (status: {status.get('status')})")
    if status.get("status") != "completed":
        return 1
    grids = sorted((Path(run) / rundir.SAMPLES).glob("*.png"))
    print(f"sample grid: {grids[-1]}")

    print("\nevaluating 2000 samples against the training digits (digits-cnn features):")
    rec = evaluate(run, metrics="fid,kid,is,prdc", n=2000)
    print(format_results(rec))
    print(f"saved to {Path(run) / rundir.METRICS}")

    # A scale to read the score by: held-out real digits scored the same way, at equal n.
    params = dict(cfg.data.params)
    train, ref, _ = reference_images(cfg.data.name, params, "train", None)
    test, _, _ = reference_images(cfg.data.name, params, "test", None)
    fake = generate(api.load_generator(run), len(test), seed=0)
    real_fid = evaluate_arrays(test, train, ["fid"], reference=ref, value_range="11")["results"]["fid"]
    fake_fid = evaluate_arrays(fake, train, ["fid"], reference=ref, value_range="11")["results"]["fid"]
    print(f"\nFID at equal n = {len(test)}: generated {fake_fid:.1f}, held-out real digits {real_fid:.1f} "
          f"(ratio {fake_fid / real_fid:.2f}; uniform noise scores about 670)")
    rundir.append_jsonl(Path(run) / rundir.METRICS, {
        "step": rec["step"], "metric": "fid_equal_n", "n": len(test), "fid_generated": fake_fid,
        "fid_heldout_real": real_fid, "ratio": fake_fid / real_fid, "extractor": rec["extractor"]})
    return 0
