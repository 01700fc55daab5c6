"""The label-based recipes on digits over several seeds (mean and spread),
printed next to the goals and published figures of issue 7:

- conditional: class consistency of conditional samples (digits-cnn), intra-class
  digits-FID and unconditional digits-FID for concat, projection, ACGAN and
  projection + mismatched pairs (goal: class consistency >= 95%);
- infogan: accuracy of the 10-valued categorical code as the digit class under
  the best one-to-one matching (published, MNIST: about 95%, i.e. 5% error;
  goal >= 95%);
- ssgan: test error with 10 labels per class against the supervised baseline on
  the same labels (goal: at least 5 points lower), with improved-GAN's MNIST
  figure (0.93% error with 100 labels) for context.

    python benchmarks/bench_labels.py [--parts conditional,infogan,ssgan] [--seeds 5] [--jobs 2] [--steps N]
                                      [--split test|validation]

Each run trains a preset with the seed changed (one thread per run, --jobs runs
at a time) in a temporary folder and is scored there; nothing is kept.
Digits-FID here: digits-cnn features, n = --n generated samples against the
1497 training digits (intra-FID: each class's n/10 samples against that
class's ~150 training digits, so its covariances are singular and its values
biased high; compare rows with each other, not with other papers).
"""
from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import ganscape

# name: (preset, overrides)
CONDITIONAL = {
    "concat (G concat, D concat)": ("cgan-digits", ["model.generator.cond=concat",
                                                    "model.discriminator.cond=concat"]),
    "projection (cgan-digits)": ("cgan-digits", []),
    "ACGAN (acgan-digits)": ("acgan-digits", []),
    "projection + mismatch 0.25": ("cgan-digits", ["method.params.mismatch=0.25"]),
}


def _train(preset: str, seed: int, overrides, tmp: str) -> Path:
    import torch
    torch.set_num_threads(1)  # one process per core
    # evaluation during training is not needed: the benchmark scores the final EMA generator.
    # train.threads=1: a measured count can change with the machine's load, and another count changes
    # float results in the last bits, which a GAN's training amplifies; one thread makes each seed repeatable.
    return ganscape.train(preset, overrides=[f"seed={seed}", "train.progress=false", "train.sample_every=0",
                                             "eval.metrics=[]", "train.threads=1", *overrides],
                          run_dir=Path(tmp) / "run")


def conditional_run(args):
    name, seed, steps, n = args
    preset, over = CONDITIONAL[name]
    over = over + ([f"train.steps={steps}"] if steps else [])
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # intra-FID's singular covariances are expected here
        run = _train(preset, seed, over, tmp)
        r = ganscape.evaluate(run, metrics="class-consistency,intra-fid,fid", n=n, record=False)["results"]
        return {"class_consistency": r["class_consistency"], "intra_fid": r["intra_fid"], "fid": r["fid"]}


def infogan_run(args):
    from ganscape.metrics.infogan import q_test_accuracy
    _, seed, steps, n = args
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = _train("infogan-digits", seed, [f"train.steps={steps}"] if steps else [], tmp)
        r = ganscape.evaluate(run, metrics="infogan-accuracy,fid", n=n, record=False)["results"]
        q = q_test_accuracy(run)  # the paper's measure: Q classifies the 300 real test digits
        return {"accuracy": r["infogan_cat_accuracy"], "fid": r["fid"], "q_accuracy": q["accuracy"],
                "q_correct": int(round(q["accuracy"] * q["confusion"].sum()))}


def ssgan_run(args):
    from ganscape.metrics.classifier_error import classifier_error
    method, seed, steps, split = args
    with tempfile.TemporaryDirectory() as tmp:
        run = _train("ssgan-digits", seed, [f"method={method}"] + ([f"train.steps={steps}"] if steps else []), tmp)
        r = classifier_error(run, split=split)
        v = classifier_error(run, split="validation")  # printed beside: the split settings are chosen on
        return {"error": r["results"]["classifier_error"], "errors": r["results"]["classifier_errors"],
                "n": r["n_real"], "val_errors": v["results"]["classifier_errors"], "val_n": v["n_real"]}


def _stats(values):
    values = list(values)
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0), min(values), max(values)


def _pool_map(fn, tasks, jobs):
    # Each run's result is printed as it finishes, so that a long benchmark
    # stopped early still leaves the runs it completed.
    out = [None] * len(tasks)
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        for i, r in pool.imap_unordered(_indexed, [(fn, i, t) for i, t in enumerate(tasks)]):
            out[i] = r
            print(f"  run done: {tasks[i][:2]} -> {r}", flush=True)
    return out


def _indexed(args):
    fn, i, task = args
    return i, fn(task)


def part_conditional(a) -> None:
    t0 = time.perf_counter()
    names = list(CONDITIONAL)
    tasks = [(name, seed, a.steps, a.n) for name in names for seed in range(a.seeds)]
    rows = _pool_map(conditional_run, tasks, a.jobs)
    print(f"\nconditional GANs on digits: {a.seeds} seeds each, n = {a.n}, "
          f"{time.perf_counter() - t0:.0f} s; mean +- std (min..max)")
    print(f"  {'':30s} {'class consistency %':>26s} {'intra-FID':>22s} {'digits-FID':>22s}")
    for name in names:
        rs = [r for (nm, *_), r in zip(tasks, rows) if nm == name]
        cc = _stats(100 * r["class_consistency"] for r in rs)
        ifid = _stats(r["intra_fid"] for r in rs)
        fid = _stats(r["fid"] for r in rs)
        print(f"  {name:30s} {cc[0]:6.2f} +- {cc[1]:4.2f} ({cc[2]:5.1f}..{cc[3]:5.1f})"
              f" {ifid[0]:6.2f} +- {ifid[1]:5.2f} ({ifid[2]:.1f}..{ifid[3]:.1f})"
              f" {fid[0]:6.2f} +- {fid[1]:5.2f} ({fid[2]:.1f}..{fid[3]:.1f})")
    print(f"  {'goal':30s} {'>= 95':>6s}")
    print("  per seed:", {name: [round(100 * r["class_consistency"], 1) for (nm, *_), r in zip(tasks, rows)
                                 if nm == name] for name in names})


