"""`ganscape list`: every registered component with its parameters, and the presets."""
from __future__ import annotations

import sys


def add(sub) -> None:
    p = sub.add_parser("list", help="list every registered component with its parameters")
    p.add_argument("kind", nargs="?", help="only this kind (e.g. loss, penalty, dataset)")
    p.set_defaults(handler=run)


def run(a) -> int:
    from ..config import list_presets
    from ..registry import (ARCHITECTURES, DATASETS, EXTRACTORS, LOSSES, METHODS, METRICS, NORMALIZATIONS,
                            OPTIMIZERS, PENALTIES, param_doc)

    regs = [DATASETS, ARCHITECTURES, NORMALIZATIONS, LOSSES, PENALTIES, OPTIMIZERS, METHODS, EXTRACTORS, METRICS]
    kinds = {r.kind.replace(" ", "-"): r for r in regs}
    if a.kind and a.kind not in kinds and a.kind != "preset":
        print(f"error: unknown kind {a.kind!r}; choose one of: {', '.join(sorted(kinds))}, preset", file=sys.stderr)
        return 2
    for name, reg in kinds.items():
        if a.kind and a.kind != name or not len(reg):
            continue
        print(f"{reg.plural}:")
        for e in reg:
            print(f"  {e.name:<18} {e.description}")
            for pname, ptype, default in param_doc(e.params_cls):
                print(f"      {pname}: {ptype} = {default!r}")
        print()
    if not a.kind or a.kind == "preset":
        print("presets: " + ", ".join(list_presets()))
    return 0
