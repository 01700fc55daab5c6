"""Benchmark (a) of issue 20: the training doctor on runs made to fail on purpose and on healthy runs.

Each run trains with train.doctor=true (checks 20 times a run) and is judged by the rules of
probes/doctor.py; the table says, per run, the failure it was built to show, what the doctor named, at
which step (before the final one?), and whether anything was said about a healthy run. The intended
failure of each constructed run is what its construction provokes in the literature; where a run
failed differently from its intention, the table says so (the doctor is judged against what the run's
own samples and statistics show, which the figure of each run, RUN/doctor.png, lets a person check).

    python benchmarks/bench_doctor.py --out /tmp/bench_doctor          # all runs (about 15 CPU-minutes)
    python benchmarks/bench_doctor.py --only hop-ring8,healthy-ring8    # a subset
    python benchmarks/bench_doctor.py --seed 1 --out /tmp/bench_doctor_s1  # the same runs, other seeds

Writes OUT/table.txt (also printed) and OUT/<run>/doctor.{json,png}.
"""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

RING = ["train.steps=3000", "train.batch_size=128", "train.log_every=25", "train.lr_schedule=constant",
        "model.discriminator.pack=1"]
GRID = ["train.steps=3000", "train.batch_size=128", "train.log_every=25", "train.lr_schedule=constant",
        "train.n_disc=1", "model.discriminator.pack=1"]
DIGITS = ["train.steps=2000", "train.log_every=20", "train.checkpoint_every=0", "train.sample_every=0"]

# name, preset, overrides, the finding the construction provokes (None: healthy)
RUNS = [
    # failures
    ("wgan-no-penalty", "digits", DIGITS + ["loss=wasserstein", "model.discriminator.norm=none"], "divergence"),
    ("lr-100x-sgd-nan", "digits", DIGITS + ["optim.discriminator={name: sgd, params: {lr: 5.0}}",
                                            "optim.generator={name: sgd, params: {lr: 5.0}}",
                                            "model.discriminator.norm=none", "loss=ns"], "divergence"),
    ("lr-50x", "digits", DIGITS + ["optim.generator.params.lr=0.01", "optim.discriminator.params.lr=0.01",
                                   "model.discriminator.norm=none", "loss=ns", "train.ema_decay=0"],
     "mode-collapse"),
    ("minimax-strong-d", "digits", DIGITS + ["loss=minimax", "model.discriminator.norm=none", "train.n_disc=5",
                                             "optim.discriminator.params.lr=0.001",
                                             "model.generator.arch.params.width=32"], "d-overpowering"),
    ("tiny-d", "ring8", RING + ["model.discriminator.arch.params.width=4", "model.discriminator.arch.params.depth=1"],
     "mode-dropping"),
    ("g-much-stronger", "grid25", GRID + ["optim.generator.params.lr=0.005", "optim.discriminator.params.lr=0.0001",
                                          "model.discriminator.arch.params.width=32"], "mode-dropping"),
    ("collapse-grid25", "grid25", GRID + ["loss=minimax", "model.z_dim=2"], "mode-dropping"),
    ("hop-ring8", "ring8", RING + ["train.batch_size=64"], "mode-hopping"),
    ("collapse-ring8-fast-g", "ring8", RING + ["optim.generator.params.lr=0.005",
                                               "optim.discriminator.params.lr=0.0001"], "mode-collapse"),
    ("memorize-50-digits", "digits", ["train.steps=3000", "train.log_every=30", "train.checkpoint_every=0",
                                      "train.sample_every=0", "train.batch_size=50", "data.params.train_limit=50",
                                      "model.discriminator.norm=none", "loss=ns"], "memorization"),
    ("dirac-unregularized", "dirac-gan", ["train.steps=600", "train.log_every=5"], "oscillation"),
    ("wgan-clip-ring8", "ring8", RING + ["loss=wasserstein", "method={name: gan, params: {weight_clip: 0.01}}",
                                        "optim.generator={name: rmsprop, params: {lr: 0.00005}}",
                                        "optim.discriminator={name: rmsprop, params: {lr: 0.00005}}"],
     "mode-dropping"),
    # healthy
    ("healthy-digits", "digits", DIGITS, None),
    ("healthy-digits-seed1", "digits", DIGITS + ["seed=1"], None),
    ("healthy-wgan-gp", "wgan-gp", ["train.steps=800", "train.log_every=10"], None),
    ("healthy-ring8", "ring8", ["train.steps=6000", "train.log_every=50"], None),
    ("healthy-dirac-r1", "dirac-gan", ["train.steps=600", "train.log_every=5",
                                       "penalties=[{name: r1, params: {weight: 1.0}}]"], None),
    ("healthy-digits-hinge-sn", "digits", DIGITS + ["seed=2", "train.ema_decay=0.999"], None),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/bench_doctor")
    ap.add_argument("--only", default="", help="comma-separated run names")
    ap.add_argument("--seed", type=int, default=0, help="added to every run's seed (a fresh set of runs)")
    a = ap.parse_args()
    import ganscape
    from ganscape.config import load_config
    from ganscape.probes.doctor_run import examine
    from ganscape.train.loop import RunFailed
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    only = {s for s in a.only.split(",") if s}
    rows = []
    for name, preset, overrides, intended in RUNS:
        if only and name not in only:
            continue
        run = out / name
        if not (run / "doctor.json").exists():
            cfg = load_config(preset, overrides=overrides + ["train.doctor=true", "train.progress=false",
                                                               f"name={name}"])
            cfg = replace(cfg, seed=cfg.seed + a.seed)
            t0 = time.perf_counter()
            try:
                ganscape.train(cfg, run_dir=run)
            except RunFailed as e:
                print(f"{name}: {e}")
            print(f"{name}: trained in {time.perf_counter() - t0:.0f} s", flush=True)
        # judged again from the recorded stats and checks: the rules as they are now
        found = [f.to_json() for f in examine(run)]
        status = json.loads((run / "status.json").read_text())
        kinds = [f["finding"] + (f"({f['net']})" if f.get("net") else "") for f in found]
        names = [f["finding"] for f in found]
        first = {f["finding"]: f["step"] for f in found}
        if intended is None:
            verdict = "ok (silent)" if not found else "FALSE ALARM"
        elif intended in names:
            verdict = "named" + (" (+ other)" if len(set(names)) > 1 else "")
        else:
            verdict = "MISSED" if not found else "named otherwise"
        when = f"{first[intended]}/{status.get('step')}" if intended in first else f"-/{status.get('step')}"
        rows.append((name, intended or "healthy", ", ".join(kinds) or "[]", when, verdict))
    lines = [f"{'run':24s} {'built to show':15s} {'doctor says':44s} {'step/final':>11s}  verdict"]
    lines += [f"{r[0]:24s} {r[1]:15s} {r[2]:44s} {r[3]:>11s}  {r[4]}" for r in rows]
    text = "\n".join(lines)
    print(text)
    (out / "table.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
