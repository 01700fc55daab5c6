"""The GAN method's improved-GAN options, checked against independent computations."""
import copy

import pytest
import torch

from ganscape.config import from_dict
from ganscape.methods.base import Batch
from ganscape.methods.gan import HistoricalAverage
from ganscape.train.state import build_state


def _setup(method_params, loss="ns", **model):
    cfg = from_dict({"data": {"name": "ring-8", "params": {"n": 64}},
                     "model": {"z_dim": 3, "generator": {"arch": {"name": "mlp", "params": {"width": 8, "depth": 1}}},
                               "discriminator": {"arch": {"name": "mlp", "params": {"width": 8, "depth": 1}}, **model}},
                     "loss": loss, "method": {"name": "gan", "params": method_params},
                     "optim": {"generator": {"name": "sgd", "params": {"lr": 0.1}},
                               "discriminator": {"name": "sgd", "params": {"lr": 0.1}}}})
    torch.manual_seed(0)
    state, method = build_state(cfg, (2,), torch.device("cpu"))
    return state, method


def test_pure_feature_matching_generator_gradient():
    state, method = _setup({"adversarial": 0.0, "feature_matching": 1.0})
    real = torch.randn(16, 2)
    method.d_step(state, real, log=False)
    # the generator update by hand, from the same latents the G step will draw
    rng = torch.get_rng_state()
    G_ref, D_ref = copy.deepcopy(state.nets["G"]), copy.deepcopy(state.nets["D"])
    z = G_ref.sample_z(16)
    fm = ((D_ref.features(real).mean(0) - D_ref.features(G_ref(z)).mean(0)) ** 2).sum()
    fm.backward()
    expected = [p.detach() - 0.1 * p.grad for p in G_ref.parameters()]
    torch.set_rng_state(rng)
    stats = method.g_step(state, real, log=False)
    assert stats["feature_matching"].item() == pytest.approx(fm.item(), rel=1e-6)
    for p, e in zip(state.nets["G"].parameters(), expected):
        assert torch.allclose(p, e, atol=1e-6)
    # the discriminator is untouched by the generator step
    for a, b in zip(D_ref.parameters(), state.nets["D"].parameters()):
        assert torch.equal(a, b)


def test_historical_average_is_the_running_mean():
    net = torch.nn.Linear(2, 1)
    h = HistoricalAverage(net)
    seen = [torch.cat([p.detach().flatten() for p in net.parameters()])]
    for _ in range(3):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p))
        h.update(net)
        seen.append(torch.cat([p.detach().flatten() for p in net.parameters()]))
    mean = torch.stack(seen).mean(0)
    assert torch.allclose(torch.cat([m.flatten() for m in h.mean]), mean, atol=1e-6)
    cur = seen[-1]
    assert h.penalty(net).item() == pytest.approx(((cur - mean) ** 2).sum().item(), rel=1e-5)


def test_weight_clipping_bounds_every_critic_weight():
    state, method = _setup({"weight_clip": 0.01}, loss="wasserstein")
    method.step(state, [Batch(torch.randn(16, 2) * 10)], log=False)
    assert max(p.abs().max().item() for p in state.nets["D"].parameters()) <= 0.01 + 1e-9


def test_minibatch_discrimination_and_packing_train():
    state, method = _setup({}, minibatch_features=4, minibatch_kernel_dim=3, pack=2)
    before = state.nets["D"].mbd.T.detach().clone()
    stats = method.step(state, [Batch(torch.randn(16, 2))], log=True)
    assert torch.isfinite(stats["d_loss"]) and not torch.equal(before, state.nets["D"].mbd.T)
    assert state.nets["D"](torch.randn(16, 2)).shape == (8,)


# --- PacGAN packing conventions ----------------------------------------------

def _packed_cfg(mode, pack=4, batch_size=8, **train):
    return from_dict({"data": {"name": "ring-8", "params": {"n": 256}},
                      "model": {"z_dim": 3, "generator": {"arch": {"name": "mlp", "params": {"width": 8, "depth": 1}}},
                                "discriminator": {"arch": {"name": "mlp", "params": {"width": 8, "depth": 1}},
                                                  "pack": pack, "pack_mode": mode}},
                      "train": {"batch_size": batch_size, "progress": False, **train}})


