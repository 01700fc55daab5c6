"""The generalized core (issue 7, part 1): a method declares its named nets,
optimizers, EMA copies and sampler; the loop, checkpoints, resume and sample
handle them by name; batches are typed and carry labels."""
import dataclasses
from dataclasses import dataclass

import pytest
import torch

import ganscape
from ganscape.config import from_dict
from ganscape.methods.base import Batch, Method
from ganscape.registry import METHODS
from ganscape.train import checkpoint as ckpt_io
from ganscape.train import rundir
from ganscape.train.state import build_net, load_data


@dataclass(frozen=True)
class ThreeNetsParams:
    q_weight: float = 1.0


class ThreeNets(Method):
    """A toy recipe with three nets and three optimizers: a GAN plus a head Q
    that predicts the latent's first coordinate from D's features (an
    InfoGAN-like shape, just enough to exercise the core)."""
    sampler = "G"
    ema = ("G",)

    def __init__(self, params, cfg):
        self.p = params

    def build_nets(self, cfg, data):
        D = build_net(cfg, "discriminator", cfg.model.discriminator, data.shape)
        return {"G": build_net(cfg, "generator", cfg.model.generator, data.shape), "D": D,
                "Q": torch.nn.Linear(D.head.in_features, 1)}

    def optimizers(self, cfg, nets):
        return {"G": (cfg.optim.generator, nets["G"].parameters()),
                "D": (cfg.optim.discriminator, nets["D"].parameters()),
                "Q": (cfg.optim.discriminator, nets["Q"].parameters())}

    def step(self, state, batches, log):
        G, D, Q = (state.nets[k] for k in "GDQ")
        real = batches[0].x
        z = G.sample_z(len(real))
        d_loss = torch.nn.functional.softplus(-D(real)).mean() + \
            torch.nn.functional.softplus(D(G(z).detach())).mean()
        state.optims["D"].zero_grad()
        d_loss.backward()
        state.optims["D"].step()
        z = G.sample_z(len(real))
        v, h = D(G(z), return_features=True)
        q_loss = self.p.q_weight * ((Q(h).squeeze(1) - z[:, 0]) ** 2).mean()
        g_loss = torch.nn.functional.softplus(-v).mean() + q_loss
        for k in "GQ":
            state.optims[k].zero_grad()
        g_loss.backward()
        state.optims["G"].step()
        state.optims["Q"].step()
        D.zero_grad(set_to_none=True)
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "q_loss": q_loss.detach()}


@pytest.fixture
def three_nets(monkeypatch):
    entry = METHODS._entries.get("gan")
    monkeypatch.setitem(METHODS._entries, "three-nets",
                        dataclasses.replace(entry, name="three-nets", fn=ThreeNets, params_cls=ThreeNetsParams))


def _tree(tiny_tree, **train):
    tiny_tree["method"] = "three-nets"
    tiny_tree["deterministic"] = True
    tiny_tree["train"].update(ema_decay=0.9, **train)
    return tiny_tree


def test_a_method_with_three_nets_trains_checkpoints_and_samples_by_name(three_nets, tiny_tree, tmp_path):
    run = ganscape.train(from_dict(_tree(tiny_tree)), run_dir=tmp_path / "run")
    ck = ckpt_io.load(run / "checkpoints" / "latest.pt")
    assert set(ck["nets"]) == {"G", "D", "Q"} and set(ck["optims"]) == {"G", "D", "Q"}
    assert set(ck["ema"]) == {"G"}
    assert "q_loss" in rundir.read_jsonl(run / "stats.jsonl")[-1]
    # sample draws from the EMA copy of the declared sampler
    G = ganscape.load_generator(run)
    assert all(torch.equal(G.state_dict()[k], v) for k, v in ck["ema"]["G"].items())
    assert ganscape.sample(run, n=3).shape == (3, 1, 8, 8)


