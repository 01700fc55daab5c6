"""SNDCGAN (Miyato et al. 2018, as in compare_gan): shapes, layer plan,
normalization placement, packing, minibatch discrimination, training step and
parameter counts worked out by hand."""
import pytest
import torch
from torch import nn

import ganscape.nets.norms  # noqa: F401  (registers the normalizations)
import ganscape.nets.sndcgan  # noqa: F401  (registers the architecture)
from ganscape.nets.layers import NetSpec
from ganscape.registry import ARCHITECTURES, NORMALIZATIONS, ConfigError

D_NORMS = ["none", "batch", "layer", "spectral", "weight"]
WIDTH = 4  # small nets keep the tests fast; the layer plan scales with width


def norm(name):
    return NORMALIZATIONS.get(name).fn(NORMALIZATIONS.params(name, {}))


def build(role, shape, norm_name="none", width=WIDTH, z_dim=16, **spec_kw):
    spec = NetSpec(role, tuple(shape), z_dim, norm(norm_name), **spec_kw)
    params = {} if width is None else {"width": width}
    return ARCHITECTURES.build("sndcgan", params, spec)


def n_params(net):
    return sum(p.numel() for p in net.parameters())


def convs(net):
    return [m for m in net.modules() if isinstance(m, nn.Conv2d)]


@pytest.mark.parametrize("side", [8, 16, 32, 48, 128])
@pytest.mark.parametrize("channels,g_norm", [(1, "none"), (3, "batch")])
def test_generator_shape_and_range(side, channels, g_norm):
    torch.manual_seed(0)
    g = build("generator", (channels, side, side), g_norm)
    x = g(torch.randn(4, 16) * 3)
    assert x.shape == (4, channels, side, side)
    assert torch.isfinite(x).all() and x.abs().max() <= 1.0
    assert g.fc.out_features == 8 * WIDTH * (side // 8) ** 2  # seed (8c, side/8, side/8)


def test_non_square_images_and_generator_norm_placement():
    g = build("generator", (3, 16, 40), "batch")
    assert g(torch.randn(3, 16)).shape == (3, 3, 16, 40)
    d = build("discriminator", (3, 16, 40), "batch")
    logits, h = d(torch.rand(3, 3, 16, 40) * 2 - 1, return_features=True)
    assert logits.shape == (3,) and h.shape == (3, 8 * WIDTH * 2 * 5)
    # batch norm after the linear layer (one statistic per feature, 8c * 2 * 5 of
    # them) and after each of the three deconvs (4c, 2c, c channels); none on the output
    bn1 = [m.num_features for m in g.modules() if isinstance(m, nn.BatchNorm1d)]
    bn2 = [m.num_features for m in g.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bn1 == [8 * WIDTH * 2 * 5] and bn2 == [4 * WIDTH, 2 * WIDTH, WIDTH]
    plain = build("generator", (3, 16, 40), "none")
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in plain.modules())


def test_layer_plan_matches_the_reference():
    d = build("discriminator", (3, 32, 32), width=None)
    plan = [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0], c.padding[0]) for c in convs(d)]
    assert plan == [(3, 64, 3, 1, 1), (64, 128, 4, 2, 1), (128, 128, 3, 1, 1), (128, 256, 4, 2, 1),
                    (256, 256, 3, 1, 1), (256, 512, 4, 2, 1), (512, 512, 3, 1, 1)]
    assert [m.negative_slope for m in d.modules() if isinstance(m, nn.LeakyReLU)] == [0.1] * 7
    assert d.head.in_features == 512 * 4 * 4

    g = build("generator", (3, 32, 32), width=None)
    deconvs = [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0])
               for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert deconvs == [(512, 256, 4, 2), (256, 128, 4, 2), (128, 64, 4, 2)]
    last = [m for m in g.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]) for m in last] == [(64, 3, 3, 1)]


