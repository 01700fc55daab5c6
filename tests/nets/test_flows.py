"""RealNVP / Glow flow (nets/flows.py): log-determinants against the brute-force
Jacobian, invertibility, each block on its own (coupling, squeeze, ActNorm,
LU 1x1 conv), log_prob by the change-of-variables formula, sampling,
gradients, state_dict round trips and parameter validation."""
import io
import itertools
import math

import pytest
import torch

from ganscape.nets.flows import (ActNorm, AffineCoupling, FlowParams, InvConv1x1, RealNVP, Squeeze,
                                 checkerboard)
from ganscape.registry import ConfigError

SMALL = dict(steps=2, hidden=8, blocks=1)


def perturb(model, seed=0):
    """Random last layers and scale factors so no coupling is the identity."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, AffineCoupling):
                m.net.out.weight.copy_(0.1 * torch.randn(m.net.out.weight.shape, generator=g))
                m.net.out.bias.copy_(0.1 * torch.randn(m.net.out.bias.shape, generator=g))
                m.scale_factor.copy_(0.5 + torch.rand(m.scale_factor.shape, generator=g))
    return model


def build(shape, seed=0, dtype=torch.float32, **kw):
    torch.manual_seed(seed)
    model = perturb(RealNVP(FlowParams(**{**SMALL, **kw}), shape), seed).to(dtype)
    if model.params.actnorm:                      # data-dependent init on a shifted, scaled batch
        model.train()
        model(3.0 * torch.randn(8, *shape, dtype=dtype) + 1.0)
        assert all(bool(m.initialized) for m in model.modules() if isinstance(m, ActNorm))
    return model.eval()


def coupling_logdets(model, x):
    got = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: got.append(out[1]))
             for m in model.modules() if isinstance(m, AffineCoupling)]
    model(x)
    for h in hooks:
        h.remove()
    return got


CONFIGS = list(itertools.product([(1, 4, 4), (2, 4, 4)], ["realnvp", "channel"], [False, True], [False, True]))


@pytest.mark.parametrize("shape,mask,actnorm,invconv", CONFIGS)
def test_logdet_matches_brute_force_jacobian(shape, mask, actnorm, invconv):
    model = build(shape, dtype=torch.float64, mask=mask, actnorm=actnorm, invconv=invconv)
    x = torch.randn(2, *shape, dtype=torch.float64)
    # every coupling really transforms its input
    assert all(ld.abs().min() > 1e-3 for ld in coupling_logdets(model, x))
    z, logdet = model(x)
    assert z.shape == (2, math.prod(shape)) and logdet.shape == (2,)
    for n in range(2):
        jac = torch.autograd.functional.jacobian(lambda v: model(v.view(1, *shape))[0][0], x[n].flatten())
        sign, logabs = torch.linalg.slogdet(jac)
        assert sign != 0
        torch.testing.assert_close(logdet[n], logabs, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 8, 8)])
@pytest.mark.parametrize("mask", ["realnvp", "channel"])
@pytest.mark.parametrize("glow", [False, True])
def test_inverse_round_trips(shape, mask, glow):
    model = build(shape, hidden=16, mask=mask, actnorm=glow, invconv=glow)
    x = torch.randn(4, *shape)
    with torch.no_grad():
        z, _ = model(x)
        torch.testing.assert_close(model.inverse(z), x, rtol=0, atol=1e-5)
        z2 = torch.randn(4, math.prod(shape))
        torch.testing.assert_close(model(model.inverse(z2))[0], z2, rtol=0, atol=1e-5)


@pytest.mark.parametrize("mask", ["realnvp", "channel"])
def test_fresh_flow_is_a_permutation(mask):
    # zero-initialized last layers: every coupling starts as the identity
    model = RealNVP(FlowParams(**SMALL, mask=mask), (1, 8, 8))
    x = torch.randn(3, 1, 8, 8)
    z, logdet = model(x)
    assert torch.equal(logdet, torch.zeros(3))
    assert torch.equal(z.sort(1).values, x.flatten(1).sort(1).values)


def test_checkerboard_coupling_keeps_conditioning_positions():
    torch.manual_seed(1)
    c = perturb(AffineCoupling(2, "checkerboard", 1, 8, 1))
    x = torch.randn(3, 2, 4, 4)
    y, logdet = c(x)
    b = checkerboard(4, 4, 1, x)
    assert b[0, 0, 0, 0] == 0 and b[0, 0, 0, 1] == 1 and b.sum() == 8
    assert torch.equal(y * b, x * b)
    assert ((y - x) * (1 - b)).abs().sum() > 0.1 and logdet.abs().min() > 1e-3
    torch.testing.assert_close(c.inverse(y), x)


@pytest.mark.parametrize("parity", [0, 1])
def test_channel_coupling_keeps_conditioning_half(parity):
    torch.manual_seed(2)
    c = perturb(AffineCoupling(4, "channel", parity, 8, 1))
    x = torch.randn(3, 4, 2, 2)
    y, logdet = c(x)
    kept, moved = (slice(0, 2), slice(2, 4)) if parity == 0 else (slice(2, 4), slice(0, 2))
    assert torch.equal(y[:, kept], x[:, kept])
    assert (y[:, moved] - x[:, moved]).abs().min() > 0 and logdet.abs().min() > 1e-3
    torch.testing.assert_close(c.inverse(y), x)


def test_squeeze_layout_round_trip_and_zero_logdet():
    x = torch.arange(2 * 2 * 4 * 6, dtype=torch.float32).view(2, 2, 4, 6)
    y, logdet = Squeeze()(x)
    assert y.shape == (2, 8, 2, 3) and torch.equal(logdet, torch.zeros(2))
    for c, di, dj, i, j in itertools.product(range(2), range(2), range(2), range(2), range(3)):
        assert y[1, 4 * c + 2 * di + dj, i, j] == x[1, c, 2 * i + di, 2 * j + dj]
    assert torch.equal(Squeeze().inverse(y), x)


def test_actnorm_data_dependent_init():
    torch.manual_seed(3)
    a = ActNorm(3)
    x = torch.randn(16, 3, 4, 4) * torch.tensor([3.0, 0.5, 10.0]).view(1, 3, 1, 1) + torch.tensor([5.0, -2.0, 0.0]).view(1, 3, 1, 1)
    a.eval()
    y, _ = a(x)                                     # no init outside training
    assert not bool(a.initialized) and torch.equal(y, x)
    a.train()
    y, logdet = a(x)
    assert bool(a.initialized)
    torch.testing.assert_close(y.mean((0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.std((0, 2, 3), unbiased=False), torch.ones(3), atol=1e-4, rtol=0)
    std = x.std((0, 2, 3), unbiased=False)
    torch.testing.assert_close(logdet, (-16 * std.log().sum()).expand(16), rtol=1e-5, atol=1e-5)
    y2, _ = a(x + 100.0)                            # second batch: no re-init
    torch.testing.assert_close(y2, y + 100.0 * a.log_scale.exp().view(1, 3, 1, 1), rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(a.inverse(y), x, rtol=1e-5, atol=1e-5)


def test_invconv_logdet_is_hw_times_slogdet():
    torch.manual_seed(4)
    conv = InvConv1x1(4).double()
    with torch.no_grad():                           # move away from the rotation init (|det| = 1)
        conv.lower.add_(0.3 * torch.randn(4, 4, dtype=torch.float64))
        conv.upper.add_(0.3 * torch.randn(4, 4, dtype=torch.float64))
        conv.log_s.add_(torch.tensor([0.2, -0.5, 0.7, 0.1], dtype=torch.float64))
    x = torch.randn(2, 4, 3, 5, dtype=torch.float64)
    y, logdet = conv(x)
    w = conv.weight()
    assert abs(torch.linalg.slogdet(w).logabsdet.item()) > 0.1
    torch.testing.assert_close(logdet, (15 * torch.linalg.slogdet(w).logabsdet).expand(2))
    torch.testing.assert_close(y, torch.einsum("ij,njhw->nihw", w, x))
    torch.testing.assert_close(conv.inverse(y), x)


def test_log_prob_is_change_of_variables():
    model = build((1, 8, 8), actnorm=True, invconv=True)
    x = torch.randn(5, 1, 8, 8)
    z, logdet = model(x)
    normal = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(1)
    torch.testing.assert_close(model.log_prob(x), normal + logdet)
    by_hand = -0.5 * (z ** 2).sum(1) - 32 * math.log(2 * math.pi) + logdet
    torch.testing.assert_close(model.log_prob(x), by_hand)


def test_sample_shape_temperature_and_generator():
    model = build((3, 8, 8), mask="channel", actnorm=True)
    with torch.no_grad():
        cold = model.sample(2, temperature=0.0)
        torch.testing.assert_close(cold, model.inverse(torch.zeros(2, 192)))
        a = model.sample(3, generator=torch.Generator().manual_seed(7))
        b = model.sample(3, generator=torch.Generator().manual_seed(7))
        z = torch.randn(3, 192, generator=torch.Generator().manual_seed(7)) * 0.5
        torch.testing.assert_close(model.sample(3, 0.5, torch.Generator().manual_seed(7)), model.inverse(z))
    assert a.shape == (3, 3, 8, 8) and torch.equal(a, b)


@pytest.mark.parametrize("mask", ["realnvp", "channel"])
def test_gradients_reach_every_parameter(mask):
    model = build((1, 8, 8), mask=mask, actnorm=True, invconv=True).train()
    model.log_prob(torch.randn(4, 1, 8, 8)).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        if name.endswith(".lower") or name.endswith(".upper"):
            continue                                # checked below on their free entries
        assert p.grad.abs().sum() > 0, name
    convs = [m for m in model.modules() if isinstance(m, InvConv1x1)]
    assert any(m.lower.shape[0] > 1 for m in convs)
    for m in convs:                                 # strict triangles learn; the rest is structural
        free = torch.tril(torch.ones_like(m.lower), -1).bool()
        if free.any():
            assert (m.lower.grad[free] != 0).all() and (m.upper.grad[free.T] != 0).all()
        assert (m.lower.grad[~free] == 0).all() and (m.upper.grad[~free.T] == 0).all()


def test_fresh_couplings_get_gradients_at_their_last_layer():
    model = RealNVP(FlowParams(**SMALL), (1, 8, 8))
    model.log_prob(torch.randn(4, 1, 8, 8)).mean().backward()
    outs = [m.net.out.weight.grad for m in model.modules() if isinstance(m, AffineCoupling)]
    assert outs and all(g.abs().sum() > 0 for g in outs)


def test_state_dict_round_trip_keeps_log_prob_and_actnorm_flag():
    shape = (1, 8, 8)
    model = build(shape, actnorm=True, invconv=True)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    fresh = RealNVP(FlowParams(**SMALL, actnorm=True, invconv=True), shape)
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    assert all(bool(m.initialized) for m in fresh.modules() if isinstance(m, ActNorm))
    x = torch.randn(4, *shape)
    with torch.no_grad():
        expected = model.log_prob(x)
        assert torch.equal(fresh.eval().log_prob(x), expected)
        fresh.train()                               # training mode must not re-initialize ActNorm
        assert torch.equal(fresh.log_prob(5.0 * x + 3.0), model.log_prob(5.0 * x + 3.0))


@pytest.mark.parametrize("kw,match", [
    (dict(steps=0), "steps"), (dict(scales=0), "scales"), (dict(hidden=0), "hidden"),
    (dict(blocks=-1), "blocks"), (dict(mask="checker"), "mask"), (dict(actnorm="yes"), "actnorm"),
    (dict(steps=2.0), "steps"),
])
def test_bad_params_are_rejected(kw, match):
    with pytest.raises(ConfigError, match=match):
        FlowParams(**kw).validate("flow")
    with pytest.raises(ConfigError, match=match):
        RealNVP(FlowParams(**kw), (1, 8, 8))


@pytest.mark.parametrize("shape,scales", [((1, 8, 8), 4), ((1, 12, 12), 3), ((3, 8, 6), 2), ((1, 8), 1),
                                          ((0, 8, 8), 1)])
def test_bad_shapes_are_rejected(shape, scales):
    with pytest.raises(ConfigError, match="flow"):
        RealNVP(FlowParams(scales=scales), shape)


def test_wrong_input_shapes_are_rejected():
    model = RealNVP(FlowParams(**SMALL), (1, 8, 8))
    with pytest.raises(ValueError, match="expected inputs"):
        model(torch.zeros(2, 1, 4, 4))
    with pytest.raises(ValueError, match="expected latents"):
        model.inverse(torch.zeros(2, 63))
