"""AIS on a decoder whose marginal likelihood is known (a linear Gaussian
decoder), inside the BDMC sandwich, with a gap that shrinks as the number of
intermediate distributions grows."""
import math

import pytest
import torch

from ganscape.likelihood import ais as A


def linear_model(D=6, d=2, sigma=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(D, d, generator=g, dtype=torch.float64)
    b = 0.1 * torch.randn(D, generator=g, dtype=torch.float64)
    return (lambda z: z.double() @ W.T + b), W, b, sigma


def exact_log_p(x, W, b, sigma):
    cov = W @ W.T + sigma ** 2 * torch.eye(len(b), dtype=torch.float64)
    return torch.distributions.MultivariateNormal(b, cov).log_prob(x)


def test_schedule():
    beta = A.sigmoid_schedule(10)
    assert float(beta[0]) == 0.0 and float(beta[-1]) == 1.0 and len(beta) == 11
    assert (beta[1:] > beta[:-1]).all()
    # the sigmoid schedule spends more steps near the ends than in the middle
    assert float(beta[1] - beta[0]) < float(beta[6] - beta[5])


def test_ais_is_sandwiched_by_bdmc_and_the_gap_shrinks():
    dec, W, b, s = linear_model()
    g = torch.Generator().manual_seed(1)
    x, z_star = A.simulate(dec, 12, 2, s, g)
    x = x.double()
    exact = exact_log_p(x, W, b, s)
    gaps = []
    for steps in (5, 200):
        r = A.bdmc(dec, x, z_star, s, steps, chains=16, generator=g)
        gaps.append(r.gap)
        # stochastic bounds: checked on the mean over the 12 examples, with slack for the noise
        # (over seeds 0-4 the mean of lower - exact at 200 steps ranged -0.10 .. +0.06)
        assert float((r.lower - exact).mean()) < 0.15
        assert float((r.upper - exact).mean()) > -0.15
    assert gaps[1] < 0.5 * gaps[0] and gaps[1] < 1.0, gaps
    fwd = A.ais(dec, x, 2, s, steps=200, chains=16, generator=g)
    assert 0.3 < fwd.acceptance < 0.99
    assert torch.allclose(fwd.log_p, exact, atol=0.5)


def test_adapt_step_size_by_hand():
    # eval_gen: the step moves on the old running average, then the average takes 0.1 of the new rate
    eps, avg = A.adapt_step_size(0.1, 0.7, 0.0)
    assert eps == pytest.approx(0.1 * 1.02) and avg == pytest.approx(0.9 * 0.7)
    eps, avg = A.adapt_step_size(eps, avg, 1.0)          # 0.63 < 0.65: shrink
    assert eps == pytest.approx(0.1 * 1.02 * 0.98) and avg == pytest.approx(0.9 * 0.63 + 0.1)
    assert A.adapt_step_size(0.5, 0.9, 1.0)[0] == 0.5     # clipped at eval_gen's ceiling
    assert A.adapt_step_size(1e-4, 0.1, 0.0)[0] == 1e-4   # and floor
    # the running average starts at the target, which is not above it: the first move shrinks
    assert A.adapt_step_size(0.01, 0.65, 1.0)[0] == pytest.approx(0.0098)


def test_hmc_acceptance_settles_at_the_target():
    """Once the posterior is narrow enough that the 0.5 ceiling does not bind
    (the later part of the schedule), the acceptance per transition averages
    0.65; a per-chain x1.02 / x0.98 rule settles at 0.505 instead."""
    dec, W, b, s = linear_model(sigma=0.05)
    g = torch.Generator().manual_seed(1)
    x, _ = A.simulate(dec, 6, 2, s, g)
    r = A.ais(dec, x.double(), 2, s, steps=500, chains=16, generator=g)
    assert r.acceptance_trace.shape == (500,)
    late = float(r.acceptance_trace[200:].mean())
    assert abs(late - 0.65) < 0.04, late
    assert r.step_size < A.STEP_MAX  # the ceiling did not bind at the end
    # another target is reached too
    r = A.ais(dec, x.double(), 2, s, steps=500, chains=16, generator=g, target_accept=0.85)
    assert abs(float(r.acceptance_trace[200:].mean()) - 0.85) < 0.04


def test_target_accept_out_of_range_is_refused():
    dec, W, b, s = linear_model()
    with pytest.raises(ValueError, match="target_accept"):
        A.ais(dec, torch.zeros(1, 6, dtype=torch.float64), 2, s, steps=2, target_accept=1.0)


def test_gaussian_log_likelihood_by_hand():
    dec, W, b, s = linear_model(D=3, d=1)
    z = torch.tensor([[0.5]], dtype=torch.float64)
    x = torch.tensor([[0.1, -0.2, 0.3]], dtype=torch.float64)
    mean = (z @ W.T + b)[0]
    want = sum(-0.5 * ((x[0, i] - mean[i]) / s) ** 2 - math.log(s) - 0.5 * math.log(2 * math.pi) for i in range(3))
    assert float(A.gaussian_log_lik(dec, z, x, s)) == pytest.approx(float(want), abs=1e-12)


def test_choose_sigma_prefers_the_true_noise_level():
    dec, W, b, s = linear_model(sigma=0.3)
    g = torch.Generator().manual_seed(2)
    x, _ = A.simulate(dec, 20, 2, 0.3, g)
    best, scores = A.choose_sigma(dec, x.double(), 2, (0.03, 0.3, 3.0), steps=30, chains=4, generator=g)
    assert best == 0.3 and scores[0.3] > scores[3.0] and scores[0.3] > scores[0.03]
