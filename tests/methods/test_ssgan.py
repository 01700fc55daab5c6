"""Semi-supervised GAN (K+1 classes) and its supervised baseline: the K+1
formulas against hand computations, one step for every architecture, resume
bit-exact, the baseline sees only labelled examples, clear errors, and the
classifier error of a run."""
import json
import math

import pytest
import torch
import torch.nn.functional as F

import ganscape
from ganscape.config import ConfigError, from_dict
from ganscape.methods.base import Batch
from ganscape.methods.ssgan import (log_fake_probability, log_real_probability, supervised_loss,
                                    unsupervised_loss)
from ganscape.metrics.classifier_error import classifier_error, error_rate
from ganscape.registry import METRICS
from ganscape.train import checkpoint as ckpt_io
from ganscape.train.state import build_state, load_data

ARCHS = {"mlp": {"width": 16, "depth": 2}, "dcgan": {"width": 8}, "sndcgan": {"width": 4},
         "resnet": {"width": 8, "pooling": "mean"}}
SIZE = {"mlp": 8, "dcgan": 8, "sndcgan": 8, "resnet": 16}


def _tree(arch="mlp", method="ssgan", d_norm="weight", **train):
    return {
        "name": "tiny-ssgan", "deterministic": True,
        "data": {"name": "digits", "params": {"size": SIZE[arch]}},
        "model": {"z_dim": 4,
                  "generator": {"arch": {"name": arch, "params": ARCHS[arch]}, "norm": "batch"},
                  "discriminator": {"arch": {"name": arch, "params": ARCHS[arch]}, "norm": d_norm}},
        "loss": "ns", "method": method,
        "train": {"steps": 4, "batch_size": 16, "log_every": 2, "sample_every": 0, "checkpoint_every": 0,
                  "latest_every": 2, "progress": False, "labelled_per_class": 30, **train},
    }


def _state(tree):
    cfg = from_dict(tree)
    data = load_data(cfg)
    torch.manual_seed(0)
    state, method = build_state(cfg, data.shape, torch.device("cpu"), data.num_classes)
    return cfg, data, state, method


def _batch(data, n=8, labelled=(0, 3, 4)):
    mask = torch.zeros(n, dtype=torch.bool)
    mask[list(labelled)] = True
    return Batch(data.floats()[:n].clone(), data.y[:n].clone(), mask)


# ---- the K+1 formulas ----------------------------------------------------------------
def test_d_real_is_z_over_z_plus_one_by_hand():
    logits = torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5], [-3.0, -4.0, -5.0]], dtype=torch.float64)
    Z = logits.exp().sum(1)
    lse = torch.logsumexp(logits, 1)
    assert torch.allclose(log_real_probability(lse).exp(), Z / (Z + 1))
    assert torch.allclose(log_fake_probability(lse).exp(), 1 / (Z + 1))
    # first row by hand: Z = 3, D(real) = 3/4
    assert log_real_probability(lse)[0].exp().item() == pytest.approx(0.75)
    # stable where Z overflows or underflows
    big = torch.tensor([1000.0, -1000.0])
    assert torch.allclose(log_real_probability(big), torch.tensor([0.0, -1000.0]))
    assert torch.allclose(log_fake_probability(big), torch.tensor([-1000.0, 0.0]))


def test_unsupervised_loss_by_hand():
    torch.manual_seed(0)
    lr, lf = torch.randn(5, 10, dtype=torch.float64), torch.randn(7, 10, dtype=torch.float64)
    zr, zf = lr.exp().sum(1), lf.exp().sum(1)
    expected = -torch.log(zr / (zr + 1)).mean() - torch.log(1 / (zf + 1)).mean()
    got = unsupervised_loss(torch.logsumexp(lr, 1), torch.logsumexp(lf, 1))
    assert got.item() == pytest.approx(expected.item(), rel=1e-12)


