"""PPO's clipped surrogate and value losses by hand."""
import math

import pytest
import torch

from ganscape.rl.ppo import clipped_surrogate_loss, value_loss


def test_clipped_surrogate_by_hand():
    # ratios 1.5, 0.5, 1.1 with advantages +2, -1, +1 and clip 0.2:
    # +2: min(3.0, 1.2 * 2) = 2.4; -1: min(-0.5, 0.8 * -1) = -0.8; +1: min(1.1, 1.1) = 1.1
    logp_old = torch.tensor([-1.0, -2.0, -0.5])
    logp = logp_old + torch.log(torch.tensor([1.5, 0.5, 1.1]))
    adv = torch.tensor([2.0, -1.0, 1.0])
    loss = clipped_surrogate_loss(logp, logp_old, adv, 0.2)
    assert loss.item() == pytest.approx(-(2.4 - 0.8 + 1.1) / 3, rel=1e-6)
    # the gradient passes only where the unclipped term is the minimum: example 3 (and none through 1, 2)
    lp = logp.clone().requires_grad_()
    clipped_surrogate_loss(lp, logp_old, adv, 0.2).backward()
    assert lp.grad[:2].tolist() == [0.0, 0.0] and lp.grad[2].item() == pytest.approx(-1.1 / 3, rel=1e-6)
    with pytest.raises(ValueError):
        clipped_surrogate_loss(logp, logp_old, adv, 0.0)


def test_value_loss_plain_and_clipped_by_hand():
    v, r, v_old = torch.tensor([1.0, 3.0]), torch.tensor([2.0, 0.0]), torch.tensor([0.0, 2.9])
    assert value_loss(v, r).item() == pytest.approx(0.5 * (1.0 + 9.0) / 2)
    # clip 0.5: example 1 moves from 0 to 1, clipped to 0.5: error max(1, 2.25) = 2.25;
    # example 2 moves 0.1 (inside): max(9, 9) = 9
    assert value_loss(v, r, v_old, clip=0.5).item() == pytest.approx(0.5 * (2.25 + 9.0) / 2)
    with pytest.raises(ValueError, match="values_old"):
        value_loss(v, r, clip=0.5)
    assert math.isfinite(value_loss(v, r, v_old, clip=10.0).item())
