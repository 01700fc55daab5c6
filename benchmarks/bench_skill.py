"""Benchmark (b) of issue 20: skill rating (Olsson et al. 2018) against FID on digits.

1. Progress: 3 digits runs (seeds 0, 1, 2) checkpointed and scored by digits-FID every 200 steps; each
   run's checkpoints play a tournament (`ganscape tournament RUN`) and the Spearman rank correlation
   between G's rating and its FID (negated: a better G has a higher rating and a lower FID) is printed.
2. Comparison: 5 runs of different quality (the same preset stopped at 100, 300, 800, 1500 and 3000
   steps) play one tournament together, their final generators' ratings against their final FIDs.

    python benchmarks/bench_skill.py --out /tmp/bench_skill        # about 10 CPU-minutes

Writes OUT/table.txt (also printed) and the tournaments' ratings.png.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

COMMON = ["train.progress=false", "train.sample_every=0", "eval.metrics=[fid]", "eval.n=1000"]


def train(out: Path, name: str, overrides):
    import ganscape
    from ganscape.config import load_config
    run = out / name
    if not (run / "status.json").exists() or json.loads((run / "status.json").read_text())["status"] != "completed":
        ganscape.train(load_config("digits", overrides=COMMON + overrides + [f"name={name}"]), run_dir=run)
    return run


def tournament(runs, out: Path, n: int = 256, games: int = 3):
    from ganscape.cli import main
    out.mkdir(parents=True, exist_ok=True)
    assert main(["tournament", *map(str, runs), "--n", str(n), "--games", str(games), "--max-per-run", "20",
                 "--out", str(out)]) == 0
    return json.loads((out / "tournament.json").read_text())


def fid_at(run: Path):
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["results"]["fid"] for r in recs if "fid" in r.get("results", {})}


def main_() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="/tmp/bench_skill")
    a = ap.parse_args()
    out = Path(a.out)
    lines = ["1. progress: G's rating vs digits-FID over each run's checkpoints (every 200 of 2000 steps)",
             f"{'run':10s} {'checkpoints':>11s} {'Spearman(rating, -FID)':>23s}   ratings / FIDs"]
    for seed in (0, 1, 2):
        run = train(out, f"seed{seed}", [f"seed={seed}", "train.steps=2000", "train.checkpoint_every=200",
                                         "eval.every=200"])
        t = tournament([run], out / f"tour-seed{seed}")
        fids = fid_at(run)
        rows = [(p["step"], p["g_rating"], fids.get(p["step"])) for p in t["players"] if p["step"] in fids]
        rho = spearmanr([r[1] for r in rows], [-r[2] for r in rows]).statistic
        lines.append(f"{run.name:10s} {len(rows):11d} {rho:23.2f}   "
                     + " ".join(f"{r[1]:.0f}/{r[2]:.0f}" for r in rows))
    lines += ["", "2. comparison: 5 runs stopped at different steps, one tournament of their final checkpoints",
              f"{'run':10s} {'rating':>8s} {'FID':>8s}"]
    runs = [train(out, f"steps{k}", ["seed=3", f"train.steps={k}", "train.checkpoint_every=0", "eval.every=0"])
            for k in (100, 300, 800, 1500, 3000)]
    t = tournament(runs, out / "tour-quality", games=3)
    pts = []
    for run in runs:
        p = [q for q in t["players"] if q["run"] == run.name][-1]
        f = fid_at(run)[max(fid_at(run))]
        pts.append((p["g_rating"], f))
        lines.append(f"{run.name:10s} {p['g_rating']:8.0f} {f:8.1f}")
    rho = spearmanr([p[0] for p in pts], [-p[1] for p in pts]).statistic
    lines.append(f"Spearman(rating, -FID) across the 5 runs: {rho:.2f}")
    text = "\n".join(lines)
    print(text)
    (out / "table.txt").write_text(text + "\n")
    np.save(out / "points.npy", np.asarray(pts))


if __name__ == "__main__":
    main_()