def test_supervised_loss_by_hand_reads_only_labelled_labels():
    torch.manual_seed(0)
    logits = torch.randn(4, 3, dtype=torch.float64)
    mask = torch.tensor([True, False, True, False])
    y = torch.tensor([2, -7, 0, 99])  # garbage where unlabelled
    p = logits.softmax(1)
    expected = -(math.log(p[0, 2]) + math.log(p[2, 0])) / 2
    assert supervised_loss(logits, y, mask).item() == pytest.approx(expected, rel=1e-12)
    none = supervised_loss(logits.requires_grad_(), y, torch.zeros(4, dtype=torch.bool))
    assert none.item() == 0.0 and none.requires_grad


def test_ssgan_discriminator_objective_by_hand():
    cfg, data, state, method = _state(_tree(d_norm="none"))
    D, b = state.nets["D"], _batch(data)
    fake = torch.randn(8, 1, 8, 8)
    (v_real, h_real), (v_fake, h_fake) = D(b.x, return_features=True), D(fake, return_features=True)
    lr, lf = D.class_logits(b.x), D.class_logits(fake)
    assert lr.shape == (8, 10)
    assert torch.allclose(v_real, torch.logsumexp(lr, 1), atol=1e-6)  # D's logit is log Z
    zr, zf = lr.exp().sum(1), lf.exp().sum(1)
    unsup = -torch.log(zr / (zr + 1)).mean() - torch.log(1 / (zf + 1)).mean()
    assert method.loss(v_real, v_fake)["d"].item() == pytest.approx(0.5 * unsup.item(), rel=1e-5)  # improved-gan's 0.5
    assert method.loss(None, v_fake)["g"].item() == pytest.approx(-torch.log(zf / (zf + 1)).mean().item(), rel=1e-5)
    method._target = b
    sup, stats = method.d_extra(D, h_real, h_fake, None)
    ce = F.cross_entropy(lr[b.labelled], b.y[b.labelled])
    assert sup.item() == pytest.approx(ce.item(), rel=1e-5) and stats["ssgan/labelled"].item() == 3


def test_conditional_entropy_term_by_hand():
    from ganscape.methods.ssgan import conditional_entropy
    # two examples: uniform over 4 classes (entropy log 4) and softmax(0, log 3) over 2 (p = 1/4, 3/4)
    assert conditional_entropy(torch.tensor([[0.0, 0, 0, 0]])).item() == pytest.approx(math.log(4), rel=1e-6)
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert conditional_entropy(torch.tensor([[0.0, math.log(3)], [0.0, 0.0]])).item() == pytest.approx(
        (h + math.log(2)) / 2, rel=1e-6)
    # in D's objective: entropy_weight x the entropy of the real batch's K-class prediction, added to L_sup
    tree = _tree(d_norm="none")
    tree["method"] = {"name": "ssgan", "params": {"entropy_weight": 0.3}}
    cfg, data, state, method = _state(tree)
    D, b = state.nets["D"], _batch(data)
    h_real = D.features(b.x)
    method._target = b
    total, stats = method.d_extra(D, h_real, h_real, None)
    lr = D.class_logits(b.x)
    p = lr.softmax(1)
    ent = -(p * p.log()).sum(1).mean()
    ce = F.cross_entropy(lr[b.labelled], b.y[b.labelled])
    assert total.item() == pytest.approx(ce.item() + 0.3 * ent.item(), rel=1e-5)
    assert stats["ssgan/conditional_entropy"].item() == pytest.approx(ent.item(), rel=1e-5)


