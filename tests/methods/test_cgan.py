"""Class-conditional GANs: conditioning of every architecture, the
projection / ACGAN / conditional-batch-norm formulas against hand
computations, GAN-CLS mismatched pairs, clear errors, bit-exact resume."""
import itertools

import pytest
import torch
import torch.nn.functional as F

import ganscape
from ganscape.config import ConfigError, from_dict
from ganscape.methods.base import Batch
from ganscape.nets.conditional import ConditionalBatchNorm, LabelContext
from ganscape.registry import NORMALIZATIONS, PENALTIES
from ganscape.train.state import build_state, load_data

ARCHS = {"mlp": {"width": 16, "depth": 2}, "dcgan": {"width": 8}, "sndcgan": {"width": 4},
         "resnet": {"width": 8, "pooling": "mean"}}
SIZE = {"mlp": 8, "dcgan": 8, "sndcgan": 8, "resnet": 16}


def _cfg(arch="mlp", g="concat", d="projection", g_norm="batch", d_norm="spectral", loss="hinge", penalty=None,
         **method):
    return from_dict({
        "data": {"name": "digits", "params": {"size": SIZE[arch]}},
        "model": {"z_dim": 4,
                  "generator": {"arch": {"name": arch, "params": ARCHS[arch]}, "norm": g_norm, "cond": g},
                  "discriminator": {"arch": {"name": arch, "params": ARCHS[arch]}, "norm": d_norm, "cond": d}},
        "loss": loss, "method": {"name": "cgan", "params": method},
        "penalties": [{"name": penalty, "params": {"weight": 1.0}}] if penalty else [],
        "train": {"batch_size": 4, "progress": False}})


def _batch(cfg, n=4):
    data = load_data(cfg)
    return Batch(data.floats()[:n], data.y[:n])


CASES = [(a, g, d, p) for a, g, d in itertools.product(ARCHS, ("concat", "cbn"), ("concat", "projection", "acgan"))
         for p in (None, "gp")]


@pytest.mark.parametrize("arch,g,d,penalty", CASES)
def test_one_conditional_step(arch, g, d, penalty):
    torch.manual_seed(0)
    cfg = _cfg(arch, g, d, penalty=penalty)
    b = _batch(cfg)
    state, method = build_state(cfg, b.x.shape[1:], torch.device("cpu"), num_classes=10)
    G, D = state.nets["G"], state.nets["D"]
    assert G(G.sample_z(4), b.y).shape == b.x.shape
    assert D(b.x, b.y).shape == (4,)
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in state.nets.items()}
    stats = method.step(state, [b], log=True)
    assert all(torch.isfinite(v).all() for v in stats.values()), stats
    if d == "acgan":
        assert {"acgan/d_class_loss", "acgan/g_class_loss"} <= set(stats)
    for k, m in state.nets.items():
        assert any(not torch.equal(a, p) for a, p in zip(before[k], m.parameters())), f"{k} did not change"


# Every normalization a discriminator may use, from the registry (so a new one
# is covered the day it is registered), under every discriminator conditioning:
# projection with weight norm crashed building its embedding (issue 17, item 10).
D_NORMS = [e.name for e in NORMALIZATIONS if "discriminator" in e.tags.get("roles", ())]


@pytest.mark.parametrize("d_norm,d", list(itertools.product(D_NORMS, ("concat", "projection", "acgan"))))
def test_one_conditional_step_for_every_discriminator_normalization(d_norm, d):
    torch.manual_seed(0)
    cfg = _cfg("mlp", "concat", d, d_norm=d_norm)
    b = _batch(cfg)
    state, method = build_state(cfg, b.x.shape[1:], torch.device("cpu"), num_classes=10)
    D = state.nets["D"]
    if d == "projection":
        # the embedding's own parameter (the one a weight or spectral
        # normalization reparameterizes) starts at N(0, 0.02), the projection paper's init
        raw = [p for p in D.embed.parameters() if p.shape == D.embed.weight.shape]
        assert len(raw) == 1 and 0.015 < float(raw[0].detach().std()) < 0.025
    before = [p.detach().clone() for p in D.parameters()]
    stats = method.step(state, [b], log=True)
    assert all(torch.isfinite(v).all() for v in stats.values()), stats
    assert any(not torch.equal(a, p) for a, p in zip(before, D.parameters()))
    assert D(b.x, b.y).shape == (4,)


def test_projection_logit_by_hand():
    torch.manual_seed(0)
    cfg = _cfg(d="projection", d_norm="none")
    state, _ = build_state(cfg, (1, 8, 8), torch.device("cpu"), num_classes=10)
    D = state.nets["D"]
    x, y = torch.randn(5, 1, 8, 8), torch.tensor([0, 3, 3, 9, 1])
    h = D.net.features(x)
    expected = D.net.head(h).squeeze(1) + (D.embed.weight[y] * h).sum(1)  # psi(h) + <V y, h>
    assert torch.allclose(D(x, y), expected, atol=1e-6)


