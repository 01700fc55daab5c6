"""Which regularizers make GAN training converge? The Dirac-GAN answer
(issue 20, part 7; Mescheder et al. 2018).

For a Dirac-GAN config (preset `dirac-gan`: G the point theta, D(x) = psi x,
data the point 0) and each regularizer variant:

- the gradient field of the game, v(theta, psi) = (-dL_G/dtheta, -dL_D/dpsi),
  built from the config's own registered loss and penalties (the functions
  training calls), in float64; its Jacobian at the equilibrium (0, 0) by
  automatic differentiation (exact, not finite differences), multiplied by
  the learning rates (TTUR changes them) and its eigenvalues: a real part
  < 0 for both means local convergence of gradient flow, 0 means circling;
- the trajectory of real training from the preset's start: the method's own
  step on the data set's batches, the state the training loop builds, its
  parameters recorded after every step (the loop's run folder and
  evaluations left out: they do not change the parameters);
- the closed form where the paper gives one: GAN losses (f'(0) = 1/2) with a
  zero-centred penalty of weight g (R1, R2: g/2 psi^2 here) have
  eigenvalues -g/2 +- sqrt(g^2/4 - 1/4), purely imaginary without one;
  WGAN's +-i.

Mescheder et al.'s conclusions, which the figure reproduces: unregularized
GAN and WGAN training (and WGAN-GP, whose penalty is not zero-centred) do not
converge on the Dirac-GAN; instance noise and zero-centred gradient penalties
(R1, R2) do. Not built here: instance noise and consensus optimization (no
such option in the engine yet).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch

from ..config import Config
from ..registry import LOSSES, PENALTIES, ConfigError

# Variants: config overrides on top of the dirac-gan preset.
VARIANTS: Dict[str, List[str]] = {
    "none": [],
    "r1": ["penalties=[{name: r1, params: {weight: 1.0}}]"],
    "r2": ["penalties=[{name: r2, params: {weight: 1.0}}]"],
    "r1-weak": ["penalties=[{name: r1, params: {weight: 0.3}}]"],
    "wgan": ["loss=wasserstein"],
    "wgan-gp": ["loss=wasserstein", "penalties=[{name: gp, params: {weight: 1.0}}]"],
    "ttur": ["optim.discriminator.params.lr=0.4"],
}


@dataclass
class Result:
    name: str
    eigenvalues: np.ndarray          # of diag(lr_G, lr_D) J at (0, 0)
    closed_form: Optional[np.ndarray]
    trajectory: np.ndarray           # (steps + 1, 2): theta, psi
    converged: bool                  # the last point within `tol` of the equilibrium

    @property
    def max_real(self) -> float:
        return float(self.eigenvalues.real.max())


def _nets(cfg: Config, point: torch.Tensor):
    from ..train.state import DataSpec, build_state
    state, _ = build_state(cfg, DataSpec((1,), 0, "points"), torch.device("cpu"))
    G, D = state.nets["G"].double(), state.nets["D"].double()
    if not (hasattr(G, "theta") and hasattr(D, "psi")):
        raise ConfigError("probe convergence plays the Dirac-GAN: model.generator and model.discriminator must "
                          "use architecture dirac (preset dirac-gan)")
    return G, D, state


def field(cfg: Config, point: torch.Tensor) -> torch.Tensor:
    """v(theta, psi) at `point` (2,), differentiable in it, from the config's loss and penalties."""
    G, D, _ = _nets(cfg, point)
    del G.theta, D.psi                       # the point itself becomes the parameters (for autograd)
    G.theta, D.psi = point[0:1], point[1:2]
    n = 4
    real = torch.zeros(n, 1, dtype=torch.float64)
    fake = G(torch.zeros(n, 1, dtype=torch.float64))
    loss_p = LOSSES.params(cfg.loss.name, cfg.loss.params)
    loss = LOSSES.get(cfg.loss.name).fn
    # D's loss keeps its dependence on theta (through fake), so that d v_psi / d theta is in the Jacobian;
    # only its gradient in psi is taken
    d_loss = loss(loss_p, D(real), D(fake))["d"]
    for c in cfg.penalties:
        d_loss = d_loss + PENALTIES.get(c.name).fn(PENALTIES.params(c.name, c.params), D, real, fake)
    g_loss = loss(loss_p, None, D(fake))["g"]
    (gd_psi,) = torch.autograd.grad(d_loss, D.psi, create_graph=True)
    (gg_theta,) = torch.autograd.grad(g_loss, G.theta, create_graph=True)
    return torch.cat([-gg_theta, -gd_psi])


