"""InfoGAN: code priors carried by the latent, the L_I terms against hand
computations, one step for every architecture, which nets L_I trains, bit-exact
resume, traversal pictures, the categorical-code accuracy metric, clear errors."""
import math

import numpy as np
import pytest
import torch

import ganscape
from ganscape.config import ConfigError, from_dict
from ganscape.methods.base import Batch
from ganscape.methods.infogan import (bernoulli_loglik, categorical_loglik, code_entropy, gaussian_loglik)
from ganscape.metrics.infogan import categorical_code_accuracy, matched_accuracy
from ganscape.nets.infogan import CodeSpec, traversal_grid
from ganscape.train import checkpoint as ckpt_io
from ganscape.train.state import build_state, load_data

ARCHS = {"mlp": {"width": 16, "depth": 2}, "dcgan": {"width": 8}, "sndcgan": {"width": 4},
         "resnet": {"width": 8, "pooling": "mean"}}
SIZE = {"mlp": 8, "dcgan": 8, "sndcgan": 8, "resnet": 16}


def _tree(arch="mlp", z_dim=8, d_norm="spectral", **method):
    return {"data": {"name": "digits", "params": {"size": SIZE[arch]}},
            "model": {"z_dim": z_dim,
                      "generator": {"arch": {"name": arch, "params": ARCHS[arch]}, "norm": "batch"},
                      "discriminator": {"arch": {"name": arch, "params": ARCHS[arch]}, "norm": d_norm}},
            "method": {"name": "infogan", "params": {"categorical": [10], "continuous": 2, "q_hidden": 8, **method}},
            "train": {"batch_size": 4, "progress": False}}


def _build(arch="mlp", **kw):
    torch.manual_seed(0)
    cfg = from_dict(_tree(arch, **kw))
    data = load_data(cfg)
    state, method = build_state(cfg, data.shape, torch.device("cpu"), data.num_classes)
    return cfg, data, state, method


# ---- golden numbers for the terms of L_I ----
def test_categorical_log_likelihood_by_hand():
    logits = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    c = torch.tensor([2, 0])
    expected = [3.0 - math.log(math.e + math.e ** 2 + math.e ** 3), -math.log(3.0)]
    assert torch.allclose(categorical_loglik(logits, c), torch.tensor(expected), atol=1e-6)


def test_gaussian_log_density_by_hand():
    c = torch.tensor([[0.5, -1.0]])
    mean = torch.tensor([[0.1, 0.0]])
    log_std = torch.tensor([[math.log(2.0), 0.0]])
    # -1/2 log 2pi - log sigma - (c - mu)^2 / (2 sigma^2), summed over the two codes
    first = -0.5 * math.log(2 * math.pi) - math.log(2.0) - 0.4 ** 2 / (2 * 4.0)
    second = -0.5 * math.log(2 * math.pi) - 0.0 - 1.0 / 2
    assert torch.allclose(gaussian_loglik(c, mean, log_std), torch.tensor([first + second]), atol=1e-6)


def test_bernoulli_log_likelihood_and_code_entropy_by_hand():
    logits, c = torch.tensor([[0.0, 2.0]]), torch.tensor([[1.0, 0.0]])
    expected = math.log(0.5) + math.log(1 - 1 / (1 + math.exp(-2.0)))
    assert torch.allclose(bernoulli_loglik(logits, c), torch.tensor([expected]), atol=1e-6)
    assert code_entropy(CodeSpec((10, 3), 2, 1)) == pytest.approx(math.log(10) + math.log(3) + 3 * math.log(2))


