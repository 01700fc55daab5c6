"""TRPO's update (Schulman et al. 2015); the defaults are the paper's
constraint, with the GAIL code's CG settings (openai/imitation; REFERENCES.md,
"Acting"):

1. g = gradient of the surrogate L(theta) = E[pi_theta(a|s) / pi_old(a|s) A];
2. s = F^-1 g by conjugate gradient (`cg_iters`, 10 there), where F v is the
   Fisher-vector product: the Hessian of the mean KL(pi_old || pi_theta) at
   theta = theta_old times v (two backward passes, never F itself), plus
   `damping` v (0.1 there);
3. the full step beta s with beta = sqrt(2 max_kl / s^T F s), the largest step
   whose quadratic KL model equals `max_kl` (0.01);
4. backtracking: try theta_old + r^k beta s for k = 0 .. `backtracks` - 1
   (r = `shrink`, 0.5 as modular_rl and the GAIL code),
   keep the first whose KL (measured, not modelled) is at most `kl_slack` x
   max_kl and whose surrogate improves by a positive amount and by at least
   `accept_ratio` of the improvement the linear model expects; none found:
   theta stays.

The official line searches differ, so three knobs say which one runs:
openai/imitation (GAIL) accepts KL up to 2 max_kl with the ratio test 0.1
(kl_slack=2, accept_ratio=0.1; when no try passes it keeps the smallest step
unchecked, where this keeps theta); openai/baselines' trpo_mpi accepts KL up
to 1.5 max_kl and any improvement >= 0 (kl_slack=1.5, accept_ratio=0);
modular_rl checks no KL; rllab, which VIME uses, keeps KL <= max_kl and
shrinks by 0.8 over 15 tries (shrink=0.8, backtracks=15); sb3-contrib keeps
KL <= max_kl, any improvement > 0, shrinking by 0.8 over 10 tries
(shrink=0.8, accept_ratio=0). The defaults (kl_slack 1, ratio 0.1) keep the
paper's constraint. Every official code standardizes the advantages before
the step; that is the caller's job here.

`surrogate` and `kl` are closures that evaluate the current parameters (the
recipe computes pi_old's log-probabilities and distribution once, detached).
The Fisher-vector products may use a subsample of the states (openai/imitation
uses 10%): give `kl_fvp` a closure over that subsample.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence

import torch
from torch import Tensor
from torch.nn.utils import parameters_to_vector, vector_to_parameters


def conjugate_gradient(Avp: Callable[[Tensor], Tensor], b: Tensor, iters: int = 10,
                       residual_tol: float = 1e-10) -> Tensor:
    """x with A x ~ b for a symmetric positive definite A given as x -> A x;
    starts at 0, at most `iters` iterations, stops once |r|^2 < residual_tol."""
    x = torch.zeros_like(b)
    r, p = b.clone(), b.clone()
    rr = r @ r
    for _ in range(iters):
        if rr < residual_tol:
            break
        Ap = Avp(p)
        alpha = rr / (p @ Ap)
        x += alpha * p
        r -= alpha * Ap
        rr_new = r @ r
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def flat_grad(y: Tensor, params: Sequence[Tensor], create_graph: bool = False) -> Tensor:
    """dy/dparams as one flat vector (zeros for parameters y does not reach)."""
    grads = torch.autograd.grad(y, params, create_graph=create_graph, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(grads, params)])


def fisher_vector_product(kl: Callable[[], Tensor], params: Sequence[Tensor], v: Tensor,
                          damping: float = 0.0) -> Tensor:
    """(H + damping I) v, H the Hessian of kl() (the mean KL from the detached
    old policy, zero with zero gradient at theta_old) with respect to params:
    at theta_old this H is the Fisher information matrix of the policy."""
    g = flat_grad(kl(), params, create_graph=True)
    return flat_grad(g @ v, params) + damping * v


@dataclass(frozen=True)
class TRPOResult:
    accepted: bool
    step_fraction: float       # shrink^k of the accepted step (0 when none was)
    kl: float                  # measured KL after the update
    improvement: float         # surrogate after - before
    expected_improvement: float


def trpo_step(params: Sequence[Tensor], surrogate: Callable[[], Tensor], kl: Callable[[], Tensor],
              max_kl: float = 0.01, damping: float = 0.1, cg_iters: int = 10, backtracks: int = 10,
              accept_ratio: float = 0.1, kl_fvp: Optional[Callable[[], Tensor]] = None,
              kl_slack: float = 1.0, shrink: float = 0.5) -> TRPOResult:
    """One TRPO update of `params` in place (see the module docstring).
    surrogate(): the objective to MAXIMIZE; kl(): mean KL(pi_old || pi)."""
    if max_kl <= 0 or damping < 0 or cg_iters < 1 or backtracks < 1 or kl_slack < 1 or accept_ratio < 0 \
            or not 0 < shrink < 1:
        raise ValueError(f"trpo_step: need max_kl > 0, damping >= 0, cg_iters >= 1, backtracks >= 1, "
                         f"kl_slack >= 1, accept_ratio >= 0, 0 < shrink < 1; got {max_kl}, {damping}, {cg_iters}, "
                         f"{backtracks}, {kl_slack}, {accept_ratio}, {shrink}")
    params = list(params)
    old = parameters_to_vector(params).detach().clone()
    with torch.enable_grad():
        before = surrogate()
        g = flat_grad(before, params)
    before = float(before.detach())
    kl_fn = kl_fvp or kl

    def Fv(v):
        with torch.enable_grad():
            return fisher_vector_product(kl_fn, params, v, damping)

    s = conjugate_gradient(Fv, g, cg_iters)
    shs = float(s @ Fv(s))
    if not shs > 0 or not torch.isfinite(s).all():
        return TRPOResult(False, 0.0, 0.0, 0.0, 0.0)
    full = s * (2.0 * max_kl / shs) ** 0.5
    expected_full = float(g @ full)
    with torch.no_grad():
        for k in range(backtracks):
            frac = shrink ** k
            vector_to_parameters(old + frac * full, params)
            after, d_kl = float(surrogate()), float(kl())
            improve, expected = after - before, expected_full * frac
            if d_kl <= kl_slack * max_kl and improve > 0 and improve >= accept_ratio * expected:
                return TRPOResult(True, frac, d_kl, improve, expected)
        vector_to_parameters(old, params)
    return TRPOResult(False, 0.0, 0.0, 0.0, expected_full)


def summary(r: TRPOResult) -> Dict[str, float]:
    """The update's figures for a method's stats."""
    return {"trpo/accepted": float(r.accepted), "trpo/step_fraction": r.step_fraction, "trpo/kl": r.kl,
            "trpo/improvement": r.improvement, "trpo/expected_improvement": r.expected_improvement}
