"""ResNet19 (Kurach et al. 2019, compare_gan's resnet5): block layout at 128
and at the smaller sides, output shapes, the 128x128 forward pass,
normalization placement, pooling, packing and parameter counts worked out by
hand. The block semantics themselves are resnet.py's and tested there."""
import pytest
import torch
from torch import nn

import ganscape.nets.norms  # noqa: F401  (registers the normalizations)
import ganscape.nets.resnet19  # noqa: F401  (registers the architecture)
from ganscape.nets.layers import NetSpec
from ganscape.nets.resnet import DownBlock, OptimizedBlock, UpBlock
from ganscape.registry import ARCHITECTURES, NORMALIZATIONS, ConfigError

WIDTH = 4  # small nets keep the tests fast; the layout scales with width


def norm(name):
    return NORMALIZATIONS.get(name).fn(NORMALIZATIONS.params(name, {}))


def build(role, shape, norm_name="none", width=WIDTH, z_dim=16, pooling="mean", **spec_kw):
    params = {"pooling": pooling} if width is None else {"width": width, "pooling": pooling}
    spec = NetSpec(role, tuple(shape), z_dim, norm(norm_name), **spec_kw)
    return ARCHITECTURES.build("resnet19", params, spec)


def n_params(net):
    return sum(p.numel() for p in net.parameters())


def channels(blocks):
    return [(b.conv1.in_channels, b.conv2.out_channels) for b in blocks]


def test_registered_with_the_other_architectures():
    import ganscape.components  # noqa: F401
    assert "resnet19" in ARCHITECTURES.names()


# G channels / width: seed 8, then 8, 4, 4, 2, 1; smaller images keep the last blocks.
@pytest.mark.parametrize("side,seed,plan", [
    (128, 8, [(8, 8), (8, 4), (4, 4), (4, 2), (2, 1)]),
    (64, 8, [(8, 4), (4, 4), (4, 2), (2, 1)]),
    (32, 4, [(4, 4), (4, 2), (2, 1)]),
])
@pytest.mark.parametrize("c,g_norm", [(1, "none"), (3, "batch")])
def test_generator_layout_and_shape(side, seed, plan, c, g_norm):
    torch.manual_seed(0)
    g = build("generator", (c, side, side), g_norm)
    assert all(isinstance(b, UpBlock) for b in g.blocks)
    assert len(g.blocks) == {128: 5, 64: 4, 32: 3}[side]  # 4x4 seed doubled per block
    assert channels(g.blocks) == [(WIDTH * a, WIDTH * b) for a, b in plan]
    assert g.fc.out_features == 4 * 4 * seed * WIDTH
    x = g(torch.randn(2, 16) * 3)
    assert x.shape == (2, c, side, side)
    assert torch.isfinite(x).all() and x.abs().max() <= 1.0
    # batch norm twice per block and once before the output conv
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in g.modules())
    assert n_bn == (2 * len(plan) + 1 if g_norm == "batch" else 0)


# D channels / width: 1, 2, 4, 4, 8, 8, every block halving the side down to 2x2;
# smaller images keep the first blocks.
@pytest.mark.parametrize("side,plan", [
    (128, [(1, 2), (2, 4), (4, 4), (4, 8), (8, 8)]),
    (64, [(1, 2), (2, 4), (4, 4), (4, 8)]),
    (32, [(1, 2), (2, 4), (4, 4)]),
])
def test_discriminator_layout_and_shape(side, plan):
    torch.manual_seed(0)
    d = build("discriminator", (3, side, side))
    blocks = list(d.trunk)[:-1]
    assert len(blocks) == {128: 6, 64: 5, 32: 4}[side]
    assert isinstance(blocks[0], OptimizedBlock) and channels(blocks[:1]) == [(3, WIDTH)]
    assert all(isinstance(b, DownBlock) and b.down for b in blocks[1:])
    assert channels(blocks[1:]) == [(WIDTH * a, WIDTH * b) for a, b in plan]
    x = torch.rand(2, 3, side, side) * 2 - 1
    dim = WIDTH * plan[-1][1]
    assert nn.Sequential(*blocks)(x).shape == (2, dim, 2, 2)  # always pooled to 2x2
    logits, h = d(x, return_features=True)
    assert logits.shape == (2,) and h.shape == (2, dim) and d.head.in_features == dim
    assert (h >= 0).all()  # features are pooled after a ReLU


def test_paper_widths_at_128_by_default():
    g = build("generator", (3, 128, 128), width=None, z_dim=128)
    assert g.fc.out_features == 4 * 4 * 512
    assert channels(g.blocks) == [(512, 512), (512, 256), (256, 256), (256, 128), (128, 64)]
    d = build("discriminator", (3, 128, 128), width=None)
    assert channels(list(d.trunk)[:-1]) == [(3, 64), (64, 128), (128, 256), (256, 256),
                                            (256, 512), (512, 512)]
    assert d.head.in_features == 512


def test_forward_at_128_with_a_tiny_width():
    torch.manual_seed(0)
    g = build("generator", (3, 128, 128), "batch", width=2)
    d = build("discriminator", (3, 128, 128), "spectral", width=2)
    x = g(torch.randn(3, 16))
    assert x.shape == (3, 3, 128, 128)
    logits = d(x)
    assert logits.shape == (3,) and torch.isfinite(logits).all()
    logits.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in g.parameters())