def jacobian(cfg: Config, at: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """d v / d (theta, psi) at `at`, exact (autograd), scaled by the optimizers' learning rates."""
    point = torch.tensor(list(at), dtype=torch.float64, requires_grad=True)
    v = field(cfg, point)
    rows = [torch.autograd.grad(v[i], point, retain_graph=True)[0] for i in range(2)]
    J = torch.stack(rows).numpy()
    lr = np.array([cfg.optim.generator.params["lr"], cfg.optim.discriminator.params["lr"]])
    return lr[:, None] * J


def closed_form(cfg: Config) -> Optional[np.ndarray]:
    """Eigenvalues of diag(lr) J from Mescheder et al.'s analysis, where it covers the config."""
    h_g, h_d = cfg.optim.generator.params["lr"], cfg.optim.discriminator.params["lr"]
    names = [c.name for c in cfg.penalties]
    if cfg.loss.name in ("ns", "minimax") and set(names) <= {"r1", "r2"} and len(names) <= 1:
        g = cfg.penalties[0].params.get("weight", 1.0) if names else 0.0
        # J = [[0, 1/2], [-1/2, -g]] scaled by rows (h_g, h_d): lambda^2 + h_d g lambda + h_g h_d / 4 = 0
        return np.roots([1.0, h_d * g, h_g * h_d / 4.0]).astype(complex)
    if cfg.loss.name == "wasserstein" and not names:
        return np.roots([1.0, 0.0, h_g * h_d]).astype(complex)
    return None


def trajectory(cfg: Config, steps: int) -> np.ndarray:
    """(theta, psi) before and after each of `steps` training steps of the config's method."""
    from ..train.feed import Feed
    from ..train.state import DataSpec, build_state, load_data, seed_everything
    seed_everything(cfg.seed, False)
    data = load_data(cfg, "train")
    state, method = build_state(cfg, DataSpec.of(data), torch.device("cpu"))
    feed = Feed(cfg, data, torch.device("cpu"))
    G, D = state.nets["G"], state.nets["D"]
    path = [(float(G.theta.detach()), float(D.psi.detach()))]
    for _ in range(steps):
        batches = [feed(state.batch + i) for i in range(cfg.train.n_disc)]
        state.batch += len(batches)
        method.step(state, batches, False)
        state.step += 1
        path.append((float(G.theta.detach()), float(D.psi.detach())))
    return np.array(path)


def probe(base: Config, variants: Sequence[str], steps: int, tol: float = 0.05) -> List[Result]:
    from ..config import apply_overrides
    out = []
    for name in variants:
        if name not in VARIANTS:
            raise ConfigError(f"probe convergence: unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
        cfg = apply_overrides(base, VARIANTS[name])
        path = trajectory(cfg, steps)
        out.append(Result(name, np.linalg.eigvals(jacobian(cfg)), closed_form(cfg), path,
                          bool(np.hypot(*path[-1]) < tol)))
    return out


def plot(results: List[Result], path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..viz import _save_atomic
    k = len(results)
    cols = min(k, 4)
    rows = math.ceil(k / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), dpi=100, squeeze=False)
    for ax, r in zip(axes.flat, results):
        t = r.trajectory
        ax.plot(t[:, 0], t[:, 1], lw=0.8)
        ax.plot(t[0, 0], t[0, 1], "o", c="tab:green", ms=4)
        ax.plot(0, 0, "*", c="tab:red", ms=8)
        ev = ", ".join(f"{e.real:+.3f}{e.imag:+.3f}i" for e in r.eigenvalues)
        ax.set_title(f"{r.name}: {'converges' if r.converged else 'does not converge'}\n{ev}", fontsize=8)
        ax.set_xlabel("theta", fontsize=8)
        ax.set_ylabel("psi", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[k:]:
        ax.axis("off")
    fig.tight_layout()
    try:
        return _save_atomic(Path(path), lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)
