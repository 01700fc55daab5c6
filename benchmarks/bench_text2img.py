"""Benchmark (a) of issue 21: text-to-image on shapes-captions, attribute accuracy of samples for
held-out captions (combinations never seen in training) and for seen ones.

    python benchmarks/bench_text2img.py                                  # 5 short runs, ~8 CPU-minutes
    python benchmarks/bench_text2img.py --steps 1500 --runs /tmp/t2i     # keeps the runs (reused when present)
    python benchmarks/bench_text2img.py --table docs/bench_text2img.txt --figure docs/text2img_samples.png

Rows (all: preset text2img-shapes (MLP nets, hinge loss) at 16 x 16 pixels, 4000 training images, the same nets, optimizer,
steps and seed; only the recipe's options change):

- gan-cls: the matching-aware D (real image + wrong text scored as fake, weight 1/2 with the fakes);
- no-mismatch: the same without the wrong-text pairs (D sees right-text pairs only: the lecture's
  point that D may then ignore the text);
- gan-cls+int: gan-cls plus GAN-INT (G's term on interpolated text embeddings, beta 0.5, weight 1);
- attributes: the attribute-conditional baseline: the nets are told each caption's attribute vector
  (encoder attributes) instead of reading words, with the matching-aware D;
- cgan-combo: a class-conditional GAN (method cgan, cbn G / projection D) whose classes are the 180
  attribute combinations: a held-out combination's class embedding is never trained, so its held-out
  accuracy is the floor that composition must beat.

Scores: metric caption-accuracy on --n samples drawn for the 180 combinations in turn (the held-out
ones are 36 of them), EMA generator at the last step; `chance` is the accuracy of guessing each
attribute uniformly (1/3, 1/6, 1/2, 1/5; all four: 1/180). The figure shows, for 8 held-out captions
(rows), 8 samples from each run but cgan-combo (columns grouped by run, in the order of the rows above).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import ganscape
from ganscape.api import make_config
from ganscape.config import apply_overrides

ROWS = {
    "gan-cls": ["method.params.mismatch=true", "method.params.interpolate=0.0"],
    "no-mismatch": ["method.params.mismatch=false", "method.params.interpolate=0.0"],
    "gan-cls+int": ["method.params.mismatch=true", "method.params.interpolate=1.0"],
    "attributes": ["method.params.encoder=attributes", "method.params.mismatch=true",
                   "method.params.interpolate=0.0"],
    "cgan-combo": ["method={name: cgan}", "model.generator.cond=cbn", "model.discriminator.cond=projection"],
}
PARTS = ("shape", "colour", "size", "position", "all")
CHANCE = {"shape": 1 / 3, "colour": 1 / 6, "size": 1 / 2, "position": 1 / 5, "all": 1 / 180}


def base(steps: int, seed: int) -> list:
    return ["data.params.size=16", f"train.steps={steps}", f"seed={seed}", "train.sample_every=0",
            f"train.checkpoint_every={steps}", "eval.metrics=[]", "train.log_every=100", "train.ema_decay=0.99"]


def train(name: str, runs: Path, steps: int, seed: int) -> Path:
    run = runs / name
    if (run / "checkpoints" / "latest.pt").exists():
        return run
    cfg = apply_overrides(make_config("text2img-shapes"), base(steps, seed) + ROWS[name])
    ganscape.train(cfg, run_dir=run, progress=True)
    return run


def table(results: dict, steps: int, n: int, seconds: dict) -> str:
    lines = [f"Benchmark (a), issue 21: text-to-image on shapes-captions (16 px), {steps} steps each, batch 64, "
             f"seed 0; caption-accuracy on {n} samples (180 combinations in turn, 36 held out of training)",
             "", "held-out captions (combinations never seen in training):",
             f"{'run':<13}" + "".join(f"{p:>10}" for p in PARTS) + f"{'valid':>8}{'FID':>8}{'train s':>9}"]
    for name, r in results.items():
        fid = r.get("caption_heldout_fid", float("nan"))
        lines.append(f"{name:<13}" + "".join(f"{r[f'caption_heldout_{p}_accuracy']:>10.3f}" for p in PARTS)
                     + f"{r['caption_valid_fraction']:>8.3f}{fid:>8.2f}{seconds.get(name, float('nan')):>9.0f}")
    lines.append(f"{'chance':<13}" + "".join(f"{CHANCE[p]:>10.3f}" for p in PARTS))
    lines += ["", "seen captions (combinations in the training split):",
              f"{'run':<13}" + "".join(f"{p:>10}" for p in PARTS)]
    for name, r in results.items():
        lines.append(f"{name:<13}" + "".join(f"{r[f'caption_seen_{p}_accuracy']:>10.3f}" for p in PARTS))
    lines.append("")
    lines.append("FID: caption_heldout_fid, random-conv features of the held-out samples against the test split's "
                 "real held-out images (few samples: for comparing rows only).")
    return "\n".join(lines) + "\n"


def figure(runs: dict, out: Path, seed: int) -> None:
    from ganscape import viz
    from ganscape.data.captions import CaptionsParams, caption_table
    tab = caption_table(CaptionsParams(), seed)
    held = np.flatnonzero(tab["heldout"])[:8]
    rows = []
    for k in held:
        for name, run in runs.items():
            G = ganscape.load_generator(run)
            g = torch.Generator().manual_seed(int(k))
            with torch.no_grad():
                rows.append(G(torch.randn(8, G.z_dim, generator=g), torch.full((8,), int(k))))
    x = torch.cat(rows)
    viz.save_image_grid(x, out, nrow=8 * len(runs))
    print("figure rows (held-out captions):", *[tab["text"][k][0] for k in held], sep="\n  ")
    print("columns: 8 samples each of", ", ".join(runs))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--n", type=int, default=1800, help="samples scored per run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=Path, default=Path("/tmp/bench_text2img"))
    ap.add_argument("--only", nargs="*", default=list(ROWS), choices=list(ROWS))
    ap.add_argument("--table", type=Path)
    ap.add_argument("--figure", type=Path)
    a = ap.parse_args()
    results, seconds, runs = {}, {}, {}
    for name in a.only:
        t = time.time()
        runs[name] = train(name, a.runs, a.steps, a.seed)
        seconds[name] = time.time() - t
        rec = ganscape.evaluate(runs[name], metrics=["caption-accuracy"], n=a.n, split="test")
        results[name] = rec["results"]
        print(name, f"{seconds[name]:.0f} s", json.dumps({k: round(v, 3) for k, v in rec["results"].items()}))
    text = table(results, a.steps, a.n, seconds)
    print(text)
    if a.table:
        a.table.write_text(text)
    if a.figure:
        figure({k: runs[k] for k in runs if k != "cgan-combo"} if len(runs) > 4 else runs, a.figure, a.seed)


if __name__ == "__main__":
    main()
