"""The GAN method's improved-GAN options, checked against independent computations."""
import copy

import pytest
import torch

from ganscape.config import from_dict
from ganscape.methods.gan import HistoricalAverage
from ganscape.train.state import build_state


def _setup(method_params, loss="ns", **model):
    cfg = from_dict({"data": {"name": "ring-8", "params": {"n": 64}},
                     "model": {"z_dim": 3, "generator": {"arch": {"name": "mlp", "params": {"width": 8, "depth": 1}}},
                               "discriminator": {"arch": {"name": "mlp", "params": {"width": 8, "depth": 1}}, **model}},
                     "loss": loss, "method": {"name": "gan", "params": method_params},
                     "optim": {"generator": {"name": "sgd", "params": {"lr": 0.1}},
                               "discriminator": {"name": "sgd", "params": {"lr": 0.1}}}})
    torch.manual_seed(0)
    state, method = build_state(cfg, (2,), torch.device("cpu"))
    return state, method


def test_pure_feature_matching_generator_gradient():
    state, method = _setup({"adversarial": 0.0, "feature_matching": 1.0})
    real = torch.randn(16, 2)
    method.d_step(state, real, log=False)
    # the generator update by hand, from the same latents the G step will draw
    rng = torch.get_rng_state()
    G_ref, D_ref = copy.deepcopy(state.G), copy.deepcopy(state.D)
    z = G_ref.sample_z(16)
    fm = ((D_ref.features(real).mean(0) - D_ref.features(G_ref(z)).mean(0)) ** 2).sum()
    fm.backward()
    expected = [p.detach() - 0.1 * p.grad for p in G_ref.parameters()]
    torch.set_rng_state(rng)
    stats = method.g_step(state, real, log=False)
    assert stats["feature_matching"].item() == pytest.approx(fm.item(), rel=1e-6)
    for p, e in zip(state.G.parameters(), expected):
        assert torch.allclose(p, e, atol=1e-6)
    # the discriminator is untouched by the generator step
    for a, b in zip(D_ref.parameters(), state.D.parameters()):
        assert torch.equal(a, b)


def test_historical_average_is_the_running_mean():
    net = torch.nn.Linear(2, 1)
    h = HistoricalAverage(net)
    seen = [torch.cat([p.detach().flatten() for p in net.parameters()])]
    for _ in range(3):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        h.update(net)
        seen.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    mean = torch.stack(seen).mean(0)
    assert torch.allclose(torch.cat([m.flatten() for m in h.mean]), mean, atol=1e-6)
    cur = seen[-1]
    assert h.penalty(net).item() == pytest.approx(((cur - mean) ** 2).sum().item(), rel=1e-5)


def test_weight_clipping_bounds_every_critic_weight():
    state, method = _setup({"weight_clip": 0.01}, loss="wasserstein")
    method.step(state, [torch.randn(16, 2) * 10], log=False)
    assert max(p.abs().max().item() for p in state.D.parameters()) <= 0.01 + 1e-9


def test_minibatch_discrimination_and_packing_train():
    state, method = _setup({}, minibatch_features=4, minibatch_kernel_dim=3, pack=2)
    before = state.D.mbd.T.detach().clone()
    stats = method.step(state, [torch.randn(16, 2)], log=True)
    assert torch.isfinite(stats["d_loss"]) and not torch.equal(before, state.D.mbd.T)
    assert state.D(torch.randn(16, 2)).shape == (8,)