@pytest.mark.parametrize("d_norm", ["none", "batch", "layer", "spectral", "weight"])
def test_discriminator_norm_placement(d_norm):
    d = build("discriminator", (3, 32, 32), d_norm)
    n_conv = sum(isinstance(m, nn.Conv2d) for m in d.modules())
    reparam = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
               and hasattr(m, "parametrizations")]
    feature = [m for m in d.modules() if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm))]
    # convs: optimized 3 + 3 down blocks x 3 (1x1 shortcut) = 12
    assert n_conv == 12
    assert len(reparam) == (n_conv + 1 if d_norm in ("spectral", "weight") else 0)  # + head
    # activation norms before each in-branch ReLU: 1 (optimized) + 2 x 3 blocks
    assert len(feature) == (7 if d_norm in ("batch", "layer") else 0)


def test_sum_pooling_is_4_times_mean_pooling_at_2x2():
    torch.manual_seed(1)
    d_mean = build("discriminator", (3, 32, 32))
    d_sum = build("discriminator", (3, 32, 32), pooling="sum")
    d_sum.load_state_dict(d_mean.state_dict())
    x = torch.randn(3, 3, 32, 32)
    torch.testing.assert_close(d_sum.features(x), 4 * d_mean.features(x))


def test_packing_doubles_input_channels_and_halves_logits():
    d = build("discriminator", (3, 32, 32), "spectral", pack=2)
    assert d.trunk[0].conv1.in_channels == 6 and d.trunk[0].shortcut.in_channels == 6
    assert d(torch.rand(4, 3, 32, 32) * 2 - 1).shape == (2,)


def test_parameter_counts_by_hand_at_width_4():
    # Generator, z_dim 16, 128x128x3, batch norm, w = 4 (channels 32, 32, 16, 16, 8, 4).
    # An up block cin -> cout: BN 2 cin + conv3x3 9 cin cout + cout + BN 2 cout
    # + conv3x3 9 cout^2 + cout + 1x1 shortcut cin cout + cout.
    fc = 16 * 512 + 512                                       #  8,704  (z -> 4*4*32)
    b1 = 64 + (9216 + 32) + 64 + (9216 + 32) + (1024 + 32)    # 19,680  32 -> 32
    b2 = 64 + (4608 + 16) + 32 + (2304 + 16) + (512 + 16)     #  7,568  32 -> 16
    b3 = 32 + (2304 + 16) + 32 + (2304 + 16) + (256 + 16)     #  4,976  16 -> 16
    b4 = 32 + (1152 + 8) + 16 + (576 + 8) + (128 + 8)         #  1,928  16 -> 8
    b5 = 16 + (288 + 4) + 8 + (144 + 4) + (32 + 4)            #    500   8 -> 4
    out = 8 + 4 * 3 * 9 + 3                                   #    119  (BN + 3x3 conv to RGB)
    g_total = fc + b1 + b2 + b3 + b4 + b5 + out
    assert g_total == 43_475
    assert n_params(build("generator", (3, 128, 128), "batch")) == g_total

    # Discriminator, 128x128x3, no activation norm, w = 4 (channels 4, 8, 16, 16, 32, 32).
    # A down block cin -> cout: 9 cin cout + cout + 9 cout^2 + cout + cin cout + cout.
    opt = (3 * 4 * 9 + 4) + (4 * 4 * 9 + 4) + (3 * 4 + 4)     #    276  3 -> 4 (optimized)
    d1 = (288 + 8) + (576 + 8) + (32 + 8)                     #    920  4 -> 8
    d2 = (1152 + 16) + (2304 + 16) + (128 + 16)               #  3,632  8 -> 16
    d3 = (2304 + 16) + (2304 + 16) + (256 + 16)               #  4,912 16 -> 16
    d4 = (4608 + 32) + (9216 + 32) + (512 + 32)               # 14,432 16 -> 32
    d5 = (9216 + 32) + (9216 + 32) + (1024 + 32)              # 19,552 32 -> 32
    head = 32 + 1
    d_total = opt + d1 + d2 + d3 + d4 + d5 + head
    assert d_total == 43_757
    for d_norm in ("none", "spectral"):  # spectral norm adds buffers, not parameters
        assert n_params(build("discriminator", (3, 128, 128), d_norm)) == d_total
    # batch norm adds 2 per channel before each in-branch ReLU: 2 * (4 + 12 + 24 + 32 + 48 + 64)
    assert n_params(build("discriminator", (3, 128, 128), "batch")) == d_total + 368


@pytest.mark.parametrize("shape", [(3, 16, 16), (3, 256, 256), (3, 48, 48), (3, 32, 64), (2,)])
def test_unsupported_shapes_are_config_errors(shape):
    for role in ("generator", "discriminator"):
        with pytest.raises(ConfigError, match="resnet19"):
            build(role, shape)


def test_bad_params_and_role():
    with pytest.raises(ConfigError, match="width"):
        ARCHITECTURES.params("resnet19", {"width": 0})
    with pytest.raises(ConfigError, match="pooling"):
        ARCHITECTURES.params("resnet19", {"pooling": "max"})
    with pytest.raises(ValueError, match="role"):
        build("critic", (3, 32, 32))
