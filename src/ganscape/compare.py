"""`ganscape compare RUN [RUN ...]`: the trade-off report between model
families trained on the same data (GANs, VAEs, flows, PixelCNN, flow-GAN).

For each run it measures, from the run folder and its latest checkpoint:

- sample quality: FID, precision and recall of `n` samples against the
  training split (the data set's extractor), recorded in metrics.jsonl;
- test-split likelihood in bits/dim (metric `nll`), labelled with how it was
  obtained: exact (PixelCNN), dequantized bound (flows), IWAE bound (VAEs) or
  AIS (GAN generators; skipped with `--no-ais`, as AIS is the slow one);
- training time (seconds of training steps, from stats.jsonl, as the study
  report counts it) and steps;
- sampling time per 1000 samples (the sampler in eval mode, batches of 500,
  one warm-up batch not counted), and the parameters of the sampling net
  and of all trained nets.

It writes OUT/compare.html (the study report's self-contained style: inline
PNG plots, no scripts, every text escaped), OUT/compare.md and
OUT/compare.csv, and returns the rows.
"""
from __future__ import annotations

import csv
import json
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from .study import report as R
from .study.analysis import wallclock_at
from .train import checkpoint as ckpt_io
from .train import rundir

FAMILY = {"vae": "VAE", "likelihood": "likelihood model", "flowgan": "flow-GAN", "gan": "GAN", "cgan": "GAN",
          "infogan": "GAN", "bgan": "GAN (discrete)", "relaxed": "GAN (discrete)", "expert": "policy (RL)",
          "gail": "policy (GAIL)", "airl": "policy (AIRL)", "bc": "policy (BC)", "vime": "policy (RL + VIME)"}
COLUMNS = ["run", "family", "method", "generator", "fid", "precision", "recall", "bits_per_dim", "nll_nats", "nll_kind",
           "elbo_bits_per_dim", "return", "return_std", "env_steps", "train_seconds", "steps",
           "sample_seconds_per_1000", "sampler_params", "total_params"]


def family(cfg) -> str:
    name = cfg.method.name
    arch = cfg.model.generator.arch.name
    if name == "likelihood":
        return {"realnvp": "flow (RealNVP/Glow)", "pixelcnn": "autoregressive (PixelCNN)"}.get(arch, arch)
    if name == "vae" and dict(cfg.method.params or {}).get("iaf_steps"):
        return "VAE + IAF"
    return FAMILY.get(name, name)


def sampling_seconds_per_1000(G: torch.nn.Module, n: int = 1000, batch: int = 500) -> float:
    """Wall seconds to draw 1000 samples (timed over n, after one warm-up batch)."""
    dev = next(G.parameters()).device
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        G(torch.randn(min(batch, n), G.z_dim, generator=g).to(dev))
        t0 = time.perf_counter()
        done = 0
        while done < n:
            m = min(batch, n - done)
            G(torch.randn(m, G.z_dim, generator=g).to(dev))
            done += m
    return (time.perf_counter() - t0) * 1000.0 / n


STAGES = ("sampling time", "FID / precision / recall", "likelihood")