def test_a_separate_labelled_batch_is_the_supervised_term():
    # train.labelled_batch_size > 0 (improved-gan's protocol): the cross-entropy
    # is over the labelled batch only, not over the real batch's labelled rows
    cfg, data, state, method = _state(_tree(d_norm="none"))
    D = state.nets["D"]
    lb = Batch(data.floats()[20:26].clone(), data.y[20:26].clone())
    b = Batch(data.floats()[:8].clone(), data.y[:8].clone(), torch.zeros(8, dtype=torch.bool), lb)
    h_real = D.features(b.x)
    method._target = b
    sup, stats = method.d_extra(D, h_real, h_real, None)
    ce = F.cross_entropy(D.class_logits(lb.x), lb.y)
    assert sup.item() == pytest.approx(ce.item(), rel=1e-6) and stats["ssgan/labelled"].item() == 6


def test_the_loop_draws_the_labelled_batch_from_the_labelled_subset_only(tmp_path, monkeypatch):
    from ganscape.data.base import labelled_subset
    from ganscape.methods.ssgan import SSGAN
    seen = []
    real_step = SSGAN.step

    def spy(self, state, batches, log):
        seen.extend(b.labelled_batch for b in batches)
        return real_step(self, state, batches, log)

    monkeypatch.setattr(SSGAN, "step", spy)
    tree = _tree(labelled_per_class=2, labelled_batch_size=20)
    ganscape.train(from_dict(tree), run_dir=tmp_path / "run")
    data = load_data(from_dict(tree))
    keep = labelled_subset(data.y, 2, 0)
    allowed = {tuple(v.flatten().tolist()) for v in data.floats()[keep]}
    assert len(seen) == 4 and all(len(lb) == 20 for lb in seen)
    for lb in seen:
        for xi, yi in zip(lb.x, lb.y):
            assert tuple(xi.flatten().tolist()) in allowed
        # one epoch of a 20-example subset per batch: every labelled example once, all classes twice
        assert torch.bincount(lb.y, minlength=10).tolist() == [2] * 10


@pytest.mark.parametrize("change,match", [
    ({"labelled_per_class": 0, "labelled_batch_size": 8}, "labelled_batch_size: needs labelled_per_class > 0"),
    ({"labelled_per_class": 2, "labelled_batch_size": 21}, "21 is more than the 20 labelled examples"),
])
def test_bad_labelled_batch_sizes_are_clear_errors(tmp_path, change, match):
    with pytest.raises(ConfigError, match=match):
        ganscape.train(from_dict(_tree(**change)), run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


# ---- one step, every architecture ------------------------------------------------------
@pytest.mark.parametrize("arch", list(ARCHS))
def test_one_ssgan_step(arch):
    cfg, data, state, method = _state(_tree(arch, d_norm="spectral"))
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in state.nets.items()}
    stats = method.step(state, [_batch(data)], log=True)
    assert all(torch.isfinite(v).all() for v in stats.values()), stats
    assert {"d_loss", "g_loss", "feature_matching", "ssgan/supervised_loss"} <= set(stats)
    for k, m in state.nets.items():
        assert any(not torch.equal(a, p) for a, p in zip(before[k], m.parameters())), f"{k} did not change"


def test_ssgan_step_with_penalty_minibatch_discrimination_and_adversarial_term():
    tree = _tree(d_norm="none")
    tree["model"]["discriminator"]["minibatch_features"] = 4
    tree["penalties"] = [{"name": "gp", "params": {"weight": 1.0}}]
    tree["method"] = {"name": "ssgan", "params": {"adversarial": 1.0, "feature_matching": 1.0}}
    cfg, data, state, method = _state(tree)
    stats = method.step(state, [_batch(data), _batch(data)], log=True)
    assert "penalty/gp" in stats and all(torch.isfinite(v).all() for v in stats.values())