def test_standard_normal_latents_carry_codes_with_their_priors():
    _, _, state, _ = _build(categorical=[10, 3], continuous=2, bernoulli=1, z_dim=12)
    G = state.nets["G"]
    z = torch.randn(20000, G.z_dim, generator=torch.Generator().manual_seed(0))
    cat, cont, bern = G.codes(z)
    assert cat.shape == (20000, 2) and cont.shape == (20000, 2) and bern.shape == (20000, 1)
    for i, k in enumerate((10, 3)):
        freq = torch.bincount(cat[:, i], minlength=k).float() / len(z)
        assert torch.allclose(freq, torch.full((k,), 1.0 / k), atol=0.015)
    assert cont.min() >= -1 and cont.max() <= 1 and cont.mean().abs() < 0.02 and (cont.var() - 1 / 3).abs() < 0.01
    assert set(bern.unique().tolist()) == {0.0, 1.0} and (bern.mean() - 0.5).abs() < 0.015
    assert G.noise_dim == 12 - 5  # one latent slot per code
    assert G(z[:3]).shape == (3, 1, 8, 8)


# ---- the information term: its value, its sign, its weights ----
def test_info_loss_by_hand():
    # Q's outputs fixed by hand (two examples, one 3-valued categorical code,
    # one continuous, one Bernoulli); distinct weights for the two kinds, so a
    # flipped sign or swapped factor changes the value.
    from ganscape.nets.infogan import Codes, QOutput
    _, _, _, method = _build(categorical=[3], continuous=1, bernoulli=1, info_weight=2.0,
                             continuous_weight=0.5, learn_std=True)
    q = QOutput(cat_logits=[torch.tensor([[0.0, 0.0, 0.0], [math.log(2.0), 0.0, 0.0]])],
                mean=torch.zeros(2, 1), log_std=torch.zeros(2, 1), bern_logits=torch.zeros(2, 1))
    method.Q = lambda h: q
    method._codes = Codes(cat=torch.tensor([[0], [0]]), cont=torch.tensor([[1.0], [0.0]]),
                          bern=torch.tensor([[1.0], [0.0]]))
    cat = (-math.log(3.0) + math.log(2.0 / 4.0)) / 2          # log softmax at the code, batch mean
    cont = -0.5 * math.log(2 * math.pi) - (0.5 * 1.0 + 0.0) / 2  # N(c; 0, 1), batch mean
    bern = math.log(0.5)                                       # sigmoid(0) = 1/2 for either value
    loss, stats = method.info_loss(torch.zeros(2, 4))
    assert loss.item() == pytest.approx(-(2.0 * (cat + bern) + 0.5 * cont), abs=1e-6)
    entropy = math.log(3.0) + math.log(2.0) + math.log(2.0)    # H(c): log 3, U(-1, 1), Bernoulli(1/2)
    assert stats["info/mi_bound"].item() == pytest.approx(entropy + cat + cont + bern, abs=1e-6)
    assert stats["info/cat_nll"].item() == pytest.approx(-cat, abs=1e-6)
    assert stats["info/cont_nll"].item() == pytest.approx(-cont, abs=1e-6)


def test_clustergan_noise_scale_and_noise_term_by_hand():
    # noise_std: the wrapped net sees sigma * noise; noise_weight: + beta_n * mean (Q_noise - sigma * noise)^2
    from ganscape.nets.infogan import Codes, QOutput
    _, _, state, method = _build(categorical=[3], continuous=0, noise_std=0.1, noise_weight=10.0, info_weight=2.0)
    G = state.nets["G"]
    G.eval()
    z = torch.randn(5, 8)
    onehot = torch.nn.functional.one_hot(G.codes(z).cat[:, 0], 3).float()
    want = G.net(torch.cat([0.1 * z[:, :7], onehot], 1))
    assert torch.allclose(G(z), want, atol=1e-6)
    assert state.nets["Q"].noise_out == 7  # Q estimates the 7 noise coordinates
    q = QOutput(cat_logits=[torch.zeros(2, 3)], mean=torch.zeros(2, 0), log_std=torch.zeros(2, 0),
                bern_logits=torch.zeros(2, 0), noise=torch.tensor([[0.1, 0.0], [0.0, 0.0]]))
    method.Q = lambda h: q
    method._codes = Codes(cat=torch.tensor([[0], [1]]), cont=torch.zeros(2, 0), bern=torch.zeros(2, 0))
    method._noise = torch.tensor([[0.3, 0.0], [0.0, -0.2]])
    mse = ((0.1 - 0.3) ** 2 + 0.2 ** 2) / 4                      # mean over 2 examples x 2 coordinates
    loss, stats = method.info_loss(torch.zeros(2, 4))
    assert loss.item() == pytest.approx(-2.0 * -math.log(3.0) + 10.0 * mse, abs=1e-6)
    assert stats["info/noise_mse"].item() == pytest.approx(mse, abs=1e-7)
    # generate() keeps the noise as G saw it
    method.generate(G, 4, None)
    assert method._noise.shape == (4, 7) and method._noise.abs().max() < 1.0


