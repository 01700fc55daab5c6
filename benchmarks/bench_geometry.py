"""Benchmark (c) of issue 20: the Geometry Score (Khrulkov & Oseledets 2018)
on ring-8, grid-25 and digits, real data against good and collapsed samplers.

    python benchmarks/bench_geometry.py                       # trains 2 short runs; ~5 CPU-minutes
    python benchmarks/bench_geometry.py --runs /tmp/geo       # keeps the runs there (reused when present)
    python benchmarks/bench_geometry.py --table docs/bench_geometry.txt --figure docs/geometry_rlt.png

What is scored (each against the real training data, the score is squared
L2 between mean RLTs, lower = closer; `mode` = the loop count the mean RLT
peaks at):

- ring-8 and grid-25 (2-D points, scored on the points themselves):
  * constructed samplers: a fresh draw of the same mixture (an ideal
    generator), a collapsed one (the mixture restricted to 3 adjacent ring
    modes / the 3 x 3 corner block of the grid), and a "smeared" one (no
    modes: uniform on the circle / on the grid's lines: what a generator
    that has learnt the support's outline but not its modes draws);
  * the engine: the ring8 preset trained for --ring-steps steps (PacGAN4),
    its generator at the first kept checkpoint (early) and at the end.
    No grid-25 run: the preset needs ~50k steps (minutes per thousand on
    2 busy cores) to split its lines into modes.
- digits (digits-cnn features, 300 a set: the test split's size): the 300
  held-out real digits (the noise floor), the digits preset trained for
  --digits-steps steps, the same run's checkpoint at step 100, and
  constructed collapses: a sampler that draws held-out digits of classes
  0-4 only (or of class 1 only), each draw with fresh pixel noise (sigma
  0.05 of the [-1, 1] range) so that no two samples coincide.

Parameters (printed with the table): 2-D: 1000 points a set, 20 landmark
draws; ring-8: 32 landmarks, gamma 1/2 (the scale at which the ring's 8
blobs join into a loop lies near 0.38 of the largest distance; the official
default 1/128 * N / 5000 = 1/640 here only sees the witness complex's noise
inside the blobs, also printed); grid-25: 128 landmarks (about 5 a blob;
also printed with 32, about 1 a blob, where a blob's witnesses tie its one
landmark to the neighbouring blobs' at scale 0 and the grid shows spurious
loops, while 32 landmarks along the lines, 2.5 apart, cannot resolve the
2-wide cells), gamma 1/8. 2-D rows also give the PacGAN mode coverage
(modes captured, high-quality share). Digits:
300 points a set, 64 landmarks, 50 draws, the official default gamma
(1/2133 at 300 points) and 1/32.
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import ganscape
from ganscape.data.synthetic import GRID25_SIGMA, RING8_SIGMA, grid25_centers, ring8_centers
from ganscape.metrics.geometry_score import geometry_score, plot_mrlts

N_2D, L_2D, DRAWS_2D = 1000, 32, 20
L_GRID = 128   # ~5 landmarks a blob: with 32 (about 1 a blob) the blobs are tied to their neighbours at scale 0
N_DIGITS, L_DIGITS, DRAWS_DIGITS = 300, 64, 50


def mixture(centers: np.ndarray, sigma: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return centers[rng.integers(0, len(centers), n)] + sigma * rng.standard_normal((n, 2))


def smeared_ring(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, 2 * math.pi, n)
    return np.c_[np.cos(t), np.sin(t)] + RING8_SIGMA * rng.standard_normal((n, 2))


def grid_lines(n: int, seed: int) -> np.ndarray:
    """Uniform on the 10 lines x = c and y = c, c in {-4, -2, 0, 2, 4}, between -4 and 4."""
    rng = np.random.default_rng(seed)
    c = rng.choice([-4.0, -2.0, 0.0, 2.0, 4.0], n)
    u = rng.uniform(-4, 4, n)
    vertical = rng.random(n) < 0.5
    x = np.where(vertical, c, u)
    y = np.where(vertical, u, c)
    return np.c_[x, y] + GRID25_SIGMA * rng.standard_normal((n, 2))


def train_run(preset: str, root: Path, steps: int, extra=()) -> Path:
    """The run folder root/preset, trained unless it already holds a finished run."""
    run = root / preset
    if (run / "checkpoints" / "latest.pt").exists():
        print(f"  reusing {run} (not trained again)", flush=True)
        return run
    t0 = time.perf_counter()
    ganscape.train(preset, overrides=["train.progress=false", "train.sample_every=0", f"train.steps={steps}",
                                      "train.checkpoint_every=100", "eval.metrics=[]", *extra], run_dir=run)
    print(f"  trained {preset} for {steps} steps in {time.perf_counter() - t0:.0f} s -> {run}", flush=True)
    return run


def samples(run: Path, checkpoint: str, n: int, seed: int = 0) -> torch.Tensor:
    G = ganscape.load_generator(run, checkpoint)
    from ganscape.metrics.evaluate import generate
    return generate(G, n, seed)


def score_rows(data: str, real: np.ndarray, others, gamma, n_landmarks: int, draws: int, rows: list,
               curves: dict, info=None) -> None:
    for name, pts in others:
        t0 = time.perf_counter()
        out = geometry_score(real, pts, n_landmarks=n_landmarks, gamma=gamma, i_max=100, n=draws,
                             n_points=N_2D if data != "digits" else N_DIGITS, seed=0)
        g = "1/128*N/5000" if gamma is None else f"1/{round(1 / gamma)}"
        g += f", L {n_landmarks}"
        rows.append((data, name, g, out["geometry_score"], out["mode_real"], out["mode_fake"],
                     float(out["mrlt_fake"][1]), time.perf_counter() - t0))
        curves.setdefault((data, g), {"real": out["mrlt_real"]})[name] = out["mrlt_fake"]
        if info is not None:  # the PacGAN mode counts of 2-D samples, for comparison
            from ganscape.metrics.mode_coverage import mode_coverage
            mc = mode_coverage(pts, *info)
            rows[-1] += (f"{mc['modes_captured']}/{mc['num_modes']} modes, HQ {100 * mc['hq_fraction']:.0f}%",)
        r = rows[-1]
        print(f"  {r[0]:8s} {r[1]:34s} gamma {r[2]:12s} GS {r[3]:.4f}  mode real {r[4]} / this {r[5]}"
              f"  RLT(1) {r[6]:.2f}  ({r[7]:.0f} s)  {r[8] if len(r) > 8 else ''}", flush=True)


def collapsed_digits(images: torch.Tensor, keep: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n draws from the images where `keep`, with replacement, each with fresh pixel noise (a collapsed G)."""
    g = torch.Generator().manual_seed(seed)
    pool = images[keep]
    idx = torch.randint(0, len(pool), (n,), generator=g)
    return (pool[idx] + 0.05 * torch.randn(pool[idx].shape, generator=g)).clamp(-1, 1)