def test_resume_is_bit_exact_for_a_method_with_three_nets(three_nets, tiny_tree, tmp_path, same_checkpoints):
    full = ganscape.train(from_dict(_tree(tiny_tree, steps=20)), run_dir=tmp_path / "full")
    half = ganscape.train(from_dict(_tree(tiny_tree, steps=10)), run_dir=tmp_path / "half")
    ganscape.resume(half, steps=20)
    a, b = same_checkpoints(full, half)
    assert a["optims"]["Q"]["state"][0]["exp_avg"].equal(b["optims"]["Q"]["state"][0]["exp_avg"])


def test_batches_are_typed_and_carry_the_labels(tiny_tree, tmp_path, monkeypatch):
    from ganscape.methods.gan import GAN

    seen = []
    original = GAN.step

    def spy(self, state, batches, log):
        seen.extend(batches)
        return original(self, state, batches, log)

    monkeypatch.setattr(GAN, "step", spy)
    tiny_tree["train"].update(steps=3, n_disc=2)
    cfg = from_dict(tiny_tree)
    ganscape.train(cfg, run_dir=tmp_path / "run")
    data = load_data(cfg, "train")
    assert len(seen) == 6 and all(isinstance(b, Batch) and b.labelled is None for b in seen)
    for b in seen:
        # every label is the data set's label of that very image
        idx = [int(((data.floats() - xi).abs().flatten(1).sum(1) == 0).nonzero()[0]) for xi in b.x]
        assert torch.equal(b.y, data.y[idx])


def test_unlabelled_data_gives_batches_without_labels(tmp_path, monkeypatch):
    from ganscape.methods.gan import GAN

    seen = []
    original = GAN.step
    monkeypatch.setattr(GAN, "step", lambda self, s, b, log: (seen.extend(b), original(self, s, b, log))[1])
    cfg = ganscape.make_config("ring8", overrides=["train.steps=2", "train.progress=false", "data.params.n=512",
                                                   "train.batch_size=32", "train.sample_every=0"])
    ganscape.train(cfg, run_dir=tmp_path / "run")
    assert seen and all(b.x.shape == (128, 2) for b in seen)
    # ring-8 records which mode each point came from: those are its labels
    assert all(b.y is not None and b.y.max() < 8 for b in seen)


def test_missing_named_parts_of_a_checkpoint_are_a_clear_error(tiny_tree, tmp_path):
    run = ganscape.train(from_dict(tiny_tree), run_dir=tmp_path / "run")  # no EMA
    from ganscape.train.state import build_state
    cfg = from_dict({**tiny_tree, "train": {**tiny_tree["train"], "ema_decay": 0.5}})
    state, _ = build_state(cfg, (1, 8, 8), torch.device("cpu"))
    from ganscape.registry import ConfigError
    with pytest.raises(ConfigError, match="the checkpoint has no ema G"):
        state.load_state_dict(ckpt_io.load(run / "checkpoints" / "latest.pt"))


def test_labelled_subset_marks_n_per_class_with_the_seed(tiny_tree, tmp_path, monkeypatch):
    from ganscape.data.base import labelled_subset
    from ganscape.methods.gan import GAN

    data = load_data(from_dict(tiny_tree), "train")
    mask = labelled_subset(data.y, 3, seed=5)
    assert torch.bincount(data.y[mask], minlength=10).tolist() == [3] * 10
    assert torch.equal(mask, labelled_subset(data.y, 3, seed=5))
    assert not torch.equal(mask, labelled_subset(data.y, 3, seed=6))
    with pytest.raises(ValueError, match="class 0 has only"):
        labelled_subset(data.y, 1000, seed=0)
    seen = []
    original = GAN.step
    monkeypatch.setattr(GAN, "step", lambda self, s, b, log: (seen.extend(b), original(self, s, b, log))[1])
    tiny_tree["train"].update(steps=20, labelled_per_class=10)
    ganscape.train(from_dict(tiny_tree), run_dir=tmp_path / "run")
    assert all(b.labelled is not None and b.labelled.dtype == torch.bool for b in seen)
    # 100 of the 1497 training digits are labelled: about 21 of the 320 drawn
    assert 0 < sum(int(b.labelled.sum()) for b in seen) < sum(len(b) for b in seen) // 4