def _set_lr(state, lr):
    for opt in state.optims.values():
        for group in opt.param_groups:
            group["lr"] = lr


def _code_nll(method, state, fake, codes):
    """-(log Q_cat + log Q_cont) of fixed fakes with fixed codes (train mode, as in the updates)."""
    from ganscape.methods.infogan import info_terms
    with torch.no_grad():
        _, h = state.nets["D"](fake, return_features=True)
        t = info_terms(state.nets["Q"](h), codes)
    return -(t["cat"] + t["cont"]).item()


def test_discriminator_updates_on_fixed_fakes_lower_the_codes_nll():
    # Q (and D's trunk) maximize L_I: a few D updates against the same fakes
    # must make their codes more predictable. A flipped sign raises the NLL.
    _, data, state, method = _build()
    _set_lr(state, 1e-3)
    G = state.nets["G"]
    torch.manual_seed(3)
    z = G.sample_z(32)
    with torch.no_grad():
        fake, codes = G(z), G.codes(z)

    def fixed(G_, n, y):
        method._codes = codes
        return fake
    method.generate = fixed
    before = _code_nll(method, state, fake, codes)
    for _ in range(10):
        method.d_step(state, data.floats()[:32], log=False)
    after = _code_nll(method, state, fake, codes)
    assert after < before - 0.5, (before, after)


def test_generator_updates_with_fixed_q_lower_the_codes_nll():
    # G maximizes L_I too (with D and Q frozen): a few G updates on the same
    # latents make their codes easier for the fixed Q to read.
    _, data, state, method = _build(info_weight=1.0, continuous_weight=1.0)
    _set_lr(state, 1e-3)
    for _ in range(20):  # a Q that reads something first
        method.d_step(state, data.floats()[:32], log=False)
    G = state.nets["G"]
    torch.manual_seed(4)
    z = G.sample_z(32)
    codes = G.codes(z)

    def fixed(G_, n, y):
        method._codes = codes
        return G_(z)
    method.generate = fixed
    with torch.no_grad():
        before = _code_nll(method, state, G(z), codes)
    for _ in range(10):
        method.g_step(state, data.floats()[:32], log=False)
    with torch.no_grad():
        after = _code_nll(method, state, G(z), codes)
    assert after < before - 0.2, (before, after)


# ---- one step for every architecture ----
@pytest.mark.parametrize("arch", list(ARCHS))
def test_one_step_for_every_architecture(arch):
    cfg, data, state, method = _build(arch, learn_std=True, bernoulli=1)
    b = Batch(data.floats()[:4], data.y[:4])
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in state.nets.items()}
    stats = method.step(state, [b], log=True)
    assert all(torch.isfinite(v).all() for v in stats.values()), stats
    assert {"info/mi_bound", "info/cat_nll", "info/cont_nll", "info/bern_nll"} <= set(stats)
    assert set(state.optims) == {"G", "D", "Q"}
    for k, m in state.nets.items():
        assert any(not torch.equal(a, p) for a, p in zip(before[k], m.parameters())), f"{k} did not change"


def test_q_is_trained_with_d_and_frozen_in_the_generator_update():
    _, data, state, method = _build()
    b = Batch(data.floats()[:4])
    Q = state.nets["Q"]
    q0 = [p.detach().clone() for p in Q.parameters()]
    method.g_step(state, b.x, log=False)
    assert all(torch.equal(a, p) for a, p in zip(q0, Q.parameters()))
    assert all(p.requires_grad for p in Q.parameters())
    method.d_step(state, b.x, log=False)
    assert any(not torch.equal(a, p) for a, p in zip(q0, Q.parameters()))