def test_concat_discriminator_sees_one_hot_label_maps():
    torch.manual_seed(0)
    cfg = _cfg("dcgan", d="concat", d_norm="none")
    state, _ = build_state(cfg, (1, 8, 8), torch.device("cpu"), num_classes=10)
    D = state.nets["D"]
    x, y = torch.randn(2, 1, 8, 8), torch.tensor([2, 7])
    maps = torch.zeros(2, 10, 8, 8)
    maps[0, 2], maps[1, 7] = 1.0, 1.0
    assert torch.allclose(D(x, y), D.net(torch.cat([x, maps], 1)), atol=1e-6)


def test_conditional_batch_norm_gamma_is_one_plus_the_embedding():
    ctx = LabelContext()
    cbn = ConditionalBatchNorm(3, num_classes=4, ctx=ctx, spatial=True)
    with torch.no_grad():
        cbn.gamma.weight.copy_(torch.arange(12.).view(4, 3) / 10)
        cbn.beta.weight.copy_(-torch.arange(12.).view(4, 3) / 20)
    x, y = torch.randn(6, 3, 2, 2), torch.tensor([0, 1, 2, 3, 3, 1])
    ctx.y = y
    out = cbn(x)
    mean = x.mean((0, 2, 3), keepdim=True)
    var = x.var((0, 2, 3), unbiased=False, keepdim=True)
    normed = (x - mean) / torch.sqrt(var + 1e-5)
    gamma = 1 + cbn.gamma.weight[y][:, :, None, None]
    beta = cbn.beta.weight[y][:, :, None, None]
    assert torch.allclose(out, normed * gamma + beta, atol=1e-5)
    # zero embeddings at initialisation: plain batch norm, for every class
    fresh = ConditionalBatchNorm(3, 4, ctx, spatial=True)
    assert torch.allclose(fresh(x), normed, atol=1e-5)


def test_acgan_terms_by_hand():
    torch.manual_seed(0)
    cfg = _cfg(d="acgan", d_norm="none", acgan_weight=0.5)
    state, method = build_state(cfg, (1, 8, 8), torch.device("cpu"), num_classes=10)
    D = state.nets["D"]
    h_real, h_fake, y = torch.randn(4, 16), torch.randn(4, 16), torch.tensor([1, 2, 3, 4])
    extra, _ = method.d_extra(D, h_real, h_fake, y)
    lr, lf = D.classifier(h_real), D.classifier(h_fake)
    # -log P(C = c | x) averaged, on real and on fake
    nll = lambda logits: -(logits.log_softmax(1)[torch.arange(4), y]).mean()  # noqa: E731
    assert extra.item() == pytest.approx(0.5 * (nll(lr) + nll(lf)).item(), rel=1e-6)
    g_extra, _ = method.g_extra(D, h_fake, y)
    assert g_extra.item() == pytest.approx(0.5 * nll(lf).item(), rel=1e-6)


def test_mismatched_pairs_are_extra_negatives_with_wrong_labels(monkeypatch):
    torch.manual_seed(0)
    cfg = _cfg(d="projection", mismatch=0.5, loss="ns")
    state, method = build_state(cfg, (1, 8, 8), torch.device("cpu"), num_classes=10)
    D = state.nets["D"]
    seen = []
    real_forward = type(D).forward

    def spy(self, x, y=None, return_features=False):
        seen.append((x.shape[0], y.clone()))
        return real_forward(self, x, y, return_features)

    monkeypatch.setattr(type(D), "forward", spy)
    b = Batch(torch.randn(8, 1, 8, 8), torch.arange(8) % 10)
    neg = method.negatives(D, b.x, b.y)
    assert neg.shape == (4,)
    n, wrong = seen[-1]
    assert n == 4 and bool((wrong != b.y[:4]).all()) and int(wrong.max()) < 10
    # the D loss's fake term averages over fakes and mismatched pairs
    v_real, v_fake = torch.randn(8), torch.randn(8)
    loss = method.loss(v_real, torch.cat([v_fake, neg]))["d"]
    expected = F.softplus(-v_real).mean() + F.softplus(torch.cat([v_fake, neg])).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)


def test_penalties_see_the_labels():
    torch.manual_seed(0)
    cfg = _cfg(d="projection", penalty="r1")
    state, method = build_state(cfg, (1, 8, 8), torch.device("cpu"), num_classes=10)
    b = _batch(cfg)
    stats = method.step(state, [b], log=False)
    assert torch.isfinite(stats["penalty/r1"]) and stats["penalty/r1"] > 0
    assert {"gp", "r1", "dragan"} <= set(PENALTIES.names())


