"""Which regularizers make GAN training converge? The Dirac-GAN and LQG
answers (issue 20, part 7; Mescheder et al. 2018; Feizi et al. 2017).

For a toy game's config and each regularizer variant:

- the gradient field of the game, v = (-dL_G/d(G's parameters),
  -dL_D/d(D's parameters)), built from the config's own registered loss and
  penalties (the functions training calls), in float64; with consensus
  optimization (method consensus) the field w = v - gamma grad(1/2 ||v||^2);
  its Jacobian at the equilibrium by automatic differentiation (exact, not
  finite differences), multiplied by the learning rates (TTUR changes them)
  and its eigenvalues: real parts < 0 mean local convergence of gradient
  flow, 0 means circling;
- the trajectory of real training from the preset's start: the method's own
  step on the data set's batches, the state the training loop builds, its
  parameters recorded after every step (the loop's run folder and
  evaluations left out: they do not change the parameters);
- the closed form where the paper gives one.

The Dirac-GAN (preset dirac-gan: G the point theta, D(x) = psi x, data the
point 0). Instance noise (method.params.instance_noise = sigma) enters the
field as its expectation over the noise, by Gauss-Hermite quadrature over the
noise of each real and fake point (`NOISE_NODES` nodes): exact for the
Jacobian at the equilibrium, whose entries are moments of the noise of degree
<= 2, and accurate to rounding for the field elsewhere. Closed forms
(Mescheder et al. 2018, Sec. 3, with f the loss's function: f'(0) = 1/2,
f''(0) = -1/4 for the GAN losses; 1 and 0 for WGAN): the unscaled Jacobian is
J = [[0, f'(0)], [-f'(0), 2 f''(0) sigma^2 - g]] for instance noise sigma and
a zero-centred penalty (R1, R2) of weight g: eigenvalues +-i f'(0) without
either; f''(0) sigma^2 +- sqrt(f''(0)^2 sigma^4 - f'(0)^2) with noise alone;
-g/2 +- sqrt(g^2/4 - f'(0)^2) with the penalty alone; consensus makes it
J - gamma J^T J (Mescheder et al. 2017, Sec. 4): -gamma f'(0)^2 +- i f'(0)
for the unregularized game. Conclusions the table reproduces: unregularized
GAN and WGAN training, WGAN-GP (not zero-centred) and TTUR alone do not
converge; instance noise, zero-centred penalties (R1, R2) and consensus
optimization do (Sec. 3 of Mescheder et al. 2018 and its Dirac-GAN figure of
the regularizers).

The LQG game (preset lqg-gan, nets/lqg.py): G(z) = A z, D(x) = x^T W x, data
N(0, K). Both losses depend on the data and on z only through second moments
(and the zero-centred penalties through the same), so the expected field is
computed exactly on symmetric point sets with the same moments: the real
points +-sqrt(d) K^(1/2) e_i, the latents +-sqrt(r) e_j, and for instance
noise every point shifted by each of +-sigma sqrt(d) e_k. The equilibrium
is the PCA solution A* = U_r diag(lambda_1..r)^(1/2) and D's best response
to it (a Newton step: D's expected loss is quadratic in W); a variant with
no such best response (no penalty: D's loss is linear in W and its gradient
-(K - A* A*^T) never vanishes for r < d) has no equilibrium and none is
reported. The rotations A* R (R orthogonal, r(r-1)/2 directions) and, for a
penalty blind to W's antisymmetric part, that part, are directions of
equilibria: their eigenvalues are 0 and left out of max real part
(`ZERO` = 1e-9). GP is not offered on LQG: unit gradient norms are not zero
at the PCA solution, which is then not its equilibrium.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field as dfield
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..config import Config
from ..registry import LOSSES, METHODS, PENALTIES, ConfigError

NOISE_NODES = 24   # Gauss-Hermite nodes for the Dirac-GAN's instance noise
ZERO = 1e-9        # |eigenvalue| below this: a direction of equilibria (LQG's symmetries)

# Variants: config overrides on top of the preset.
VARIANTS: Dict[str, List[str]] = {
    "none": [],
    "r1": ["penalties=[{name: r1, params: {weight: 1.0}}]"],
    "r2": ["penalties=[{name: r2, params: {weight: 1.0}}]"],
    "r1-weak": ["penalties=[{name: r1, params: {weight: 0.3}}]"],
    "wgan": ["loss=wasserstein"],
    "wgan-gp": ["loss=wasserstein", "penalties=[{name: gp, params: {weight: 1.0}}]"],
    "ttur": ["optim.discriminator.params.lr=0.4"],
    # instance noise: a larger batch, so that the trajectory's own noise (sigma / sqrt(batch)) stays small
    "instance-noise": ["method={name: gan, params: {instance_noise: 1.0}}", "train.batch_size=256",
                       "data.params.n=256"],
    "consensus": ["method={name: consensus, params: {gamma: 1.0}}"],
}
# The LQG game's variants on top of preset lqg-gan (loss wasserstein, penalty l2 weight 1).
LQG_VARIANTS: Dict[str, List[str]] = {
    "none": ["penalties=[]"],
    "l2": [],
    "r1": ["penalties=[{name: r1, params: {weight: 1.0}}]"],
    "ttur": ["optim.discriminator.params.lr=0.2"],
    "instance-noise": ["method={name: gan, params: {instance_noise: 0.5}}"],
    "consensus": ["method={name: consensus, params: {gamma: 0.1}}"],
    # gamma 1: near A = 0, W = K / lambda (a stationary point: G's own gradient vanishes) a principal direction
    # of variance l grows at the rate 2 l - 4 gamma l^2, negative for l > 1 / (2 gamma): G is kept off K's top
    # direction and spends its rank on the next ones (measured: the 2nd and 3rd principal components)
    "consensus-strong": ["method={name: consensus, params: {gamma: 1.0}}"],
}


@dataclass
class Result:
    name: str
    eigenvalues: np.ndarray          # of diag(lr) J at the equilibrium (empty: no equilibrium)
    closed_form: Optional[np.ndarray]
    trajectory: np.ndarray           # Dirac: (steps + 1, 2) theta, psi; LQG: (steps + 1, 2) distance, ||W||_F
    converged: bool                  # the end of the trajectory within `tol` of the equilibrium
    game: str = "dirac"
    note: str = ""
    extra: Dict[str, float] = dfield(default_factory=dict)

    @property
    def max_real(self) -> float:
        ev = self.eigenvalues[np.abs(self.eigenvalues) > ZERO] if self.game == "lqg" else self.eigenvalues
        return float(ev.real.max()) if len(ev) else float("nan")

    @property
    def distance(self) -> float:
        """Dirac: the last point's distance to (0, 0); LQG: ||A A^T - P|| / ||P|| at the end."""
        last = self.trajectory[-1]
        return float(np.hypot(*last)) if self.game == "dirac" else float(last[0])