def test_d_trunk_gets_the_information_term_in_the_discriminator_update():
    # as the official code: D's shared trunk (and Q) minimize D's loss - lambda L_I
    after = []
    for w in (0.0, 1.0):
        _, data, state, method = _build(info_weight=w, continuous_weight=w)
        torch.manual_seed(1)
        method.d_step(state, data.floats()[:4], log=False)
        after.append([p.detach().clone() for p in state.nets["D"].parameters()])
    assert any(not torch.equal(a, b) for a, b in zip(*after))


def test_points_data():
    t = _tree()
    t["data"] = {"name": "ring-8", "params": {"n": 64}}
    cfg = from_dict(t)
    state, method = build_state(cfg, (2,), torch.device("cpu"), 8)
    stats = method.step(state, [Batch(torch.randn(4, 2))], log=True)
    assert all(torch.isfinite(v).all() for v in stats.values())
    assert state.nets["G"](state.nets["G"].sample_z(3)).shape == (3, 2)
    assert method.pictures(state) == {}


def test_info_weight_zero_leaves_q_untouched_by_gradients():
    _, data, state, method = _build(info_weight=0.0, continuous_weight=0.0)
    state.optims["Q"].zero_grad()
    method.d_step(state, data.floats()[:4], log=False)
    assert all(p.grad is None or not p.grad.any() for p in state.nets["Q"].parameters())


def test_resume_is_bit_exact(tmp_path):
    def tree(steps):
        t = _tree(z_dim=6, learn_std=False)
        t.update(name="infogan-tiny", deterministic=True)
        t["train"].update(steps=steps, batch_size=8, log_every=2, sample_every=0, checkpoint_every=0,
                          latest_every=100, ema_decay=0.9)
        return from_dict(t)

    full = ganscape.train(tree(6), run_dir=tmp_path / "full")
    half = ganscape.train(tree(3), run_dir=tmp_path / "half")
    ganscape.resume(half, steps=6)
    a = ckpt_io.load(full / "checkpoints" / "latest.pt")
    b = ckpt_io.load(half / "checkpoints" / "latest.pt")
    assert set(a["nets"]) == {"G", "D", "Q"} and set(a["optims"]) == {"G", "D", "Q"}
    for group in ("nets", "ema"):
        for name in a[group]:
            for k in a[group][name]:
                assert torch.equal(a[group][name][k], b[group][name][k]), (group, name, k)
    assert ganscape.sample(full, n=3).shape == (3, 1, 8, 8)
    # the run's end draws the sample grid and the code traversals
    assert sorted(p.name for p in (full / "samples").iterdir()) == [
        "step_000006.png", "traversal_c0_step_000006.png", "traversal_c1_step_000006.png"]
    # `ganscape eval RUN --metrics infogan-accuracy` reaches the run's generator
    rec = ganscape.evaluate(full, metrics="infogan-accuracy", record=False,
                            extractor="digits-cnn")
    G = ganscape.load_generator(full)
    from ganscape.metrics.evaluate import build_extractor
    ext = build_extractor("digits-cnn")
    expected = categorical_code_accuracy(G, lambda x: ext(x)["logits"], n_per_code=100, code=0, seed=0)
    assert rec["results"]["infogan_cat_accuracy"] == pytest.approx(expected["accuracy"])


