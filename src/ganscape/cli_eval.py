"""`ganscape eval`: score a run, or any samples against any reference."""
from __future__ import annotations

import argparse
import json


def add_eval(sub) -> None:
    p = sub.add_parser(
        "eval", help="evaluate a run (FID, KID, IS, precision/recall, ...) or any samples",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  ganscape eval runs/digits-001\n"
               "  ganscape eval runs/digits-001 --metrics fid,kid,prdc,msssim,memorization --n 5000\n"
               "  ganscape eval --samples samples.npz --reference digits\n"
               "  ganscape eval --samples gen_pngs/ --reference real_pngs/ --extractor inception-v3-fid\n")
    p.add_argument("run_dir", nargs="?", help="run folder (results are appended to its metrics.jsonl)")
    p.add_argument("--samples", help="FILE.npz or image folder to score instead of a run")
    p.add_argument("--reference", help="with --samples: a data set name, FILE.npz or image folder")
    p.add_argument("--metrics", default="fid,kid,is,prdc",
                   help="comma-separated: fid, kid, is, prdc, msssim, c2st, memorization, stacked-modes, shapes")
    p.add_argument("--n", type=int, default=None, help="generated samples (default 10000 for runs, all for files)")
    p.add_argument("--extractor", help="feature extractor (default: the data set's; see `ganscape list`)")
    p.add_argument("--checkpoint", default="latest", help="latest | best | a step number")
    p.add_argument("--split", choices=["train", "test"], help="reference split (default: the run's eval.split)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default: CUDA when available)")
    p.add_argument("--json", action="store_true", help="print the full record as JSON")


def cmd_eval(a) -> int:
    import sys

    from .evaluation import evaluate, evaluate_samples

    if bool(a.run_dir) == bool(a.samples):
        print("error: give either RUN_DIR or --samples (with --reference)", file=sys.stderr)
        return 2
    if a.samples:
        if not a.reference:
            print("error: --samples needs --reference DATASET|FILE.npz|DIR", file=sys.stderr)
            return 2
        rec = evaluate_samples(a.samples, a.reference, a.metrics, a.extractor, a.n, a.split or "train",
                               a.batch_size, progress=True, device=a.device)
    else:
        rec = evaluate(a.run_dir, a.metrics, a.n or 10000, a.extractor, a.checkpoint, a.split,
                       batch_size=a.batch_size, progress=True, device=a.device)
    if a.json:
        print(json.dumps(rec, indent=2, default=str))
    else:
        print(format_results(rec))
    return 0


def format_results(rec) -> str:
    lines = [f"{rec['n_fake']} generated vs {rec['n_real']} reference samples; extractor {rec['extractor'].split('(')[0]}"]
    res = rec["results"]
    for k, v in res.items():
        if k.endswith("_std"):
            continue
        std = res.get(f"{k}_std")
        lines.append(f"  {k:<28s} {v:10.4f}" + (f" +- {std:.4f}" if std is not None else ""))
    for w in rec.get("warnings", []):
        lines.append(f"  warning: {w}")
    return "\n".join(lines)
