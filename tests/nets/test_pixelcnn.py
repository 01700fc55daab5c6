"""Gated PixelCNN: causality and no blind spot by input gradients (pixels and
sub-pixels), exact normalization by enumerating tiny images, the discretized
logistic mixture against hand computations and float64 references in the
tails, samples against exp(log_prob), forced outputs, gradients, state dicts,
validation."""
import io
import itertools
import math

import pytest
import torch

from ganscape.nets.pixelcnn import (GatedPixelCNN, PixelCNNParams, discretized_logistic_mixture_log_prob,
                                    from_levels, to_levels)
from ganscape.registry import ConfigError


def tiny(shape, levels, output="categorical", layers=2, kernel=3, hidden=6, head_hidden=12, mixtures=2,
         seed=0, scale=1.0, double=True, dropout=0.0):
    torch.manual_seed(seed)
    net = GatedPixelCNN(PixelCNNParams(hidden=hidden, layers=layers, kernel=kernel, gated_kernel=3,
                                       output=output, mixtures=mixtures, head_hidden=head_hidden,
                                       dropout=dropout), shape, levels)
    if double:
        net = net.double()
    if scale != 1.0:  # larger weights: peaked, far-from-uniform distributions
        with torch.no_grad():
            for p in net.parameters():
                p.mul_(scale)
    return net


def all_images(shape, levels):
    n = math.prod(shape)
    v = torch.tensor(list(itertools.product(range(levels), repeat=n))).view(-1, *shape)
    return from_levels(v, levels, torch.float64)