def _method_params(cfg: Config):
    return METHODS.params(cfg.method.name, cfg.method.params)


def _noise(cfg: Config) -> float:
    return float(getattr(_method_params(cfg), "instance_noise", 0.0))


def _gamma(cfg: Config) -> float:
    return float(_method_params(cfg).gamma) if cfg.method.name == "consensus" else 0.0


def _nets(cfg: Config, shape: Tuple[int, ...]):
    from ..train.state import DataSpec, build_state
    state, _ = build_state(cfg, DataSpec(shape, 0, "points"), torch.device("cpu"))
    return state.nets["G"].double(), state.nets["D"].double()


def _losses(cfg: Config, D, real: torch.Tensor, fake: torch.Tensor, weights: Optional[torch.Tensor] = None):
    """(L_D, L_G) of the config's loss and penalties, D's loss keeping its dependence on G (through fake).
    weights (n,): quadrature weights of the real/fake pairs (one pair per loss call); None: one batch."""
    loss_p = LOSSES.params(cfg.loss.name, cfg.loss.params)
    loss = LOSSES.get(cfg.loss.name).fn
    pens = [(PENALTIES.get(c.name).fn, PENALTIES.params(c.name, c.params)) for c in cfg.penalties]

    def one(r, f):
        d = loss(loss_p, D(r), D(f))["d"]
        for fn, p in pens:
            d = d + fn(p, D, r, f)
        return d, loss(loss_p, None, D(f))["g"]

    if weights is None:
        return one(real, fake)
    parts = [one(real[i:i + 1], fake[i:i + 1]) for i in range(len(real))]
    return (sum(w * d for w, (d, _) in zip(weights, parts)), sum(w * g for w, (_, g) in zip(weights, parts)))


