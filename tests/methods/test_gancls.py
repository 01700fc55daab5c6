"""Method gancls (Reed et al. 2016): the matching-aware discriminator's three terms and GAN-INT's
generator term by hand, the attribute encoder's vectors, training with a bit-exact resume, sampling
from prompts and from tokens, and the settings it refuses."""
import math

import pytest
import torch

import ganscape
from ganscape.config import from_dict
from ganscape.data import captions as C
from ganscape.registry import ConfigError
from ganscape.train import rundir
from ganscape.train.state import DataSpec, build_state, load_data


def tree(steps, **method):
    return {"data": {"name": "shapes-captions", "params": {"size": 16, "n": 64, "n_test": 16,
                                                           "captions_per_combo": 3}},
            "model": {"z_dim": 4,
                      "generator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 1}}, "norm": "batch"},
                      "discriminator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 1}}, "norm": "none"}},
            "eval": {"metrics": []}, "loss": {"name": "ns"},
            "method": {"name": "gancls", "params": {"text_dim": 8, "embed_dim": 4, "d_hidden": 8, **method}},
            "optim": {"generator": {"name": "adam", "params": {"lr": 0.001}},
                      "discriminator": {"name": "adam", "params": {"lr": 0.001}}},
            "train": {"steps": steps, "batch_size": 8, "log_every": 1, "sample_every": 0, "checkpoint_every": 2,
                      "latest_every": 2, "progress": False, "num_samples": 4}}


def _state(**method):
    cfg = from_dict(tree(1, **method))
    data = load_data(cfg, "train")
    state, m = build_state(cfg, DataSpec.of(data), torch.device("cpu"))
    return state, m, data


def _log_sig(v):
    return torch.log(torch.sigmoid(v))


def _tokens(data, combos, j=0):
    return torch.as_tensor(data.info["captions"]["tokens"][combos, j])


@pytest.mark.parametrize("mismatch", [True, False])
def test_discriminator_terms_by_hand(mismatch):
    """L_D = -[log s_r + (log(1 - s_w) + log(1 - s_f)) / 2] with mismatched pairs (Reed et al., Alg. 1),
    -[log s_r + log(1 - s_f)] without; s = sigmoid(D logit); wrong text = the previous example's."""
    state, m, data = _state(mismatch=mismatch)
    G, D = state.nets["G"], state.nets["D"]
    real = data.x[:4]
    t = _tokens(data, [0, 50, 100, 150])                # four different combinations
    wrong = t[[3, 0, 1, 2]]
    torch.manual_seed(5)
    with torch.no_grad():
        fake = G(G.sample_z(4), t)
        s_r, s_w, s_f = D(real, t), D(real, wrong), D(fake, t)
    want = -_log_sig(s_r).mean()
    if mismatch:
        want = want - 0.5 * (_log_sig(-s_w).mean() + _log_sig(-s_f).mean())
    else:
        want = want - _log_sig(-s_f).mean()
    torch.manual_seed(5)
    stats = m.d_step(state, real, False, t)
    assert float(stats["d_loss"]) == pytest.approx(float(want), rel=1e-5)


def test_wrong_text_skips_a_neighbour_with_the_same_attributes():
    _, m, data = _state()
    t = torch.cat([_tokens(data, [7], 0), _tokens(data, [7], 1), _tokens(data, [9], 0)])   # 0 and 1: same combo
    got = m.neighbours(t)
    assert torch.equal(got[0], t[2]) and torch.equal(got[1], t[2]) and torch.equal(got[2], t[1])


def test_gan_int_term_by_hand():
    """G's extra term: interpolate * -log sigmoid(D(G(z, e_G), e_D)) with e = project(b phi(t1) + (1-b) phi(t2))
    in each player's own encoder, t2 the neighbour's caption."""
    state, m, data = _state(interpolate=2.0, beta=0.25)
    G, D = state.nets["G"], state.nets["D"]
    t = _tokens(data, [3, 60, 120])
    t2 = t[[2, 0, 1]]
    mix = lambda net: net.text.project(0.25 * net.text.encoder(t) + 0.75 * net.text.encoder(t2))  # noqa: E731
    torch.manual_seed(2)
    with torch.no_grad():
        want = -2.0 * _log_sig(D.score_embedding(G.from_embedding(G.sample_z(3), mix(G)), mix(D))).mean()
        torch.manual_seed(2)
        got, stats = m.g_extra(D, None, t)
    assert float(got) == pytest.approx(float(want), rel=1e-5)
    assert float(stats["gancls/g_int"]) == pytest.approx(float(want) / 2.0, rel=1e-5)


def test_attribute_encoder_gives_each_captions_attribute_vector():
    state, _, data = _state(encoder="attributes")
    tab = data.info["captions"]
    phi = state.nets["G"].text.encoder(torch.as_tensor(tab["tokens"]).reshape(-1, C.max_words()))
    assert phi.shape == (180 * 3, 16)
    combos = torch.as_tensor(tab["attributes"]).repeat_interleave(3, 0)
    offsets = torch.tensor([0, 3, 9])
    assert torch.equal(phi[:, :11].nonzero()[:, 1].view(-1, 3), combos[:, :3] + offsets)
    pos = phi[:, 11:]                                   # top, bottom, left, right, centre
    want = torch.tensor([[1, 0, 1, 0, 0], [1, 0, 0, 1, 0], [0, 1, 1, 0, 0], [0, 1, 0, 1, 0], [0, 0, 0, 0, 1.]])
    assert torch.equal(pos, want[combos[:, 3]])


@pytest.mark.parametrize("encoder,g_cond", [("gru", "cbn"), ("bag", "cbn"), ("attributes", "concat")])
def test_every_encoder_and_conditioning_steps(encoder, g_cond):
    """One step of each text encoder and each way G reads the text; cbn starts as plain batch norm (its
    gamma and beta maps are zero), so the text reaches G's output only after a step."""
    from ganscape.methods.base import Batch
    state, m, data = _state(encoder=encoder, g_cond=g_cond, interpolate=1.0)
    G = state.nets["G"]
    z = torch.randn(4, 4)
    t1, t2 = _tokens(data, [0, 0, 0, 0]), _tokens(data, [99, 99, 99, 99])
    with torch.no_grad():
        same = torch.allclose(G(z, t1), G(z, t2))
    assert same == (g_cond == "cbn")
    stats = m.step(state, [Batch(data.x[:8], data.y[:8])], True)
    assert all(math.isfinite(float(v)) for v in stats.values())
    if g_cond == "cbn":
        with torch.no_grad():
            assert not torch.allclose(G(z, t1), G(z, t2))


def test_trains_and_resumes_bit_exactly(tmp_path, same_checkpoints):
    full = ganscape.train(from_dict(tree(4, interpolate=1.0)), run_dir=tmp_path / "full")
    stats = rundir.read_jsonl(full / "stats.jsonl")
    assert len(stats) == 4 and all(math.isfinite(v) for r in stats for v in r.values())
    assert all("gancls/g_int" in r for r in stats)
    half = ganscape.train(from_dict(tree(2, interpolate=1.0)), run_dir=tmp_path / "half")
    ganscape.resume(half, steps=4)
    same_checkpoints(full, half)
    x = ganscape.sample(full, n=5)
    assert x.shape == (5, 3, 16, 16) and torch.isfinite(x).all()
    G = ganscape.load_generator(full)
    assert G.num_classes == 180
    with torch.no_grad():   # a caption's tokens in place of a prompt id
        y = C.tokenize(["a large blue triangle", "a tiny red dot in the middle"], C.max_words())
        assert torch.isfinite(G(torch.zeros(2, 4), y)).all()


def test_sample_text_from_the_command_line(tmp_path, capsys):
    from ganscape.cli import main
    run = ganscape.train(from_dict(tree(2)), run_dir=tmp_path / "run")
    assert main(["sample", str(run), "--text", "a large blue triangle", "-n", "4", "--out",
                 str(tmp_path / "grid.png")]) == 0
    from PIL import Image
    assert Image.open(tmp_path / "grid.png").size[0] > 2 * 16
    a = ganscape.api.sample_text(run, "a large blue triangle", n=3, seed=1)
    b = ganscape.api.sample_text(run, "a large blue triangle", n=3, seed=1)
    c = ganscape.api.sample_text(run, "a tiny red dot in the middle", n=3, seed=1)
    assert torch.equal(a, b) and not torch.equal(a, c)         # the same latents: the text changes the image
    assert main(["sample", str(run), "--text", "a plaid hexagon", "--out", str(tmp_path / "g.png")]) == 2
    assert "'plaid' is not in the vocabulary" in capsys.readouterr().err


def test_refuses_what_it_cannot_do(tmp_path):
    t = tree(1)
    t["data"] = {"name": "digits"}
    with pytest.raises(ConfigError, match="method gancls needs a captioned data set"):
        ganscape.train(from_dict(t), run_dir=tmp_path / "a")
    t = tree(1)
    t["model"]["generator"]["cond"] = "cbn"
    with pytest.raises(ConfigError, match="method gancls conditions its nets on text itself"):
        ganscape.train(from_dict(t), run_dir=tmp_path / "b")
    for bad, msg in (({"encoder": "lstm"}, "encoder: 'lstm' is not allowed"), ({"beta": 2.0}, "beta: must lie")):
        with pytest.raises(ConfigError, match=msg):
            from_dict(tree(1, **bad))
