"""Tournaments of discriminators against generators and their skill ratings
(issue 20, part 2; Olsson et al. 2018, "Skill rating for generative models").

Players are the checkpoints of one run (a run's progress) or of several runs
(a comparison): checkpoint c of a run gives a generator G_c (its EMA copy
where there is one, what `sample` draws from) and a discriminator D_c. In a
match, D_c sees `n` real images (the test split, never trained on) and `n`
images from G_c'; it wins when its accuracy, calling a logit > 0 real, is
above `threshold` (0.5: better than chance); otherwise the generator wins.
Every D plays every G in `games` matches (each with its own real and latent
draws). A generator's tournament win rate is the share of its matches it
won; its skill rating is Glicko-2 (probes/glicko2.py) over all matches, the
same results replayed for `periods` rating periods so that the ratings
settle (one period moves a newcomer only part of the way).

Deviation from the paper: Olsson et al. play single-sample games and use
logit 0 for both real and fake; here a match is a batch of both, which makes
a D that calls everything fake lose (its accuracy is 0.5), as the issue asks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from ..registry import ConfigError
from .glicko2 import Rating, update


@dataclass
class Player:
    run: str
    step: int
    checkpoint: Path
    G: Optional[torch.nn.Module] = None
    D: Optional[torch.nn.Module] = None
    label: str = ""


@dataclass
class Tournament:
    players: List[Player]
    wins: np.ndarray                 # (n_D, n_G): matches won by D_i against G_j (of `games`); G columns
                                     # beyond the players are play()'s extra generators
    games: int
    g_ratings: List[Rating] = field(default_factory=list)
    d_ratings: List[Rating] = field(default_factory=list)

    def g_win_rate(self) -> np.ndarray:
        """Each generator's share of its matches won."""
        return 1.0 - self.wins.sum(0) / (self.games * self.wins.shape[0])

    def d_win_rate(self) -> np.ndarray:
        return self.wins.sum(1) / (self.games * self.wins.shape[1])


def players_of(run_dirs: Sequence[Path], device: str = "cpu", max_per_run: int = 10) -> List[Player]:
    """The kept checkpoints of each run (probes.kept_checkpoints), each with its generator and discriminator."""
    from ..train import rundir
    from ..train.state import load_data
    from . import gan_state, kept_checkpoints
    out = []
    names = run_labels(run_dirs)
    for run in map(Path, run_dirs):
        name = names[run]
        cfg = rundir.load_config(run)
        paths = kept_checkpoints(run, max_per_run)
        if not paths:
            raise ConfigError(f"tournament: {run} has no checkpoint")
        data = load_data(cfg, "test")
        for p in paths:
            state, _, ck = gan_state(cfg, data, p, f"tournament: {run}")
            G, D = state.sampler.eval().to(device), state.nets["D"].eval().to(device)
            out.append(Player(name, int(ck["step"]), p, G, D, f"{name}@{int(ck['step'])}"))
    return out


def run_labels(run_dirs: Sequence[Path]) -> Dict[Path, str]:
    """Each run folder's name in a tournament: its own name, or as many parent folders as it takes to tell
    it from another run of the same name (a/digits-001 and b/digits-001), so two runs never merge."""
    paths = [Path(r).resolve() for r in run_dirs]
    if len(set(paths)) != len(paths):
        raise ConfigError("tournament: a run folder is named twice")
    depth = {p: 1 for p in paths}
    label = lambda p: "/".join(p.parts[-depth[p]:])  # noqa: E731
    while True:
        seen: Dict[str, List[Path]] = {}
        for p in paths:
            seen.setdefault(label(p), []).append(p)
        clashes = [ps for ps in seen.values() if len(ps) > 1]
        if not clashes:
            return {Path(r): label(p) for r, p in zip(run_dirs, paths)}
        for ps in clashes:
            for p in ps:
                depth[p] += 1


