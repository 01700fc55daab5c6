"""`ganscape doctor RUN`: the training doctor's findings for a run folder (probes/doctor.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def add(sub) -> None:
    p = sub.add_parser(
        "doctor", help="diagnose a run: divergence, D overpowering, mode collapse / dropping / hopping, "
                       "memorization, oscillation, with the evidence and the remedies that apply",
        description="Judges a run folder from its stats.jsonl and the doctor's checks (doctor.jsonl, recorded "
                    "with train.doctor=true; otherwise measured now on each kept checkpoint: sample diversity, "
                    "modes covered, memorized share). Prints each finding with its evidence (the numbers and the "
                    "steps) and the remedies that apply to the run's config, or 'healthy'. Writes doctor.json "
                    "and doctor.png to the run folder.")
    p.add_argument("run", help="a run folder")
    p.add_argument("--json", action="store_true",
                   help='print the findings as a JSON list of {"finding", "step", "net" (where one applies), '
                        '"evidence", "advice"}; [] for a healthy run')
    p.add_argument("--recheck", action="store_true",
                   help="measure the kept checkpoints even where the run recorded doctor.jsonl")
    p.add_argument("--max-checkpoints", type=int, default=20,
                   help="kept checkpoints measured when the run has no doctor.jsonl, evenly spaced (default 20)")
    p.add_argument("-n", "--n", type=int, default=500, help="samples per check (default 500)")
    p.set_defaults(handler=run)


def run(a) -> int:
    from ..probes.doctor import render
    from ..probes.doctor_run import examine
    if a.n < 10 or a.max_checkpoints < 1:
        print("error: need -n >= 10 and --max-checkpoints >= 1", file=sys.stderr)
        return 2
    findings = examine(Path(a.run), recheck=a.recheck, most=a.max_checkpoints, n=a.n,
                       progress=not a.json and sys.stderr.isatty())
    if a.json:
        print(json.dumps([f.to_json() for f in findings], indent=2))
    else:
        print(render(findings))
        print(f"wrote {Path(a.run) / 'doctor.json'} and {Path(a.run) / 'doctor.png'}")
    return 0
