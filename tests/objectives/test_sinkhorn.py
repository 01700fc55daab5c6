"""Batched log-domain Sinkhorn against POT (an independent implementation: its kernel-domain
sinkhorn_knopp iteration by iteration, its log-domain solver and sinkhorn2's value at convergence), and
OT-GAN's mini-batch energy distance: 0 on identical batches, its six terms' signs and factors by hand on
one-example batches (where the plan is forced), zero mean when fakes and data share a distribution."""
import math

import numpy as np
import pytest
import torch

from ganscape.objectives.sinkhorn import cosine_cost, minibatch_energy_distance, sinkhorn, sinkhorn_plan

ot = pytest.importorskip("ot")   # POT: the `dev` extra


def _uniform(n):
    return np.full(n, 1.0 / n)


@pytest.mark.parametrize("iters", [1, 2, 3, 20])
def test_plan_is_pots_sinkhorn_knopp_iteration_by_iteration(iters):
    M = np.random.default_rng(0).random((5, 7)) * 2.0
    ref = ot.sinkhorn(_uniform(5), _uniform(7), M, 0.3, numItermax=iters, stopThr=0.0, warn=False)
    np.testing.assert_allclose(sinkhorn_plan(torch.tensor(M), 0.3, iters).numpy(), ref, atol=1e-14)


def test_converged_plan_and_value_match_pots_log_domain_solver():
    # eps 0.05 on costs up to 2: the kernel exp(-C/eps) reaches e^-40; the plan as POT's log-domain solver
    M = np.random.default_rng(1).random((6, 4)) * 2.0
    ref = ot.bregman.sinkhorn_log(_uniform(6), _uniform(4), M, 0.05, numItermax=2000, stopThr=1e-13)
    w, plan = sinkhorn(torch.tensor(M), 0.05, 2000)
    np.testing.assert_allclose(plan.numpy(), ref, atol=1e-10)
    np.testing.assert_allclose(plan.sum(1).numpy(), _uniform(6), atol=1e-12)
    np.testing.assert_allclose(plan.sum(0).numpy(), _uniform(4), atol=1e-9)
    value = ot.sinkhorn2(_uniform(6), _uniform(4), M, 0.05, method="sinkhorn_log", numItermax=2000, stopThr=1e-13)
    assert float(w) == pytest.approx(float(value), abs=1e-10)


def test_batched_equals_one_problem_at_a_time():
    C = torch.rand(3, 4, 6, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    w, plan = sinkhorn(C, 0.1, 30)
    assert w.shape == (3, 4) and plan.shape == C.shape
    for i in range(3):
        for j in range(4):
            wi, pi = sinkhorn(C[i, j], 0.1, 30)
            torch.testing.assert_close(pi, plan[i, j], rtol=0, atol=1e-15)
            torch.testing.assert_close(wi, w[i, j], rtol=0, atol=1e-15)


def test_gradients_constant_plan_and_through_the_iterations():
    C = torch.rand(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3)).requires_grad_()
    w, plan = sinkhorn(C, 0.2, 10)                   # the paper's: dW/dC = P (P held constant)
    (grad,) = torch.autograd.grad(w, C)
    torch.testing.assert_close(grad, plan, rtol=0, atol=0)
    # through the iterations: autograd agrees with finite differences, and differs from P
    assert torch.autograd.gradcheck(lambda c: sinkhorn(c, 0.2, 10, backprop=True)[0], (C,))
    (full,) = torch.autograd.grad(sinkhorn(C, 0.2, 10, backprop=True)[0], C)
    assert (full - plan).abs().max() > 1e-3


def test_cosine_cost_by_hand():
    a = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    b = torch.tensor([[1.0, 1.0], [-5.0, 0.0]])
    expect = torch.tensor([[1 - 1 / math.sqrt(2), 2.0], [1 - 1 / math.sqrt(2), 1.0]])
    torch.testing.assert_close(cosine_cost(a, b), expect)


def test_energy_distance_of_identical_batches_is_zero():
    v = torch.randn(16, 5, generator=torch.Generator().manual_seed(4))
    loss, w = minibatch_energy_distance(v, v, v, v, eps=0.05, iters=50)
    assert w.min() > 1e-3                            # each entropic W(X, X) is itself not 0 ...
    assert abs(float(loss)) < 1e-6                   # ... but the six terms cancel


def test_energy_distance_terms_by_hand():
    """One example per batch: the plan is 1, so W is the cosine cost itself.
    x = (1, 0), x' = (0, 1), y = (1, 1), y' = (-1, 0):
    c(x,y) = c(x',y) = 1 - 1/sqrt2, c(x,y') = 2, c(x',y') = 1, c(x,x') = 1, c(y,y') = 1 + 1/sqrt2;
    L = 2 (1 - 1/sqrt2) + 2 + 1 - 2 * 1 - 2 (1 + 1/sqrt2) = 1 - 2 sqrt2."""
    x, x2, y, y2 = (torch.tensor([v]) for v in ([1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]))
    loss, w = minibatch_energy_distance(x, x2, y, y2, eps=0.1, iters=3)
    r = 1 / math.sqrt(2)
    torch.testing.assert_close(w, torch.tensor([1 - r, 2.0, 1 - r, 1.0, 1.0, 1 + r]))
    assert float(loss) == pytest.approx(1 - 2 * math.sqrt(2), abs=1e-6)


def test_energy_distance_is_zero_in_expectation_and_positive_between_distributions():
    g = torch.Generator().manual_seed(5)
    mean = torch.tensor([1.0, 0.5, 0.0])

    def draw(shift):
        return torch.randn(8, 3, generator=g) + mean + shift

    same = torch.stack([minibatch_energy_distance(draw(0), draw(0), draw(0), draw(0), 0.1, 40)[0]
                        for _ in range(200)])
    other = torch.stack([minibatch_energy_distance(draw(0), draw(0), draw(torch.tensor([-1.0, 1.0, 1.0])),
                                                   draw(torch.tensor([-1.0, 1.0, 1.0])), 0.1, 40)[0]
                         for _ in range(60)])
    se = float(same.std()) / math.sqrt(len(same))
    assert abs(float(same.mean())) < 4 * se           # unbiased: E[L] = 0 when Y ~ X (3000 draws: 0.3 se from 0)
    assert float(other.mean()) > 10 * float(other.std()) / math.sqrt(len(other))   # and clearly positive


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="eps must be a positive number"):
        sinkhorn_plan(torch.zeros(2, 2), 0.0, 3)
    with pytest.raises(ValueError, match="iters must be >= 1"):
        sinkhorn_plan(torch.zeros(2, 2), 0.1, 0)
    with pytest.raises(ValueError, match="the same shape"):
        minibatch_energy_distance(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3, 3), torch.zeros(2, 3), 0.1, 3)
