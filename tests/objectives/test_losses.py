"""Each loss on fixed inputs against values computed by hand, and the f-GAN
conjugates against f-divergences in closed form."""
import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

from ganscape.objectives.losses import F_DIVERGENCES
from ganscape.registry import LOSSES

REAL = torch.tensor([1.0, -2.0], dtype=torch.float64)
FAKE = torch.tensor([0.5, 3.0], dtype=torch.float64)


def sp(x):
    return math.log1p(math.exp(x))


def terms(name, params=None, real=REAL, fake=FAKE):
    return LOSSES.build(name, params or {}, real, fake)


def test_minimax_by_hand():
    t = terms("minimax")
    d = 0.5 * (sp(-1.0) + sp(2.0)) + 0.5 * (sp(0.5) + sp(3.0))
    g = -0.5 * (sp(0.5) + sp(3.0))
    assert t["d"].item() == pytest.approx(d, rel=1e-12)
    assert t["g"].item() == pytest.approx(g, rel=1e-12)
    # G minimizes log(1 - D(G(z))) with D = sigmoid
    sig = lambda v: 1 / (1 + math.exp(-v))
    assert g == pytest.approx(0.5 * (math.log(1 - sig(0.5)) + math.log(1 - sig(3.0))), rel=1e-12)


def test_non_saturating_by_hand():
    t = terms("ns")
    assert t["g"].item() == pytest.approx(0.5 * (sp(-0.5) + sp(-3.0)), rel=1e-12)
    assert t["d"].item() == pytest.approx(terms("minimax")["d"].item(), rel=1e-12)


def test_one_sided_label_smoothing_by_hand():
    t = terms("ns", {"smoothing": 0.1})
    real = [0.9 * sp(-v) + 0.1 * sp(v) for v in (1.0, -2.0)]
    d = sum(real) / 2 + 0.5 * (sp(0.5) + sp(3.0))
    assert t["d"].item() == pytest.approx(d, rel=1e-12)


def test_wasserstein_by_hand():
    t = terms("wasserstein")
    assert t["d"].item() == pytest.approx((0.5 + 3.0) / 2 - (1.0 - 2.0) / 2)
    assert t["g"].item() == pytest.approx(-1.75)


def test_least_squares_raw_and_sigmoid_by_hand():
    t = terms("least-squares")
    assert t["d"].item() == pytest.approx(0.5 * (((0.0) ** 2 + 9.0) / 2 + (0.25 + 9.0) / 2))
    assert t["g"].item() == pytest.approx(0.5 * ((0.25 + 4.0) / 2))
    t = terms("least-squares", {"output": "sigmoid"})
    s = lambda v: 1 / (1 + math.exp(-v))
    d = 0.5 * (((s(1.0) - 1) ** 2 + (s(-2.0) - 1) ** 2) / 2 + (s(0.5) ** 2 + s(3.0) ** 2) / 2)
    assert t["d"].item() == pytest.approx(d, rel=1e-12)


def test_hinge_by_hand():
    t = terms("hinge")
    # relu(1 - 1) = 0, relu(1 + 2) = 3; relu(1 + 0.5) = 1.5, relu(1 + 3) = 4
    assert t["d"].item() == pytest.approx(1.5 + 2.75)
    assert t["g"].item() == pytest.approx(-1.75)


def test_generator_phase_returns_only_g():
    for name in LOSSES.names():
        out = LOSSES.build(name, {}, None, FAKE)
        assert set(out) == {"g"}, name


# ---- f-GAN -------------------------------------------------------------
P = np.array([0.5, 0.25, 0.25])
Q = np.array([0.25, 0.25, 0.5])
# Equal-weight samples realizing P and Q on the points {0, 1, 2}.
P_SAMPLES = [0, 0, 1, 2]
Q_SAMPLES = [0, 1, 2, 2]