def digits_features(images: torch.Tensor) -> np.ndarray:
    from ganscape.metrics.evaluate import build_extractor
    from ganscape.metrics.features.base import extract
    ext = build_extractor(None, None, "digits")
    with torch.no_grad():
        return np.asarray(extract(ext, images, 256).features, dtype=np.float64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="", help="folder for the trained runs (reused when present); default: a temp dir")
    ap.add_argument("--ring-steps", type=int, default=1000)
    ap.add_argument("--digits-steps", type=int, default=1500)
    ap.add_argument("--table", default="", help="also write the printed table here")
    ap.add_argument("--figure", default="", help="mean-RLT histograms (real vs good vs collapsed), PNG")
    a = ap.parse_args()
    torch.set_num_threads(1)
    root = Path(a.runs) if a.runs else Path(tempfile.mkdtemp(prefix="bench_geometry_"))
    t_start = time.perf_counter()
    rows, curves = [], {}
    t_train = time.perf_counter()

    print("training", flush=True)
    ring_run = train_run("ring8", root, a.ring_steps)
    digits_run = train_run("digits", root, a.digits_steps)
    t_train = time.perf_counter() - t_train

    print("ring-8", flush=True)
    R = ring8_centers()
    real = mixture(R, RING8_SIGMA, N_2D, 0)
    ring = [("fresh draw (ideal G)", mixture(R, RING8_SIGMA, N_2D, 1)),
            ("collapsed: 3 of 8 modes", mixture(R[:3], RING8_SIGMA, N_2D, 2)),
            ("smeared: uniform on the circle", smeared_ring(N_2D, 3)),
            ("engine G, step 100", samples(ring_run, "100", N_2D).numpy()),
            (f"engine G, step {a.ring_steps}", samples(ring_run, "latest", N_2D).numpy())]
    score_rows("ring-8", real, ring, 1 / 2, L_2D, DRAWS_2D, rows, curves, (R, RING8_SIGMA))
    score_rows("ring-8", real, ring[:3], None, L_2D, DRAWS_2D, rows, curves)

    print("grid-25", flush=True)
    C = grid25_centers()
    corner = C[(np.abs(C[:, 0] + 2) <= 2) & (np.abs(C[:, 1] + 2) <= 2)]   # the 3 x 3 block at (-4..0)^2
    real = mixture(C, GRID25_SIGMA, N_2D, 0)
    grid = [("fresh draw (ideal G)", mixture(C, GRID25_SIGMA, N_2D, 1)),
            ("collapsed: 9 of 25 modes", mixture(corner, GRID25_SIGMA, N_2D, 2)),
            ("smeared: uniform on the lines", grid_lines(N_2D, 3))]
    score_rows("grid-25", real, grid, 1 / 8, L_GRID, DRAWS_2D, rows, curves, (C, GRID25_SIGMA))
    score_rows("grid-25", real, grid, 1 / 8, L_2D, DRAWS_2D, rows, curves)   # too few landmarks: see L_GRID

    print("digits", flush=True)
    from ganscape.metrics.evaluate import reference_images
    train_x, _, train_ds = reference_images("digits", {"size": 8}, "train", None)
    test_x, _, test_ds = reference_images("digits", {"size": 8}, "test", None)
    real = digits_features(train_x)
    y = test_ds.y.numpy()
    dig = [("held-out real digits", digits_features(test_x)),
           ("engine G, step 100", digits_features(samples(digits_run, "100", N_DIGITS))),
           (f"engine G, step {a.digits_steps}", digits_features(samples(digits_run, "latest", N_DIGITS))),
           ("collapsed: real digits 0-4", digits_features(collapsed_digits(test_x, torch.from_numpy(y < 5),
                                                                           N_DIGITS, 4))),
           ("collapsed: real digits of class 1", digits_features(collapsed_digits(test_x, torch.from_numpy(y == 1),
                                                                                  N_DIGITS, 5)))]
    score_rows("digits", real, dig, None, L_DIGITS, DRAWS_DIGITS, rows, curves)
    score_rows("digits", real, dig, 1 / 32, L_DIGITS, DRAWS_DIGITS, rows, curves)   # a 4x wider range of scales

    lines = ["Geometry Score (squared L2 between mean RLTs; lower = closer to the real set), "
             "benchmarks/bench_geometry.py",
             f"2-D: {N_2D} points a set, {DRAWS_2D} draws (landmarks L on each row); digits (digits-cnn features): "
             f"{N_DIGITS} points a set, {L_DIGITS} landmarks, "
             f"{DRAWS_DIGITS} draws; i_max 100; seed 0",
             f"engine runs: ring8 preset {a.ring_steps} steps, digits preset {a.digits_steps} steps "
             f"(checkpoint every 100)",
             "",
             f"{'data':8s} {'compared with the real set':34s} {'gamma, landmarks':19s} {'GS':>7s} {'mode real':>9s} "
             f"{'mode this':>9s} {'RLT(1)':>6s}  mode coverage (2-D)"]
    for r in rows:
        lines.append(f"{r[0]:8s} {r[1]:34s} {r[2]:19s} {r[3]:7.4f} {r[4]:9d} {r[5]:9d} {r[6]:6.2f}  "
                     f"{r[8] if len(r) > 8 else ''}".rstrip())
    lines.append(f"\ntotal {time.perf_counter() - t_start:.0f} s, of which {t_train:.0f} s training "
                 f"(0 when --runs held the runs already)")
    text = "\n".join(lines)
    print("\n" + text)
    if a.table:
        Path(a.table).write_text(text + "\n")
    if a.figure:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        panels = [(("ring-8", "1/2, L 32"), ["fresh draw (ideal G)", f"engine G, step {a.ring_steps}",
                                       "collapsed: 3 of 8 modes", "smeared: uniform on the circle"]),
                  (("grid-25", f"1/8, L {L_GRID}"), ["fresh draw (ideal G)", "collapsed: 9 of 25 modes",
                                        "smeared: uniform on the lines"]),
                  (("digits", "1/128*N/5000, L 64"), [f"engine G, step {a.digits_steps}", "engine G, step 100",
                                                "collapsed: real digits of class 1"])]
        fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
        for ax, (key, names) in zip(axes, panels):
            c = curves[key]
            plot_mrlts({"real": c["real"], **{k: c[k] for k in names}}, ax=ax,
                       max_loops=6 if key[0] == "ring-8" else None, title=f"{key[0]} (gamma {key[1]})")
        fig.tight_layout()
        fig.savefig(a.figure, dpi=110)
        print(f"wrote {a.figure}")


if __name__ == "__main__":
    main()