@torch.no_grad()
def play(players: List[Player], real, n: int = 256, games: int = 4, threshold: float = 0.5,
         seed: int = 0, generators: Sequence[torch.nn.Module] = ()) -> Tournament:
    """Every D against every G in `games` matches; `real` a tensor of real images (N >= n). `generators`:
    more generators without a discriminator (the columns after the players'), e.g. the one a metric
    rates against a run's discriminators."""
    if len(real) < n:
        raise ConfigError(f"tournament: {len(real)} real images, fewer than n={n}; lower --n")
    gs = [p.G for p in players] + list(generators)
    wins = np.zeros((len(players), len(gs)), dtype=np.int64)
    for g in range(games):
        gen = torch.Generator().manual_seed(seed * 7919 + g)
        xr = real[torch.randperm(len(real), generator=gen)[:n]]
        # one latent batch per latent size (runs compared may differ in z_dim), drawn in a fixed order
        zs = {d: torch.randn(n, d, generator=gen) for d in sorted({G.z_dim for G in gs})}
        fakes = []
        for G in gs:
            dev = next(G.parameters()).device
            fakes.append(G(zs[G.z_dim].to(dev)).float().cpu())
        for i, p in enumerate(players):
            dev = next(p.D.parameters()).device
            real_ok = (p.D(xr.to(dev)).float().flatten() > 0).float().mean().item()
            for j, xf in enumerate(fakes):
                fake_ok = (p.D(xf.to(dev)).float().flatten() <= 0).float().mean().item()
                wins[i, j] += int((real_ok + fake_ok) / 2.0 > threshold)
    return Tournament(players, wins, games)


def rate(t: Tournament, periods: int = 10) -> Tournament:
    """Glicko-2 ratings of every generator and discriminator from the tournament's matches.

    The matches are replayed as `periods` rating periods so that the ratings settle (every player starts at
    1500, so one period barely separates them). Deviation from Glicko-2's use: each game then counts
    `periods` times, and the reported deviation (RD) shrinks about as 1/sqrt(periods) without new evidence;
    read RD as a relative spread between players of one tournament, not a calibrated uncertainty."""
    k_d, k_g = t.wins.shape
    gr, dr = [Rating() for _ in range(k_g)], [Rating() for _ in range(k_d)]
    for _ in range(periods):
        new_g = [update(gr[j], [(dr[i], 1.0) for i in range(k_d) for _ in range(t.games - t.wins[i, j])]
                        + [(dr[i], 0.0) for i in range(k_d) for _ in range(t.wins[i, j])]) for j in range(k_g)]
        new_d = [update(dr[i], [(gr[j], 1.0) for j in range(k_g) for _ in range(t.wins[i, j])]
                        + [(gr[j], 0.0) for j in range(k_g) for _ in range(t.games - t.wins[i, j])])
                 for i in range(k_d)]
        gr, dr = new_g, new_d
    t.g_ratings, t.d_ratings = gr, dr
    return t


def plot(t: Tournament, fid: Dict[str, Dict[int, float]], path: Path) -> Path:
    """Generator rating against step for each run, FID beside it where the run recorded one."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..viz import save_figure
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    ax2 = None
    for run in dict.fromkeys(p.run for p in t.players):
        idx = [i for i, p in enumerate(t.players) if p.run == run]
        steps = [t.players[i].step for i in idx]
        ax.plot(steps, [t.g_ratings[i].rating for i in idx], "o-", label=f"{run}: G rating")
        if fid.get(run):
            ax2 = ax2 or ax.twinx()
            s = sorted(fid[run])
            ax2.plot(s, [fid[run][x] for x in s], "x--", alpha=0.6, label=f"{run}: FID")
    ax.set_xlabel("step")
    ax.set_ylabel("Glicko-2 rating of G")
    if ax2 is not None:
        ax2.set_ylabel("FID (lower is better)")
        ax2.legend(loc="lower right", fontsize=7)
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def rate_generator(run_dir: Path, G: torch.nn.Module, n: int = 256, games: int = 4, threshold: float = 0.5,
                   max_per_run: int = 10) -> Dict[str, float]:
    """The metric skill-rating: G rated by Glicko-2 in a tournament against the discriminators of a run's
    kept checkpoints, the run's own generators playing too (ratings are relative to a population: these
    give it its scale), on the run's test images. Returns G's rating, its deviation and its win rate."""
    from ..train import rundir
    from ..train.state import load_data
    cfg = rundir.load_config(Path(run_dir))
    players = players_of([Path(run_dir)], max_per_run=max_per_run)
    test = load_data(cfg, "test")
    real = test.take(torch.arange(len(test)))
    was = G.training
    G.eval()
    try:
        t = rate(play(players, real, min(n, len(real)), games, threshold, generators=[G]))
    finally:
        G.train(was)
    r = t.g_ratings[-1]
    return {"skill_rating": float(r.rating), "skill_rating_rd": float(r.rd), "skill_win_rate": float(t.g_win_rate()[-1])}
