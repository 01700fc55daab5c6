"""`output: logits`: every image generator can drop its tanh and give the
per-pixel logits a discrete image generator needs, with the same weights."""
import pytest
import torch

from ganscape.nets.layers import NetSpec, output_layer
from ganscape.registry import ARCHITECTURES, NORMALIZATIONS


def build(arch, shape, output):
    norm = NORMALIZATIONS.build("batch", {})
    spec = NetSpec(role="generator", shape=shape, z_dim=8, norm=norm, output=output)
    torch.manual_seed(0)
    return ARCHITECTURES.build(arch, {}, spec)


@pytest.mark.parametrize("arch,shape", [("mlp", (3, 8, 8)), ("dcgan", (3, 16, 16)), ("sndcgan", (3, 16, 16)),
                                        ("resnet", (3, 16, 16))])
def test_logits_are_the_tanh_generators_preactivation(arch, shape):
    G_tanh, G_logits = build(arch, shape, "tanh"), build(arch, shape, "logits")
    G_logits.load_state_dict(G_tanh.state_dict())  # same parameter names: the activation has none
    z = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    x, logits = G_tanh(z), G_logits(z)
    assert logits.shape == x.shape == (6, *shape)
    torch.testing.assert_close(torch.tanh(logits), x)
    assert logits.abs().max() > 1.0 or arch == "mlp"  # unbounded (small nets may stay inside)
    assert x.abs().max() <= 1.0


def test_points_and_bad_output():
    norm = NORMALIZATIONS.build("none", {})
    spec = NetSpec(role="generator", shape=(2,), z_dim=4, norm=norm, output="softmax")
    with pytest.raises(ValueError, match="'tanh' or 'logits'"):
        output_layer(spec)
    assert NetSpec(role="generator", shape=(20,), z_dim=4, norm=norm, kind="tokens").data_kind == "tokens"
    assert not NetSpec(role="generator", shape=(20,), z_dim=4, norm=norm, kind="tokens").is_image
    assert NetSpec(role="generator", shape=(1, 8, 8), z_dim=4, norm=norm).is_image