F_PRIME = {
    "kl": lambda u: 1 + math.log(u),
    "reverse-kl": lambda u: -1 / u,
    "pearson": lambda u: 2 * (u - 1),
    "hellinger": lambda u: 1 - 1 / math.sqrt(u),
    "js": lambda u: math.log(2 * u / (1 + u)),
    "gan": lambda u: math.log(u / (u + 1)),
    "tv": lambda u: 0.5 * math.copysign(1.0, u - 1),
}
# v such that g_f(v) = T
INV_ACTIVATION = {
    "kl": lambda t: t,
    "reverse-kl": lambda t: -math.log(-t),
    "pearson": lambda t: t,
    "hellinger": lambda t: -math.log(1 - t),
    "js": lambda t: -math.log(math.exp(math.log(2) - t) - 1),
    "gan": lambda t: -math.log(math.exp(-t) - 1),
    "tv": lambda t: math.copysign(30.0, t),  # tanh(30)/2 = 1/2 to double precision
}
CLOSED_FORM = {
    "kl": entropy(P, Q),
    "reverse-kl": entropy(Q, P),
    "pearson": float(((P - Q) ** 2 / Q).sum()),
    "hellinger": float(((np.sqrt(P) - np.sqrt(Q)) ** 2).sum()),
    "js": 2 * jensenshannon(P, Q) ** 2,                       # f-GAN's JS is 2 JSD
    "gan": 2 * jensenshannon(P, Q) ** 2 - math.log(4),        # 2 JSD - log 4
    "tv": 0.5 * float(np.abs(P - Q).sum()),
}


@pytest.mark.parametrize("div", sorted(F_DIVERGENCES))
def test_f_gan_optimal_critic_attains_the_divergence(div):
    # At the optimal critic T*(x) = f'(p(x)/q(x)) the f-GAN objective
    # E_P[T] - E_Q[f*(T)] equals D_f(P||Q) (Fenchel-Young equality), so the
    # discriminator loss there is -D_f, matching the closed form.
    v = torch.tensor([INV_ACTIVATION[div](F_PRIME[div](p / q)) for p, q in zip(P, Q)], dtype=torch.float64)
    d = LOSSES.build("f-gan", {"divergence": div}, v[P_SAMPLES], v[Q_SAMPLES])["d"].item()
    f = F_DIVERGENCES[div].f
    assert sum(q * f(p / q) for p, q in zip(P, Q)) == pytest.approx(CLOSED_FORM[div], rel=1e-9)
    assert -d == pytest.approx(CLOSED_FORM[div], rel=1e-7, abs=1e-12)


@pytest.mark.parametrize("div", sorted(set(F_DIVERGENCES) - {"tv"}))
def test_f_gan_optimum_is_a_maximum(div):
    # Any other critic gives a lower objective (a higher D loss).
    v = torch.tensor([INV_ACTIVATION[div](F_PRIME[div](p / q)) for p, q in zip(P, Q)], dtype=torch.float64)
    best = LOSSES.build("f-gan", {"divergence": div}, v[P_SAMPLES], v[Q_SAMPLES])["d"].item()
    rng = np.random.default_rng(0)
    for _ in range(20):
        w = v + torch.from_numpy(rng.normal(0, 0.3, 3))
        assert LOSSES.build("f-gan", {"divergence": div}, w[P_SAMPLES], w[Q_SAMPLES])["d"].item() >= best - 1e-12


def test_f_gan_generator_objectives():
    v = FAKE
    ns = LOSSES.build("f-gan", {"divergence": "kl"}, None, v)["g"].item()
    mm = LOSSES.build("f-gan", {"divergence": "kl", "generator": "minimax"}, None, v)["g"].item()
    assert ns == pytest.approx(-(0.5 + 3.0) / 2)
    assert mm == pytest.approx(-(math.exp(-0.5) + math.exp(2.0)) / 2)
    # The GAN divergence with the NS generator is exactly the NS loss.
    assert LOSSES.build("f-gan", {"divergence": "gan"}, None, v)["g"].item() == pytest.approx(terms("ns")["g"].item())
    assert LOSSES.build("f-gan", {"divergence": "gan"}, REAL, v)["d"].item() == pytest.approx(terms("ns")["d"].item())


def test_boundary_seeking_continuous_by_hand():
    t = terms("bgan")
    # G: 0.5 (log D - log(1 - D))^2 = 0.5 v^2, averaged: 0.5 * (0.25 + 9) / 2
    assert t["g"].item() == pytest.approx(0.5 * (0.5 ** 2 + 3.0 ** 2) / 2, rel=1e-12)
    sig = lambda v: 1 / (1 + math.exp(-v))
    via_d = np.mean([0.5 * (math.log(sig(v)) - math.log(1 - sig(v))) ** 2 for v in (0.5, 3.0)])
    assert t["g"].item() == pytest.approx(via_d, rel=1e-9)
    assert t["d"].item() == pytest.approx(terms("minimax")["d"].item(), rel=1e-12)
    # its gradient vanishes at the boundary v = 0 (D = 1/2)
    v = torch.zeros(3, requires_grad=True)
    LOSSES.build("bgan", {}, None, v)["g"].backward()
    assert torch.count_nonzero(v.grad) == 0