def _with_consensus(v: torch.Tensor, point: torch.Tensor, gamma: float) -> torch.Tensor:
    """w = v - gamma grad_point(1/2 ||v||^2) (Mescheder et al. 2017, Algorithm 1); v itself for gamma 0."""
    if not gamma:
        return v
    (grad_l,) = torch.autograd.grad(0.5 * (v ** 2).sum(), point, create_graph=True)
    return v - gamma * grad_l


# ---------------------------------------------------------------- Dirac-GAN
def field(cfg: Config, point: torch.Tensor) -> torch.Tensor:
    """v(theta, psi) at `point` (2,), differentiable in it, from the config's loss and penalties (with
    instance noise: its expectation; with consensus: w = v - gamma J^T v)."""
    G, D = _nets(cfg, (1,))
    if not (hasattr(G, "theta") and hasattr(D, "psi")):
        raise ConfigError("probe convergence plays the Dirac-GAN: model.generator and model.discriminator must "
                          "use architecture dirac (preset dirac-gan)")
    del G.theta, D.psi                       # the point itself becomes the parameters (for autograd)
    G.theta, D.psi = point[0:1], point[1:2]
    sigma = _noise(cfg)
    if sigma:
        nodes, w = np.polynomial.hermite_e.hermegauss(NOISE_NODES)   # weight exp(-x^2 / 2): N(0, 1) after / sqrt(2 pi)
        eps = torch.tensor(sigma * nodes, dtype=torch.float64)[:, None]
        weights = torch.tensor(w / math.sqrt(2 * math.pi), dtype=torch.float64)
        real = eps
        fake = G(torch.zeros(len(eps), 1, dtype=torch.float64)) + eps
        d_loss, g_loss = _losses(cfg, D, real, fake, weights)
    else:
        real = torch.zeros(4, 1, dtype=torch.float64)
        d_loss, g_loss = _losses(cfg, D, real, G(torch.zeros(4, 1, dtype=torch.float64)))
    (gd_psi,) = torch.autograd.grad(d_loss, D.psi, create_graph=True)
    (gg_theta,) = torch.autograd.grad(g_loss, G.theta, create_graph=True)
    return _with_consensus(torch.cat([-gg_theta, -gd_psi]), point, _gamma(cfg))


def _lr(cfg: Config) -> Tuple[float, float]:
    return float(cfg.optim.generator.params["lr"]), float(cfg.optim.discriminator.params["lr"])