@pytest.mark.parametrize("method,nets,extra", [
    ("ssgan", {"G", "D"}, {}), ("supervised", {"D"}, {}),
    # improved-gan's protocol: a labelled batch per D step and noise layers in D (torch's RNG)
    ("ssgan", {"G", "D"}, {"labelled_batch_size": 20, "noise": True}),
    ("supervised", {"D"}, {"labelled_batch_size": 20, "noise": True}),
])
def test_resume_is_bit_exact(tmp_path, method, nets, extra):
    extra = dict(extra)
    noise = extra.pop("noise", False)
    tree = _tree(method=method, steps=6, ema_decay=0.9, **extra)
    if noise:
        tree["model"]["discriminator"]["arch"]["params"] = {**ARCHS["mlp"], "input_noise": 0.3, "hidden_noise": 0.5}
    full = ganscape.train(from_dict(tree), run_dir=tmp_path / "full")
    half = ganscape.train(from_dict({**tree, "train": {**tree["train"], "steps": 3}}), run_dir=tmp_path / "half")
    ganscape.resume(half, steps=6)
    a = ckpt_io.load(full / "checkpoints" / "latest.pt")
    b = ckpt_io.load(half / "checkpoints" / "latest.pt")
    assert set(a["nets"]) == set(a["ema"]) == nets
    for group in ("nets", "ema"):
        for name in a[group]:
            for k in a[group][name]:
                assert torch.equal(a[group][name][k], b[group][name][k]), (group, name, k)


# ---- the supervised baseline -------------------------------------------------------------
def test_supervised_baseline_learns_from_labelled_examples_only():
    # batch norm in the classifier: even the unlabelled inputs must not reach it
    tree = _tree(method="supervised", d_norm="batch")
    _, data, s1, m1 = _state(tree)
    _, _, s2, m2 = _state(tree)
    assert set(s1.nets) == {"D"} and not hasattr(s1.nets["D"], "sample_z")
    clean = _batch(data)
    garbage = _batch(data)
    unl = ~garbage.labelled
    garbage.x[unl] = torch.randn_like(garbage.x[unl]) * 5
    garbage.y[unl] = -3
    before = [p.detach().clone() for p in s1.nets["D"].parameters()]
    stats = m1.step(s1, [clean], log=True)
    m2.step(s2, [garbage], log=True)
    assert stats["supervised/labelled"].item() == 3 and torch.isfinite(stats["d_loss"])
    for p1, p2 in zip(s1.nets["D"].state_dict().values(), s2.nets["D"].state_dict().values()):
        assert torch.equal(p1, p2)
    assert any(not torch.equal(a, p) for a, p in zip(before, s1.nets["D"].parameters()))
    # a batch without labelled examples leaves the classifier and its optimizer alone
    after = {k: v.clone() for k, v in s1.nets["D"].state_dict().items()}
    m1.step(s1, [_batch(data, labelled=())], log=False)
    assert all(torch.equal(after[k], v) for k, v in s1.nets["D"].state_dict().items())


def test_supervised_baseline_trains_on_the_separate_labelled_batch():
    _, data, s1, m1 = _state(_tree(method="supervised", d_norm="none"))
    _, _, s2, _ = _state(_tree(method="supervised", d_norm="none"))
    lb = Batch(data.floats()[20:26].clone(), data.y[20:26].clone())
    # the real batch's own labelled rows are ignored when a labelled batch is given
    stats = m1.step(s1, [Batch(data.floats()[:8].clone(), data.y[:8].clone(), torch.ones(8, dtype=torch.bool), lb)],
                    log=False)
    ce = F.cross_entropy(s2.nets["D"].class_logits(lb.x), lb.y)
    assert stats["supervised/labelled"].item() == 6 and stats["d_loss"].item() == pytest.approx(ce.item(), rel=1e-6)


def test_supervised_and_ssgan_classify_with_the_same_network():
    _, _, s1, _ = _state(_tree(method="supervised"))
    _, _, s2, _ = _state(_tree())
    sd1, sd2 = s1.nets["D"].state_dict(), s2.nets["D"].state_dict()
    assert {k: v.shape for k, v in sd1.items()} == {k: v.shape for k, v in sd2.items()}


