"""Benchmark (d) of issue 21: does OT-GAN use large batches better than the others? OT-GAN
(preset otgan-digits), the non-saturating GAN (preset digits with loss ns) and WGAN-GP (preset
wgan-gp) on 8x8 digits at batch sizes 64 ... 1024, every run reading the same number of real examples
from the data (train.steps = examples / (n_disc x batch): OT-GAN reads two real batches per iteration,
WGAN-GP five per generator step), each recipe with its preset's learning rate at every batch size (no
scaling rule), no EMA (the large-batch runs are a few dozen steps long: an EMA of decay 0.99 would
still remember the initial generator), FID (digits-cnn, n = 1000, against the training split) every
quarter of the run. Prints a table and writes a figure of final FID against batch size.

    python benchmarks/bench_otgan.py --out /tmp/bench_otgan --txt docs/bench_otgan.txt --png docs/otgan_batch.png
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import ganscape
from ganscape.train import rundir

RECIPES = {   # name: (preset, overrides, real batches per step)
    "OT-GAN": ("otgan-digits", [], 2),
    "NS": ("digits", ["loss=ns"], 1),
    "WGAN-GP": ("wgan-gp", [], 5),
}


def run(recipe: str, batch: int, examples: int, seed: int, root: Path) -> dict:
    preset, extra, n_disc = RECIPES[recipe]
    steps = max(4, examples // (n_disc * batch))
    over = [*extra, f"seed={seed}", f"train.batch_size={batch}", f"train.steps={steps}", "train.ema_decay=0.0",
            "train.progress=false", "train.sample_every=0", "train.checkpoint_every=0",
            f"train.latest_every={steps}", f"train.log_every={max(1, steps // 20)}", "eval.metrics=[fid]",
            "eval.n=1000", f"eval.every={max(1, steps // 4)}"]
    folder = root / f"{recipe.lower()}-b{batch}-s{seed}"
    t0 = time.perf_counter()
    path = ganscape.train(preset, overrides=over, run_dir=folder, progress=False)
    seconds = time.perf_counter() - t0
    curve = [(r["step"] * n_disc * batch, r["results"]["fid"]) for r in rundir.read_jsonl(path / rundir.METRICS)
             if r.get("source") == "train" and "fid" in r.get("results", {})]
    return {"recipe": recipe, "batch": batch, "seed": seed, "steps": steps, "n_disc": n_disc,
            "curve": curve, "fid": curve[-1][1], "seconds": seconds, "run": str(path)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder for the runs")
    ap.add_argument("--examples", type=int, default=128_000, help="real examples each run reads")
    ap.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    ap.add_argument("--txt", help="write the table here")
    ap.add_argument("--png", help="write the figure here")
    ap.add_argument("--replot", action="store_true", help="no training: table and figure from OUT/results.json")
    a = ap.parse_args()
    root = Path(a.out)
    root.mkdir(parents=True, exist_ok=True)
    if a.replot:
        rows = json.loads((root / "results.json").read_text())
    else:
        from tqdm.auto import tqdm
        jobs = [(r, b, s) for r in a.recipes for b in a.batches for s in a.seeds]
        rows = []
        for r, b, s in tqdm(jobs, desc="runs", unit="run"):
            rows.append(run(r, b, a.examples, s, root))
            (root / "results.json").write_text(json.dumps(rows, indent=1))
    lines = [f"FID (digits-cnn, n = 1000, train split) after {a.examples:,} real examples; "
             f"seeds {a.seeds}; mean [per seed]",
             "| recipe | " + " | ".join(f"batch {b}" for b in a.batches) + " |",
             "|---|" + "---|" * len(a.batches)]
    for r in a.recipes:
        cells = []
        for b in a.batches:
            f = [x["fid"] for x in rows if x["recipe"] == r and x["batch"] == b]
            cells.append(f"{np.mean(f):.1f} [{', '.join(f'{v:.1f}' for v in f)}]")
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    lines += ["", "per run: steps (Algorithm 1 iterations for OT-GAN, of which the critic's are every 4th), "
              "generator updates, wall seconds (training and evaluation, 2 shared CPU cores), "
              "FID by real examples seen"]
    for x in rows:
        g = x["steps"] - x["steps"] // 4 if x["recipe"] == "OT-GAN" else x["steps"]
        lines.append(f"{x['recipe']} batch {x['batch']} seed {x['seed']}: {x['steps']} steps x {x['n_disc']} real "
                     f"batches, {g} G updates, {x['seconds']:.0f} s; "
                     + " ".join(f"{e}:{v:.1f}" for e, v in x["curve"]))
    text = "\n".join(lines)
    print(text)
    if a.txt:
        Path(a.txt).write_text(text + "\n")
    if a.png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, (ax, cx) = plt.subplots(1, 2, figsize=(11, 4))
        for r, col in zip(a.recipes, ("C3", "C0", "C2")):
            m = [np.mean([x["fid"] for x in rows if x["recipe"] == r and x["batch"] == b]) for b in a.batches]
            ax.plot(a.batches, m, marker="o", color=col, label=r)
            for b, ls in ((min(a.batches), "-"), (max(a.batches), "--")):   # the two ends: a readable panel
                for x in rows:
                    if x["recipe"] == r and x["batch"] == b and x["seed"] == a.seeds[0]:
                        e, f = zip(*x["curve"])
                        cx.plot(e, f, ls=ls, color=col, marker=".", label=f"{r}, batch {b}")
        ax.set_xscale("log", base=2); ax.set_xticks(a.batches); ax.set_xticklabels([str(b) for b in a.batches])
        ax.set_yscale("log"); ax.set_xlabel("batch size"); ax.set_ylabel(f"FID after {a.examples:,} real examples")
        ax.set_title("digits: FID against batch size at a fixed data budget"); ax.legend()
        cx.set_yscale("log"); cx.set_xlabel("real examples seen"); cx.set_ylabel("FID")
        cx.set_title(f"FID over training (seed {a.seeds[0]})"); cx.legend(fontsize=6, ncol=2)
        fig.tight_layout(); fig.savefig(a.png, dpi=110)


if __name__ == "__main__":
    main()
