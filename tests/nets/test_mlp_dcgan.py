"""MLP and DCGAN: shapes, ranges, the data_scale reparameterization, packing,
minibatch discrimination."""
import pytest
import torch

from ganscape.nets.layers import MinibatchDiscrimination, NetSpec
from ganscape.registry import ARCHITECTURES, NORMALIZATIONS, ConfigError


def spec(role, shape, norm="none", **kw):
    n = NORMALIZATIONS.get(norm).fn(NORMALIZATIONS.params(norm, {}))
    return NetSpec(role=role, shape=shape, z_dim=5, norm=n, **kw)


@pytest.mark.parametrize("side", [8, 16, 32, 64, 128])
def test_dcgan_any_power_of_two_side(side):
    G = ARCHITECTURES.build("dcgan", {"width": 4, "max_width": 16}, spec("generator", (3, side, side), "batch"))
    D = ARCHITECTURES.build("dcgan", {"width": 4, "max_width": 16}, spec("discriminator", (3, side, side), "layer"))
    x = G(torch.randn(2, 5))
    assert x.shape == (2, 3, side, side) and x.abs().max() <= 1
    assert D(x).shape == (2,)
    # stride-2 stages from the side down to 4x4
    convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == side.bit_length() - 3


@pytest.mark.parametrize("side", [4, 12, 256])
def test_dcgan_rejects_other_sides(side):
    with pytest.raises(ConfigError, match="power-of-two side in 8..128"):
        ARCHITECTURES.build("dcgan", {}, spec("generator", (1, side, side)))


def test_mlp_data_scale_is_a_pure_reparameterization():
    torch.manual_seed(0)
    G1 = ARCHITECTURES.build("mlp", {"width": 8, "depth": 2}, spec("generator", (2,)))
    torch.manual_seed(0)
    G4 = ARCHITECTURES.build("mlp", {"width": 8, "depth": 2, "data_scale": 4.0}, spec("generator", (2,)))
    z = torch.randn(6, 5)
    assert torch.allclose(G4(z), 4 * G1(z))
    torch.manual_seed(1)
    D1 = ARCHITECTURES.build("mlp", {"width": 8, "depth": 2}, spec("discriminator", (2,)))
    torch.manual_seed(1)
    D4 = ARCHITECTURES.build("mlp", {"width": 8, "depth": 2, "data_scale": 4.0}, spec("discriminator", (2,)))
    x = torch.randn(6, 2)
    assert torch.allclose(D4(4 * x), D1(x), atol=1e-6)
    with pytest.raises(ConfigError, match="data_scale is for point data"):
        ARCHITECTURES.build("mlp", {"data_scale": 2.0}, spec("discriminator", (1, 8, 8)))


def test_packing_concatenates_consecutive_examples():
    D = ARCHITECTURES.build("mlp", {"width": 8, "depth": 1}, spec("discriminator", (2,), pack=4))
    x = torch.randn(8, 2)
    assert D(x).shape == (2,)
    first = D.trunk(x[:4].reshape(1, 8))
    assert torch.allclose(D.features(x)[0], first[0])
    with pytest.raises(ValueError, match="not divisible by pack=4"):
        D(torch.randn(6, 2))


def test_minibatch_discrimination_by_hand():
    mbd = MinibatchDiscrimination(2, num_kernels=1, kernel_dim=1)
    with torch.no_grad():
        mbd.T.copy_(torch.tensor([[1.0], [0.0]]))  # M_i = f_i[0]
    f = torch.tensor([[0.0, 5.0], [1.0, 5.0], [3.0, 5.0]])
    o = mbd(f)[:, 2]
    # o_i = sum_{j != i} exp(-|M_i - M_j|), as in the improved-GAN code
    import math
    expected = [math.exp(-1) + math.exp(-3), math.exp(-1) + math.exp(-2), math.exp(-3) + math.exp(-2)]
    assert torch.allclose(o, torch.tensor(expected))
    assert torch.equal(mbd(f)[:, :2], f)
    assert mbd(f[:1])[0, 2] == 0  # alone in its batch: nothing to compare with


@pytest.mark.parametrize("kernel", [4, 5])
@pytest.mark.parametrize("side", [8, 32, 128])
def test_dcgan_kernel_sizes_keep_shapes_exact(kernel, side):
    p = {"width": 4, "max_width": 16, "kernel": kernel}
    G = ARCHITECTURES.build("dcgan", p, spec("generator", (1, side, side), "batch"))
    D = ARCHITECTURES.build("dcgan", p, spec("discriminator", (1, side, side), pack=2))
    convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    deconvs = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert {m.kernel_size for m in convs + deconvs} == {(kernel, kernel)}
    # each transposed conv exactly doubles, each conv exactly halves the side
    h, sides = torch.randn(2, 16, 4, 4), []
    for m in deconvs:
        h = m(torch.randn(2, m.in_channels, *h.shape[2:]))
        sides.append(h.shape[-1])
    assert sides == [8 * 2 ** i for i in range(len(deconvs))]
    x = G(torch.randn(4, 5))
    assert x.shape == (4, 1, side, side)
    assert D(x).shape == (2,)
    h, sides = torch.randn(2, 2, side, side), []
    for m in convs:
        h = m(torch.randn(2, m.in_channels, *h.shape[2:]))
        sides.append(h.shape[-1])
    assert sides == [side // 2 ** (i + 1) for i in range(len(convs))]
    with pytest.raises(ConfigError, match="kernel: 3 is not allowed; choose 4 or 5"):
        ARCHITECTURES.build("dcgan", {"kernel": 3}, spec("generator", (1, 8, 8)))


def test_dcgan_5x5_transposed_conv_is_the_adjoint_of_the_5x5_conv():
    # Radford et al.'s deconv is the gradient of conv(5x5, stride 2, pad 2):
    # <conv(x), y> = <x, deconv(y)> with the same weights.
    from ganscape.nets.dcgan import _down, _up
    conv, deconv = _down(3, 2, 5).double(), _up(2, 3, 5).double()
    assert (conv.padding, deconv.padding, deconv.output_padding) == ((2, 2), (2, 2), (1, 1))
    with torch.no_grad():
        deconv.weight.copy_(conv.weight)
        conv.bias.zero_(), deconv.bias.zero_()
    x, y = torch.randn(1, 3, 16, 16, dtype=torch.float64), torch.randn(1, 2, 8, 8, dtype=torch.float64)
    assert torch.allclose((conv(x) * y).sum(), (x * deconv(y)).sum())
