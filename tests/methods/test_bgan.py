"""Boundary-seeking GAN for discrete images: the weights of every
f-divergence, the two estimators' losses by hand, REINFORCE's unbiasedness on
a tiny categorical problem, and the discrete generator's distribution."""
import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from ganscape.config import from_dict
from ganscape.methods.bgan import BGAN, BGANParams, check_loss_matches, log_weight
from ganscape.nets.discrete import DiscreteImageGenerator, discrete_info
from ganscape.objectives.losses import F_DIVERGENCES
from ganscape.registry import ConfigError

# f'(r) for the f-divergences, and the optimal D logit v*(r) for density ratio r = p / q
F_PRIME = {"kl": lambda r: 1 + math.log(r), "reverse-kl": lambda r: -1 / r, "pearson": lambda r: 2 * (r - 1),
           "hellinger": lambda r: 1 - 1 / math.sqrt(r), "gan": lambda r: math.log(r / (r + 1)),
           "js": lambda r: math.log(2 * r / (r + 1))}
V_STAR = {"gan": math.log, "js": math.log, "reverse-kl": math.log, "kl": lambda r: 1 + math.log(r),
          "hellinger": lambda r: 0.5 * math.log(r), "pearson": lambda r: 2 * (r - 1)}


@pytest.mark.parametrize("div", sorted(V_STAR))
@pytest.mark.parametrize("r", [0.2, 1.0, 3.5])
def test_weights_are_the_density_ratio_at_the_optimal_discriminator(div, r):
    v = V_STAR[div](r)
    # v* is D's optimum: the f-GAN activation there is f'(r) (Nowozin et al. 2016)
    t = F_DIVERGENCES[div].activation(torch.tensor(v, dtype=torch.float64)).item()
    assert t == pytest.approx(F_PRIME[div](r), rel=1e-9, abs=1e-12)
    # and the BGAN weight w = (df*/dT)(T) is the density ratio
    assert log_weight(div, torch.tensor(v, dtype=torch.float64)).item() == pytest.approx(math.log(r), abs=1e-9)


def test_weights_by_hand():
    v = torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(log_weight("gan", v), v)
    torch.testing.assert_close(log_weight("kl", v), v - 1)
    torch.testing.assert_close(log_weight("hellinger", v), 2 * v)
    torch.testing.assert_close(log_weight("pearson", v), torch.log(torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)))
    assert log_weight("pearson", torch.tensor([-3.0])).item() < -20  # below v = -2: no weight
    with pytest.raises(ValueError, match="unknown divergence"):
        log_weight("tv", v)


def cfg(loss="ns", loss_params=None, **method):
    return from_dict({"data": {"name": "digits"}, "loss": {"name": loss, "params": loss_params or {}},
                      "method": {"name": "bgan", "params": method}})


def test_importance_loss_by_hand():
    m = BGAN(BGANParams(samples=2), cfg())
    logw = torch.tensor([[0.0, math.log(3.0)], [1.0, 1.0]])
    logg = torch.tensor([[-1.0, -2.0], [-4.0, -6.0]], requires_grad=True)
    out = m.g_loss(logw, logg)
    # w~ = (1/4, 3/4) and (1/2, 1/2): loss = mean(0.25 + 1.5, 2 + 3)
    assert out["loss"].item() == pytest.approx((1.75 + 5.0) / 2)
    assert out["log_z"].item() == pytest.approx((math.log(2.0) + 1.0) / 2)   # logmeanexp per z, averaged
    assert out["ess"].item() == pytest.approx((1 / (1 / 16 + 9 / 16) + 2.0) / 2)
    out["loss"].backward()
    torch.testing.assert_close(logg.grad, -torch.tensor([[0.25, 0.75], [0.5, 0.5]]) / 2)


def test_reinforce_loss_and_baseline_by_hand():
    m = BGAN(BGANParams(samples=2, estimator="reinforce", baseline_decay=0.9), cfg())
    logw = torch.tensor([[0.0, math.log(3.0)]])
    logg = torch.tensor([[-1.0, -2.0]])
    out = m.g_loss(logw, logg)
    b1 = math.log(2.0)  # the first batch's log-mean-exp starts the average
    assert m.log_z.item() == pytest.approx(b1)
    assert out["loss"].item() == pytest.approx(-((0 - b1) * -1 + (math.log(3) - b1) * -2) / 2)
    logw2 = torch.tensor([[math.log(5.0), math.log(7.0)]])
    m.g_loss(logw2, logg)
    assert m.log_z.item() == pytest.approx(0.9 * b1 + 0.1 * math.log(6.0))
    # the baseline is saved and restored
    m2 = BGAN(BGANParams(samples=2, estimator="reinforce"), cfg())
    m2.load_state_dict(m.state_dict())
    assert m2.log_z.item() == m.log_z.item()


class Logits(nn.Module):
    """A 'generator net' whose logits ignore z: one learnable logit map."""

    def __init__(self, shape):
        super().__init__()
        self.theta = nn.Parameter(torch.randn(shape, generator=torch.Generator().manual_seed(3)))

    def forward(self, z):
        return self.theta.expand(len(z), *self.theta.shape)


def palette_generator(k=3):
    colors = [[-1.0], [0.0], [1.0]][:k]
    return DiscreteImageGenerator(Logits, (1, 1, 1), 2, {"mode": "palette", "colors": colors})


