"""GAE and discounted returns against hand computations, with an episode end
and a time-limit cut inside one segment, and two environments at once."""
import pytest
import torch

from ganscape.rl.advantages import discounted_returns, gae

G, L = 0.9, 0.8


def _flags(n, at):
    f = torch.zeros(n, dtype=torch.bool)
    f[list(at)] = True
    return f


def test_gae_by_hand_with_a_terminal_step_and_a_time_limit_cut():
    # steps 0-1: an episode that terminates at step 1; steps 2-3: one cut by the time limit at step 3
    r = torch.tensor([1.0, 2.0, 0.5, -1.0])
    v = torch.tensor([0.3, 0.6, 0.2, 0.4])
    v_next = torch.tensor([0.6, 9.0, 0.4, 0.7])  # 9.0 follows a terminal state: it must not count
    term, trunc = _flags(4, [1]), _flags(4, [3])
    d0 = 1.0 + G * 0.6 - 0.3
    d1 = 2.0 - 0.6                       # terminated: no bootstrap
    d2 = 0.5 + G * 0.4 - 0.2
    d3 = -1.0 + G * 0.7 - 0.4            # truncated: bootstraps with V of the state it was cut at
    a1, a3 = d1, d3
    a0, a2 = d0 + G * L * a1, d2 + G * L * a3
    adv, ret = gae(r, v, v_next, term, trunc, G, L)
    assert adv.tolist() == pytest.approx([a0, a1, a2, a3], abs=1e-6)
    assert ret.tolist() == pytest.approx([a0 + 0.3, a1 + 0.6, a2 + 0.2, a3 + 0.4], abs=1e-6)


def test_no_advantage_flows_back_across_a_time_limit_cut():
    # a cut at step 1 (bootstrapped), then a new episode of steps 2-3 that terminates
    r = torch.tensor([1.0, 1.0, 5.0, 5.0])
    v = torch.tensor([0.5, 0.5, 0.0, 0.0])
    v_next = torch.tensor([0.5, 2.0, 0.0, 0.0])
    adv, _ = gae(r, v, v_next, _flags(4, [3]), _flags(4, [1]), G, L)
    a1 = 1.0 + G * 2.0 - 0.5                       # nothing from step 2's episode
    assert adv[1].item() == pytest.approx(a1) and adv[0].item() == pytest.approx(1.0 + G * 0.5 - 0.5 + G * L * a1)


def test_gae_is_per_environment_and_lambda_one_is_the_monte_carlo_advantage():
    r = torch.tensor([[1.0, 0.0], [1.0, 2.0], [1.0, 3.0]])
    v = torch.zeros(3, 2)
    term = torch.tensor([[False, False], [False, False], [True, True]])
    trunc = torch.zeros(3, 2, dtype=torch.bool)
    adv, _ = gae(r, v, torch.zeros(3, 2), term, trunc, G, 1.0)
    assert adv[:, 0].tolist() == pytest.approx([1 + G + G * G, 1 + G, 1.0])
    assert adv[:, 1].tolist() == pytest.approx([2 * G + 3 * G * G, 2 + 3 * G, 3.0])
    assert torch.equal(discounted_returns(r, term, trunc, G), adv)


def test_a_segment_must_end_and_shapes_must_agree():
    r = torch.ones(3)
    with pytest.raises(ValueError, match="last step"):
        gae(r, r, r, _flags(3, []), _flags(3, [1]), G, L)
    with pytest.raises(ValueError, match="one shape"):
        gae(r, torch.ones(2), r, _flags(3, [2]), _flags(3, []), G, L)
    with pytest.raises(ValueError, match="gamma and lambda"):
        gae(r, r, r, _flags(3, [2]), _flags(3, []), 1.5, L)
