"""Evaluation benchmarks on the embedded digits.

    python benchmarks/bench_eval.py [--run RUN_DIR] [--steps N]

(b) full evaluation (FID, KID, IS, precision/recall, density/coverage) of a
    digits run with 10k generated samples, timed;
(c) digits-FID scale: held-out real digits (test split) vs the training split,
    the run's generator, and uniform noise, all at equal n (the test split's
    300) so that bias in n does not favour any of them; and the run at n=10k.
Without --run, the default preset is trained first (as `make demo` does).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

import ganscape
from ganscape.metrics.cache import FeatureCache
from ganscape.metrics.evaluate import evaluate_arrays, generate, reference_images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", help="a trained digits run folder")
    ap.add_argument("--steps", type=int, default=0, help="train.steps when training (0: the preset's)")
    ap.add_argument("--n", type=int, default=10000)
    a = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    run = a.run
    if run is None:
        over = ["train.progress=false"] + ([f"train.steps={a.steps}"] if a.steps else [])
        t0 = time.perf_counter()
        run = ganscape.train("digits", overrides=over, out=tmp.name)
        print(f"trained the digits preset in {time.perf_counter() - t0:.0f} s -> {run}")
    cfg = ganscape.load_run(run)
    params = dict(cfg.data.params)
    train, ref, _ = reference_images("digits", params, "train", None)
    test, _, _ = reference_images("digits", params, "test", None)
    G = ganscape.load_generator(run)
    cache = FeatureCache(Path(tmp.name) / "cache")

    t0 = time.perf_counter()
    fake = generate(G, a.n, seed=0)
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    full = evaluate_arrays(fake, train, ["fid", "kid", "is", "prdc"], reference=ref, cache=cache,
                          value_range="11")
    t_eval = time.perf_counter() - t0
    print(f"\n(b) full evaluation of {a.n} samples vs {len(train)} training digits "
          f"(torch threads {torch.get_num_threads()}):")
    print(f"    sampling {t_gen:.2f} s, features + FID + KID + IS + PRDC {t_eval:.2f} s (reference features uncached)")
    for k, v in full["results"].items():
        print(f"    {k:<10s} {v:.4f}")

    n = len(test)
    noise = torch.rand(n, *test.shape[1:], generator=torch.Generator().manual_seed(0)) * 2 - 1
    rows = [("held-out real digits (test split)", test), (f"generator ({Path(run).name})", fake[:n]),
            ("uniform noise", noise)]
    print(f"\n(c) digits-FID against the {len(train)} training digits, each at n = {n}:")
    base = None
    for name, x in rows:
        fid = evaluate_arrays(x, train, ["fid"], reference=ref, cache=cache, value_range="11")["results"]["fid"]
        base = base or fid
        print(f"    {name:<36s} {fid:8.2f}   ({fid / base:.2f}x held-out)")
    print(f"    generator at n = {a.n}: {full['results']['fid']:.2f}")


if __name__ == "__main__":
    main()
