"""Benchmark (e) of issue 20: which regularizers make GAN training converge,
on the Dirac-GAN and in the LQG setting, next to the published conclusions;
and the Jacobian spectrum of a real digits run at its end.

    python benchmarks/bench_convergence.py                     # ~5 CPU-minutes on 2 busy cores
    python benchmarks/bench_convergence.py --table docs/bench_convergence.txt \\
        --figure docs/dirac_trajectories.png --lqg-figure docs/lqg_trajectories.png \\
        --runs /tmp/spec

For every variant (ganscape/probes/convergence.py's VARIANTS and
LQG_VARIANTS): the eigenvalues of the learning-rate-scaled Jacobian of the
game's gradient field at the equilibrium (exact: autograd in float64 through
the registered losses and penalties), the closed form where Mescheder et al.
give one, and whether the engine's own training steps reach the equilibrium
(Dirac-GAN: within 0.05 of (0, 0) after --dirac-steps steps; LQG: A A^T
within 15% of the PCA solution over the last tenth of --lqg-steps steps).

The "paper" column is the conclusion of Mescheder, Geiger & Nowozin (2018,
"Which training methods for GANs do actually converge?", Sec. 3 and its
Dirac-GAN figure of the regularizers' trajectories): unregularized GAN
training and WGAN (with finitely many D steps) and WGAN-GP do not converge;
consensus optimization, instance noise and zero-centred gradient penalties
(R1, R2; Sec. 4) do. TTUR is not one of its cases; the same lemma (its
eigenvalues are +-i f'(0) sqrt(h_G h_D)) says it circles. The LQG column
is what the analysis in ganscape/nets/lqg.py predicts (Feizi et al. 2017
prove the PCA optimum, not these dynamics).

The digits row: the digits preset trained for --digits-steps steps, then
`ganscape probe spectrum` at its last checkpoint (Hessian-vector products,
ARPACK's Arnoldi, k = 6, relative tolerance 1e-4).
"""
from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np

PAPER = {
    "none": "does not converge (eigenvalues +-i f'(0))",
    "r1": "converges (zero-centred penalty)",
    "r2": "converges (zero-centred penalty)",
    "r1-weak": "converges (any gamma > 0)",
    "wgan": "does not converge",
    "wgan-gp": "does not converge",
    "ttur": "(no entry; +-i f'(0) sqrt(hG hD): circles)",
    "instance-noise": "converges",
    "consensus": "converges (h small enough)",
}
LQG_THEORY = {
    "none": "no equilibrium for r < d (D's loss linear in W)",
    "l2": "converges (D strongly concave in W)",
    "r1": "converges (strongly concave in W's symmetric part)",
    "ttur": "converges (faster D)",
    "instance-noise": "= l2 (f'' = 0: noise cancels in the IPM)",
    "consensus": "converges",
    "consensus-strong": "repelled from K's top direction (2 l - 4 gamma l^2 < 0)",
}


