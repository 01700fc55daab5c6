"""`ganscape report`: an HTML (+ markdown) report of a study folder or a run folder."""
from __future__ import annotations

from pathlib import Path


def add(sub) -> None:
    p = sub.add_parser("report", help="write an HTML (+ markdown) report of a study or a run folder")
    p.add_argument("path", help="a study folder (from `ganscape study run`) or a run folder")
    p.set_defaults(handler=run)


def run(a) -> int:
    from ..study import make_report
    paths = make_report(Path(a.path))
    for p in paths:
        print(f"wrote {p}")
    return 0
