"""The thread count: `train.threads` auto (0) against every fixed count, on
a few presets, with the machine as it is and beside one busy process, in
one process and interleaved (so a change in the machine's load hits every
setting alike).

    python benchmarks/bench_threads.py [--seconds 20] [--repeats 2] [--presets digits,dcgan-digits32,text-mle]

Each run trains for `--seconds` of training steps (train.max_seconds; no
sample grids, checkpoints or evaluation in between); steps/s = steps done /
seconds of training steps (from stats.jsonl), so the auto runs pay for their
own measurements (a short untimed run of each preset first: the first steps
in a process pay for kernel selection and allocations). "busy" starts one process that spins on a CPU for the
whole measurement (what another job or a browser does to a shared machine).
Printed per preset and condition: the median steps/s of auto and of each
fixed count, the best fixed count, and auto / best fixed (goal >= 0.9 in
both conditions), then the counts auto chose and why (RUN/threads.jsonl),
and the machine's load average before and after.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import tempfile
from pathlib import Path

import ganscape
from ganscape.train import rundir
from ganscape.train.threads import available_cpus, candidates


def _spin() -> None:  # pragma: no cover - runs in the busy process
    while True:
        pass


def steps_per_second(run: Path) -> float:
    """Steps / seconds of training steps, from stats.jsonl (sec_per_step times the steps between logs)."""
    stats = [r for r in rundir.read_jsonl(run / rundir.STATS) if "sec_per_step" in r]
    seconds, last = 0.0, 0
    for r in stats:
        seconds += r["sec_per_step"] * (r["step"] - last)
        last = r["step"]
    return last / seconds if seconds > 0 else float("nan")


def one(preset: str, threads: int, seconds: float, out: Path) -> tuple:
    sets = ["data.params.path=" + str(Path(__file__).resolve().parents[1] / "README.md")] if preset == "text-mle" else []
    sets += [f"train.threads={threads}", f"train.max_seconds={seconds}", "train.steps=1000000",
            "train.sample_every=0", "train.checkpoint_every=0", "train.latest_every=1000000", "train.log_every=5",
            "eval.metrics=[]", "train.progress=false"]
    run = ganscape.train(preset, overrides=sets, out=out, progress=False)
    chosen = [(r["threads"], r["why"]) for r in map(json.loads, (run / rundir.THREADS).read_text().splitlines())]
    return steps_per_second(run), chosen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--presets", default="digits,dcgan-digits32,text-mle",
                    help="text-mle trains on this repository's README.md")
    a = ap.parse_args()
    os.environ.pop("OMP_NUM_THREADS", None)  # it would cap auto (train/threads.py): the counts are what is measured
    n = available_cpus()
    fixed = candidates(n)
    print(f"{n} CPUs available; fixed counts {fixed}; {a.seconds:g} s of training steps per run, "
          f"median of {a.repeats}; load average {os.getloadavg()[0]:.1f}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in a.presets.split(","):
            # untimed: the first steps of a preset in a process pay for kernel selection and allocation
            one(preset, 1, min(5.0, a.seconds), Path(tmp) / f"{preset}-warmup")
            for condition in ("as is", "busy"):
                busy = None
                if condition == "busy":
                    busy = multiprocessing.get_context("spawn").Process(target=_spin, daemon=True)
                    busy.start()
                try:
                    rates = {k: [] for k in ["auto", *fixed]}
                    choices = []
                    for r in range(a.repeats):
                        order = ["auto", *fixed] if r % 2 == 0 else ["auto", *fixed][::-1]
                        for k in order:
                            rate, chosen = one(preset, 0 if k == "auto" else k, a.seconds,
                                               Path(tmp) / f"{preset}-{condition.replace(' ', '')}")
                            rates[k].append(rate)
                            if k == "auto":
                                choices.append(chosen)
                finally:
                    if busy is not None:
                        busy.terminate()
                        busy.join()
                med = {k: statistics.median(v) for k, v in rates.items()}
                best = max(fixed, key=lambda k: med[k])
                row = (preset, condition, med, best, med["auto"] / med[best], choices)
                rows.append(row)
                print(f"{preset:16s} {condition:6s} auto {med['auto']:7.2f}  "
                      + "  ".join(f"{k} thr {med[k]:7.2f}" for k in fixed)
                      + f"  best fixed {best}: auto/best {row[4]:.2f}  auto chose {choices}", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print("\n| preset | machine | auto steps/s | " + " | ".join(f"{k} thread(s)" for k in fixed)
          + " | auto / best fixed |")
    print("|---|---|---|" + "---|" * len(fixed) + "---|")
    for preset, condition, med, best, ratio, _ in rows:
        print(f"| {preset} | {condition} | {med['auto']:.2f} | "
              + " | ".join(f"{med[k]:.2f}" for k in fixed) + f" | {ratio:.2f} |")


if __name__ == "__main__":
    main()