def dependence(net, c, i, j):
    """|d out[c, :, i, j] / d x| (C, H, W) at a random, off-grid input."""
    torch.manual_seed(1 + 7 * i + j + 31 * c)
    x = (torch.rand(1, *net.shape, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    out = net.logits(x)[0, c, :, i, j]
    (out * torch.randn_like(out)).sum().backward()
    return x.grad[0].abs()


def check_order(net, full_coverage=True):
    C, H, W = net.shape
    for i, j, c in itertools.product(range(H), range(W), range(C)):
        g = dependence(net, c, i, j)
        earlier = torch.zeros(C, H, W, dtype=torch.bool)
        earlier.view(C, -1)[:, :i * W + j] = True   # every channel of earlier pixels
        earlier[:c, i, j] = True                     # earlier channels of this pixel
        assert (g[~earlier] == 0).all(), f"pixel ({i},{j}) channel {c} sees its own or a later sub-pixel"
        if full_coverage:
            assert (g[earlier] > 0).all(), f"pixel ({i},{j}) channel {c} misses an earlier sub-pixel"


def test_one_channel_is_causal_without_blind_spot():
    # kernel 3, 4 layers: reach 1 + 3 = 4 = W - 1, so every pixel of 5x5 sees all earlier ones
    check_order(tiny((1, 5, 5), 17, layers=4, hidden=8, head_hidden=8))


def test_too_shallow_net_misses_far_pixels_but_stays_causal():
    # a control showing the coverage check can fail: reach 1 + 1 = 2 < 4
    net = tiny((1, 5, 5), 17, layers=2, hidden=8, head_hidden=8)
    check_order(net, full_coverage=False)
    assert dependence(net, 0, 4, 4)[0, 0, 0] == 0


@pytest.mark.parametrize("output", ["categorical", "logistic"])
def test_rgb_sub_pixel_order(output):
    check_order(tiny((3, 3, 3), 4, output=output, layers=3))


def test_default_net_sees_every_earlier_pixel_of_an_8x8_image():
    torch.manual_seed(0)
    net = GatedPixelCNN(PixelCNNParams(), (1, 8, 8), 17).double()
    g = dependence(net, 0, 7, 7)[0].flatten()
    assert (g[:-1] > 0).all() and g[-1] == 0


@pytest.mark.parametrize("output", ["categorical", "logistic"])
@pytest.mark.parametrize("shape,levels", [((1, 2, 2), 3), ((2, 1, 2), 2), ((3, 1, 1), 2), ((2, 1, 1), 5)])
def test_log_prob_sums_to_one_over_all_images(output, shape, levels):
    net = tiny(shape, levels, output=output, scale=4.0)
    xs = all_images(shape, levels)
    lp = net.log_prob(xs)
    assert lp.shape == (levels ** math.prod(shape),)
    assert abs(lp.exp().sum().item() - 1.0) < 1e-5
    assert lp.exp().max() > 2.0 / len(xs)   # peaked: the sum is not trivially uniform
    # off-grid inputs are scored as their nearest level
    torch.testing.assert_close(net.log_prob(xs + 0.2 / (levels - 1)), lp)
    # the control: unmasking the current pixel in the first layer breaks normalization
    net.layers[0].h_conv.mask.fill_(1.0)
    assert abs(net.log_prob(xs).exp().sum().item() - 1.0) > 1e-3


def test_categorical_log_prob_is_the_gathered_softmax():
    net = tiny((1, 3, 3), 5, scale=2.0)
    x = all_images((1, 3, 3), 5)[torch.randperm(5 ** 9)[:4]]
    lsm = torch.log_softmax(net.logits(x), 2)   # (N, C, K, H, W)
    v = to_levels(x, 5)
    expect = torch.stack([sum(lsm[n, 0, v[n, 0, i, j], i, j] for i in range(3) for j in range(3))
                          for n in range(4)])
    torch.testing.assert_close(net.log_prob(x), expect)


@pytest.mark.parametrize("levels", [2, 17, 256])
def test_logistic_bins_sum_to_one(levels):
    torch.manual_seed(0)
    grid = from_levels(torch.arange(levels), levels, torch.float64)
    # rows: ordinary, means far outside [-1, 1], the narrowest and a very wide scale
    mu = torch.tensor([[0.1, -0.4, 0.7], [-9.0, 5.0, 1.0], [0.3, -1.0, 0.9], [0.0, 2.0, -2.0]], dtype=torch.float64)
    log_s = torch.tensor([[-2.0, -1.0, 0.0], [0.5, -3.0, -7.0], [-7.0, -7.0, -9.0], [12.0, 3.0, 6.0]],
                         dtype=torch.float64)
    logit_pi = torch.randn(4, 3, dtype=torch.float64)
    lp = discretized_logistic_mixture_log_prob(grid.expand(4, -1), logit_pi[:, None], mu[:, None],
                                               log_s[:, None], levels)
    assert lp.shape == (4, levels) and torch.isfinite(lp).all()
    torch.testing.assert_close(lp.exp().sum(1), torch.ones(4, dtype=torch.float64), atol=1e-9, rtol=0)


def sig(t):
    return 1.0 / (1.0 + math.exp(-t))


def test_logistic_against_hand_computation():
    K, d = 5, 0.25   # levels -1, -0.5, 0, 0.5, 1; half bin width 1 / (K - 1)
    mu, s, w = (0.1, -0.8), (0.3, 0.5), (0.7, 0.3)
    logit_pi = torch.tensor([math.log(0.7), math.log(0.3)])
    args = (logit_pi, torch.tensor(mu), torch.log(torch.tensor(s)))

    def mass(x, lo_open=False, hi_open=False):
        return sum(wk * ((1.0 if hi_open else sig((x + d - m) / sk)) - (0.0 if lo_open else sig((x - d - m) / sk)))
                   for wk, m, sk in zip(w, mu, s))

    for x, lo, hi in [(0.0, False, False), (-1.0, True, False), (1.0, False, True), (0.5, False, False)]:
        got = discretized_logistic_mixture_log_prob(torch.tensor(x), *args, K).item()
        assert abs(got - math.log(mass(x, lo, hi))) < 1e-5, x
    # the outer bins extend to -inf / +inf
    lo = discretized_logistic_mixture_log_prob(torch.tensor(-1.0), *args, K).item()
    assert abs(lo - math.log(0.7 * sig((-0.75 - 0.1) / 0.3) + 0.3 * sig((-0.75 + 0.8) / 0.5))) < 1e-6


def test_logistic_tails_and_tiny_bins_match_float64_references():
    K, d = 256, 1.0 / 255
    one = torch.zeros(1)
    for x, m, log_s in [(-0.5 + 0 * d, 0.0, -7.0), (0.5 + d * 0, 0.0, -7.0), (0.0, 0.0, 9.0)]:
        x = from_levels(to_levels(torch.tensor(x), K), K).item()
        s = math.exp(log_s)
        a, b = (x + d - m) / s, (x - d - m) / s
        # float64 reference, in the tail where each difference is exact
        ref = math.log(sig(a) - sig(b)) if a + b < 0 else math.log(sig(-b) - sig(-a))
        xt = torch.tensor(x, requires_grad=False)
        mu = torch.tensor([m], requires_grad=True)
        ls = torch.tensor([log_s], requires_grad=True)
        got = discretized_logistic_mixture_log_prob(xt, one, mu, ls, K)
        assert torch.isfinite(got) and abs(got.item() - ref) < 1e-3 * max(1.0, abs(ref)), (x, log_s, got, ref)
        got.backward()
        assert torch.isfinite(mu.grad).all() and torch.isfinite(ls.grad).all()
    # a naive float32 difference of sigmoids would give log 0 = -inf here
    assert (torch.sigmoid(torch.tensor(546.0)) - torch.sigmoid(torch.tensor(544.0))).item() == 0.0


@pytest.mark.parametrize("output", ["categorical", "logistic"])
def test_samples_are_on_the_grid_and_return_their_log_prob(output):
    net = tiny((2, 3, 4), 7, output=output, layers=3, scale=1.5)
    x, lp = net.sample(16, generator=torch.Generator().manual_seed(0), return_log_prob=True)
    assert x.shape == (16, 2, 3, 4) and x.dtype == torch.float64
    assert x.min() >= -1 and x.max() <= 1
    torch.testing.assert_close(from_levels(to_levels(x, 7), 7, x.dtype), x, rtol=0, atol=1e-12)
    # the cached one-row / one-column sampling path computes what the full net computes
    torch.testing.assert_close(lp, net.log_prob(x))
    assert len({tuple(r.flatten().tolist()) for r in x}) > 1


@pytest.mark.parametrize("output", ["categorical", "logistic"])
def test_forced_output_samples_one_level(output):
    net = tiny((3, 2, 2), 9, output=output)
    last = net.head2
    with torch.no_grad():
        last.weight.zero_()
        b = last.bias.view(3, net.per)
        b.zero_()
        if output == "categorical":
            b[0, 2], b[1, 7], b[2, 0] = 60.0, 60.0, 60.0
        else:   # logit_pi | mu | log_s, 2 mixtures: one narrow component at the chosen value
            b[:, 0] = 60.0
            b[:, 2] = torch.tensor([from_levels(torch.tensor(v), 9).item() for v in (2, 7, 0)])
            b[:, 4:] = -7.0
    x = net.sample(5, generator=torch.Generator().manual_seed(0))
    expect = from_levels(torch.tensor([2, 7, 0]), 9, x.dtype).view(1, 3, 1, 1).expand_as(x)
    torch.testing.assert_close(x, expect)


@pytest.mark.parametrize("output,shape,levels", [("categorical", (1, 1, 2), 3), ("logistic", (2, 1, 1), 3)])
def test_sample_frequencies_match_exp_log_prob(output, shape, levels):
    net = tiny(shape, levels, output=output, scale=4.0)
    xs = all_images(shape, levels)
    p = net.log_prob(xs).exp().detach()
    n = 6000
    x = net.sample(n, generator=torch.Generator().manual_seed(3))
    v = to_levels(x, levels).flatten(1)
    idx = (v * levels ** torch.arange(v.shape[1] - 1, -1, -1)).sum(1)   # row-major, as all_images
    counts = torch.bincount(idx, minlength=len(xs)).double()
    chi2 = ((counts - n * p) ** 2 / (n * p)).sum().item()
    assert chi2 < 35.0, (chi2, counts, n * p)   # df = 8; P(chi2 > 35) ~ 3e-5
    # the control: a different (uniform) distribution is rejected by the same statistic
    assert ((counts - n / len(xs)) ** 2 / (n / len(xs))).sum().item() > 35.0


def test_temperature_raises_the_first_pixel_marginal_to_one_over_t():
    # the first sub-pixel's conditional is its marginal, which enumeration gives exactly
    net = tiny((1, 1, 2), 3, scale=4.0)
    p = net.log_prob(all_images((1, 1, 2), 3)).exp().detach().view(3, 3).sum(1)
    n, t = 6000, 0.5
    q = p ** (1 / t) / (p ** (1 / t)).sum()
    x = net.sample(n, temperature=t, generator=torch.Generator().manual_seed(1))
    counts = torch.bincount(to_levels(x[:, 0, 0, 0], 3), minlength=3).double()
    assert ((counts - n * q) ** 2 / (n * q)).sum() < 20.0          # df = 2
    assert ((counts - n * p) ** 2 / (n * p)).sum() > 20.0          # untempered is rejected
    with pytest.raises(ValueError, match="temperature"):
        net.sample(2, temperature=0.0)


@pytest.mark.parametrize("output,shape", [("categorical", (1, 4, 4)), ("logistic", (3, 3, 3))])
def test_gradients_reach_every_parameter(output, shape):
    net = tiny(shape, 17, output=output, layers=3, double=False)
    x = net.sample(4, generator=torch.Generator().manual_seed(0))
    net.log_prob(x).mean().neg().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_state_dict_round_trip():
    net = tiny((3, 3, 3), 256, output="logistic", double=False)
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    assert not any("mask" in k for k in state)   # masks are rebuilt, never stored
    fresh = tiny((3, 3, 3), 256, output="logistic", double=False, seed=5)
    x = net.sample(3, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(fresh.log_prob(x), net.log_prob(x))
    fresh.load_state_dict(state)
    assert torch.equal(fresh.log_prob(x), net.log_prob(x))


def test_dropout_acts_in_training_only_and_keeps_the_order():
    net = tiny((1, 5, 5), 17, layers=4, hidden=8, head_hidden=8, dropout=0.5)
    plain = tiny((1, 5, 5), 17, layers=4, hidden=8, head_hidden=8)
    plain.load_state_dict(net.state_dict())          # dropout adds no parameters: same checkpoints
    x = from_levels(torch.randint(0, 17, (4, 1, 5, 5)), 17, torch.float64)
    net.train()
    a, b = net.logits(x), net.logits(x)
    assert not torch.equal(a, b)                     # a fresh mask per call
    check_order(net, full_coverage=False)            # masks on hidden features see no later pixel
    net.eval()
    assert torch.equal(net.logits(x), plain.logits(x))   # off in eval mode: the same net
    assert torch.equal(net.log_prob(x), plain.log_prob(x))


def test_dropout_drops_about_the_given_fraction():
    net = tiny((1, 4, 4), 17, layers=1, hidden=64, head_hidden=8, dropout=0.3).train()
    layer = net.layers[0]
    x = from_levels(torch.randint(0, 17, (50, 1, 4, 4)), 17, torch.float64)
    g, _ = layer.vertical(x)
    undropped = torch.nn.functional.pad(x, (1, 1, 1, 0))
    full = torch.tanh(layer.v_conv(undropped).chunk(2, 1)[0]) * torch.sigmoid(layer.v_conv(undropped).chunk(2, 1)[1])
    kept = g != 0
    assert abs(float(kept.double().mean()) - 0.7) < 0.02
    # survivors are scaled by 1 / (1 - p), so the expectation is unchanged
    assert torch.allclose(g[kept], full[kept] / 0.7)


@pytest.mark.parametrize("bad,match", [
    ({"dropout": 1.0}, "dropout"), ({"dropout": -0.1}, "dropout"), ({"dropout": True}, "dropout"),
    ({"hidden": 0}, "hidden"), ({"layers": 0}, "layers"), ({"mixtures": 0}, "mixtures"),
    ({"head_hidden": -1}, "head_hidden"), ({"kernel": 4}, "kernel"), ({"kernel": 1}, "kernel"),
    ({"gated_kernel": 2}, "gated_kernel"), ({"output": "gaussian"}, "categorical, logistic"),
    ({"hidden": 2.5}, "hidden"), ({"layers": True}, "layers"),
])
def test_bad_params_are_rejected(bad, match):
    with pytest.raises(ConfigError, match=match):
        PixelCNNParams(**bad).validate("model.params")


def test_bad_construction_is_rejected():
    p = PixelCNNParams(hidden=4, head_hidden=8)
    with pytest.raises(ConfigError, match="levels"):
        GatedPixelCNN(p, (1, 4, 4), 1)
    with pytest.raises(ConfigError, match="shape"):
        GatedPixelCNN(p, (4, 4), 3)
    with pytest.raises(ConfigError, match="hidden"):
        GatedPixelCNN(p, (5, 2, 2), 3)
    with pytest.raises(ConfigError, match="output"):
        GatedPixelCNN(PixelCNNParams(output="x"), (1, 4, 4), 3)
    net = GatedPixelCNN(p, (1, 4, 4), 3)
    with pytest.raises(ValueError, match="expected input"):
        net.log_prob(torch.zeros(2, 1, 4, 5))
