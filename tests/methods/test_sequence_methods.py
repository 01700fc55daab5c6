"""The sequence recipes' pieces by hand: phases, SeqGAN's rollout rewards,
ScratchGAN's discounted returns and baseline, config checks."""
import math

import pytest
import torch

from ganscape.config import from_dict
from ganscape.methods.sequence import (MaliGAN, MaliGANParams, ScratchGAN, ScratchGANParams, SeqGAN, SeqGANParams,
                                       discounted_returns, phase, rollout_rewards)
from ganscape.registry import ConfigError


def cfg(loss="ns", name="seqgan", **loss_params):
    return from_dict({"data": {"name": "digits"}, "loss": {"name": loss, "params": loss_params},
                      "method": {"name": name}})


def test_phases():
    assert [phase(s, 2, 3) for s in range(7)] == ["mle", "mle", "d", "d", "d", "adversarial", "adversarial"]
    assert phase(0, 0, 0) == "adversarial"


def test_discounted_returns_by_hand():
    r = torch.tensor([[1.0, 0.0, -1.0, 2.0]])
    g = 0.5
    expected = [1 + g * 0 + g ** 2 * -1 + g ** 3 * 2, 0 + g * -1 + g ** 2 * 2, -1 + g * 2, 2.0]
    torch.testing.assert_close(discounted_returns(r, g), torch.tensor([expected]))
    torch.testing.assert_close(discounted_returns(r, 0.0), r)
    torch.testing.assert_close(discounted_returns(r, 1.0), r.flip(-1).cumsum(-1).flip(-1))


def test_scratchgan_loss_and_baseline_by_hand():
    """ScratchGAN's reinforce_loss: one scalar EWMA baseline starting at 0,
    updated with the batch's mean return over every position, then
    subtracted (not one baseline per position)."""
    m = ScratchGAN(ScratchGANParams(discount=0.5, baseline_decay=0.25), cfg(name="scratchgan"))
    v = torch.tensor([[0.0, math.log(3.0)], [math.log(3.0), 0.0]])   # 2 sigmoid - 1: 0 and 0.5
    logp = torch.tensor([[-1.0, -2.0], [-3.0, -4.0]], requires_grad=True)
    out = m.g_loss(v, logp)
    # R_0 = r_0 + 0.5 r_1: [[0.25, 0.5], [0.5, 0.0]], mean 0.3125; b = 0.25 * 0 + 0.75 * 0.3125
    b = 0.234375
    assert m.baseline.shape == () and m.baseline.item() == pytest.approx(b)
    adv = [[0.25 - b, 0.5 - b], [0.5 - b, 0.0 - b]]
    by_hand = -(adv[0][0] * -1.0 + adv[0][1] * -2.0 + adv[1][0] * -3.0 + adv[1][1] * -4.0) / 4
    assert out["loss"].item() == pytest.approx(by_hand)
    assert out["reward"].item() == pytest.approx(0.25)
    out["loss"].backward()       # the gradient is -adv / 4 per token: positive advantage, more probability
    torch.testing.assert_close(logp.grad, -torch.tensor(adv) / 4)
    m.g_loss(torch.zeros(2, 2), logp)                                 # rewards 0: returns 0
    assert m.baseline.item() == pytest.approx(0.25 * b)
    m2 = ScratchGAN(ScratchGANParams(), cfg(name="scratchgan"))
    m2.load_state_dict(m.state_dict())
    torch.testing.assert_close(m2.baseline, m.baseline)
    m2.load_state_dict({"baseline": torch.tensor([0.5, 1.5])})        # an old per-position checkpoint
    assert m2.baseline.item() == pytest.approx(1.0)


class PrefixRollout:
    """A 'generator' that completes any prefix with the token 1."""

    def sample(self, n, prefix):
        out = torch.ones(n, 4, dtype=torch.long)
        out[:, :prefix.shape[1]] = prefix
        return out


class CountD:
    """D's logit: the number of 2s in the sequence."""

    def __call__(self, x):
        return (x == 2).sum(1).float()


def test_rollout_rewards_by_hand():
    x = torch.tensor([[2, 2, 0, 2], [0, 1, 2, 2]])
    q = rollout_rewards(PrefixRollout(), CountD(), x, n_rollouts=3)
    sig = torch.sigmoid
    # Q_t = D of the prefix x_<=t completed with 1s; Q_L = D(x)
    expected = torch.tensor([[sig(torch.tensor(1.0)), sig(torch.tensor(2.0)), sig(torch.tensor(2.0)),
                              sig(torch.tensor(3.0))],
                             [sig(torch.tensor(0.0)), sig(torch.tensor(0.0)), sig(torch.tensor(1.0)),
                              sig(torch.tensor(2.0))]])
    torch.testing.assert_close(q, expected)


def test_config_checks():
    with pytest.raises(ConfigError, match="loss must be minimax or ns"):
        SeqGAN(SeqGANParams(), cfg("wasserstein"))
    with pytest.raises(ConfigError, match="loss must be minimax or ns"):
        ScratchGAN(ScratchGANParams(), cfg("hinge", name="scratchgan"))
    MaliGAN(MaliGANParams(divergence="kl"), cfg("f-gan", name="maligan", divergence="kl"))
    with pytest.raises(ConfigError, match="f-gan with divergence kl"):
        MaliGAN(MaliGANParams(divergence="kl"), cfg("ns", name="maligan"))
    with pytest.raises(ConfigError, match="rollouts"):
        SeqGANParams(rollouts=0).validate("method.params")
    with pytest.raises(ConfigError, match="at least 2 sequences"):
        MaliGANParams(samples=1).validate("method.params")
    with pytest.raises(ConfigError, match="discount"):
        ScratchGANParams(discount=1.5).validate("method.params")
