"""Contract tests over the registries: one CPU training step for every valid
architecture x loss x penalty x discriminator normalization (the generator's
normalization alternates between its two choices), checking shapes, finite
losses and that both players' parameters change."""
import itertools

import pytest
import torch

from ganscape.config import from_dict
from ganscape.objectives.losses import F_DIVERGENCES
from ganscape.registry import ARCHITECTURES, LOSSES, NORMALIZATIONS, PENALTIES
from ganscape.methods.base import Batch
from ganscape.train.state import build_state

# Tiny parameters per architecture, and the data each needs.
ARCH_SETUP = {
    "mlp": ({"width": 16, "depth": 2}, {"name": "ring-8", "params": {"n": 64}}),
    "dcgan": ({"width": 8}, {"name": "digits"}),
    "sndcgan": ({"width": 4}, {"name": "digits"}),
    # mean pooling: with the paper's sum pooling an untrained ResNet D's logits
    # are large enough (~20) for Hellinger's exp(v) terms to overflow the
    # gradient norm in this 1-step check
    "resnet": ({"width": 8, "pooling": "mean"}, {"name": "digits", "params": {"size": 16}}),
    "resnet19": ({"width": 2}, {"name": "digits", "params": {"size": 32}}),  # smallest side: 32
}

LOSS_SPECS = [(n, {}) for n in LOSSES.names() if n != "f-gan"] + \
             [("f-gan", {"divergence": d}) for d in sorted(F_DIVERGENCES)]
D_NORMS = [e.name for e in NORMALIZATIONS if "discriminator" in e.tags["roles"]]
G_NORMS = [e.name for e in NORMALIZATIONS if "generator" in e.tags["roles"]]
PENALTY_NAMES = [None] + PENALTIES.names()

CASES = list(itertools.product(sorted(ARCH_SETUP), D_NORMS, range(len(LOSS_SPECS)), PENALTY_NAMES))

def test_every_registered_architecture_is_covered():
    # sequence nets (kind tokens) have their own contract: tests/methods/test_discrete_contract.py;
    # models with their own likelihood (realnvp, pixelcnn): tests/methods/test_family_contract.py
    # discriminator-only nets with their own normalization (improved-gan-mlp): tests/nets/test_improved_gan_mlp.py
    # the Dirac-GAN's toy nets (1-D points only): tests/probes/test_convergence.py; the LQG game's
    # linear G and quadratic D: tests/probes/test_convergence_regularizers.py; NetGAN's random-walk
    # LSTMs (kind tokens, method netgan only): tests/methods/test_netgan.py; WaveGAN's and SpecGAN's nets
    # (kinds audio, spectrogram): tests/nets/test_wavegan.py
    image_and_points = {e.name for e in ARCHITECTURES if "tokens" not in e.tags.get("kinds", ())
                        and not e.tags.get("likelihood_model") and "generator" in e.tags.get("roles", ("generator",))
                        and not e.tags.get("toy") and not {"audio", "spectrogram"} & set(e.tags.get("kinds", ()))}
    assert set(ARCH_SETUP) == image_and_points
    assert {e.name for e in ARCHITECTURES} - image_and_points == {"lstm", "seq-cnn", "transformer", "realnvp",
                                                                  "pixelcnn", "improved-gan-mlp", "dirac", "lqg",
                                                                  "netgan", "wavegan", "specgan"}

def _config(arch, d_norm, g_norm, loss, penalty):
    params, data = ARCH_SETUP[arch]
    return from_dict({
        "data": data,
        "model": {"z_dim": 4,
                  "generator": {"arch": {"name": arch, "params": params}, "norm": g_norm},
                  "discriminator": {"arch": {"name": arch, "params": params}, "norm": d_norm}},
        "loss": {"name": loss[0], "params": loss[1]},
        "penalties": [{"name": penalty, "params": {"weight": 1.0}}] if penalty else [],
        "train": {"batch_size": 4, "progress": False},
    })

_DATA = {}

def _real(cfg):
    key = (cfg.data.name, tuple(sorted(cfg.data.params.items())))
    if key not in _DATA:
        from ganscape.train.state import load_data
        _DATA[key] = load_data(cfg).floats()[:4]
    return _DATA[key]

@pytest.mark.parametrize("arch,d_norm,loss_i,penalty", CASES,
                         ids=[f"{a}-{n}-{LOSS_SPECS[l][0]}{LOSS_SPECS[l][1].get('divergence', '')}-{p}"
                              for a, n, l, p in CASES])
def test_one_step(arch, d_norm, loss_i, penalty):
    torch.manual_seed(0)
    g_norm = G_NORMS[(loss_i + D_NORMS.index(d_norm)) % len(G_NORMS)]
    cfg = _config(arch, d_norm, g_norm, LOSS_SPECS[loss_i], penalty)
    real = _real(cfg)
    state, method = build_state(cfg, tuple(real.shape[1:]), torch.device("cpu"))
    g_before = [p.detach().clone() for p in state.nets["G"].parameters()]
    d_before = [p.detach().clone() for p in state.nets["D"].parameters()]
    z = state.nets["G"].sample_z(4)
    assert state.nets["G"](z).shape == real.shape
    assert state.nets["D"](real).shape == (4,)
    stats = method.step(state, [Batch(real)], log=True)
    for k, v in stats.items():
        assert torch.isfinite(v).all(), f"{k} = {v}"
    assert {"d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"} <= set(stats)
    if penalty:
        assert f"penalty/{penalty}" in stats
    assert any(not torch.equal(a, b) for a, b in zip(g_before, state.nets["G"].parameters())), "G did not change"
    assert any(not torch.equal(a, b) for a, b in zip(d_before, state.nets["D"].parameters())), "D did not change"
