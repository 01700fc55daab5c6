"""`ganscape probe convergence|spectrum|attack` and `ganscape tournament`: instruments for the open questions
(issue 20)."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def add(sub) -> None:
    p = sub.add_parser("probe", help="instruments for GAN training's open questions (convergence, spectrum, attack)")
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
    cv.add_argument("--variants", default="",
                    help="comma-separated (default: all of the game's: Dirac-GAN none, r1, r2, r1-weak, wgan, "
                         "wgan-gp, ttur, instance-noise, consensus; LQG (--preset lqg-gan) none, l2, r1, ttur, "
                         "instance-noise, consensus, consensus-strong)")
    cv.add_argument("--steps", type=int, default=2000, help="training steps per trajectory (default 2000)")
    cv.add_argument("--out", required=True, help="folder for convergence.json and trajectories.png")
    cv.set_defaults(handler=run)

    sp = psub.add_parser(
        "spectrum", help="eigenvalues of the Jacobian of a GAN run's gradient field (Hessian-vector products, "
                         "ARPACK's Arnoldi)",
        description="At a checkpoint of a GAN run: the k eigenvalues of largest magnitude and of largest real part "
                    "of diag(lr) J, J the Jacobian of the game's joint gradient field over all of G's and D's "
                    "parameters on one fixed batch (float64), from Hessian-vector products by double "
                    "backpropagation and scipy's eigs (implicitly restarted Arnoldi). Writes spectrum.json and "
                    "spectrum.png to --out (default: RUN/probes).")
    sp.add_argument("run", help="a GAN run folder")
    sp.add_argument("--checkpoint", default="latest", help="latest or a step number (default latest)")
    sp.add_argument("-k", type=int, default=6, help="eigenvalues of each kind (default 6)")
    sp.add_argument("--batch", type=int, default=64, help="real examples in the fixed batch (default 64)")
    sp.add_argument("--out", default=None, help="folder for spectrum.json and spectrum.png")
    sp.set_defaults(handler=run_spectrum)

    at = psub.add_parser(
        "attack", help="adversarial examples of D (PGD) and the accidental-attack measure of G's updates",
        description="At each kept checkpoint of a GAN run: the share of real (test) and generated images whose D "
                    "decision a PGD attack flips within each budget, the median budget needed, and how "
                    "adversarial one training step of G is to the D before it (cosine with D's input gradient, "
                    "and D's change per unit pixel move relative to a gradient step of the same length). "
                    "Writes attack.json and attack.png to --out.")
    at.add_argument("run", help="a GAN run folder")
    at.add_argument("--norm", choices=("linf", "l2"), default="linf", help="the budget's norm (default linf)")
    at.add_argument("--budgets", default="0.01,0.03,0.1,0.3", help="comma-separated budgets (pixels in [-1, 1])")
    at.add_argument("-n", "--n", type=int, default=200, help="real and generated images (default 200)")
    at.add_argument("--max-checkpoints", type=int, default=6, help="kept checkpoints, evenly spaced (default 6)")
    at.add_argument("--out", required=True, help="folder for attack.json and attack.png")
    at.set_defaults(handler=run_attack)

    t = sub.add_parser(
        "tournament", help="discriminators against generators over the checkpoints of runs: win rates and "
                           "Glicko-2 skill ratings (Olsson et al. 2018)",
        description="Every kept checkpoint (step_N.pt, at most --max-per-run, plus latest.pt) of each run is a "
                    "generator and a discriminator. Each D plays each G in --games matches of --n real test images "
                    "and --n generated ones; D wins with an accuracy (logit > 0 = real) above --threshold. Prints "
                    "each G's win rate and rating beside the FID the run recorded at that step; writes "
                    "tournament.json and ratings.png to --out.")
    t.add_argument("runs", nargs="+", help="run folders of GANs on the same data set")
    t.add_argument("--n", type=int, default=256, help="real and generated images per match (default 256)")
    t.add_argument("--games", type=int, default=4, help="matches per (D, G) pair (default 4)")
    t.add_argument("--threshold", type=float, default=0.5, help="D's accuracy needed to win (default 0.5)")
    t.add_argument("--max-per-run", type=int, default=10, help="checkpoints per run, evenly spaced (default 10)")
    t.add_argument("--out", required=True, help="folder for tournament.json and ratings.png")
    t.set_defaults(handler=run_tournament)


def _fid_by_step(run: Path) -> dict:
    from ..train import rundir
    out = {}
    for rec in rundir.read_jsonl(run / rundir.METRICS):
        fid = (rec.get("results") or {}).get("fid")
        if fid is not None and "step" in rec:
            out[int(rec["step"])] = float(fid)
    return out


def run_tournament(a) -> int:
    from ..probes import tournament as tm
    from ..registry import ConfigError
    from ..train import rundir
    from ..train.state import load_data
    if a.n < 2 or a.games < 1 or not 0.0 <= a.threshold < 1.0 or a.max_per_run < 1:
        print("error: need --n >= 2, --games >= 1, --max-per-run >= 1 and --threshold in [0, 1)", file=sys.stderr)
        return 2
    runs = [Path(r) for r in a.runs]
    cfgs = [rundir.load_config(r) for r in runs]
    for r, c in zip(runs[1:], cfgs[1:]):
        if (c.data.name, dict(c.data.params)) != (cfgs[0].data.name, dict(cfgs[0].data.params)):
            raise ConfigError(f"tournament: {r} trained on {c.data.name} {dict(c.data.params)}, {runs[0]} on "
                              f"{cfgs[0].data.name} {dict(cfgs[0].data.params)}: players must share their data")
    real = load_data(cfgs[0], "test").floats()
    players = tm.players_of(runs, max_per_run=a.max_per_run)
    t = tm.rate(tm.play(players, real, a.n, a.games, a.threshold))
    labels = tm.run_labels(runs)
    fid = {labels[r]: _fid_by_step(r) for r in runs}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    gw, dw = t.g_win_rate(), t.d_win_rate()
    print(f"{len(players)} players, {a.games} matches per pair of {a.n} real and {a.n} generated images")
    print(f"{'player':28s} {'G win rate':>10s} {'G rating':>16s} {'D win rate':>10s} {'FID':>9s}")
    rows = []
    for i, p in enumerate(players):
        f = fid[p.run].get(p.step)
        g = t.g_ratings[i]
        print(f"{p.label:28s} {gw[i]:10.3f} {g.rating:9.1f} +- {g.rd:4.0f} {dw[i]:10.3f} "
              f"{'' if f is None else f'{f:9.3f}'}")
        rows.append({"run": p.run, "step": p.step, "checkpoint": p.checkpoint.name, "g_win_rate": float(gw[i]),
                     "g_rating": g.rating, "g_rd": g.rd, "d_win_rate": float(dw[i]),
                     "d_rating": t.d_ratings[i].rating, "fid": f})
    (out / "tournament.json").write_text(json.dumps({"n": a.n, "games": a.games, "threshold": a.threshold,
                                                     "players": rows, "wins": t.wins.tolist()}, indent=1) + "\n")
    tm.plot(t, fid, out / "ratings.png")
    print(f"figure: {out / 'ratings.png'}")
    return 0


def run(a) -> int:
    import numpy as np

    from ..api import make_config
    from ..probes import convergence as conv
    if a.steps < 1:
        print(f"error: --steps must be >= 1, got {a.steps}", file=sys.stderr)
        return 2
    base = make_config(a.preset, None, a.overrides)
    game = conv.game_of(base)
    names = [v.strip() for v in a.variants.split(",") if v.strip()] or list(conv.variants_of(game))
    results = conv.probe(base, names, a.steps)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    fmt = lambda ev: ", ".join(f"{e.real:+.4f}{e.imag:+.4f}i" for e in ev)  # noqa: E731
    if game == "dirac":
        print(f"{'variant':15s} {'eigenvalues of diag(lr) J at (0, 0)':42s} {'closed form':32s} after {a.steps} steps")
    else:
        print(f"{'variant':17s} {'max Re of diag(lr) J at the PCA equilibrium':44s} after {a.steps} steps: "
              f"||AA^T - P|| / ||P||")
    rows = []
    for r in results:
        cf = fmt(np.sort_complex(r.closed_form)) if r.closed_form is not None else "-"
        dist = r.distance
        verdict = "converges" if r.converged else "does not converge"
        if game == "dirac":
            print(f"{r.name:15s} {fmt(np.sort_complex(r.eigenvalues)):42s} {cf:32s} {verdict} (distance {dist:.3g})")
        else:
            ev = (f"{r.max_real:+.5f} ({r.extra['zero_eigenvalues']} zero of {len(r.eigenvalues)})"
                  if len(r.eigenvalues) else "no equilibrium")
            print(f"{r.name:17s} {ev:44s} {verdict} (distance {dist:.3g})")
        rows.append({"variant": r.name, "game": game, "eigenvalues": [[e.real, e.imag] for e in r.eigenvalues],
                     "closed_form": None if r.closed_form is None else [[e.real, e.imag] for e in r.closed_form],
                     "max_real_part": r.max_real, "converged": r.converged, "final_distance": dist,
                     "final_point": r.trajectory[-1].tolist(), "note": r.note, **r.extra})
    (out / "convergence.json").write_text(json.dumps({"preset": a.preset, "steps": a.steps, "results": rows},
                                                     indent=1) + "\n")
    conv.plot(results, out / "trajectories.png")
    print(f"figure: {out / 'trajectories.png'}")
    return 0


def run_spectrum(a) -> int:
    import torch

    from ..probes import gan_state
    from ..probes import spectrum as spc
    from ..registry import ConfigError
    from ..train import rundir
    from ..train.state import load_data
    if a.k < 1 or a.batch < 2:
        print(f"error: need -k >= 1 and --batch >= 2, got -k {a.k}, --batch {a.batch}", file=sys.stderr)
        return 2
    run = Path(a.run)
    cfg = rundir.load_config(run)
    folder = run / rundir.CHECKPOINTS
    path = folder / ("latest.pt" if a.checkpoint == "latest" else
                     f"step_{int(a.checkpoint):06d}.pt" if a.checkpoint.isdigit() else a.checkpoint)
    if not path.exists():
        raise ConfigError(f"probe spectrum: no checkpoint {path.name} in {folder}; give --checkpoint latest or a "
                          f"kept step ({', '.join(p.name for p in sorted(folder.glob('*.pt'))) or 'none kept'})")
    data = load_data(cfg, "train")
    state, method, ck = gan_state(cfg, data, path, f"probe spectrum: {run}")
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:a.batch]   # fixed batch
    spec = spc.run_spectrum(cfg, state, method, data.take(pick).float(), k=a.k)
    step = int(ck["step"])
    print(f"{run} at step {step}: diag(lr) J over {spec.n} parameters, {spec.matvecs} Hessian-vector products "
          f"({spec.method})")
    print("largest magnitude:  " + ", ".join(spc.fmt(spec.largest_magnitude)))
    print("largest real part:  " + ", ".join(spc.fmt(spec.largest_real)))
    out = Path(a.out) if a.out else run / "probes"
    out.mkdir(parents=True, exist_ok=True)
    pairs = lambda ev: [[float(e.real), float(e.imag)] for e in ev]  # noqa: E731
    (out / "spectrum.json").write_text(json.dumps({
        "run": str(run), "step": step, "parameters": spec.n, "products": spec.matvecs, "method": spec.method,
        "largest_magnitude": pairs(spec.largest_magnitude), "largest_real": pairs(spec.largest_real)}, indent=1) + "\n")
    spc.plot(spec, out / "spectrum.png", f"{run.name} step {step}: {spec.n} parameters, {spec.matvecs} products")
    print(f"figure: {out / 'spectrum.png'}")
    return 0


def run_attack(a) -> int:
    import torch

    from ..probes import attack as atk
    from ..probes import gan_state, kept_checkpoints
    from ..registry import ConfigError
    from ..train import rundir
    from ..train.feed import Feed
    from ..train.state import load_data
    try:
        budgets = [float(b) for b in a.budgets.split(",") if b.strip()]
    except ValueError:
        budgets = []
    if not budgets or min(budgets) <= 0 or a.n < 2 or a.max_checkpoints < 1:
        print("error: need positive --budgets (comma-separated numbers), --n >= 2 and --max-checkpoints >= 1",
              file=sys.stderr)
        return 2
    run = Path(a.run)
    cfg = rundir.load_config(run)
    paths = kept_checkpoints(run, a.max_checkpoints, with_latest=False)
    if not paths:
        raise ConfigError(f"probe attack: {run} has no checkpoint")
    data, test = load_data(cfg, "train"), load_data(cfg, "test")
    real = test.take(torch.arange(min(a.n, len(test))))
    rows = []
    print(f"{'step':>7s} " + " ".join(f"{'real@' + f'{e:g}':>10s}" for e in budgets) + " "
          + " ".join(f"{'fake@' + f'{e:g}':>10s}" for e in budgets) + f" {'med real':>9s} {'med fake':>9s} "
          f"{'cos(dG,gradD)':>13s} {'G/attack':>9s}")
    for p in paths:
        state, method, ck = gan_state(cfg, data, p, f"probe attack: {run}")
        D = state.nets["D"].eval()
        G = state.sampler.eval()
        with torch.no_grad():
            fake = G(torch.randn(len(real), G.z_dim, generator=torch.Generator().manual_seed(1))).float()
        res = atk.summary(D, real, fake, a.norm, budgets)
        D.train()
        feed = Feed(cfg, data, torch.device("cpu"))
        batches = [feed(state.batch + i) for i in range(cfg.train.n_disc)]
        acc = atk.accidental_attack(state, method, batches, n=a.n)
        step = int(ck["step"])
        rows.append({"step": step, "checkpoint": p.name, **res, "accidental": {
            "cosine": acc.cosine, "rate_g": acc.rate_g, "rate_attack": acc.rate_attack, "ratio": acc.ratio,
            "move": acc.move}})
        print(f"{step:7d} " + " ".join(f"{res['real']['success'][f'{e:g}']:10.2f}" for e in budgets) + " "
              + " ".join(f"{res['fake']['success'][f'{e:g}']:10.2f}" for e in budgets)
              + f" {res['real']['median_budget']:9.4f} {res['fake']['median_budget']:9.4f} {acc.cosine:13.3f}"
              f" {acc.ratio:9.3f}")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "attack.json").write_text(json.dumps({"norm": a.norm, "budgets": budgets, "n": len(real),
                                                 "checkpoints": rows}, indent=1) + "\n")
    _plot_attack(rows, out / "attack.png", a.norm)
    print(f"figure: {out / 'attack.png'}")
    return 0


def _plot_attack(rows, path: Path, norm: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..viz import save_figure
    steps = [r["step"] for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3.2), dpi=100)
    a1.plot(steps, [r["real"]["median_budget"] for r in rows], "o-", label="real")
    a1.plot(steps, [r["fake"]["median_budget"] for r in rows], "s-", label="generated")
    a1.set_xlabel("step")
    a1.set_ylabel(f"median {norm} budget to flip D")
    a1.legend(fontsize=7)
    a2.plot(steps, [r["accidental"]["cosine"] for r in rows], "o-", label="cos(G's move, D's gradient)")
    a2.plot(steps, [r["accidental"]["ratio"] for r in rows], "s-", label="D change: G's move / attack")
    a2.axhline(0, c="0.7", lw=0.8)
    a2.set_xlabel("step")
    a2.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)