def _record_shapes(state):
    seen = {"D_in": [], "D_out": [], "G_out": []}

    def d_hook(module, inputs, output):
        seen["D_in"].append(inputs[0].shape[0])
        logits = output[0] if isinstance(output, tuple) else output  # (logits, features) when asked for both
        seen["D_out"].append(logits.shape[0])

    def g_hook(module, inputs, output):
        seen["G_out"].append(output.shape[0])

    state.nets["D"].register_forward_hook(d_hook)
    state.nets["G"].register_forward_hook(g_hook)
    return seen


@pytest.mark.parametrize("mode,real_batch,d_batch", [("paper", 32, 8), ("split", 8, 2)])
def test_packed_discriminator_batch_and_generator_samples_per_step(mode, real_batch, d_batch):
    # batch 8, PacGAN4. "paper" (the PacGAN code): D scores 8 packed inputs of 4
    # examples, so 32 reals and 32 fakes per D step and 32 samples per G step.
    # "split": the 8 examples make 2 packed inputs.
    cfg = _packed_cfg(mode)
    assert cfg.real_batch_size == real_batch
    torch.manual_seed(0)
    state, method = build_state(cfg, (2,), torch.device("cpu"))
    seen = _record_shapes(state)
    method.d_step(state, torch.randn(cfg.real_batch_size, 2), log=False)
    assert seen["G_out"] == [real_batch]                         # the fakes of the D step
    assert seen["D_in"] == [real_batch, real_batch] and seen["D_out"] == [d_batch, d_batch]
    seen["G_out"].clear(), seen["D_out"].clear()
    method.g_step(state, torch.randn(cfg.real_batch_size, 2), log=False)
    assert seen["G_out"] == [real_batch] and seen["D_out"] == [d_batch]


@pytest.mark.parametrize("mode,real_batch", [("paper", 24), ("split", 8)])
def test_training_loop_draws_real_batch_size_examples(mode, real_batch, tmp_path, monkeypatch):
    import ganscape
    from ganscape.methods.gan import GAN
    sizes = []
    original = GAN.step

    def step(self, state, batches, log):
        sizes.extend(len(b) for b in batches)
        return original(self, state, batches, log)

    monkeypatch.setattr(GAN, "step", step)
    cfg = _packed_cfg(mode, pack=2 if mode == "split" else 3, batch_size=8, steps=2, n_disc=2,
                      log_every=1, sample_every=0, checkpoint_every=0, latest_every=2)
    ganscape.train(cfg, run_dir=tmp_path / "run")
    assert sizes == [real_batch] * 4


def test_pack_mode_validation():
    from ganscape.registry import ConfigError
    _packed_cfg("paper", pack=3, batch_size=8)  # any batch size: D sees 8 packed inputs of 3
    with pytest.raises(ConfigError, match="not divisible by model.discriminator.pack=3"):
        _packed_cfg("split", pack=3, batch_size=8)
    with pytest.raises(ConfigError, match="pack_mode: 'both' is not allowed; choose paper or split"):
        _packed_cfg("both")


def test_historical_averages_follow_every_update_of_their_own_player():
    # n_disc = 3: the discriminator's average runs over its initial value and
    # its value after each of the 3 D updates; the generator's over its
    # initial value and its value after the one G update.
    state, method = _setup({"historical_averaging": 0.5})
    flat = lambda net: torch.cat([p.detach().flatten().clone() for p in net.parameters()])  # noqa: E731
    seen_d, seen_g = [flat(state.nets["D"])], [flat(state.nets["G"])]
    d_step, g_step = method.d_step, method.g_step

    def recording_d_step(*args, **kwargs):
        out = d_step(*args, **kwargs)
        seen_d.append(flat(state.nets["D"]))
        return out

    def recording_g_step(*args, **kwargs):
        out = g_step(*args, **kwargs)
        seen_g.append(flat(state.nets["G"]))
        return out

    method.d_step, method.g_step = recording_d_step, recording_g_step
    torch.manual_seed(1)
    method.step(state, [Batch(torch.randn(16, 2)) for _ in range(3)], log=False)
    assert len(seen_d) == 4 and len(seen_g) == 2
    assert method.history["D"].count == 4 and method.history["G"].count == 2
    d_mean = torch.cat([m.flatten() for m in method.history["D"].mean])
    g_mean = torch.cat([m.flatten() for m in method.history["G"].mean])
    assert torch.allclose(d_mean, torch.stack(seen_d).mean(0), atol=1e-6)
    assert torch.allclose(g_mean, torch.stack(seen_g).mean(0), atol=1e-6)
