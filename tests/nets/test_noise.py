"""The improved-GAN Gaussian noise layers of the MLP discriminator."""
import pytest
import torch

from ganscape.config import ConfigError, from_dict
from ganscape.nets.layers import GaussianNoise
from ganscape.nets.mlp import MLPParams
from ganscape.train.state import build_state, load_data


def test_noise_has_the_given_std_in_training_and_is_the_identity_in_eval():
    layer = GaussianNoise(0.3)
    x = torch.full((200_000,), 2.0)
    torch.manual_seed(0)
    y = layer(x)
    assert (y - x).mean().abs().item() < 0.003          # 3 standard errors: 0.3 / sqrt(2e5) = 0.00067
    assert (y - x).std().item() == pytest.approx(0.3, rel=0.01)
    assert torch.equal(layer.eval()(x), x)
    assert torch.equal(GaussianNoise(0.0).train()(x), x)


def _d(params):
    cfg = from_dict({"data": {"name": "digits", "params": {"size": 8}}, "model": {"z_dim": 4, "discriminator": {
        "arch": {"name": "mlp", "params": params}, "norm": "none"}}})
    state, _ = build_state(cfg, load_data(cfg).shape, torch.device("cpu"), 10)
    return state.nets["D"]


def test_noise_sits_before_every_dense_layer_of_the_discriminator():
    D = _d({"width": 8, "depth": 3, "input_noise": 0.3, "hidden_noise": 0.5})
    kinds = [(type(m).__name__, getattr(m, "std", None)) for m in D.trunk if type(m).__name__ in
             ("GaussianNoise", "Linear")]
    assert kinds == [("GaussianNoise", 0.3), ("Linear", None), ("GaussianNoise", 0.5), ("Linear", None),
                     ("GaussianNoise", 0.5), ("Linear", None), ("GaussianNoise", 0.5)]  # the last: before the head
    x = torch.randn(4, 1, 8, 8)
    D.eval()
    assert torch.equal(D(x), D(x))          # deterministic when evaluated
    D.train()
    assert not torch.equal(D(x), D(x))
    plain = _d({"width": 8, "depth": 3})
    assert not any(type(m).__name__ == "GaussianNoise" for m in plain.modules())


def test_noise_options_are_checked():
    with pytest.raises(ConfigError, match="input_noise: must be >= 0"):
        MLPParams(input_noise=-0.1).validate("model.discriminator.arch.params")
    with pytest.raises(ConfigError, match="discriminator options"):
        cfg = from_dict({"model": {"generator": {"arch": {"name": "mlp", "params": {"hidden_noise": 0.5}}}}})
        build_state(cfg, (1, 8, 8), torch.device("cpu"), 10)