def measure(run_dir: Path, n: int = 1000, ais: bool = True, nll_params: Optional[Dict[str, Any]] = None,
            device: str = "cpu", stage: Optional[Callable[[str], None]] = None,
            progress: bool = False) -> Dict[str, Any]:
    """One row of the comparison (see the module docstring). stage(name) is
    called as each of STAGES begins; progress: the evaluations' own bars
    (AIS's is the long one)."""
    from .api import load_generator, load_run
    from .metrics.evaluate import generate
    from .metrics.evaluate_run import evaluate
    from .train import threads as thr
    stage = stage or (lambda name: None)
    run = Path(run_dir)
    cfg = load_run(run)
    G = load_generator(run, device=device)
    # the checkpoint G came from: the same newest usable one, with the same
    # fallback over a damaged latest.pt (load_generator has warned about it)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ckpt_io.CheckpointWarning)
        ck, _ = ckpt_io.load_newest(run / rundir.CHECKPOINTS)
    stats = rundir.read_jsonl(run / rundir.STATS)
    steps = int(ck["step"])
    row: Dict[str, Any] = {
        "run": str(run), "family": family(cfg), "method": cfg.method.name,
        "generator": cfg.model.generator.arch.name, "steps": steps,
        "train_seconds": (wallclock_at(stats, [steps]) or [None])[0],
        "sampler_params": sum(p.numel() for p in G.parameters()),
        "total_params": sum(v.numel() for net in ck["nets"].values() for k, v in net.items()
                            if v.is_floating_point() and "running_" not in k and not k.endswith("mask")),
    }
    if getattr(G, "is_policy", False):  # a policy: its return over 50 fixed-seed episodes, not samples
        stage("return")
        r = evaluate(run, metrics="return", device=device, progress=progress)["results"]
        row.update(fid=None, precision=None, recall=None, bits_per_dim=None, nll_nats=None, nll_kind=None,
                   elbo_bits_per_dim=None, sample_seconds_per_1000=None, sample_threads=None,
                   env_steps=(stats[-1].get("env_steps") if stats else None), **{"return": r["return"]},
                   return_std=r["return_std"], generator="MLP policy")
        return row
    row.update({"return": None, "return_std": None, "env_steps": None})
    stage(STAGES[0])
    # sampling is timed at the thread count measured for it (train/threads.py), not at torch's default
    tuner = thr.settle(lambda: generate(G, 500, seed=0), device)
    try:
        row["sample_seconds_per_1000"] = sampling_seconds_per_1000(G)
    finally:
        tuner.close()
    row["sample_threads"] = tuner.chosen
    stage(STAGES[1])
    q = evaluate(run, metrics="fid,prdc", n=n, device=device, progress=progress)["results"]
    row.update(fid=q["fid"], precision=q["precision"], recall=q["recall"])
    has_own = hasattr(G, "log_prob_discrete") or hasattr(G, "iwae")
    stage(STAGES[2])
    if has_own or ais:
        rec = evaluate(run, metrics="nll", n=2, device=device, metric_params={"nll": dict(nll_params or {})},
                       progress=progress)
        row.update(bits_per_dim=rec["results"]["bits_per_dim"], nll_nats=rec["results"]["nll_nats"],
                   nll_kind=rec["protocol"]["nll"]["estimator_used"],
                   elbo_bits_per_dim=rec["results"].get("elbo_bits_per_dim"))
    else:
        row.update(bits_per_dim=None, nll_nats=None, nll_kind="(AIS skipped)", elbo_bits_per_dim=None)
    return row


