"""The Jacobian spectrum of a real GAN run's gradient field (issue 20, part 7):
what the Dirac-GAN's exact eigenvalues (probes/convergence.py) look like for
a trained network, where the Jacobian is too large to form.

The field is the game's, as in probes/convergence.py: v = (-grad_G L_G,
-grad_D L_D) over every trainable parameter of G and D, with the run's
registered loss and penalties, on one fixed real batch and one fixed latent
batch (so v is a deterministic function of the parameters), the nets in
float64 and in training mode (batch statistics, spectral normalization's
stored power-iteration vectors, as training sees them). The operator is
M = diag(lr) J, J = dv/dx, applied through its transpose: v is built once
with create_graph, and each product M^T w = J^T (lr * w) = grad_x <v(x),
lr * w> is one more backward pass through that graph (a Hessian-vector
product of the game by double backpropagation). M and M^T have the same
eigenvalues.

Eigenvalues: scipy.sparse.linalg.eigs on a LinearOperator (ARPACK's
implicitly restarted Arnoldi method), the k of largest magnitude ("LM")
and the k of largest real part ("LR": a positive one is a locally unstable
direction of gradient flow). A game with at most `DENSE_MAX` parameters is
formed column by column from the same products and solved by numpy (ARPACK
needs k < n - 1). Deviations, named: Adam's per-parameter preconditioning
is not part of the operator (the nominal learning rates scale it, as for the
Dirac-GAN); instance noise and lazy-regularization intervals are left out
(every penalty at its weight on every step).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import numpy as np
import torch

from ..registry import ConfigError

DENSE_MAX = 64


@dataclass
class Spectrum:
    largest_magnitude: np.ndarray    # complex, by decreasing |lambda|
    largest_real: np.ndarray         # complex, by decreasing real part
    n: int                           # parameters of the game
    matvecs: int                     # products used
    method: str                      # "arnoldi" or "dense"


def transposed_operator(v: torch.Tensor, params: Sequence[torch.Tensor], scale: Optional[np.ndarray] = None):
    """w (n,) -> M^T w with M = diag(scale) dv/dx, x the concatenated params; v (n,) must have been built
    with create_graph=True from them. Returns (function on float64 numpy vectors, n, counter list)."""
    n = sum(p.numel() for p in params)
    if v.numel() != n:
        raise ValueError(f"the field has {v.numel()} entries for {n} parameters")
    s = torch.as_tensor(np.ones(n) if scale is None else scale, dtype=v.dtype)
    calls = [0]

    def apply(w: np.ndarray) -> np.ndarray:
        calls[0] += 1
        wt = torch.as_tensor(np.ascontiguousarray(w).real.reshape(-1), dtype=v.dtype) * s
        grads = torch.autograd.grad(v, params, grad_outputs=wt, retain_graph=True, allow_unused=True)
        return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)
                          for g, p in zip(grads, params)]).detach().numpy().astype(np.float64)

    return apply, n, calls


def eigenvalues(apply: Callable[[np.ndarray], np.ndarray], n: int, k: int = 6, seed: int = 0,
                tol: float = 1e-8, maxiter: Optional[int] = None) -> Spectrum:
    """The k eigenvalues of largest magnitude and of largest real part of the operator whose TRANSPOSE is
    `apply` (the same eigenvalues): ARPACK's Arnoldi for n > DENSE_MAX, else the dense matrix."""
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    count = [0]

    def mv(w):
        count[0] += 1
        return apply(w)

    if n <= DENSE_MAX or k >= n - 1:
        Mt = np.stack([mv(e) for e in np.eye(n)], 1)       # column j = M^T e_j
        ev = np.linalg.eigvals(Mt)
        return Spectrum(ev[np.argsort(-np.abs(ev))][:k], ev[np.argsort(-ev.real)][:k], n, count[0], "dense")
    op = LinearOperator((n, n), matvec=mv, dtype=np.float64)
    v0 = np.random.default_rng(seed).standard_normal(n)
    out = {}
    for which in ("LM", "LR"):
        try:
            ev = eigs(op, k=k, which=which, v0=v0, tol=tol, maxiter=maxiter, return_eigenvectors=False)
        except ArpackNoConvergence as e:          # the eigenvalues that did converge
            ev = e.eigenvalues
        key = np.abs(ev) if which == "LM" else ev.real
        out[which] = np.asarray(ev, dtype=complex)[np.argsort(-key)]
    return Spectrum(out["LM"], out["LR"], n, count[0], "arnoldi")