@pytest.mark.parametrize("d_norm", D_NORMS)
@pytest.mark.parametrize("channels,side", [(1, 8), (3, 32), (3, 48)])
def test_discriminator_shapes_with_every_norm(d_norm, channels, side):
    torch.manual_seed(0)
    d = build("discriminator", (channels, side, side), d_norm)
    x = torch.rand(4, channels, side, side) * 2 - 1
    logits, h = d(x, return_features=True)
    assert logits.shape == (4,) and h.shape == (4, 8 * WIDTH * (side // 8) ** 2)
    logits.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in d.parameters() if p.grad is not None)


@pytest.mark.parametrize("d_norm", D_NORMS)
def test_discriminator_norm_placement(d_norm):
    d = build("discriminator", (3, 16, 16), d_norm)
    reparam = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
               and hasattr(m, "parametrizations")]
    bn = [m for m in d.modules() if isinstance(m, nn.BatchNorm2d)]
    ln = [m for m in d.modules() if isinstance(m, nn.GroupNorm)]
    # weight norms wrap all 7 convs and the head; activation norms follow convs 2..7
    assert len(reparam) == (8 if d_norm in ("spectral", "weight") else 0)
    assert len(bn) == (6 if d_norm == "batch" else 0)
    assert len(ln) == (6 if d_norm == "layer" else 0)
    if d_norm in ("batch", "layer"):
        assert [m.num_features if d_norm == "batch" else m.num_channels for m in bn + ln] == \
            [2 * WIDTH, 2 * WIDTH, 4 * WIDTH, 4 * WIDTH, 8 * WIDTH, 8 * WIDTH]


@pytest.mark.parametrize("d_norm", ["none", "spectral", "batch"])
def test_packing_doubles_input_channels_and_halves_logits(d_norm):
    d = build("discriminator", (3, 16, 16), d_norm, pack=2)
    assert convs(d)[0].in_channels == 6
    logits = d(torch.rand(6, 3, 16, 16) * 2 - 1)
    assert logits.shape == (3,)
    with pytest.raises(ValueError, match="pack"):
        d(torch.zeros(5, 3, 16, 16))


def test_minibatch_discrimination_widens_the_head():
    d = build("discriminator", (1, 16, 16), "spectral", minibatch_features=8)
    feat = 8 * WIDTH * 2 * 2
    assert d.head.in_features == feat + 8
    logits, h = d(torch.rand(5, 1, 16, 16) * 2 - 1, return_features=True)
    assert logits.shape == (5,) and h.shape == (5, feat)


@pytest.mark.parametrize("d_norm", ["none", "spectral", "layer"])
def test_one_adam_step_changes_every_parameter(d_norm):
    torch.manual_seed(0)
    g = build("generator", (3, 16, 16), "batch")
    d = build("discriminator", (3, 16, 16), d_norm, minibatch_features=8)
    for net in (g, d):
        before = [p.detach().clone() for p in net.parameters()]
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        fake = g(torch.randn(8, 16))
        real = torch.rand(8, 3, 16, 16) * 2 - 1
        loss = nn.functional.softplus(-d(fake)).mean() + nn.functional.softplus(d(real)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert all(not torch.equal(b, p) for b, p in zip(before, net.parameters()))


def test_default_parameter_counts_by_hand():
    # Generator, z_dim 128, 32x32x3, batch norm (seed 4x4x512 = 8192 features):
    fc = 128 * 8192 + 8192                       # 1,056,768
    fc_bn = 2 * 8192                             #    16,384
    dc1 = 512 * 256 * 16 + 256 + 2 * 256         # 2,097,920 (deconv + BN)
    dc2 = 256 * 128 * 16 + 128 + 2 * 128         #   524,672
    dc3 = 128 * 64 * 16 + 64 + 2 * 64            #   131,264
    out = 64 * 3 * 9 + 3                         #     1,731
    g_total = fc + fc_bn + dc1 + dc2 + dc3 + out
    assert g_total == 3_828_739
    assert n_params(build("generator", (3, 32, 32), "batch", width=None, z_dim=128)) == g_total

    # Discriminator, 32x32x3 (spectral norm adds buffers, not parameters):
    conv = [3 * 64 * 9 + 64, 64 * 128 * 16 + 128, 128 * 128 * 9 + 128, 128 * 256 * 16 + 256,
            256 * 256 * 9 + 256, 256 * 512 * 16 + 512, 512 * 512 * 9 + 512]
    head = 512 * 4 * 4 + 1
    d_total = sum(conv) + head
    assert d_total == 5_860_865
    for d_norm in ("none", "spectral"):
        assert n_params(build("discriminator", (3, 32, 32), d_norm, width=None)) == d_total


@pytest.mark.parametrize("shape", [(3, 12, 12), (3, 32, 20), (1, 4, 4), (2,)])
def test_unsupported_shapes_are_config_errors(shape):
    for role in ("generator", "discriminator"):
        with pytest.raises(ConfigError, match="sndcgan"):
            build(role, shape)


def test_bad_width_and_role():
    with pytest.raises(ConfigError, match="width"):
        ARCHITECTURES.params("sndcgan", {"width": 0})
    with pytest.raises(ValueError, match="role"):
        build("critic", (3, 16, 16))