# ---- clear errors --------------------------------------------------------------------------
def test_ssgan_on_data_without_labels_is_a_clear_error():
    tree = _tree()
    tree["data"] = {"name": "swiss-roll", "params": {"n": 256}}
    tree["train"]["labelled_per_class"] = 0
    cfg = from_dict(tree)
    for method in ("ssgan", "supervised"):
        with pytest.raises(ConfigError, match=f"method {method} needs a data set with class labels"):
            build_state(from_dict({**tree, "method": method}), (2,), torch.device("cpu"), 0)
    with pytest.raises(ConfigError, match="needs a data set with class labels"):
        _, _, state, method = _state(_tree())
        method.step(state, [Batch(torch.zeros(4, 1, 8, 8))], log=False)
    assert cfg.data.name == "swiss-roll"


def test_more_labels_per_class_than_a_class_has_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="labelled_per_class: 1000 labelled examples per class"):
        ganscape.train(from_dict(_tree(labelled_per_class=1000)), run_dir=tmp_path / "run")


@pytest.mark.parametrize("change,match", [
    ({"loss": "hinge"}, "set loss: ns"),
    ({"loss": {"name": "ns", "params": {"smoothing": 0.1}}}, "set loss: ns"),
])
def test_a_loss_ssgan_would_ignore_is_an_error(change, match):
    with pytest.raises(ConfigError, match=match):
        _state({**_tree(), **change})


def test_conditioned_or_packed_nets_are_errors():
    for role, key, value, match in (("discriminator", "cond", "projection", "cond: none"),
                                    ("generator", "cond", "concat", "generator is unconditional"),
                                    ("discriminator", "pack", 2, "pack: 1")):
        tree = _tree()
        tree["model"][role][key] = value
        with pytest.raises(ConfigError, match=match):
            _state(tree)


# ---- classifier error of a run ----------------------------------------------------------
def _error_by_hand(D, cfg):
    test = load_data(cfg, "test")
    with torch.no_grad():
        return (D.eval().class_logits(test.floats()).argmax(1) != test.y).float().mean().item(), len(test.floats())


def test_classifier_error_of_a_tiny_ssgan_run(tmp_path):
    tree = _tree(steps=4, ema_decay=0.5)
    run = ganscape.train(from_dict(tree), run_dir=tmp_path / "run")
    res = classifier_error(run)
    cfg, _, state, _ = _state(tree)
    D = state.nets["D"]
    D.load_state_dict(ckpt_io.load(run / "checkpoints" / "latest.pt")["ema"]["D"])
    err, n = _error_by_hand(D, cfg)
    assert res["results"]["classifier_error"] == pytest.approx(err)
    assert res["n_real"] == n == 300 and res["classifier"] == "D+ema" and res["step"] == 4
    raw = classifier_error(run, ema=False)
    assert raw["classifier"] == "D"
    json.dumps(res)  # a metrics.jsonl record


def test_classifier_error_of_a_supervised_run_by_hand(tmp_path):
    tree = _tree(method="supervised", steps=3, ema_decay=0.9)
    run = ganscape.train(from_dict(tree), run_dir=tmp_path / "run")
    cfg, _, state, _ = _state(tree)
    D = state.nets["D"]
    D.load_state_dict(ckpt_io.load(run / "checkpoints" / "latest.pt")["nets"]["D"])
    err, _ = _error_by_hand(D, cfg)
    assert classifier_error(run, ema=False)["results"]["classifier_error"] == pytest.approx(err)


def test_classifier_error_of_a_gan_run_is_a_clear_error(tmp_path, tiny_tree):
    tiny_tree["train"].update(steps=2, sample_every=0, checkpoint_every=0)
    run = ganscape.train(from_dict(tiny_tree), run_dir=tmp_path / "run")
    with pytest.raises(ConfigError, match="method 'gan', which trains no classifier"):
        classifier_error(run)


