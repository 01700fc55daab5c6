"""TRPO's pieces: conjugate gradient on a known system, the Fisher-vector
product against the explicit Fisher matrix of a tiny softmax policy, and an
update whose measured KL stays within max_kl while the surrogate improves."""
import pytest
import torch

from ganscape.rl.trpo import conjugate_gradient, fisher_vector_product, trpo_step


def test_conjugate_gradient_solves_a_known_system():
    A = torch.tensor([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]], dtype=torch.float64)
    b = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    x = conjugate_gradient(lambda v: A @ v, b, iters=3)  # exact in n = 3 steps
    assert torch.allclose(x, torch.linalg.solve(A, b), atol=1e-10)
    assert not torch.allclose(conjugate_gradient(lambda v: A @ v, b, iters=1), torch.linalg.solve(A, b))


def _policy(seed=0):
    torch.manual_seed(seed)
    net = torch.nn.Linear(3, 4).double()
    states = torch.randn(6, 3, dtype=torch.float64)
    return net, states


def test_fisher_vector_product_is_the_explicit_fisher_matrix_times_v():
    net, s = _policy()
    params = list(net.parameters())
    with torch.no_grad():
        p_old = torch.softmax(net(s), 1)

    def kl():  # mean KL(pi_old || pi_theta) over the states
        logp = torch.log_softmax(net(s), 1)
        return (p_old * (p_old.log() - logp)).sum(1).mean()

    # explicit Fisher: mean over states of J^T (diag p - p p^T) J, J = d logits / d params
    flat = torch.nn.utils.parameters_to_vector(params).detach()
    from torch.func import jacrev

    def logits_of(theta):
        w, b = theta[:12].reshape(4, 3), theta[12:]
        return s @ w.T + b

    J = jacrev(logits_of)(flat)  # (6, 4, 16)
    F = sum(J[i].T @ (torch.diag(p_old[i]) - torch.outer(p_old[i], p_old[i])) @ J[i] for i in range(6)) / 6
    v = torch.randn(16, dtype=torch.float64)
    assert torch.allclose(fisher_vector_product(kl, params, v), F @ v, atol=1e-10)
    assert torch.allclose(fisher_vector_product(kl, params, v, damping=0.1), F @ v + 0.1 * v, atol=1e-10)


def test_a_trpo_step_improves_the_surrogate_within_max_kl():
    net, s = _policy(1)
    params = list(net.parameters())
    a = torch.tensor([0, 1, 2, 3, 0, 1])
    adv = torch.tensor([1.0, -0.5, 2.0, 0.3, -1.0, 0.7], dtype=torch.float64)
    with torch.no_grad():
        logp_old_all = torch.log_softmax(net(s), 1)
    logp_old = logp_old_all.gather(1, a[:, None]).squeeze(1)

    def surrogate():
        logp = torch.log_softmax(net(s), 1).gather(1, a[:, None]).squeeze(1)
        return (torch.exp(logp - logp_old) * adv).mean()

    def kl():
        logp = torch.log_softmax(net(s), 1)
        return (logp_old_all.exp() * (logp_old_all - logp)).sum(1).mean()

    before = surrogate().item()
    for max_kl in (0.01, 0.001):
        net2, _ = _policy(1)
        net.load_state_dict(net2.state_dict())
        r = trpo_step(params, surrogate, kl, max_kl=max_kl, damping=0.0, cg_iters=20)
        assert r.accepted and kl().item() <= max_kl and r.kl == pytest.approx(kl().item())
        assert surrogate().item() - before == pytest.approx(r.improvement) and r.improvement > 0
        # the full step's quadratic KL model is max_kl, and here the measured KL is within 2% of it
        assert r.step_fraction == 1.0 and r.kl == pytest.approx(max_kl, rel=0.02)
        assert r.expected_improvement == pytest.approx(r.improvement, rel=0.05)  # the linear model, first order
    # openai/imitation's line search (KL up to 2 max_kl) takes a full step that the paper's bound halves
    net.load_state_dict(_policy(1)[0].state_dict())
    loose = trpo_step(params, surrogate, kl, max_kl=0.001, damping=0.0, cg_iters=20, kl_slack=2.0)
    net.load_state_dict(_policy(1)[0].state_dict())
    tight = trpo_step(params, surrogate, kl, max_kl=0.0005, damping=0.0, cg_iters=20)
    assert loose.step_fraction == 1.0 and loose.kl <= 2 * 0.001
    with pytest.raises(ValueError, match="kl_slack"):
        trpo_step(params, surrogate, kl, kl_slack=0.5)
    assert tight.accepted and tight.kl <= 0.0005
    # a surrogate that cannot improve: nothing is accepted and the parameters stay
    old = torch.nn.utils.parameters_to_vector(params).clone()
    r = trpo_step(params, lambda: sum(p.sum() for p in params) * 0.0, kl)  # zero gradient
    assert not r.accepted and torch.equal(torch.nn.utils.parameters_to_vector(params), old)


@pytest.mark.parametrize("shrink, fraction", [(0.5, 0.25), (0.8, 0.8 ** 4)])
def test_line_search_shrinks_by_its_ratio_until_the_measured_kl_fits(shrink, fraction):
    """KL(x) = |d|^2 / 2 + 10 |d|^4 (d = x - x0; Fisher = I) and a linear surrogate: the full step |d| = 1
    (max_kl 0.5) measures KL 10.5; by hand, fraction f fits when f^2 / 2 + 10 f^4 <= 0.5: 0.5 -> 0.75 no,
    0.25 -> 0.07 yes; 0.8 -> 4.4, 0.64 -> 1.88, 0.512 -> 0.82 no, 0.4096 -> 0.37 yes."""
    x0 = torch.tensor([0.3, -0.2])
    x = torch.nn.Parameter(x0.clone())
    a = torch.tensor([3.0, 4.0])

    def kl():
        d = x - x0
        return 0.5 * (d @ d) + 10.0 * (d @ d) ** 2

    r = trpo_step([x], lambda: a @ (x - x0), kl, max_kl=0.5, damping=0.0, cg_iters=5, shrink=shrink)
    assert r.accepted and r.step_fraction == pytest.approx(fraction)
    assert torch.allclose(x.detach() - x0, fraction * a / 5.0, atol=1e-5)   # along a, |full step| = 1
    with pytest.raises(ValueError, match="shrink"):
        trpo_step([x], lambda: a @ (x - x0), kl, shrink=1.0)
