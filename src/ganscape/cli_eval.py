"""`ganscape eval`: score a run, or any samples against any reference."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


# ---- argument types for `sample` and `eval`: bad values stop at parsing, with
# argparse's "argument --NAME: ..." message and exit code 2. Counts use the
# parser's one positive-integer type (cli._positive_int, also train's --steps).
def checkpoint_name(text: str) -> str:
    """latest | best | a step number (a non-negative integer), normalised."""
    from .train.checkpoint import parse_which
    try:
        return parse_which(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not allowed; choose latest, best or a step number (e.g. 1000)") from None


RANGE_HELP = ("how float images in --samples / --reference files are read: 01 = they lie in [0, 1] and are "
              "converted to [-1, 1] by 2x - 1 (a note is printed); 11 = they lie in [-1, 1]. Default: [-1, 1], "
              "and float data with min >= 0 and max <= 1 are refused as ambiguous. uint8 data and image "
              "files are always [0, 255]")


def add_eval(sub) -> None:
    from .cli import _positive_int
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
    from . import components  # noqa: F401  (the metric names below come from the registry)
    from .registry import METRICS
    p.add_argument("--metrics", default=None,
                   help=f"comma-separated: {', '.join(METRICS.names())} (default: fid,kid,is,prdc for an image "
                        "generator, the token metrics that apply for a sequence generator, plus "
                        "classifier-error for a run that trains a classifier: ssgan, supervised)")
    p.add_argument("--param", action="append", default=[], metavar="METRIC.KEY=VALUE",
                   help="a metric's parameter, value parsed as YAML; repeatable "
                        "(e.g. --param nll.ais_steps=200 --param nll.iwae_k=100; see `ganscape list`)")
    p.add_argument("--n", type=_positive_int, default=None,
                   help="generated samples (default 10000 for runs, all for files)")
    p.add_argument("--extractor", help="feature extractor (default: the data set's; see `ganscape list`)")
    p.add_argument("--extractor-weights", metavar="PATH",
                   help="weights file of the extractor (inception-v3-fid: pt_inception-2015-12-05-6726825d.pth, "
                        "SHA-256 checked; default: the cache that `ganscape download inception-v3-fid` fills)")
    p.add_argument("--checkpoint", type=checkpoint_name, default="latest",
                   help="latest | best | a step number (default: latest)")
    p.add_argument("--split", choices=["train", "test"], help="reference split (default: the run's eval.split)")
    p.add_argument("--range", dest="value_range", choices=["01", "11"], help=RANGE_HELP)
    p.add_argument("--batch-size", type=_positive_int, default=256, help="feature-extraction batch (default 256)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N] (default: CUDA when available)")
    p.add_argument("--json", action="store_true", help="print the full record as JSON")


def parse_metric_params(items) -> dict:
    """["nll.ais_steps=200", ...] -> {"nll": {"ais_steps": 200}} (values parsed as YAML)."""
    import yaml

    from .registry import ConfigError
    out: dict = {}
    for item in items or ():
        key, eq, value = item.partition("=")
        metric, dot, name = key.partition(".")
        if not eq or not dot or not metric or not name:
            raise ConfigError(f"--param {item!r}: expected METRIC.KEY=VALUE, e.g. nll.ais_steps=200")
        out.setdefault(metric.strip(), {})[name.strip()] = yaml.safe_load(value)
    return out


def cmd_eval(a) -> int:
    from .evaluation import evaluate, evaluate_samples

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
    if a.json:
        print(json.dumps(rec, indent=2, default=str))
    else:
        print(format_results(rec))
    return 0


def format_results(rec) -> str:
    lines = []
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
    width = max([28] + [len(k) for k in res])
    for k, v in res.items():
        if k.endswith("_std"):
            continue
        std = res.get(f"{k}_std")
        value = f"{v:10d}" if isinstance(v, int) else f"{v:10.4f}"
        lines.append(f"  {k:<{width}s} {value}" + (f" +- {std:.4f}" if std is not None else ""))
    for w in rec.get("warnings", []):
        lines.append(f"  warning: {w}")
    return "\n".join(lines)


def add_compare(sub) -> None:
    from .cli import _positive_int
    p = sub.add_parser(
        "compare", help="compare runs of different families: sample quality, test likelihood, training and "
                        "sampling time, parameters",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  ganscape compare runs/digits-001 runs/vae-digits-001 runs/realnvp-digits-001 --out compare/\n"
               "  ganscape compare runs/* --no-ais                   # skip AIS for the GAN generators\n"
               "  ganscape compare runs/* --param nll.ais_steps=300  # a cheaper AIS\n")
    p.add_argument("runs", nargs="+", help="run folders (trained on the same data set)")
    p.add_argument("--out", default="compare", help="folder for compare.html, compare.md, compare.csv "
                                                    "(default: ./compare)")
    p.add_argument("--n", type=_positive_int, default=1000, help="samples for FID and precision/recall (default 1000)")
    p.add_argument("--no-ais", action="store_true",
                   help="no likelihood for generators without one of their own (AIS is the slow part)")
    p.add_argument("--param", action="append", default=[], metavar="nll.KEY=VALUE",
                   help="a parameter of the nll metric (e.g. nll.ais_steps=300, nll.iwae_k=100); repeatable")
    p.add_argument("--device", default="cpu", help="cpu | cuda[:N] (default: cpu)")


def cmd_compare(a) -> int:
    from .compare import compare
    from .registry import ConfigError
    params = parse_metric_params(a.param)
    if set(params) - {"nll"}:
        raise ConfigError(f"--param: compare takes nll.KEY=VALUE only, got {', '.join(sorted(params))}")
    from .api import load_run
    data = set()
    for r in a.runs:
        cfg = load_run(r)
        data.add(json.dumps([cfg.data.name, dict(cfg.data.params or {})], sort_keys=True))
    if len(data) > 1:
        print(f"warning: the runs were trained on different data ({'; '.join(sorted(data))}); their numbers "
              f"are not comparable", file=sys.stderr)
    path = compare(a.runs, Path(a.out), n=a.n, ais=not a.no_ais, nll_params=params.get("nll"), device=a.device)
    print(f"report: {path}")
    print((Path(a.out) / "compare.md").read_text())
    return 0