# ---- pictures ----
def test_traversal_grid_rows_are_categories_and_columns_sweep_a_continuous_code(tmp_path):
    _, _, state, method = _build(continuous=2)
    G = state.nets["G"]
    seen = []
    original = G.decode
    G.decode = lambda noise, cat, cont, bern: (seen.append((noise, cat, cont)), original(noise, cat, cont, bern))[1]
    x, nrow = traversal_grid(G, cont_index=1, steps=5)
    assert x.shape == (50, 1, 8, 8) and nrow == 5 and G.training
    noise, cat, cont = seen[0]
    assert torch.equal(cat[:, 0], torch.arange(10).repeat_interleave(5))
    assert torch.allclose(cont[:, 1], torch.linspace(-1, 1, 5).repeat(10))
    assert (noise == noise[0]).all() and (cont[:, 0] == cont[0, 0]).all()
    del G.decode
    from ganscape.train.loop import save_samples
    cfg = from_dict(_tree(continuous=2))
    paths = save_samples(state, method, cfg, tmp_path, torch.randn(8, 8), None, {}, step=7)
    assert sorted(p.name for p in paths) == ["step_000007.png", "traversal_c0_step_000007.png",
                                             "traversal_c1_step_000007.png"]
    assert all(p.is_file() for p in paths)


# ---- the metric ----
def test_hungarian_matching_of_permuted_perfect_codes_gives_accuracy_one():
    perm = np.array([3, 7, 0, 9, 1, 5, 2, 8, 4, 6])
    codes = np.repeat(np.arange(10), 5)
    out = matched_accuracy(codes, perm[codes])
    assert out["accuracy"] == 1.0 and out["mapping"] == {c: int(perm[c]) for c in range(10)}


def test_hungarian_matching_is_one_to_one():
    # codes 0 and 1 both look like class 0 mostly; only one may take it
    codes = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    pred = np.array([0, 0, 0, 1, 0, 0, 1, 1])
    out = matched_accuracy(codes, pred)
    assert out["mapping"] == {0: 0, 1: 1} and out["accuracy"] == pytest.approx(5 / 8)


def test_metric_through_the_digits_classifier_on_a_generator_whose_code_is_the_digit():
    from ganscape.metrics.evaluate import EvalContext, build_extractor
    from ganscape.registry import METRICS

    _, data, state, _ = _build()
    G = state.nets["G"]
    perm = torch.tensor([3, 7, 0, 9, 1, 5, 2, 8, 4, 6])
    pool = {c: data.floats()[data.y == c] for c in range(10)}
    # a stand-in generator: code k -> a real digit of class perm[k], chosen by the noise
    G.decode = lambda noise, cat, cont, bern: torch.stack(
        [pool[int(perm[k])][int(i) % len(pool[int(perm[k])])] for k, i in zip(cat[:, 0], (noise[:, 0] * 1e3).abs())])
    ext = build_extractor("digits-cnn")
    out = categorical_code_accuracy(G, lambda x: ext(x)["logits"], n_per_code=20)
    assert out["accuracy"] > 0.9 and out["mapping"] == {k: int(perm[k]) for k in range(10)}
    ctx = EvalContext(fake=data.floats()[:4], real=data.floats()[:4], extractor=ext, reference={})
    with pytest.raises(ConfigError, match="needs the InfoGAN generator"):
        METRICS.get("infogan-accuracy").fn(METRICS.params("infogan-accuracy", {}), ctx)
    ctx.generator = G
    res = METRICS.get("infogan-accuracy").fn(METRICS.params("infogan-accuracy", {"n_per_code": 20}), ctx)
    assert res["infogan_cat_accuracy"] == out["accuracy"]
    assert METRICS.get("infogan-accuracy").tags["results"] == ("infogan_cat_accuracy",)


def test_q_as_a_classifier_of_real_images_by_hand():
    # The paper's measure: Q's most likely code for each real image, matched
    # to the true classes. A stand-in trunk passes the label through; Q's
    # logits put code perm[y] first, except for class 4 (errors by hand).
    from ganscape.metrics.infogan import q_classifier_accuracy
    from ganscape.nets.infogan import QOutput

    perm = torch.tensor([3, 7, 0, 9, 1, 5, 2, 8, 4, 6])
    y = torch.arange(10).repeat(3)               # 30 "images", 3 per class
    x = y.float()[:, None]

    class Trunk(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def features(self, x):
            return x

    class StubQ(torch.nn.Module):
        code_spec = CodeSpec((10,), 0, 0)

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, h):
            code = perm[h[:, 0].long()].clone()
            code[h[:, 0] == 4] = perm[5]   # every image of class 4 read as class 5's code
            logits = torch.nn.functional.one_hot(code, 10).float()
            return QOutput([logits], torch.zeros(len(h), 0), torch.zeros(len(h), 0), torch.zeros(len(h), 0))

    D, Q = Trunk().train(), StubQ().train()
    out = q_classifier_accuracy(D, Q, x[:10], y[:10], batch_size=3)
    # class 4 read as code perm[5]: code perm[4] is unused, so 9 of 10 match
    assert out["accuracy"] == pytest.approx(9 / 10)
    assert out["mapping"][int(perm[7])] == 7 and D.training and Q.training
    out = q_classifier_accuracy(D, Q, x, y)
    assert out["accuracy"] == pytest.approx(27 / 30)


