"""The landscape study runner's figures (issue 8):

- landscape: the normalization-and-penalty study (norm-penalty-digits) with
  the random sampler, its conclusions printed next to Kurach et al. 2019's
  (NS is stable; SN and GP help; SN is cheaper per budget);
- throughput: trials per hour with 1 and 2 workers (goal: >= 1.8x) and the
  runner's overhead per trial against the same trial with `ganscape train`
  (goal: <= 5%), on identical short trials, in one process tree;
- samplers: TPE and GP against random search on the narrow loss study:
  trials needed to reach a given FID.

    python benchmarks/bench_study.py [--parts landscape,throughput,samplers] [--out /tmp/ganscape-bench]
                                     [--trials N] [--steps N] [--figure docs/study_budget.png]

Study folders are kept under --out (open them with `ganscape report`).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from ganscape.study import analysis, load_table, run
from ganscape.study.runner import load_optuna_study, read_spec

KURACH = {
    "d_norm": "Kurach et al. 2019: spectral norm helps most and is the cheapest; batch norm in D is unstable; "
              "layer norm is competitive",
    "penalty": "Kurach et al. 2019: the gradient penalty helps (lambda around 1-10), at 2-3x the compute; "
               "DRAGAN is close to GP; L2 does not help",
}


def _summary(out: Path, factors, budgets=(1, 5, 10, 20)) -> None:
    """The landscape table: per level the trials by state, the best and median of the completed ones, and
    the mean best of k settings over the level's pool (failed trials as the study's worst outcome, pruned
    ones as their last value; a k above the pool is left out, "-")."""
    table = load_table(out)
    done = analysis.completed(table)
    print(f"  {len(done)} complete, {sum(r['state'] == 'failed' for r in table)} failed, "
          f"{sum(r['state'] == 'pruned' for r in table)} pruned, {sum(r['state'] == 'running' for r in table)} "
          f"running (left out); best FID {min(r['value'] for r in done):.2f}; worst outcome "
          f"{analysis.worst_outcome(table):.2f} (what a failed trial counts as)")
    for f in factors:
        print(f"  factor {f}: pool = finished trials (complete/failed/pruned); best / median FID of the completed "
              f"ones; budget curve: mean best FID of k settings (n_boot 2000), k capped at the pool")
        vals = analysis.values_per_level(table, f)
        pools = analysis.budget_pools(table, f)
        curves = analysis.budget_curves_per_level(table, f, ks=list(budgets), n_boot=2000, seed=0)
        for level in sorted(pools, key=lambda v: min(vals[v]) if vals[v] else float("inf")):
            v = vals[level]
            c = curves.get(level)
            states = [r["state"] for r in table if r["params"].get(f) == level]
            ks = " ".join(f"k={k}: " + (f"{m:6.2f}" if np.isfinite(m) else "     -")
                          for k, m in zip(c["k"], c["mean"])) if c else "(no pool)"
            best = f"best {min(v):7.2f} median {statistics.median(v):7.2f}" if v else "no completed trial"
            print(f"    {str(level):10s} pool {len(pools[level]):2d} ({states.count('complete')}/"
                  f"{states.count('failed')}/{states.count('pruned')}) {best}   {ks}")
        if f in KURACH:
            print(f"    published: {KURACH[f]}")
    study = load_optuna_study(out, read_spec(out))
    imp = analysis.importance(study)
    print("  fANOVA importance: " + (", ".join(f"{k} {v:.2f}" for k, v in imp.items()) if imp else
                                     getattr(imp, "reason", "")))
    per_trial = [r["seconds"] for r in table if r["seconds"]]
    if per_trial:
        print(f"  seconds per trial: median {statistics.median(per_trial):.1f}")


def budget_figure(out: Path, factors, path: Path) -> None:
    """The README's budget figure: one panel per factor, the report's budget plot (k capped at each pool,
    the band the spread of best-of-k outcomes)."""
    import base64

    from ganscape.study import report as R
    table = load_table(out)
    parts = [R._budget_plot(analysis.budget_curves_per_level(table, f, n_boot=2000, seed=0), f, "FID",
                            "minimize", 0.95) for f in factors]
    from PIL import Image
    import io
    images = [Image.open(io.BytesIO(base64.b64decode(u.split(",", 1)[1]))).convert("RGB") for u in parts]
    canvas = Image.new("RGB", (sum(i.width for i in images), max(i.height for i in images)), "white")
    x = 0
    for i in images:
        canvas.paste(i, (x, 0))
        x += i.width
    canvas.save(path)
    print(f"  wrote {path}")


def part_landscape(a) -> None:
    out = Path(a.out) / "norm-penalty-digits"
    t0 = time.perf_counter()
    over = [f"train.steps={a.steps}"] if a.steps else []
    run("norm-penalty-digits", out, workers=a.workers, trials=a.trials or None, overrides=over, progress=False)
    print(f"\nnormalization x penalty study on digits (NS loss, random search): {time.perf_counter() - t0:.0f} s, "
          f"{a.workers} workers; study folder {out}")
    _summary(out, ["d_norm", "penalty"])
    if a.figure:
        budget_figure(out, ["d_norm", "penalty"], Path(a.figure))


THROUGHPUT_SET = ["train.steps=600", "train.sample_every=0", "train.log_every=100"]


def part_throughput(a) -> None:
    import tempfile

    import ganscape
    spec = Path(a.out) / "throughput.yaml"
    spec.write_text(
        "name: throughput\ndescription: identical short trials\nbase: digits\n"
        "space:\n  loss: {key: loss.name, choices: [ns]}\n"
        "sampler: random\ntrials: 8\nobjective: {metric: fid, n: 1000, every: 0}\n")
    rates = {}
    for workers in (1, 2):
        out = Path(a.out) / f"throughput-{workers}w"
        t0 = time.perf_counter()
        run(spec, out, workers=workers, threads=1, overrides=THROUGHPUT_SET, progress=False)
        wall = time.perf_counter() - t0
        rates[workers] = 8 / wall * 3600
        secs = [r["seconds"] for r in load_table(out)]
        print(f"  {workers} worker(s): 8 trials in {wall:.1f} s = {rates[workers]:.0f} trials/hour "
              f"(median trial {statistics.median(secs):.2f} s)")
    print(f"  scaling 2 workers / 1 worker: {rates[2] / rates[1]:.2f}x (goal >= 1.8x; 2 cores)")
    # the runner's overhead per trial: its trial time against `ganscape train` of the same config, one thread
    import torch
    torch.set_num_threads(1)
    plain = []
    for i in range(3):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            ganscape.train("digits", overrides=THROUGHPUT_SET + ["loss=ns", "train.progress=false",
                                                                 "eval.metrics=[fid]", "eval.n=1000"],
                           run_dir=Path(tmp) / "r")
            plain.append(time.perf_counter() - t0)
    one = Path(a.out) / "throughput-1w"
    study_trial = statistics.median(r["seconds"] for r in load_table(one))
    wall_per_trial = 3600 / rates[1]
    p = statistics.median(plain)
    print(f"  ganscape train of the same trial: median {p:.2f} s; in the study: {study_trial:.2f} s training, "
          f"{wall_per_trial:.2f} s of wall-clock per trial with 1 worker")
    print(f"  runner overhead per trial: {100 * (wall_per_trial / p - 1):+.1f}% of wall-clock (goal <= 5%; includes "
          f"the worker's start-up and Optuna's storage, spread over 8 trials)")


def part_samplers(a) -> None:
    results = {}
    target = None
    for sampler in ("random", "tpe", "gp"):
        spec_text = (Path(__file__).resolve().parent.parent / "src/ganscape/studies/loss-digits.yaml").read_text()
        spec_text = spec_text.replace("name: loss-digits", f"name: sampler-{sampler}").replace(
            "sampler: {name: random, seed: 0}", f"sampler: {{name: {sampler}, seed: 0}}")
        spec = Path(a.out) / f"sampler-{sampler}.yaml"
        spec.write_text(spec_text)
        out = Path(a.out) / f"sampler-{sampler}"
        t0 = time.perf_counter()
        run(spec, out, workers=a.workers, trials=a.sampler_trials, progress=False,
            overrides=[f"train.steps={a.sampler_steps}", "eval.every=0"] if a.sampler_steps else [])
        table = sorted(load_table(out), key=lambda r: r["number"])
        vals = [r["value"] if r["value"] is not None else np.inf for r in table]
        results[sampler] = np.minimum.accumulate(vals)
        print(f"  {sampler:6s}: {len(vals)} trials in {time.perf_counter() - t0:.0f} s, best FID {min(vals):.2f}")
    # the target: the best FID random search reaches in its first half
    r = results["random"]
    target = float(r[len(r) // 2 - 1])
    print(f"  trials needed to reach FID <= {target:.2f} (random search's best after {len(r) // 2} trials):")
    for sampler, best in results.items():
        hit = np.nonzero(best <= target)[0]
        print(f"    {sampler:6s}: {int(hit[0]) + 1 if len(hit) else 'not reached'}; best-so-far at 5/10/all: "
              + " / ".join(f"{best[min(k, len(best)) - 1]:.2f}" for k in (5, 10, len(best))))


PARTS = {"landscape": part_landscape, "throughput": part_throughput, "samplers": part_samplers}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="landscape,throughput,samplers")
    ap.add_argument("--out", default="/tmp/ganscape-bench")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--trials", type=int, default=0, help="landscape trials (0: the spec's 60)")
    ap.add_argument("--steps", type=int, default=0, help="landscape steps per trial (0: the spec's 2000)")
    ap.add_argument("--figure", default="", help="landscape: also write the budget figure here "
                                                 "(the README's docs/study_budget.png)")
    ap.add_argument("--sampler-trials", type=int, default=20)
    ap.add_argument("--sampler-steps", type=int, default=1000)
    a = ap.parse_args()
    for part in a.parts.split(","):
        if part not in PARTS:
            ap.error(f"--parts: unknown part {part!r}; choose from {', '.join(PARTS)}")
    Path(a.out).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    for part in a.parts.split(","):
        print(f"\n== {part}", flush=True)
        PARTS[part](a)


if __name__ == "__main__":
    main()
