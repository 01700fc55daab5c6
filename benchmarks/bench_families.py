"""The families compared on the 8x8 digits at the same wall-clock budget
(issue 10): the default GAN preset, VAE, IAF-VAE, RealNVP, PixelCNN and
flow-GAN (and, on binarized digits, a Bernoulli VAE and PixelCNN), each
trained for --budget seconds of training steps (train.max_seconds) on one
thread, two runs at a time on 2 cores. Then, for every run: digits-FID,
precision and recall of --n samples against the training split; test bits/dim
on the data's discrete levels (exact for PixelCNN, the dequantization bound
for flows, IWAE k=1000 with the ELBO for VAEs, AIS for the GAN generator and,
under the same Gaussian observation model, for the VAE's decoder); sampling
time per 1000 samples; parameters. Beside them: the fitted baselines and
published MNIST figures for context.

    python benchmarks/bench_families.py [--budget 240] [--jobs 2] [--n 1000]
                                        [--ais-steps 300] [--ais-n 100] [--out docs]

    python benchmarks/bench_families.py --as-shipped [--only NAMES] [--jobs 2] [--runs DIR]

--as-shipped trains each likelihood preset exactly as shipped (no overrides
but the progress bar; their own steps, validation split and best.pt
selection) and scores test bits/dim of best.pt and latest.pt with `nll`,
beside the baselines fitted on the images the preset trains on: the figures
of the README's "presets as shipped" table (the same as `ganscape train
--preset P` then `ganscape eval RUN --metrics nll --checkpoint best|latest`).

AIS uses --ais-steps intermediate distributions on --ais-n test images (the
paper: 10,000 distributions; 300 fit the budget of a CPU benchmark and are
labelled). The runs are kept under --runs (default: a temporary folder); the
report goes to OUT/families.html, .md, .csv and OUT/families.png.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
import warnings
from pathlib import Path

import ganscape

RUNS = {
    "GAN (digits preset)": ("digits", []),
    "VAE": ("vae-digits", []),
    "VAE + IAF": ("iaf-vae-digits", []),
    "RealNVP": ("realnvp-digits", []),
    "PixelCNN": ("pixelcnn-digits", []),
    "flow-GAN": ("flowgan-digits", []),
    "VAE (binarized)": ("vae-binary-digits", []),
    "VAE + IAF (binarized)": ("iaf-vae-binary-digits", []),
    "PixelCNN (binarized)": ("pixelcnn-binary-digits", []),
}
PUBLISHED = ("published, MNIST (not comparable in scale: 28x28, 60k images): binarized MNIST NLL in nats "
             "IWAE 82.90, IAF-VAE ~79.1, PixelCNN 81.30; MNIST bits/dim RealNVP 1.06, Glow 1.05")


def train_one(args):
    name, budget, folder = args
    import torch
    torch.set_num_threads(1)
    preset, over = RUNS[name]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = ganscape.train(preset, overrides=["train.steps=1000000", f"train.max_seconds={budget}",
                                                "train.progress=false", "train.sample_every=0",
                                                "train.checkpoint_every=0", "eval.metrics=[]", *over],
                             run_dir=Path(folder))
    return name, str(run), time.perf_counter() - t0


def measure_one(args):
    name, run, n, ais_steps, ais_n = args
    import torch
    torch.set_num_threads(1)
    from ganscape.compare import measure
    nll = {"ais_steps": ais_steps, "n": 0, "iwae_k": 1000}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = ganscape.api.load_run(run)
        own = cfg.method.name in ("vae", "likelihood", "flowgan")
        row = measure(Path(run), n=n, ais=True, nll_params=nll if own else {**nll, "n": ais_n})
        if cfg.method.name == "vae":  # the decoder under the GAN's observation model
            rec = ganscape.evaluate(run, metrics="nll", n=2, metric_params={"nll": {
                **nll, "n": ais_n, "estimator": "ais"}})
            row["ais_bits_per_dim"] = rec["results"]["bits_per_dim"]
        if cfg.method.name == "gan":
            row["ais_bits_per_dim"] = row["bits_per_dim"]
            row.update(bdmc_check(run, ais_steps))
        rec = ganscape.evaluate(run, metrics="nll", n=2, record=False,
                                metric_params={"nll": {"n": 0, "iwae_k": 8, "ais_steps": 10, "ais_chains": 1}})
        row["baseline_independent"] = rec["results"]["baseline_independent_bits_per_dim"]
        row["baseline_mixture"] = rec["results"]["baseline_mixture_bits_per_dim"]
        row["data"] = cfg.data.name
    row["name"] = name
    return row


SHIPPED = ("vae-digits", "iaf-vae-digits", "realnvp-digits", "pixelcnn-digits", "pixelcnn-binary-digits",
           "vae-binary-digits", "iaf-vae-binary-digits")


def shipped_one(args):
    """Train one preset as shipped; test bits/dim of its best and latest checkpoints."""
    preset, folder = args
    import torch
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = ganscape.train(preset, overrides=["train.progress=false"], run_dir=Path(folder))
        row = {"preset": preset}
        for key in ("best", "latest"):
            # a preset without a validation split keeps no best.pt: its row shows latest twice
            ck = key if (Path(run) / "checkpoints" / f"{key}.pt").exists() else "latest"
            rec = ganscape.evaluate(run, metrics="nll", n=16, checkpoint=ck)
            row[key] = (rec["step"], rec["results"]["bits_per_dim"], rec["protocol"]["nll"]["estimator_used"])
            row["baselines"] = (rec["results"]["baseline_independent_bits_per_dim"],
                                rec["results"]["baseline_mixture_bits_per_dim"])
    return row


def as_shipped(names, jobs, work):
    t0 = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        rows = pool.map(shipped_one, [(p, str(work / p)) for p in names])
    print("\n== likelihood presets as shipped: test bits/dim (300 test images), 1 thread")
    print(f"  {'preset':18s} {'best.pt step':>12s} {'bits/dim':>9s} {'latest step':>11s} {'bits/dim':>9s}  "
          f"{'(how)':22s} {'indep.':>7s} {'mix10':>7s}")
    for r in rows:
        (bs, bb, how), (ls, lb, _), (ind, mix) = r["best"], r["latest"], r["baselines"]
        print(f"  {r['preset']:18s} {bs:12d} {bb:9.3f} {ls:11d} {lb:9.3f}  {how[:22]:22s} {ind:7.3f} {mix:7.3f}")
    print(f"  ({time.perf_counter() - t0:.0f} s; runs in {work})")


def bdmc_check(run, ais_steps, n=20):
    """BDMC on data simulated from the GAN generator at the sigma AIS chose:
    the forward (lower) and reverse (upper) estimates and their gap, nats."""
    import torch
    from ganscape.likelihood.ais import bdmc, simulate
    from ganscape.train import rundir
    G = ganscape.api.load_generator(run)
    rec = [r for r in rundir.read_jsonl(Path(run) / "metrics.jsonl") if "ais_sigma" in r.get(
        "results", {})][-1]
    sigma = rec["results"]["ais_sigma"]
    g = torch.Generator().manual_seed(0)
    dec = lambda z: G(z).reshape(len(z), -1)  # noqa: E731
    x, z = simulate(dec, n, G.z_dim, sigma, g)
    r = bdmc(dec, x.double(), z, sigma, ais_steps, chains=16, generator=g)
    return {"bdmc_gap": r.gap, "bdmc_lower": float(r.lower.mean()), "bdmc_upper": float(r.upper.mean())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", type=float, default=240.0, help="seconds of training steps per run")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--n", type=int, default=1000, help="samples for FID and precision/recall")
    ap.add_argument("--ais-steps", type=int, default=300)
    ap.add_argument("--ais-n", type=int, default=100, help="test images scored by AIS")
    ap.add_argument("--only", default="", help="comma-separated names of RUNS (default: all)")
    ap.add_argument("--runs", default="", help="keep the run folders here (default: a temporary folder)")
    ap.add_argument("--out", default="", help="write families.html/.md/.csv/.png here")
    ap.add_argument("--as-shipped", action="store_true",
                    help=f"train the presets {', '.join(SHIPPED)} as shipped and score best.pt and latest.pt")
    a = ap.parse_args()
    work = Path(a.runs or tempfile.mkdtemp(prefix="ganscape-bench-families-"))
    work.mkdir(parents=True, exist_ok=True)
    if a.as_shipped:
        names = [n.strip() for n in a.only.split(",")] if a.only else list(SHIPPED)
        bad = sorted(set(names) - set(SHIPPED))
        if bad:
            raise SystemExit(f"--only {', '.join(bad)}: with --as-shipped choose from {', '.join(SHIPPED)}")
        return as_shipped(names, a.jobs, work)
    names = [n.strip() for n in a.only.split(",")] if a.only else list(RUNS)
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(a.jobs) as pool:
        trained = pool.map(train_one, [(nm, a.budget, str(work / nm.replace(" ", "_").replace(",", "")
                                                          .replace("(", "").replace(")", "")))
                                       for nm in names])
        print(f"trained {len(trained)} runs at {a.budget:g} s each ({time.perf_counter() - t0:.0f} s so far)",
              flush=True)
        rows = pool.map(measure_one, [(nm, run, a.n, a.ais_steps, a.ais_n) for nm, run, _ in trained])
    print(f"\n== families on the 8x8 digits, {a.budget:g} s of training each (1 thread), FID/PR at n = {a.n}")
    print(f"  {'model':24s} {'data':14s} {'steps':>7s} {'FID':>7s} {'prec':>5s} {'rec':>5s} "
          f"{'bits/dim':>8s} {'nats':>7s} {'(how)':28s} {'ELBO b/d':>8s} {'AIS b/d':>8s} {'s/1000 samples':>14s} {'params':>9s}")
    for r in rows:
        def f(k, spec):
            v = r.get(k)
            return format(v, spec) if isinstance(v, (int, float)) else "-"
        print(f"  {r['name']:24s} {r['data']:14s} {r['steps']:7d} {f('fid', '7.2f')} {f('precision', '5.2f')} "
              f"{f('recall', '5.2f')} {f('bits_per_dim', '8.3f')} {f('nll_nats', '7.2f')} {r['nll_kind'][:28]:28s} "
              f"{f('elbo_bits_per_dim', '8.3f')} {f('ais_bits_per_dim', '8.3f')} "
              f"{f('sample_seconds_per_1000', '14.4f')} {r['sampler_params']:9d}")
    for data in sorted({r["data"] for r in rows}):
        r = next(x for x in rows if x["data"] == data)
        print(f"  baselines on {data}: independent per-pixel categorical {r['baseline_independent']:.3f} bits/dim, "
              f"mixture of 10 {r['baseline_mixture']:.3f} bits/dim (test split)")
    print(f"  AIS: {a.ais_steps} distributions, 16 chains, on the first {a.ais_n} test images")
    for r in rows:
        if "bdmc_gap" in r:
            print(f"  BDMC on 20 images simulated from {r['name']} at its sigma, {a.ais_steps} distributions: "
                  f"lower {r['bdmc_lower']:.2f}, upper {r['bdmc_upper']:.2f} nats, gap {r['bdmc_gap']:.2f} nats")
    print("  " + PUBLISHED)
    print(f"  ({time.perf_counter() - t0:.0f} s)")
    if a.out:
        from ganscape.compare import write_report
        out = Path(a.out)
        path = write_report(rows, out, title="ganscape: model families on the 8x8 digits")
        for ext in ("html", "md", "csv"):
            (out / f"compare.{ext}").rename(out / f"families.{ext}")
        (out / "families.json").write_text(json.dumps(rows, indent=2, default=str))
        _plot(rows, out / "families.png")
        print(f"  report: {path.with_name('families.html')}, plot: {out / 'families.png'}")


def _plot(rows, path):
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 2, 1)
    for r in rows:
        if r.get("bits_per_dim") is not None and r["data"] == "digits":
            ax.scatter(r["bits_per_dim"], r["fid"])
            ax.annotate(r["name"], (r["bits_per_dim"], r["fid"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("test bits/dim, 17-level digits (lower is better)")
    ax.set_ylabel("digits-FID (lower is better)")
    ax.set_title("quality against likelihood")
    ax = fig.add_subplot(1, 2, 2)
    names = [r["name"] for r in rows]
    ax.barh(range(len(rows)), [r["sample_seconds_per_1000"] for r in rows])
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("seconds per 1000 samples (1 thread, log scale)")
    ax.set_title("sampling cost")
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
