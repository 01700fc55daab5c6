"""The staleness-digits study (one or more study folders = seeds) as a table and a figure, read from
the trial folders only: FID at the last evaluation (64,000 real examples) per setting."""
import json
import sys
from pathlib import Path

import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

png, studies = sys.argv[1], [Path(s) for s in sys.argv[2:]]
rows = {}   # (batch, rule, k) -> list over seeds of (curve, status, lr, folder)
for study in studies:
    for t in sorted((study / "trials").glob("trial-*")):
        cfg = json.loads((t / "config.json").read_text())
        tr, lr = cfg["train"], cfg["optim"]["generator"]["params"]["lr"]
        rule = "constant" if abs(lr - 2e-4) < 1e-12 else "linear"
        status = json.loads((t / "status.json").read_text())["status"]
        curve = [(r["step"] * tr["batch_size"], r["results"]["fid"])
                 for r in map(json.loads, (t / "metrics.jsonl").read_text().splitlines())
                 if r.get("source") == "train" and "fid" in r.get("results", {})]
        rows.setdefault((tr["batch_size"], rule, tr["staleness"]), []).append((curve, status, lr, f"{study.name}/{t.name}"))
ks = sorted({k for _, _, k in rows})
batches = sorted({b for b, _, _ in rows})
final = {key: [c[-1][1] for c, *_ in v] for key, v in rows.items()}
print(f"FID (digits-cnn, n = 1000) at 64,000 real examples; mean over {len(studies)} seed(s) [per seed]")
print("| batch | lr rule (lr) | " + " | ".join(f"k = {k}" for k in ks) + " |")
print("|---|---|" + "---|" * len(ks))
for b in batches:
    for rule in ("constant", "linear"):
        cells = [f"{np.mean(final[(b, rule, k)]):.0f} [{', '.join(f'{v:.0f}' for v in final[(b, rule, k)])}]"
                 for k in ks]
        print(f"| {b} | {rule} ({rows[(b, rule, ks[0])][0][2]:g}) | " + " | ".join(cells) + " |")
print()
for key in sorted(rows):
    for curve, status, lr, name in rows[key]:
        print(name, "batch %d, lr %s, k %d:" % key, status, "FID by examples seen:",
              " ".join(f"{e}:{v:.1f}" for e, v in curve))
fig, (a, c) = plt.subplots(1, 2, figsize=(11, 4))
for b in batches:
    for rule, ls in (("constant", "-"), ("linear", "--")):
        m = [np.mean(final[(b, rule, k)]) for k in ks]
        a.plot(ks, m, ls, marker="o", label=f"batch {b}, lr {rule} ({rows[(b, rule, ks[0])][0][2]:g})")
for k, col in zip(ks, ("C0", "C1", "C3")):
    for (b, rule, ls) in ((32, "constant", "-"), (128, "linear", "--")):
        curves = [dict(cv) for cv, *_ in rows[(b, rule, k)]]
        e = sorted(curves[0])
        c.plot(e, [np.mean([cv[x] for cv in curves]) for x in e], ls, color=col, marker=".",
               label=f"batch {b}, lr {rule}, k={k}")
a.set_xlabel("train.staleness k (optimizer steps of delay)")
a.set_ylabel("FID at 64,000 real examples")
a.set_xticks(ks); a.legend(fontsize=8); a.set_title(f"digits: FID at a fixed budget ({len(studies)} seed(s))")
c.set_xlabel("real examples seen"); c.set_ylabel("FID"); c.set_yscale("log"); c.legend(fontsize=7)
c.set_title("FID over training (two of the four settings)")
fig.tight_layout(); fig.savefig(png, dpi=110)
