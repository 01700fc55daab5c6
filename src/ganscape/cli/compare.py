"""`ganscape compare`: runs of different families side by side (quality, likelihood, time, size)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .args import parse_metric_params, positive_int


def add(sub) -> None:
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
    p.add_argument("--n", type=positive_int, default=1000, help="samples for FID and precision/recall (default 1000)")
    p.add_argument("--no-ais", action="store_true",
                   help="no likelihood for generators without one of their own (AIS is the slow part)")
    p.add_argument("--param", action="append", default=[], metavar="nll.KEY=VALUE",
                   help="a parameter of the nll metric (e.g. nll.ais_steps=300, nll.iwae_k=100); repeatable")
    p.add_argument("--device", default="cpu", help="cpu | cuda[:N] (default: cpu)")
    from .args import THREADS_EVAL, add_threads
    add_threads(p, THREADS_EVAL)
    p.set_defaults(handler=run)


def run(a) -> int:
    from ..compare import compare
    from ..registry import ConfigError
    params = parse_metric_params(a.param)
    if set(params) - {"nll"}:
        raise ConfigError(f"--param: compare takes nll.KEY=VALUE only, got {', '.join(sorted(params))}")
    from ..api import load_run
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