def test_registered_metric_scores_a_classifier_in_the_context():
    from types import SimpleNamespace
    cfg, data, state, _ = _state(_tree(d_norm="none"))
    D = state.nets["D"]
    fn = METRICS.get("classifier-error").fn
    assert METRICS.get("classifier-error").tags["results"] == ("classifier_error",)
    x, y = data.floats()[:50], data.y[:50]
    ctx = SimpleNamespace(real=x, real_labels=y, batch_size=16, classifier=D)
    assert fn(None, ctx)["classifier_error"] == pytest.approx(error_rate(D, x, y))
    with torch.no_grad():
        assert error_rate(D, x, y) == pytest.approx((D.class_logits(x).argmax(1) != y).float().mean().item())
    with pytest.raises(ConfigError, match="scores a run's classifier, not samples"):
        fn(None, SimpleNamespace(real=x, real_labels=y, batch_size=16))


def test_a_supervised_run_trains_and_is_scored(tmp_path):
    run = ganscape.train(from_dict(_tree(method="supervised", steps=4, ema_decay=0.5)), run_dir=tmp_path / "run")
    ck = ckpt_io.load(run / "checkpoints" / "latest.pt")
    assert set(ck["nets"]) == {"D"} and set(ck["ema"]) == {"D"}
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
    assert not (run / "samples").exists() or not any((run / "samples").iterdir())  # nothing to sample
    err = classifier_error(run)["results"]["classifier_error"]
    assert 0.0 <= err <= 1.0
    # `ganscape eval RUN` scores what the method trains: here only the classifier
    rec = ganscape.evaluate(run)
    assert rec["results"] == {"classifier_error": err, "classifier_errors": round(err * 300)}
    assert rec["classifier"]["net"] == "D+ema" and rec["classifier"]["reference"]["split"] == "test"
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["results"]["classifier_error"] == err
    with pytest.raises(ConfigError, match="score samples, but method 'supervised' trains no generator"):
        ganscape.evaluate(run, metrics="fid")
    with pytest.raises(ConfigError, match="trains no generator: there is nothing to sample"):
        ganscape.sample(run, n=4)


def test_eval_of_an_ssgan_run_scores_samples_and_the_classifier(tmp_path):
    run = ganscape.train(from_dict(_tree(steps=2)), run_dir=tmp_path / "run")
    rec = ganscape.evaluate(run, n=40)
    assert {"fid", "kid", "classifier_error"} <= set(rec["results"])
    assert rec["results"]["classifier_error"] == classifier_error(run)["results"]["classifier_error"]
    assert rec["n_fake"] == 40 and rec["classifier"]["net"] == "D"
    only = ganscape.evaluate(run, metrics="classifier-error", record=False)
    assert set(only["results"]) == {"classifier_error", "classifier_errors"} and "n_fake" not in only


def test_classifier_error_on_a_plain_gan_run_is_refused(tmp_path):
    t = _tree(steps=2)
    t["method"] = "gan"
    run = ganscape.train(from_dict(t), run_dir=tmp_path / "run")
    with pytest.raises(ConfigError, match="method 'gan' trains none"):
        ganscape.evaluate(run, metrics="fid,classifier-error")


def test_training_evaluates_the_classifier_and_keeps_the_best(tmp_path):
    t = _tree(method="supervised", steps=6)
    t["eval"] = {"metrics": ["classifier-error"], "every": 3, "best": "classifier_error"}
    run = ganscape.train(from_dict(t), run_dir=tmp_path / "run")
    recs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs] == [3, 6] and all(r["source"] == "train" for r in recs)
    best = min(r["results"]["classifier_error"] for r in recs)
    assert classifier_error(run, checkpoint="best")["results"]["classifier_error"] == pytest.approx(best)
    # a sample metric for a method without a generator is refused before any folder exists
    t["eval"] = {"metrics": ["fid"], "every": 3, "best": "fid"}
    with pytest.raises(ConfigError, match="trains no generator"):
        ganscape.train(from_dict(t), run_dir=tmp_path / "other")
    assert not (tmp_path / "other").exists()
