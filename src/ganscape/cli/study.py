"""`ganscape study run|list|rerun|status`: landscape studies (Optuna)."""
from __future__ import annotations

import argparse
import json
import statistics
import sys

STUDY_EXAMPLES = """\
examples:
  ganscape study list
  ganscape study run loss-digits --out studies/loss-digits --workers 2
  ganscape study run loss-digits --out studies/quick --trials 6 --set train.steps=200
  ganscape study run my-spec.yaml --out studies/mine --backend ray
  ganscape study run loss-digits --out studies/shared --storage postgresql://user@host/db
  ganscape study status studies/loss-digits
  ganscape study rerun studies/loss-digits --seeds 5 --per-level   # the best settings over 5 fresh seeds
  ganscape report studies/loss-digits          # studies/loss-digits/report.html and report.md
  ganscape report runs/digits-001              # one run: runs/digits-001/report.html
Running the same `study run` command again after a crash or kill continues the study.
"""


def add(sub) -> None:
    p = sub.add_parser("study", help="run, list and inspect landscape studies (Optuna)",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=STUDY_EXAMPLES)
    ss = p.add_subparsers(dest="study_command", required=True, metavar="ACTION")
    r = ss.add_parser("run", help="run or continue a study", formatter_class=argparse.RawDescriptionHelpFormatter,
                      epilog=STUDY_EXAMPLES)
    r.add_argument("spec", help="a shipped study name (ganscape study list) or a study spec YAML file")
    r.add_argument("--out", required=True, help="the study folder (created, or continued when it exists)")
    r.add_argument("--workers", type=int, default=1, help="trials run at once (default 1)")
    r.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local worker processes (default) or Ray tasks")
    r.add_argument("--address", default=None, help="with --backend ray: a running cluster's address "
                                                  "(default: start a local Ray instance)")
    r.add_argument("--storage", default=None, help="an SQLAlchemy URL for the Optuna storage, kept as given "
                                                  "(default: sqlite:///OUT/study.db)")
    r.add_argument("--trials", type=int, default=None, help="number of trials (default: the spec's)")
    from .args import add_threads
    add_threads(r, "torch threads per worker, fixed (default: each trial measures its own within CPUs // workers, "
                   "see the README's Threads)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override the base config of every trial (repeatable)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    ss.add_parser("list", help="the shipped study specs")
    rr = ss.add_parser("rerun", help="train the best setting(s) with more seeds: their spread goes in the report")
    rr.add_argument("study", help="a study folder")
    rr.add_argument("--seeds", type=int, default=3,
                    help="fresh seeds, after the ones the search trained (default 3); the search's own value "
                         "is shown apart (it won a selection: the winner's curse)")
    rr.add_argument("--per-level", action="store_true",
                    help="also the best setting of every level of every factor")
    rr.add_argument("--workers", type=int, default=1, help="runs at once (default 1)")
    add_threads(rr, "torch threads per run, fixed (default: each run measures its own within CPUs // workers)")
    st = ss.add_parser("status", help="trials complete / running / failed / pruned, best so far")
    st.add_argument("study", help="a study folder")
    st.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(handler=run)


def run(a) -> int:
    if a.study_command == "list":
        from ..study.spec import list_specs, load_spec
        for name in list_specs():
            s = load_spec(name)
            print(f"{name:<22} {s.trials:>3} trials, {s.sampler:<6} {', '.join(s.factors)}")
            print(f"{'':<22} {s.description}")
        return 0
    if a.study_command == "status":
        from ..study.storage import counts
        c = counts(a.study)
        if a.json:
            print(json.dumps(c, indent=2))
            return 0
        done = c["complete"] + c["pruned"] + c["failed"]
        print(f"{a.study}: {done} of {c['trials']} trials finished: {c['complete']} complete, {c['pruned']} pruned, "
              f"{c['failed']} failed; {c['running']} running, {c['waiting']} waiting")
        if "best" in c:
            print(f"best: {c['best']} (trial {c['best_trial']}: "
                  + ", ".join(f"{k}={_fmt(v)}" for k, v in c["best_params"].items()) + ")")
        return 0
    if a.study_command == "rerun":
        from ..study.rerun import rerun_best
        path = rerun_best(a.study, seeds=a.seeds, per_level=a.per_level, workers=a.workers, threads=a.threads)
        for r in json.loads(path.read_text())["reruns"]:
            vals = [v for v in r["values"] if v is not None]
            spread = (f"{sum(vals) / len(vals):.4g} +- {statistics.stdev(vals):.2g}" if len(vals) > 1
                      else "too few finished seeds")
            search = [v for v in r.get("search_values", []) if v is not None]
            found = f" (in the search: {sum(search) / len(search):.4g})" if search else ""
            print(f"{r['label']} (trial {r['number']}): {spread} over {len(vals)} of {len(r['values'])} "
                  f"fresh seeds{found}")
        print(f"wrote {path}; ganscape report {a.study} shows it")
        return 0
    from ..study.runner import run_study
    try:
        c = run_study(a.spec, a.out, workers=a.workers, backend=a.backend, storage=a.storage, trials=a.trials,
                      overrides=a.overrides, address=a.address, progress=not a.no_progress, threads=a.threads)
    except KeyboardInterrupt as e:
        print(f"\n{e or 'study interrupted; run the same command again to continue'}", file=sys.stderr)
        return 130
    print(f"study {a.out}: {c['complete']} complete, {c['pruned']} pruned, {c['failed']} failed of {c['trials']}"
          + (f"; best {c['best']} (trial {c['best_trial']})" if "best" in c else ""))
    print(f"report: ganscape report {a.out}")
    return 0


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)