def test_q_test_accuracy_of_a_run_scores_its_d_and_q_on_the_test_split(tmp_path):
    from ganscape.metrics.infogan import q_classifier_accuracy, q_test_accuracy
    t = _tree(z_dim=6, learn_std=False)
    t.update(name="infogan-q")
    t["train"].update(steps=2, batch_size=8, sample_every=0, checkpoint_every=0)
    run = ganscape.train(from_dict(t), run_dir=tmp_path / "run")
    out = q_test_accuracy(run)
    cfg, _, state, _ = _build(z_dim=6, learn_std=False)
    ck = ckpt_io.load(run / "checkpoints" / "latest.pt")
    state.nets["D"].load_state_dict(ck["nets"]["D"])
    state.nets["Q"].load_state_dict(ck["nets"]["Q"])
    test = load_data(cfg, "test")
    expected = q_classifier_accuracy(state.nets["D"], state.nets["Q"], test.floats(), test.y)
    assert out["accuracy"] == expected["accuracy"] and out["step"] == 2
    assert out["confusion"].sum() == 300
    train = q_test_accuracy(run, split="train")  # the split settings are chosen on: its labels are never trained on
    assert train["confusion"].sum() == len(load_data(cfg, "train").y) == 1497
    with pytest.raises(ConfigError, match="split must be"):
        q_test_accuracy(run, split="val")


# ---- clear errors ----
@pytest.mark.parametrize("change,match", [
    ({"method": {"categorical": [1]}}, "at least 2 values"),
    ({"method": {"categorical": [], "continuous": 0}}, "at least one code"),
    ({"method": {"continuous": -1}}, "continuous: must be >= 0"),
    ({"method": {"info_weight": -1.0}}, "info_weight"),
    ({"method": {"noise_std": 0.0}}, "noise_std: must be > 0"),
    ({"method": {"noise_weight": -1.0}}, "noise_weight"),
])
def test_bad_codes_are_clear_errors(change, match):
    t = _tree()
    t["method"]["params"].update(change["method"])
    with pytest.raises(ConfigError, match=match):
        from_dict(t)


def test_codes_larger_than_z_and_unsuitable_nets_are_clear_errors():
    with pytest.raises(ConfigError, match="leaves no incompressible noise"):
        _build(z_dim=3)  # 1 categorical + 2 continuous codes take all 3 slots
    t = _tree()
    t["model"]["discriminator"]["pack"] = 2
    with pytest.raises(ConfigError, match="packing"):
        build_state(from_dict(t), (1, 8, 8), torch.device("cpu"), 10)
    t = _tree()
    t["model"]["generator"]["cond"] = "concat"
    with pytest.raises(ConfigError, match="cgan"):
        build_state(from_dict(t), (1, 8, 8), torch.device("cpu"), 10)


def test_the_preset_builds():
    cfg = ganscape.make_config("infogan-digits", overrides=["train.steps=1"])
    assert cfg.method.name == "infogan"
    state, _ = build_state(cfg, (1, 8, 8), torch.device("cpu"), 10)
    G = state.nets["G"]
    assert G.noise_dim == 62 and G.code_spec == CodeSpec((10,), 2, 0)
    # batch norm in D, as the official InfoGAN discriminator
    assert cfg.model.discriminator.norm.name == "batch"