@pytest.mark.parametrize("tree_change,message", [
    ({"method": "gan"}, "class-conditional nets are trained by method cgan"),
    ({"model.generator.cond": "none"}, "the generator is unconditional"),
    ({"model.discriminator.cond": "none"}, "the discriminator is unconditional"),
    ({"model.generator.norm": "none", "model.generator.cond": "cbn"}, "cbn replaces the generator's batch norm"),
    ({"data": {"name": "swiss-roll"}}, "needs a data set with class labels"),
])
def test_clear_errors(tree_change, message, tmp_path):
    overrides = ["model.z_dim=4", "model.generator.cond=concat", "model.discriminator.cond=projection",
                 "method=cgan", "train.steps=2", "train.progress=false", "train.batch_size=8"]
    for k, v in tree_change.items():
        overrides.append(f"{k}={v}" if not isinstance(v, dict) else f"{k}={{name: {v['name']}}}")
    with pytest.raises(ConfigError, match=message):
        ganscape.train(ganscape.make_config(None, overrides=overrides), run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_cgan_resume_is_bit_exact_and_samples_per_class(tiny_tree, tmp_path, same_checkpoints):
    tiny_tree.update(method={"name": "cgan", "params": {"mismatch": 0.25}}, deterministic=True)
    tiny_tree["model"]["generator"].update(cond="cbn", norm="batch")
    tiny_tree["model"]["discriminator"].update(cond="projection", norm="spectral")
    tiny_tree["train"]["ema_decay"] = 0.9
    full = ganscape.train(from_dict({**tiny_tree, "train": {**tiny_tree["train"], "steps": 20}}),
                          run_dir=tmp_path / "full")
    half = ganscape.train(from_dict({**tiny_tree, "train": {**tiny_tree["train"], "steps": 10}}),
                          run_dir=tmp_path / "half")
    ganscape.resume(half, steps=20)
    same_checkpoints(full, half)
    x = ganscape.sample(full, n=20)
    assert x.shape == (20, 1, 8, 8) and torch.isfinite(x).all()


def test_sample_class_cli(tiny_tree, tmp_path, capsys):
    import numpy as np

    from ganscape.cli import main

    tiny_tree.update(method="cgan")
    tiny_tree["model"]["generator"]["cond"] = "concat"
    tiny_tree["model"]["discriminator"]["cond"] = "projection"
    run = ganscape.train(from_dict({**tiny_tree, "train": {**tiny_tree["train"], "steps": 4}}),
                         run_dir=tmp_path / "run")
    assert main(["sample", str(run), "-n", "5", "--class", "3", "--out", str(tmp_path / "c3.npz")]) == 0
    with np.load(tmp_path / "c3.npz") as f:
        assert f["x"].shape == (5, 1, 8, 8) and f["y"].tolist() == [3] * 5
    assert main(["sample", str(run), "-n", "2", "--class", "all", "--out", str(tmp_path / "all")]) == 0
    from PIL import Image
    grid = Image.open(tmp_path / "all.png")  # beside the folder, not among the samples
    assert grid.size[1] > grid.size[0]  # 10 rows (classes) of 2
    assert len(list((tmp_path / "all").glob("*_class9.png"))) == 2
    assert main(["sample", str(run), "-n", "2", "--class", "10", "--out", str(tmp_path / "x.npz")]) == 2
    assert "--class 10 is out of range: this generator has classes 0..9" in capsys.readouterr().err


def test_class_on_an_unconditional_run_is_refused(tiny_tree, tmp_path, capsys):
    from ganscape.cli import main

    run = ganscape.train(from_dict({**tiny_tree, "train": {**tiny_tree["train"], "steps": 2}}), run_dir=tmp_path / "r")
    assert main(["sample", str(run), "-n", "2", "--class", "1", "--out", str(tmp_path / "x.npz")]) == 2
    assert "not class-conditional" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_conditional_metrics_of_a_run(tiny_tree, tmp_path):
    tiny_tree.update(method="cgan")
    tiny_tree["model"]["generator"]["cond"] = "concat"
    tiny_tree["model"]["discriminator"]["cond"] = "acgan"
    run = ganscape.train(from_dict({**tiny_tree, "train": {**tiny_tree["train"], "steps": 4}}),
                         run_dir=tmp_path / "run")
    rec = ganscape.evaluate(run, metrics="intra-fid,class-consistency,per-class-pr", n=400)
    r = rec["results"]
    assert 0.0 <= r["class_consistency"] <= 1.0 and r["intra_fid"] > 0
    per_class = [r[f"intra_fid_class_{c}"] for c in range(10)]
    assert r["intra_fid"] == pytest.approx(sum(per_class) / 10)
    assert 0.0 <= r["precision_mean"] <= 1.0
    # an unconditional run has no labels to check
    plain = ganscape.train(from_dict({**tiny_tree, "method": "gan",
                                      "model": {**tiny_tree["model"],
                                                "generator": {**tiny_tree["model"]["generator"], "cond": "none"},
                                                "discriminator": {**tiny_tree["model"]["discriminator"],
                                                                  "cond": "none"}},
                                      "train": {**tiny_tree["train"], "steps": 2}}), run_dir=tmp_path / "plain")
    with pytest.raises(ConfigError, match="needs class labels"):
        ganscape.evaluate(plain, metrics="class-consistency", n=50)