def eig_text(ev, k=2):
    ev = np.asarray(ev)[np.argsort(-np.asarray(ev).real)][:k]
    return ", ".join(f"{e.real:+.4f}{e.imag:+.4f}i" for e in ev)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dirac-steps", type=int, default=2000)
    ap.add_argument("--lqg-steps", type=int, default=1000)
    ap.add_argument("--digits-steps", type=int, default=300)
    ap.add_argument("--runs", default="/tmp/bench_convergence", help="folder for the digits run (reused)")
    ap.add_argument("--no-spectrum", action="store_true", help="skip the digits run and its spectrum")
    ap.add_argument("--table", default=None)
    ap.add_argument("--figure", default=None, help="Dirac-GAN trajectories (png)")
    ap.add_argument("--lqg-figure", default=None, help="LQG distances to the PCA solution (png)")
    ap.add_argument("--spectrum-figure", default=None, help="the digits run's eigenvalues (png)")
    a = ap.parse_args(argv)

    from ganscape.api import make_config
    from ganscape.probes import convergence as conv
    lines = []

    def say(s=""):
        print(s, flush=True)
        lines.append(s)

    t0 = time.time()
    say(f"Dirac-GAN (preset dirac-gan: minimax loss, SGD lr 0.1, start (1, 1)); {a.dirac_steps} training steps")
    say(f"{'variant':15s} {'eigenvalues of diag(lr) J at (0,0)':38s} {'closed form':38s} {'engine':18s} "
        f"{'distance':>9s}  paper (Mescheder et al. 2018)")
    dirac = conv.probe(make_config("dirac-gan"), list(conv.VARIANTS), a.dirac_steps)
    agree = 0
    for r in dirac:
        cf = eig_text(r.closed_form) if r.closed_form is not None else "-"
        verdict = "converges" if r.converged else "does not converge"
        paper_conv = PAPER[r.name].startswith("converges")
        agree += paper_conv == r.converged
        say(f"{r.name:15s} {eig_text(r.eigenvalues):38s} {cf:38s} {verdict:18s} {r.distance:9.3g}  {PAPER[r.name]}")
    say(f"agreement with the paper's conclusions: {agree} of {len(dirac)} (TTUR by its lemma)")
    say("overrides: " + "; ".join(f"{k}: {' '.join(v) or '(preset)'}" for k, v in conv.VARIANTS.items()))
    say()
    say(f"LQG (preset lqg-gan: d 4, rank 2, K's eigenvalues 1, 1/2, 1/4, 1/8; wasserstein loss on "
        f"D(x) = x^T W x, l2 penalty 1; SGD lr 0.05, batch 256); {a.lqg_steps} steps")
    say(f"{'variant':17s} {'max Re diag(lr) J (zero eigenvalues)':38s} {'engine':18s} {'||AA^T-P||/||P||':>16s}"
        f"  theory")
    lqg = conv.probe(make_config("lqg-gan"), list(conv.LQG_VARIANTS), a.lqg_steps)
    for r in lqg:
        ev = (f"{r.max_real:+.5f} ({r.extra['zero_eigenvalues']} of {len(r.eigenvalues)})" if len(r.eigenvalues)
              else "no equilibrium")
        verdict = "converges" if r.converged else "does not converge"
        say(f"{r.name:17s} {ev:38s} {verdict:18s} {r.distance:16.3g}  {LQG_THEORY[r.name]}")
    say("overrides: " + "; ".join(f"{k}: {' '.join(v) or '(preset)'}" for k, v in conv.LQG_VARIANTS.items()))
    say(f"(toys: {time.time() - t0:.0f} s wall)")
    if a.figure:
        conv.plot(dirac, Path(a.figure))
    if a.lqg_figure:
        conv.plot(lqg, Path(a.lqg_figure))

    if not a.no_spectrum:
        t1 = time.time()
        runs = Path(a.runs)
        run = runs / "digits-001"
        if not (run / "checkpoints" / "latest.pt").exists():
            subprocess.run([sys.executable, "-m", "ganscape", "train", "--preset", "digits", "--set",
                            f"train.steps={a.digits_steps}", "--set", "train.progress=false", "--out", str(runs)],
                           check=True, stdout=subprocess.DEVNULL)
        from ganscape.cli import main as cli
        out = runs / "spectrum"
        buf = io.StringIO()
        with redirect_stdout(buf):
            rc = cli(["probe", "spectrum", str(run), "-k", "6", "--out", str(out)])
        if rc != 0:
            raise SystemExit(f"probe spectrum failed ({rc})")
        rec = json.loads((out / "spectrum.json").read_text())
        say()
        say(f"digits preset, {rec['step']} steps (`ganscape train --preset digits --set train.steps="
            f"{a.digits_steps}`), then `ganscape probe spectrum RUN -k 6`: diag(lr) J over {rec['parameters']} "
            f"parameters, {rec['products']} Hessian-vector products ({rec['method']}), {time.time() - t1:.0f} s wall")
        fmt = lambda ps: ", ".join(f"{x:+.3g}{y:+.3g}i" for x, y in ps)  # noqa: E731
        say(f"  largest magnitude: {fmt(rec['largest_magnitude'])}")
        say(f"  largest real part: {fmt(rec['largest_real'])}")
        if a.spectrum_figure:
            Path(a.spectrum_figure).write_bytes((out / "spectrum.png").read_bytes())
    if a.table:
        Path(a.table).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
