"""CIFAR ResNet (Miyato et al. 2018, Table 4; the landscape study's ResNet
CIFAR): shapes, block semantics against a functional re-implementation, size
rule, normalization placement, pooling, packing, minibatch discrimination,
training step and parameter counts worked out by hand."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import ganscape.nets.norms  # noqa: F401  (registers the normalizations)
import ganscape.nets.resnet  # noqa: F401  (registers the architecture)
from ganscape.nets.layers import NetSpec
from ganscape.nets.resnet import DownBlock, OptimizedBlock, UpBlock
from ganscape.registry import ARCHITECTURES, NORMALIZATIONS, ConfigError

D_NORMS = ["none", "batch", "layer", "spectral", "weight"]
WIDTH = 8  # small nets keep the tests fast


def norm(name):
    return NORMALIZATIONS.get(name).fn(NORMALIZATIONS.params(name, {}))


def spec(role, shape, norm_name="none", z_dim=16, **kw):
    return NetSpec(role, tuple(shape), z_dim, norm(norm_name), **kw)


def build(role, shape, norm_name="none", width=WIDTH, z_dim=16, pooling="sum", **spec_kw):
    params = {"pooling": pooling} if width is None else {"width": width, "pooling": pooling}
    return ARCHITECTURES.build("resnet", params, spec(role, shape, norm_name, z_dim, **spec_kw))


def n_params(net):
    return sum(p.numel() for p in net.parameters())


# Independent reference ops: nearest 2x upsampling by repetition, 2x2 average
# pooling by reshaping.
def up(x):
    return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)


def pool(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean((3, 5))


def conv(layer, x):
    return F.conv2d(x, layer.weight, layer.bias, padding=layer.padding)


def test_blocks_match_a_functional_reference():
    torch.manual_seed(0)
    s = spec("discriminator", (3, 8, 8))
    x = torch.randn(2, 5, 8, 8)

    b = UpBlock(5, 6, s)
    ref = conv(b.conv2, F.relu(conv(b.conv1, up(F.relu(x))))) + conv(b.shortcut, up(x))
    assert b(x).shape == (2, 6, 16, 16)
    torch.testing.assert_close(b(x), ref)

    b = OptimizedBlock(5, 6, s)
    ref = pool(conv(b.conv2, F.relu(conv(b.conv1, x)))) + conv(b.shortcut, pool(x))
    torch.testing.assert_close(b(x), ref)

    b = DownBlock(5, 6, True, s)
    ref = pool(conv(b.conv2, F.relu(conv(b.conv1, F.relu(x))))) + pool(conv(b.shortcut, x))
    torch.testing.assert_close(b(x), ref)

    b = DownBlock(5, 5, False, s)  # same shape in and out: identity shortcut, no 1x1 conv
    assert isinstance(b.shortcut, nn.Identity)
    ref = conv(b.conv2, F.relu(conv(b.conv1, F.relu(x)))) + x
    torch.testing.assert_close(b(x), ref)


def test_activation_norms_sit_before_the_in_branch_relus():
    torch.manual_seed(0)
    x = torch.randn(4, 5, 8, 8)

    def bn(m, h):  # training-mode batch norm with the module's affine parameters
        return F.batch_norm(h, None, None, m.weight, m.bias, training=True, eps=m.eps)

    b = UpBlock(5, 6, spec("generator", (3, 8, 8), "batch"))
    with torch.no_grad():
        for m in (b.norm1, b.norm2):  # non-trivial affine parameters
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.5, 0.5)
    ref = (conv(b.conv2, F.relu(bn(b.norm2, conv(b.conv1, up(F.relu(bn(b.norm1, x)))))))
           + conv(b.shortcut, up(x)))
    torch.testing.assert_close(b(x), ref)

    def ln(m, h):  # layer norm over (C, H, W) with per-channel affine parameters
        return F.group_norm(h, 1, m.weight, m.bias, eps=m.eps)

    s = spec("discriminator", (3, 8, 8), "layer")
    b = DownBlock(5, 6, True, s)
    ref = (pool(conv(b.conv2, F.relu(ln(b.norm2, conv(b.conv1, F.relu(ln(b.norm1, x)))))))
           + pool(conv(b.shortcut, x)))
    torch.testing.assert_close(b(x), ref)
    b = OptimizedBlock(5, 6, s)  # the raw input is not normalized
    ref = pool(conv(b.conv2, F.relu(ln(b.norm, conv(b.conv1, x))))) + conv(b.shortcut, pool(x))
    torch.testing.assert_close(b(x), ref)


@pytest.mark.parametrize("side", [16, 32, 64])
@pytest.mark.parametrize("channels,g_norm", [(1, "none"), (3, "batch")])
def test_generator_shape_range_and_block_count(side, channels, g_norm):
    torch.manual_seed(0)
    g = build("generator", (channels, side, side), g_norm)
    x = g(torch.randn(4, 16) * 3)
    assert x.shape == (4, channels, side, side)
    assert torch.isfinite(x).all() and x.abs().max() <= 1.0
    assert len(g.blocks) == int(math.log2(side / 4))  # 4x4 seed doubled per up block
    # batch norm twice per block and once before the output conv
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in g.modules())
    assert n_bn == (2 * len(g.blocks) + 1 if g_norm == "batch" else 0)


@pytest.mark.parametrize("side,n_down", [(16, 0), (32, 1), (64, 2)])
def test_discriminator_size_rule(side, n_down):
    d = build("discriminator", (3, side, side))
    blocks = list(d.trunk)[:-1]
    assert isinstance(blocks[0], OptimizedBlock)
    assert [b.down for b in blocks[1:]] == [True] * n_down + [False, False]
    x = torch.randn(2, 3, side, side)
    assert nn.Sequential(*blocks)(x).shape == (2, WIDTH, 8, 8)  # always pooled to 8x8


@pytest.mark.parametrize("d_norm", D_NORMS)
@pytest.mark.parametrize("channels,side", [(1, 16), (3, 32)])
def test_discriminator_shapes_with_every_norm(d_norm, channels, side):
    torch.manual_seed(0)
    d = build("discriminator", (channels, side, side), d_norm)
    logits, h = d(torch.rand(4, channels, side, side) * 2 - 1, return_features=True)
    assert logits.shape == (4,) and h.shape == (4, WIDTH)
    assert (h >= 0).all()  # features are pooled after a ReLU
    logits.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in d.parameters() if p.grad is not None)


@pytest.mark.parametrize("d_norm", D_NORMS)
def test_discriminator_norm_placement(d_norm):
    d = build("discriminator", (3, 32, 32), d_norm)
    n_conv = sum(isinstance(m, nn.Conv2d) for m in d.modules())
    reparam = [m for m in d.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
               and hasattr(m, "parametrizations")]
    feature = [m for m in d.modules() if isinstance(m, (nn.BatchNorm2d, nn.GroupNorm))]
    # convs: optimized 3 + down block 3 (1x1 shortcut) + 2 plain blocks x 2 = 10
    assert n_conv == 10
    assert len(reparam) == (n_conv + 1 if d_norm in ("spectral", "weight") else 0)  # + head
    # activation norms before each in-branch ReLU: 1 (optimized) + 2 x 3 blocks
    assert len(feature) == (7 if d_norm in ("batch", "layer") else 0)


def test_sum_pooling_is_64_times_mean_pooling_at_8x8():
    torch.manual_seed(1)
    d_sum = build("discriminator", (3, 32, 32), pooling="sum")
    d_mean = build("discriminator", (3, 32, 32), pooling="mean")
    d_mean.load_state_dict(d_sum.state_dict())
    x = torch.randn(3, 3, 32, 32)
    torch.testing.assert_close(d_sum.features(x), 64 * d_mean.features(x))


@pytest.mark.parametrize("d_norm", ["none", "spectral", "batch"])
def test_packing_doubles_input_channels_and_halves_logits(d_norm):
    d = build("discriminator", (3, 16, 16), d_norm, pack=2)
    assert d.trunk[0].conv1.in_channels == 6 and d.trunk[0].shortcut.in_channels == 6
    assert d(torch.rand(6, 3, 16, 16) * 2 - 1).shape == (3,)
    with pytest.raises(ValueError, match="pack"):
        d(torch.zeros(5, 3, 16, 16))


def test_minibatch_discrimination_widens_the_head():
    d = build("discriminator", (1, 16, 16), "layer", minibatch_features=8)
    assert d.head.in_features == WIDTH + 8
    logits, h = d(torch.rand(5, 1, 16, 16) * 2 - 1, return_features=True)
    assert logits.shape == (5,) and h.shape == (5, WIDTH)


@pytest.mark.parametrize("d_norm", ["none", "spectral", "batch"])
def test_one_adam_step_changes_every_parameter(d_norm):
    torch.manual_seed(0)
    g = build("generator", (3, 16, 16), "batch")
    d = build("discriminator", (3, 16, 16), d_norm, minibatch_features=8)
    for net in (g, d):
        before = [p.detach().clone() for p in net.parameters()]
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        fake = g(torch.randn(8, 16))
        real = torch.rand(8, 3, 16, 16) * 2 - 1
        loss = F.softplus(-d(fake)).mean() + F.softplus(d(real)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert all(not torch.equal(b, p) for b, p in zip(before, net.parameters()))


def test_default_parameter_counts_by_hand():
    # Generator, z_dim 128, 32x32x3, batch norm, width 256:
    fc = 128 * 4096 + 4096                       #   528,384  (z -> 4*4*256)
    conv3 = 256 * 256 * 9 + 256                  #   590,080
    block = 2 * 512 + 2 * conv3 + (256 * 256 + 256)  # two BNs, two 3x3 convs, 1x1 shortcut: 1,246,976
    out = 2 * 256 + 256 * 3 * 9 + 3              #     7,427  (BN + 3x3 conv to RGB)
    g_total = fc + 3 * block + out
    assert g_total == 4_276_739
    assert n_params(build("generator", (3, 32, 32), "batch", width=None, z_dim=128)) == g_total

    # Discriminator, 32x32x3, width 128 (spectral norm adds buffers, not parameters):
    c3 = 128 * 128 * 9 + 128                     #   147,584
    optimized = (3 * 128 * 9 + 128) + c3 + (3 * 128 + 128)   # 151,680
    down = 2 * c3 + (128 * 128 + 128)            #   311,680
    plain = 2 * c3                               #   295,168  (identity shortcut)
    head = 128 + 1
    d_total = optimized + down + 2 * plain + head
    assert d_total == 1_053_825
    for d_norm in ("none", "spectral"):
        assert n_params(build("discriminator", (3, 32, 32), d_norm, width=None)) == d_total


@pytest.mark.parametrize("shape", [(3, 48, 48), (3, 8, 8), (3, 256, 256), (3, 32, 16), (2,)])
def test_unsupported_shapes_are_config_errors(shape):
    for role in ("generator", "discriminator"):
        with pytest.raises(ConfigError, match="resnet"):
            build(role, shape)


def test_bad_params_and_role():
    with pytest.raises(ConfigError, match="width"):
        ARCHITECTURES.params("resnet", {"width": 0})
    with pytest.raises(ConfigError, match="pooling"):
        ARCHITECTURES.params("resnet", {"pooling": "max"})
    with pytest.raises(ValueError, match="role"):
        build("critic", (3, 16, 16))
