"""Mode coverage on the PacGAN 2-D benchmarks: ring-8 and grid-25 with the
recommended presets over several seeds, printing mean modes captured, the
high-quality fraction and reverse KL next to the published GAN and PacGAN4
figures (Lin et al. 2018, Table 1; 10 trials, 2500 samples each).

    python benchmarks/bench_mode_coverage.py [--seeds 10] [--steps N] [--jobs 2]
    python benchmarks/bench_mode_coverage.py --set model.discriminator.pack=1   # plain GAN

Packing follows the PacGAN code (pack_mode "paper"): with batch_size 256 and
pack 4 the discriminator scores 256 packed inputs, 1024 real and 1024 fake
examples per step.

Goal: at least PacGAN4's 7.8 (ring) and 24.8 (grid) modes with >= 90% HQ.
"""
from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

import ganscape
from ganscape.config import load_config
from ganscape.train import rundir

PUBLISHED = {  # modes, HQ %, reverse KL
    "ring8": {"GAN": (6.3, 98.2, 0.45), "PacGAN4": (7.8, 95.9, 0.07)},
    "grid25": {"GAN": (17.3, 94.8, 0.70), "PacGAN4": (24.8, 93.6, 0.04)},
}


def one_run(args):
    preset, seed, overrides = args
    import torch
    torch.set_num_threads(1)  # one process per core
    with tempfile.TemporaryDirectory() as tmp:
        run = ganscape.train(preset, overrides=[f"seed={seed}", "train.progress=false", "train.sample_every=0",
                                                *overrides], run_dir=Path(tmp) / "run")
        return rundir.read_status(run)["mode_coverage"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=0, help="override train.steps (0: the preset's)")
    ap.add_argument("--presets", default="ring8,grid25")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--jobs", type=int, default=2, help="runs in parallel, one thread each")
    a = ap.parse_args()
    over = list(a.overrides) + ([f"train.steps={a.steps}"] if a.steps else [])
    for preset in a.presets.split(","):
        t0 = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(a.jobs) as pool:
            rows = pool.map(one_run, [(preset, seed, over) for seed in range(a.seeds)], chunksize=1)
        for seed, m in enumerate(rows):
            print(f"  {preset} seed {seed}: modes {m['modes_captured']}, HQ {100 * m['hq_fraction']:.1f}%, "
                  f"rKL {m['reverse_kl']:.3f}", flush=True)
        modes = statistics.mean(r["modes_captured"] for r in rows)
        hq = 100 * statistics.mean(r["hq_fraction"] for r in rows)
        rkl = statistics.mean(float(r["reverse_kl"]) for r in rows)
        cfg = load_config(preset, None, over)
        d = cfg.model.discriminator
        print(f"{preset}: {a.seeds} seeds, {time.perf_counter() - t0:.0f} s; batch {cfg.train.batch_size}, "
              f"pack {d.pack} ({d.pack_mode}): D sees {cfg.real_batch_size // d.pack} inputs of {d.pack} "
              f"example(s) per step")
        print(f"  {'':10s} {'modes':>6s} {'HQ %':>6s} {'rKL':>6s}")
        print(f"  {'ganscape':10s} {modes:6.1f} {hq:6.1f} {rkl:6.3f}")
        for name, (pm, ph, pk) in PUBLISHED[preset].items():
            print(f"  {name:10s} {pm:6.1f} {ph:6.1f} {pk:6.2f}   (published)")


if __name__ == "__main__":
    main()