def test_reinforce_is_unbiased_on_a_tiny_categorical_problem():
    torch.manual_seed(0)
    G = palette_generator(3)
    f = torch.tensor([0.3, -1.2, 2.0])  # log w of each of the 3 outcomes
    # exact gradient of E_g[log w(x)] with respect to the logits
    p = torch.softmax(G.net.theta.detach().flatten(), 0)
    exact = p * (f - (p * f).sum())
    m = BGAN(BGANParams(samples=50, estimator="reinforce", baseline_decay=0.5), cfg())
    grads = []
    for _ in range(400):
        idx, logg = G.sample(G.sample_z(4), 50)
        logw = f[idx.view(4, 50)]
        G.zero_grad()
        m.g_loss(logw, logg)["loss"].backward()
        grads.append(-G.net.theta.grad.detach().flatten().clone())  # the loss is minus the objective
    g = torch.stack(grads)
    mean, se = g.mean(0), g.std(0) / math.sqrt(len(g))
    assert torch.all((mean - exact).abs() < 4 * se + 1e-3), (mean, exact, se)


@pytest.mark.parametrize("disc,shape", [({"mode": "channel", "values": [-1.0, 1.0]}, (1, 2, 2)),
                                        ({"mode": "channel", "values": [-1.0, 0.0, 1.0]}, (2, 1, 2)),
                                        ({"mode": "palette", "colors": [[-1.0, -1.0], [1.0, 0.0], [0.5, 1.0]]},
                                         (2, 1, 2))])
def test_discrete_generator_distribution_and_encodings(disc, shape):
    torch.manual_seed(1)
    G = DiscreteImageGenerator(Logits, shape, 2, disc)
    z = G.sample_z(3)
    idx, logg = G.sample(z, 2000)
    # the returned log-likelihood is the model's
    for j in (0, 7):
        torch.testing.assert_close(logg[:, j], G.log_prob(z, idx[:, j]))
    # exact enumeration: the probabilities of all images sum to 1, and match the draws' frequencies
    one = idx[0]                                              # 2000 draws for z_0
    cells = one[0].numel()
    k = G.k
    all_idx = torch.tensor(list(itertools.product(range(k), repeat=cells))).view(-1, *one.shape[1:])
    lp = G.log_prob(z[:1].expand(len(all_idx), -1), all_idx)
    assert lp.exp().sum().item() == pytest.approx(1.0, abs=1e-5)
    codes = (one.flatten(1) * (k ** torch.arange(cells - 1, -1, -1))).sum(1)
    freq = torch.bincount(codes, minlength=k ** cells).float() / len(one)
    assert (freq - lp.exp().detach()).abs().max() < 0.04
    # encodings: image -> indices -> image, and D's input
    img = G.to_image(one[:5])
    assert img.shape == (5, *shape)
    torch.testing.assert_close(G.to_indices(img), one[:5])
    d = G.d_input(one[:5])
    assert d.shape == (5, *G.d_shape)
    if G.bernoulli:
        torch.testing.assert_close(d, img)
    else:
        per_cell = d.sum(1) if disc["mode"] == "palette" else d.view(5, shape[0], k, *shape[1:]).sum(2)
        assert torch.all(per_cell == 1) and set(d.unique().tolist()) <= {0.0, 1.0}  # one-hot
    # relaxations live in D's input space; the softmax one has the same layout as the one-hot
    for tau, hard in ((0.0, False), (0.5, False), (0.5, True)):
        r = G.relaxed(z, tau, hard)
        assert r.shape == (3, *G.d_shape)
    # forward draws pixel values
    x = G(z)
    levels = G.levels.flatten().unique()
    assert x.shape == (3, *shape) and torch.isin(x, levels).all()


def test_softmax_relaxation_is_the_expected_one_hot():
    torch.manual_seed(2)
    G = DiscreteImageGenerator(Logits, (2, 1, 2), 2, {"mode": "channel", "values": [-1.0, 0.0, 1.0]})
    z = G.sample_z(1)
    idx, _ = G.sample(z, 20000)
    mean_onehot = G.d_input(idx[0]).mean(0)
    torch.testing.assert_close(G.relaxed(z)[0], mean_onehot, atol=0.02, rtol=0)
    Gb = DiscreteImageGenerator(Logits, (1, 1, 2), 2, {"mode": "channel", "values": [-1.0, 1.0]})
    idx, _ = Gb.sample(z, 20000)
    torch.testing.assert_close(Gb.relaxed(z)[0], Gb.d_input(idx[0]).mean(0), atol=0.03, rtol=0)


def test_loss_must_match_the_divergence():
    check_loss_matches("gan", cfg("ns"), "m")
    check_loss_matches("js", cfg("f-gan", {"divergence": "js"}), "m")
    check_loss_matches("kl", cfg("f-gan", {"divergence": "kl"}), "m")
    with pytest.raises(ConfigError, match="loss is wasserstein, use minimax, ns, or f-gan"):
        check_loss_matches("gan", cfg("wasserstein"), "m")
    with pytest.raises(ConfigError, match=r"loss is f-gan \(js\), use f-gan with divergence hellinger"):
        check_loss_matches("hellinger", cfg("f-gan", {"divergence": "js"}), "m")


def test_bad_params_and_data():
    with pytest.raises(ConfigError, match="at least 2 draws"):
        BGANParams(samples=1).validate("method.params")
    BGANParams(samples=1, estimator="reinforce").validate("method.params")
    with pytest.raises(ConfigError, match="baseline_decay"):
        BGANParams(baseline_decay=1.0).validate("method.params")
    with pytest.raises(ConfigError, match="discrete images"):
        discrete_info({}, "method bgan")
    with pytest.raises(ConfigError, match="at least 2 pixel values"):
        discrete_info({"discrete": {"mode": "channel", "values": [0.0]}}, "method bgan")
