"""`ganscape probe convergence`: instruments for the open questions (issue 20)."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def add(sub) -> None:
    p = sub.add_parser("probe", help="instruments for GAN training's open questions (convergence)")
    psub = p.add_subparsers(dest="probe_command", required=True, metavar="PROBE")
    cv = psub.add_parser(
        "convergence", help="Dirac-GAN: exact Jacobian eigenvalues at the equilibrium and training trajectories "
                            "for each regularizer (Mescheder et al. 2018)",
        description="For each variant of the Dirac-GAN preset (none, r1, r2, r1-weak, wgan, wgan-gp, ttur): the "
                    "eigenvalues of the learning-rate-scaled Jacobian of the game's gradient field at theta = "
                    "psi = 0 (exact, by autograd through the registered loss and penalties), the closed form where "
                    "the paper gives one, and whether training from (1, 1) reaches the equilibrium. Writes "
                    "convergence.json and trajectories.png to --out.")
    cv.add_argument("--preset", default="dirac-gan", help="a Dirac-GAN config (default: dirac-gan)")
    cv.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a key of the preset for every variant (repeatable)")
    cv.add_argument("--variants", default="none,r1,r2,r1-weak,wgan,wgan-gp,ttur",
                    help="comma-separated (default: all)")
    cv.add_argument("--steps", type=int, default=2000, help="training steps per trajectory (default 2000)")
    cv.add_argument("--out", required=True, help="folder for convergence.json and trajectories.png")
    cv.set_defaults(handler=run)


def run(a) -> int:
    import numpy as np

    from ..api import make_config
    from ..probes import convergence as conv
    if a.steps < 1:
        print(f"error: --steps must be >= 1, got {a.steps}", file=sys.stderr)
        return 2
    base = make_config(a.preset, None, a.overrides)
    results = conv.probe(base, [v.strip() for v in a.variants.split(",") if v.strip()], a.steps)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    fmt = lambda ev: ", ".join(f"{e.real:+.4f}{e.imag:+.4f}i" for e in ev)  # noqa: E731
    print(f"{'variant':10s} {'eigenvalues of diag(lr) J at (0, 0)':42s} {'closed form':32s} after {a.steps} steps")
    rows = []
    for r in results:
        cf = fmt(np.sort_complex(r.closed_form)) if r.closed_form is not None else "-"
        dist = float(np.hypot(*r.trajectory[-1]))
        verdict = "converges" if r.converged else "does not converge"
        print(f"{r.name:10s} {fmt(np.sort_complex(r.eigenvalues)):42s} {cf:32s} {verdict} (distance {dist:.3g})")
        rows.append({"variant": r.name, "eigenvalues": [[e.real, e.imag] for e in r.eigenvalues],
                     "closed_form": None if r.closed_form is None else [[e.real, e.imag] for e in r.closed_form],
                     "max_real_part": r.max_real, "converged": r.converged, "final_distance": dist,
                     "final_point": r.trajectory[-1].tolist()})
    (out / "convergence.json").write_text(json.dumps({"preset": a.preset, "steps": a.steps, "results": rows},
                                                     indent=1) + "\n")
    conv.plot(results, out / "trajectories.png")
    print(f"figure: {out / 'trajectories.png'}")
    return 0
