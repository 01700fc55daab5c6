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
    # o_i = sum_j exp(-|M_i - M_j|), j = i included
    import math
    expected = [1 + math.exp(-1) + math.exp(-3), math.exp(-1) + 1 + math.exp(-2), math.exp(-3) + math.exp(-2) + 1]
    assert torch.allclose(o, torch.tensor(expected))