def gan_field(method, G: torch.nn.Module, D: torch.nn.Module, real: torch.Tensor, z: torch.Tensor):
    """(v, params): the GAN game's field at G, D on the batch `real` and latents `z`, with create_graph."""
    from ..methods.gan import GAN
    if not isinstance(method, GAN) or getattr(method, "conditional", False):
        raise ConfigError("probe spectrum: needs an unconditional GAN run (method gan or consensus)")
    fake = G(z)
    terms = method.loss(D(real), D(fake))
    d_loss = terms["d"]
    for fn, p, _ in method.penalties:
        d_loss = d_loss + fn(p, D, real, fake)
    g_loss = method.loss(None, D(fake))["g"]
    p_g = [p for p in G.parameters() if p.requires_grad]
    p_d = [p for p in D.parameters() if p.requires_grad]
    g_g = torch.autograd.grad(g_loss, p_g, create_graph=True)
    g_d = torch.autograd.grad(d_loss, p_d, create_graph=True)
    v = -torch.cat([g.reshape(-1) for g in (*g_g, *g_d)])
    return v, p_g + p_d, sum(p.numel() for p in p_g)


def run_spectrum(cfg, state, method, real: torch.Tensor, k: int = 6, seed: int = 0,
                 maxiter: Optional[int] = None, tol: float = 1e-4) -> Spectrum:
    """The spectrum of diag(lr) J of a GAN's training state (nets converted to float64 in place)."""
    G, D = state.nets["G"].double().train(), state.nets["D"].double().train()
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(len(real), G.z_dim, generator=gen, dtype=torch.float64)
    torch.manual_seed(seed)                         # a penalty's own draws (GP's interpolation), fixed once
    v, params, n_g = gan_field(method, G, D, real.double(), z)
    h_g, h_d = float(cfg.optim.generator.params["lr"]), float(cfg.optim.discriminator.params["lr"])
    scale = np.concatenate([np.full(n_g, h_g), np.full(len(v) - n_g, h_d)])
    apply, n, _ = transposed_operator(v, params, scale)
    from tqdm import tqdm
    bar = tqdm(desc="Hessian-vector products", unit="product", leave=False)

    def counted(w):
        bar.update(1)
        return apply(w)

    try:   # a relative tolerance of 1e-4: an estimate of a trained net's spectrum, not a test of it
        return eigenvalues(counted, n, k=k, seed=seed, maxiter=maxiter, tol=tol)
    finally:
        bar.close()


def plot(spec: Spectrum, path, title: str = "") -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..viz import save_figure
    fig, ax = plt.subplots(figsize=(4.2, 3.4), dpi=100)
    ax.axvline(0, c="0.7", lw=0.8)
    ax.axhline(0, c="0.7", lw=0.8)
    ax.plot(spec.largest_magnitude.real, spec.largest_magnitude.imag, "o", mfc="none", label="largest |lambda|")
    ax.plot(spec.largest_real.real, spec.largest_real.imag, "x", label="largest real part")
    ax.set_xlabel("Re lambda (diag(lr) J)")
    ax.set_ylabel("Im lambda")
    ax.set_title(title or f"{spec.n} parameters, {spec.matvecs} products ({spec.method})", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path)


def fmt(ev: np.ndarray) -> List[str]:
    return [f"{e.real:+.4g}{e.imag:+.4g}i" for e in ev]