def part_infogan(a) -> None:
    t0 = time.perf_counter()
    rows = _pool_map(infogan_run, [("infogan", seed, a.steps, a.n) for seed in range(a.seeds)], a.jobs)
    acc = _stats(100 * r["accuracy"] for r in rows)
    qacc = _stats(100 * r["q_accuracy"] for r in rows)
    fid = _stats(r["fid"] for r in rows)
    print(f"\nInfoGAN on digits (infogan-digits): {a.seeds} seeds, {time.perf_counter() - t0:.0f} s; "
          f"final checkpoint (no labels in training or selection)")
    print(f"  paper's measure, Q classifies the 300 real test digits (best code-to-class assignment): "
          f"{qacc[0]:.2f}% +- {qacc[1]:.2f} ({qacc[2]:.1f}..{qacc[3]:.1f}); per seed "
          f"{[round(100 * r['q_accuracy'], 1) for r in rows]} (correct of 300: {[r['q_correct'] for r in rows]})")
    print(f"  judge's measure, digits-cnn classifies 100 samples per code value (Hungarian matching): "
          f"{acc[0]:.2f}% +- {acc[1]:.2f} ({acc[2]:.1f}..{acc[3]:.1f}); per seed "
          f"{[round(100 * r['accuracy'], 1) for r in rows]}")
    print(f"  digits-FID (n = {a.n}): {fid[0]:.2f} +- {fid[1]:.2f}")
    print("  published (Chen et al. 2016, MNIST): about 95% (5% error); goal >= 95% on both, mean of 5 seeds")


def part_ssgan(a) -> None:
    from scipy import stats as st
    t0 = time.perf_counter()
    tasks = [(method, seed, a.steps, a.split) for method in ("ssgan", "supervised") for seed in range(a.seeds)]
    rows = _pool_map(ssgan_run, tasks, a.jobs)
    n = rows[0]["n"]
    print(f"\nsemi-supervised digits, 10 labels per class (100 of 1497), error on the {n} {a.split} digits: "
          f"{a.seeds} seeds, {time.perf_counter() - t0:.0f} s")
    errs, counts = {}, {}
    for method in ("ssgan", "supervised"):
        mine = [r for (m, *_), r in zip(tasks, rows) if m == method]
        errs[method] = [100 * r["error"] for r in mine]
        counts[method] = [r["errors"] for r in mine]
        e = _stats(errs[method])
        print(f"  {method:12s} {e[0]:6.2f}% +- {e[1]:.2f} ({e[2]:.1f}..{e[3]:.1f}); errors of {n} per seed "
              f"{counts[method]}; validation errors of {mine[0]['val_n']}: {[r['val_errors'] for r in mine]}")
    gain = [s - g for g, s in zip(errs["ssgan"], errs["supervised"])]
    print(f"  gain (supervised - ssgan, same seed: same labelled images and batch order): "
          f"{statistics.mean(gain):.2f} points (per seed {[round(g, 2) for g in gain]}); goal >= 5")
    if a.seeds > 1:
        # Paired over seeds: Student's t on the per-seed differences of error
        # counts, and the exact two-sided sign test (binomial, p = 1/2) on
        # how many seeds ssgan made fewer errors (ties dropped).
        t = st.ttest_rel(counts["supervised"], counts["ssgan"])
        wins = sum(s > g for g, s in zip(counts["ssgan"], counts["supervised"]))
        losses = sum(s < g for g, s in zip(counts["ssgan"], counts["supervised"]))
        sign = st.binomtest(wins, wins + losses, 0.5).pvalue if wins + losses else 1.0
        print(f"  paired t-test over seeds (error counts): t = {t.statistic:.2f}, two-sided p = {t.pvalue:.4f}; "
              f"exact sign test: ssgan fewer errors on {wins} of {wins + losses} seeds, two-sided p = {sign:.4f}")
    print("  published (Salimans et al. 2016, MNIST, 100 labels, feature matching): 0.93% +- 0.07 error")


PARTS = {"conditional": part_conditional, "infogan": part_infogan, "ssgan": part_ssgan}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="conditional,infogan,ssgan")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=0, help="override train.steps (0: each preset's)")
    ap.add_argument("--n", type=int, default=2000, help="generated samples per evaluation")
    ap.add_argument("--jobs", type=int, default=2, help="runs in parallel, one thread each")
    ap.add_argument("--split", default="test", choices=("test", "validation"),
                    help="ssgan: score on the test split, or on the validation split (the unlabelled training "
                         "images, with their labels) to choose settings")
    a = ap.parse_args()
    for part in a.parts.split(","):
        if part not in PARTS:
            ap.error(f"--parts: unknown part {part!r}; choose from {', '.join(PARTS)}")
    for part in a.parts.split(","):
        PARTS[part](a)


if __name__ == "__main__":
    main()
