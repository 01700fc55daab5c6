"""`ganscape eval`: score a run, or any samples against any reference."""
from __future__ import annotations

import argparse
import json
import sys

from .args import checkpoint_name, parse_metric_params, positive_int

RANGE_HELP = ("how float images in --samples / --reference files are read: 01 = they lie in [0, 1] and are "
              "converted to [-1, 1] by 2x - 1 (a note is printed); 11 = they lie in [-1, 1]. Default: [-1, 1], "
              "and float data with min >= 0 and max <= 1 are refused as ambiguous. uint8 data and image "
              "files are always [0, 255]")


def add(sub) -> None:
    p = sub.add_parser(
        "eval", help="evaluate a run (FID, KID, IS, precision/recall, ...) or any samples",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  ganscape eval runs/digits-001\n"
               "  ganscape eval runs/digits-001 --metrics fid,kid,prdc,msssim,memorization --n 5000\n"
               "  ganscape eval --samples samples.npz --reference digits\n"
               "  ganscape eval --samples unit_range.npz --reference cifar10 --range 01\n"
               "  ganscape eval --samples gen_pngs/ --reference real_pngs/ --extractor inception-v3-fid \\\n"
               "                --extractor-weights pt_inception-2015-12-05-6726825d.pth\n")
    p.add_argument("run_dir", nargs="?", help="run folder (results are appended to its metrics.jsonl)")
    p.add_argument("--samples", help="FILE.npz or image folder to score instead of a run")
    p.add_argument("--reference", help="with --samples: a data set name, FILE.npz or image folder")
    from ..registry import METRICS  # filled by ganscape.components, which cli/__init__ imports first
    p.add_argument("--metrics", default=None,
                   help=f"comma-separated: {', '.join(METRICS.names())} (default: fid,kid,is,prdc for an image "
                        "generator (stacked-digits and shapes: fid,kid,prdc and their own), the token metrics that apply for a sequence generator, plus "
                        "classifier-error for a run that trains a classifier: ssgan, supervised)")
    p.add_argument("--param", action="append", default=[], metavar="METRIC.KEY=VALUE",
                   help="a metric's parameter, value parsed as YAML; repeatable "
                        "(e.g. --param nll.ais_steps=200 --param nll.iwae_k=100; see `ganscape list`)")
    p.add_argument("-n", "--n", type=positive_int, default=None,
                   help="generated samples (default 10000 for runs, all for files)")
    p.add_argument("--extractor", help="feature extractor (default: the data set's; see `ganscape list`)")
    p.add_argument("--extractor-weights", metavar="PATH",
                   help="weights file of the extractor (inception-v3-fid: pt_inception-2015-12-05-6726825d.pth, "
                        "SHA-256 checked; default: the cache that `ganscape download inception-v3-fid` fills)")
    p.add_argument("--checkpoint", type=checkpoint_name, default="latest",
                   help="latest | best | a step number (default: latest)")
    p.add_argument("--split", choices=["train", "test"], help="reference split (default: the run's eval.split)")
    p.add_argument("--range", dest="value_range", choices=["01", "11"], help=RANGE_HELP)
    p.add_argument("--batch-size", type=positive_int, default=256, help="feature-extraction batch (default 256)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default: CUDA when available)")
    from .args import THREADS_EVAL, add_threads
    add_threads(p, THREADS_EVAL)
    p.add_argument("--json", action="store_true", help="print the full record as JSON")
    p.set_defaults(handler=run)


def run(a) -> int:
    from ..metrics.evaluate import evaluate_samples
    from ..metrics.evaluate_run import evaluate

    if bool(a.run_dir) == bool(a.samples):
        print("error: give either RUN_DIR or --samples (with --reference)", file=sys.stderr)
        return 2
    extractor_params = {"weights": a.extractor_weights} if a.extractor_weights else None
    if a.samples:
        if not a.reference:
            print("error: --samples needs --reference DATASET|FILE.npz|DIR", file=sys.stderr)
            return 2
        rec = evaluate_samples(a.samples, a.reference, a.metrics, a.extractor, a.n, a.split or "train",
                               a.batch_size, progress=True, device=a.device, value_range=a.value_range,
                               extractor_params=extractor_params)
        if a.value_range == "01":
            # stderr, so that --json output stays parseable
            print("note: float images in --samples / --reference files were converted from [0, 1] to [-1, 1] "
                  "(--range 01)", file=sys.stderr)
    else:
        if a.value_range:
            print("error: --range applies to --samples and --reference files; a run's samples are in [-1, 1]",
                  file=sys.stderr)
            return 2
        rec = evaluate(a.run_dir, a.metrics, 10000 if a.n is None else a.n, a.extractor, a.checkpoint, a.split,
                       batch_size=a.batch_size, progress=True, device=a.device, extractor_params=extractor_params,
                       metric_params=parse_metric_params(a.param))
        from ..train.distributed import from_env
        if not from_env().lead:  # under torchrun rank 0 prints (and records) the result
            return 0
    if a.json:
        print(json.dumps(rec, indent=2, default=str))
    else:
        print(format_results(rec))
    return 0


def format_results(rec) -> str:
    """The record as a table: which checkpoint and step were scored, each
    result with how to read it (higher / lower is better) and, beside it,
    held-out real images' value at the same n where the data allow one."""
    from ..metrics.evaluate import direction

    lines = []
    if "checkpoint" in rec:
        lines.append(f"scored: checkpoint {rec['checkpoint']} (step {rec['step']})"
                     + (f", net {rec['sampler']}" if rec.get("sampler") else ""))
    if "n_fake" in rec:
        how = (f"extractor {rec['extractor'].split('(')[0]}" if "extractor" in rec else
               f"{rec.get('reference', {}).get('split', '')} split of {rec.get('reference', {}).get('dataset', '')}")
        lines.append(f"{rec['n_fake']} generated vs {rec['n_real']} reference samples; {how}")
    nll = rec.get("protocol", {}).get("nll")
    if nll:
        lines.append(f"nll: {nll['estimator_used']}, {nll['n']} images of the {nll['split']} split, "
                     f"{nll['levels']} levels per pixel")
    if rec.get("skipped"):
        lines.append(f"  (not applicable to this data: {', '.join(rec['skipped'])})")
    if "classifier" in rec:
        ref = rec["classifier"]["reference"]
        lines.append(f"classifier {rec['classifier']['net']} on the {ref['split']} split of {ref['dataset']} "
                     f"({ref['n']} examples)")
    res = rec["results"]
    base = rec.get("heldout_real") or {}
    real = base.get("results", {})
    width = max([28] + [len(k) for k in res])
    if real:
        lines.append(f"  {'':<{width}s} {'generated':>10s}{'':10s} {'held-out real':>13s}   (n={base['n']} each)")
    for k, v in res.items():
        if k.endswith("_std"):
            continue
        std = res.get(f"{k}_std")
        value = (f"{v:10d}" if isinstance(v, int) else f"{v:10.4f}") + (f" +- {std:.4f}" if std is not None
                                                                         else " " * 10)
        ref = f" {real[k]:13.4f}" if k in real else (" " * 14 if real else "")
        lines.append(f"  {k:<{width}s} {value}{ref}   {direction(k)}")
    if base.get("skipped"):
        lines.append(f"  (no held-out real baseline: {base['skipped']})")
    for w in rec.get("warnings", []):
        lines.append(f"  warning: {w}")
    return "\n".join(lines)