def jacobian(cfg: Config, at: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """d v / d (theta, psi) at `at`, exact (autograd), scaled by the optimizers' learning rates."""
    point = torch.tensor(list(at), dtype=torch.float64, requires_grad=True)
    v = field(cfg, point)
    rows = [torch.autograd.grad(v[i], point, retain_graph=True)[0] for i in range(2)]
    J = torch.stack(rows).numpy()
    return np.array(_lr(cfg))[:, None] * J


# f'(0) and f''(0) of the losses the paper's analysis covers: L = f(psi theta) + f(0)
_F_DERIVATIVES = {"ns": (0.5, -0.25), "minimax": (0.5, -0.25), "wasserstein": (1.0, 0.0)}


def closed_form(cfg: Config) -> Optional[np.ndarray]:
    """Eigenvalues of diag(lr) J from Mescheder et al.'s lemmas (2018, Sec. 3; 2017, Sec. 4 for consensus),
    where they cover the config: a GAN or WGAN loss, at most one zero-centred penalty, instance noise."""
    names = [c.name for c in cfg.penalties]
    if cfg.loss.name not in _F_DERIVATIVES or not set(names) <= {"r1", "r2"} or len(names) > 1:
        return None
    fp, fpp = _F_DERIVATIVES[cfg.loss.name]
    g = float(cfg.penalties[0].params.get("weight", 1.0)) if names else 0.0
    sigma, gamma = _noise(cfg), _gamma(cfg)
    J = np.array([[0.0, fp], [-fp, 2.0 * fpp * sigma ** 2 - g]])
    J = J - gamma * J.T @ J
    return np.linalg.eigvals(np.array(_lr(cfg))[:, None] * J).astype(complex)


def trajectory(cfg: Config, steps: int, read=None) -> np.ndarray:
    """read(G, D) (default: theta, psi) before and after each of `steps` training steps of the config's method."""
    from ..train.feed import Feed
    from ..train.state import DataSpec, build_state, load_data, seed_everything
    read = read or (lambda G, D: (float(G.theta.detach()), float(D.psi.detach())))
    seed_everything(cfg.seed, False)
    data = load_data(cfg, "train")
    state, method = build_state(cfg, DataSpec.of(data), torch.device("cpu"))
    feed = Feed(cfg, data, torch.device("cpu"))
    G, D = state.nets["G"], state.nets["D"]
    path = [read(G, D)]
    for _ in range(steps):
        batches = [feed(state.batch + i) for i in range(cfg.train.n_disc)]
        state.batch += len(batches)
        method.step(state, batches, False)
        state.step += 1
        path.append(read(G, D))
    return np.array(path)


# ---------------------------------------------------------------- LQG
def _covariance(cfg: Config) -> np.ndarray:
    from ..data.synthetic import GaussianParams, gaussian_covariance
    from ..registry import DATASETS
    if cfg.data.name != "gaussian":
        raise ConfigError("probe convergence's LQG game needs data gaussian (preset lqg-gan)")
    p = DATASETS.params("gaussian", cfg.data.params)
    assert isinstance(p, GaussianParams)
    return gaussian_covariance(p)


def pca_solution(K: np.ndarray, r: int) -> Tuple[np.ndarray, np.ndarray]:
    """(A*, P): A* = U_r diag(lambda_1..r)^(1/2) (d, r) and P = A* A*^T, K's best rank-r approximation."""
    lam, U = np.linalg.eigh(K)
    order = np.argsort(lam)[::-1][:r]
    A = U[:, order] * np.sqrt(lam[order])
    return A, A @ A.T


def _lqg_points(K: np.ndarray, r: int, sigma: float):
    """Real points and latents whose empirical second moments are exactly K and I_r; with noise, every point
    shifted by each of +-sigma sqrt(d) e_k (adding exactly sigma^2 I and no cross term)."""
    d = len(K)
    lam, U = np.linalg.eigh(K)
    L = U * np.sqrt(np.clip(lam, 0, None))                       # L L^T = K
    real = math.sqrt(d) * np.concatenate([L.T, -L.T])            # (2d, d): rows +-sqrt(d) L e_i
    z = math.sqrt(r) * np.concatenate([np.eye(r), -np.eye(r)])   # (2r, r)
    eps = sigma * math.sqrt(d) * np.concatenate([np.eye(d), -np.eye(d)]) if sigma else np.zeros((1, d))
    t = lambda a: torch.tensor(a, dtype=torch.float64)  # noqa: E731
    return t(real), t(z), t(eps)


def _shift(x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    return (x[:, None, :] + eps[None, :, :]).reshape(-1, x.shape[1])


def lqg_field(cfg: Config, point: torch.Tensor, K: np.ndarray) -> torch.Tensor:
    """The LQG game's expected field at point = (vec A (d r), vec W (d d)), differentiable in it."""
    d, r = len(K), cfg.model.z_dim
    G, D = _nets(cfg, (d,))
    if not (hasattr(G, "A") and hasattr(D, "W")):
        raise ConfigError("probe convergence's LQG game needs architecture lqg for both nets (preset lqg-gan)")
    A, W = point[:d * r].reshape(d, r), point[d * r:].reshape(d, d)
    del G.A.weight, D.W.weight
    G.A.weight, D.W.weight = A, W
    real, z, eps = _lqg_points(K, r, _noise(cfg))
    real_n = _shift(real, eps)
    fake = G(z)
    # D's expected loss sees both point sets at once: the registered losses are means over each batch
    fake_n = _shift(fake, eps)
    d_loss, g_loss = _losses(cfg, D, real_n, fake_n)
    (g_w,) = torch.autograd.grad(d_loss, W, create_graph=True)
    (g_a,) = torch.autograd.grad(g_loss, A, create_graph=True)
    return _with_consensus(torch.cat([-g_a.reshape(-1), -g_w.reshape(-1)]), point, _gamma(cfg))


def lqg_equilibrium(cfg: Config, K: np.ndarray) -> Optional[np.ndarray]:
    """(vec A*, vec W*): the PCA generator and D's best response to it; None when D has none (its
    expected loss unbounded below in W) or the pair is not a stationary point of the game."""
    d, r = len(K), cfg.model.z_dim
    A_star, _ = pca_solution(K, r)
    plain = cfg if cfg.method.name == "gan" else _as_gan(cfg)   # the equilibrium of v (where w = v too)
    x = torch.tensor(np.concatenate([A_star.ravel(), np.zeros(d * d)]), requires_grad=True)
    v = lqg_field(plain, x, K)
    n = d * r
    H = torch.stack([torch.autograd.grad(v[n + i], x, retain_graph=True)[0][n:] for i in range(d * d)]).numpy()
    # v_W = -grad_W L_D is affine in W (D's loss is quadratic in it): v_W(W) = v_W(0) + H W
    step, *_ = np.linalg.lstsq(H, -v[n:].detach().numpy(), rcond=None)
    x_star = np.concatenate([A_star.ravel(), step])
    res = lqg_field(plain, torch.tensor(x_star, requires_grad=True), K).detach().numpy()
    return x_star if np.abs(res).max() < 1e-8 * max(1.0, np.abs(K).max()) else None


def _as_gan(cfg: Config) -> Config:
    from ..config import apply_overrides
    noise = _noise(cfg)
    return apply_overrides(cfg, [f"method={{name: gan, params: {{instance_noise: {noise}}}}}"])


def lqg_jacobian(cfg: Config, K: np.ndarray, at: np.ndarray) -> np.ndarray:
    """d w / d (vec A, vec W) at `at`, exact (autograd, float64), rows scaled by the learning rates."""
    x = torch.tensor(at, dtype=torch.float64, requires_grad=True)
    v = lqg_field(cfg, x, K)
    J = torch.stack([torch.autograd.grad(v[i], x, retain_graph=True)[0] for i in range(len(x))]).numpy()
    h_g, h_d = _lr(cfg)
    n = len(K) * cfg.model.z_dim
    return np.concatenate([np.full(n, h_g), np.full(len(x) - n, h_d)])[:, None] * J


def lqg_probe(cfg: Config, name: str, steps: int, tol: float = 0.15) -> Result:
    K = _covariance(cfg)
    _, P = pca_solution(K, cfg.model.z_dim)
    at = lqg_equilibrium(cfg, K)
    ev = np.linalg.eigvals(lqg_jacobian(cfg, K, at)) if at is not None else np.zeros(0, complex)
    nP = np.linalg.norm(P)

    def read(G, D):
        A = G.A.weight.detach().double().numpy()
        return (float(np.linalg.norm(A @ A.T - P) / nP), float(np.linalg.norm(D.W.weight.detach().double().numpy())))

    path = trajectory(cfg, steps, read)
    tail = path[-max(1, steps // 10):]
    # converged: the generator near the PCA solution over the last tenth of training, D's W bounded
    ok = bool(tail[:, 0].mean() < tol and np.isfinite(tail).all() and tail[:, 1].max() < 10 * (1 + path[0, 1]))
    note = "" if at is not None else "no equilibrium: D's expected loss has no minimum in W at the PCA solution"
    zeros = int((np.abs(ev) <= ZERO).sum())
    return Result(name, ev, None, path, ok, game="lqg", note=note, extra={"zero_eigenvalues": zeros})


# ---------------------------------------------------------------- both
def game_of(cfg: Config) -> str:
    return "lqg" if cfg.model.generator.arch.name == "lqg" else "dirac"


def variants_of(game: str) -> Dict[str, List[str]]:
    return LQG_VARIANTS if game == "lqg" else VARIANTS


def probe(base: Config, variants: Sequence[str], steps: int, tol: float = 0.05) -> List[Result]:
    """Each variant of the base config's game (Dirac-GAN or LQG): eigenvalues, closed form, trajectory."""
    from tqdm import tqdm
    game = game_of(base)
    table = variants_of(game)
    for name in variants:
        if name not in table:
            raise ConfigError(f"probe convergence: unknown variant {name!r}; choose from {', '.join(table)}")
    out = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # two-number games: threads only add overhead on a shared machine
    try:
        for name in tqdm(list(variants), desc=f"{game} variants", leave=False):
            out.append(_one(base, game, table, name, steps, tol))
    finally:
        torch.set_num_threads(threads)
    return out


def _one(base: Config, game: str, table, name: str, steps: int, tol: float) -> Result:
    from ..config import apply_overrides
    cfg = apply_overrides(base, table[name])
    if game == "lqg":
        return lqg_probe(cfg, name, steps)
    path = trajectory(cfg, steps)
    return Result(name, np.linalg.eigvals(jacobian(cfg)), closed_form(cfg), path, bool(np.hypot(*path[-1]) < tol))


def _eig_text(ev: np.ndarray, k: int = 2) -> str:
    ev = ev[np.argsort(-ev.real)][:k]
    return ", ".join(f"{e.real:+.3f}{e.imag:+.3f}i" for e in ev)


def plot(results: List[Result], path: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..viz import save_figure
    k = len(results)
    cols = min(k, 4)
    rows = math.ceil(k / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), dpi=100, squeeze=False)
    for ax, r in zip(axes.flat, results):
        t = r.trajectory
        verdict = "converges" if r.converged else "does not converge"
        if r.game == "dirac":
            ax.plot(t[:, 0], t[:, 1], lw=0.8)
            ax.plot(t[0, 0], t[0, 1], "o", c="tab:green", ms=4)
            ax.plot(0, 0, "*", c="tab:red", ms=8)
            ax.set_xlabel("theta", fontsize=8)
            ax.set_ylabel("psi", fontsize=8)
            ev = _eig_text(r.eigenvalues)
        else:
            ax.semilogy(np.maximum(t[:, 0], 1e-6), lw=0.8, label="||AA^T - P|| / ||P||")
            ax.semilogy(np.maximum(t[:, 1], 1e-6), lw=0.8, label="||W||")
            ax.set_xlabel("step", fontsize=8)
            ax.legend(fontsize=6)
            ev = f"max Re {r.max_real:+.4f}" if len(r.eigenvalues) else "no equilibrium"
        ax.set_title(f"{r.name}: {verdict}\n{ev}", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[k:]:
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, path)