def _scatter(rows: List[Dict[str, Any]]) -> Optional[str]:
    pts = [r for r in rows if r.get("bits_per_dim") is not None and r.get("fid") is not None]
    if not pts:
        return None
    fig = R._figure(6, 4)
    ax = fig.add_subplot(1, 1, 1)
    for r in pts:
        ax.scatter([r["bits_per_dim"]], [r["fid"]], s=40)
        ax.annotate(R._mpl(f"{Path(r['run']).name} ({r['nll_kind'].split(' (')[0]})"),
                    (r["bits_per_dim"], r["fid"]), fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel("test bits/dim (lower is better)")
    ax.set_ylabel("FID (lower is better)")
    ax.set_title("sample quality against likelihood")
    return R._fig_uri(fig)


def _bars(rows: List[Dict[str, Any]], key: str, label: str, log: bool = False) -> Optional[str]:
    pts = [r for r in rows if r.get(key) is not None]
    if not pts:
        return None
    fig = R._figure(6, 0.4 * len(pts) + 1.2)
    ax = fig.add_subplot(1, 1, 1)
    names = [R._mpl(Path(r["run"]).name) for r in pts]
    ax.barh(range(len(pts)), [r[key] for r in pts])
    ax.set_yticks(range(len(pts)))
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(label)
    return R._fig_uri(fig)


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"
    return str(v)


def write_report(rows: List[Dict[str, Any]], out: Path, title: str = "ganscape: model families compared") -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "compare.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k) for k in COLUMNS})
    # the page and the markdown show the columns some run has a value in: image families have no return,
    # policies no FID or bits/dim (the CSV keeps every column)
    shown = [k for k in COLUMNS[1:] if any(r.get(k) is not None for r in rows)]
    md = [f"# {title}", "", "| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    for r in rows:
        md.append("| " + " | ".join(R._md(_fmt(r.get(k))) for k in shown) + " |")
    md += ["", "bits/dim: test split, on the data's discrete levels; nll_kind says exact, bound (dequantized, "
           "IWAE) or AIS. FID / precision / recall: samples against the training split. Sampling: seconds "
           "per 1000 samples on this machine.", ""]
    (out / "compare.md").write_text("\n".join(md), encoding="utf-8")
    body = ["<h2>Table</h2>",
            R._table(["run", *shown], [[Path(r["run"]).name, *(_fmt(r.get(k)) for k in shown)] for r in rows]),
            R._note("bits/dim: the test split on the data's discrete levels (lower is better); nll_kind: exact "
                    "(PixelCNN), dequantized bound (flows), IWAE bound (VAEs, ELBO beside it) or AIS with a "
                    "Gaussian observation model (GAN generators). FID, precision, recall: generated samples "
                    "against the training split. Training seconds count training steps only.")]
    for uri, alt in ((_scatter(rows), "FID against bits/dim"),
                     (_bars(rows, "sample_seconds_per_1000", "seconds per 1000 samples (log scale)", log=True),
                      "sampling time"),
                     (_bars(rows, "train_seconds", "training seconds"), "training time"),
                     (_bars(rows, "fid", "FID"), "FID")):
        if uri:
            body += [f"<h2>{R.esc(alt)}</h2>", R._img(uri, alt)]
    grids = []
    for r in rows:
        g = R.sample_grids(Path(r["run"]))
        if g:
            s, p = g[-1]
            grids.append(f"<figure>{R._img(R._file_uri(p), Path(r['run']).name)}<figcaption>"
                         f"{R.esc(Path(r['run']).name)}: {R.esc(r['family'])}, step {R.esc(s)}</figcaption></figure>")
    if grids:
        body += ["<h2>Samples</h2>", f'<div class="grids">{"".join(grids)}</div>']
    return R._write(out / "compare.html", R._page(title, body))


def compare(runs: Sequence[Path], out: Path, n: int = 1000, ais: bool = True,
            nll_params: Optional[Dict[str, Any]] = None, device: str = "cpu", progress: bool = True) -> Path:
    """Measure every run and write the report; returns the HTML path.
    progress: one bar over every run's stages (STAGES), the evaluations'
    own bars below it."""
    from tqdm.auto import tqdm
    rows = []
    with tqdm(total=len(runs) * len(STAGES), unit="stage", disable=not progress, dynamic_ncols=True) as bar:
        for i, run in enumerate(runs):
            begun = []

            def stage(name: str, i: int = i, run: Path = Path(run), begun: list = begun) -> None:
                if begun:
                    bar.update(1)
                begun.append(name)
                bar.set_description_str(f"[{i + 1}/{len(runs)}] {run.name}: {name}")

            rows.append(measure(Path(run), n=n, ais=ais, nll_params=nll_params, device=device, stage=stage,
                                progress=progress))
            bar.update(len(STAGES) - len(begun) + 1)
    (Path(out)).mkdir(parents=True, exist_ok=True)
    (Path(out) / "compare.json").write_text(json.dumps(rows, indent=2, default=str))
    return write_report(rows, out)

