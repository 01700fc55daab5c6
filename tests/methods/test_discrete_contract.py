"""Contract tests for the discrete and sequence recipes: every method x net
trains a few steps with finite stats and changes every trained net, samples
and evaluates; resuming is bit-exact for each method."""
import pytest
import torch

import ganscape
from ganscape.config import from_dict
from ganscape.train import rundir

ORACLE = {"name": "oracle", "params": {"vocab_size": 30, "length": 6, "n_train": 256, "n_test": 64,
                                       "emb_dim": 4, "hidden_dim": 4}}
G_LSTM = {"arch": {"name": "lstm", "params": {"emb_dim": 8, "hidden_dim": 8}}, "norm": "none"}
G_TF = {"arch": {"name": "transformer", "params": {"d_model": 8, "heads": 2, "layers": 1}}, "norm": "none"}
D_CNN = {"arch": {"name": "seq-cnn", "params": {"emb_dim": 8, "width": 0.05}}, "norm": "none"}
D_LSTM = {"arch": {"name": "lstm", "params": {"emb_dim": 8, "hidden_dim": 8}}, "norm": "spectral"}
MLP = {"arch": {"name": "mlp", "params": {"width": 16, "depth": 1}}}
DCGAN = {"arch": {"name": "dcgan", "params": {"width": 8}}}

# name: (data, generator, discriminator, loss, penalties, method)
CASES = {
    "bgan-mlp": ({"name": "binary-digits"}, {**MLP, "norm": "batch"}, MLP, "ns", [],
                 {"name": "bgan", "params": {"samples": 4}}),
    "bgan-dcgan-dynamic": ({"name": "binary-digits", "params": {"dynamic": True}}, {**DCGAN, "norm": "batch"},
                           {**DCGAN, "norm": "spectral"}, "ns", [], {"name": "bgan", "params": {"samples": 3}}),
    "bgan-reinforce-rkl": ({"name": "binary-digits"}, MLP, MLP, {"name": "f-gan", "params": {"divergence": "reverse-kl"}},
                           [], {"name": "bgan", "params": {"samples": 4, "estimator": "reinforce",
                                                           "divergence": "reverse-kl"}}),
    "bgan-quantized-kmeans": ({"name": "quantized-digits", "params": {"levels": 3, "palette": "kmeans"}}, MLP, MLP,
                              "ns", [{"name": "r1", "params": {"weight": 1.0}}],
                              {"name": "bgan", "params": {"samples": 4}}),
    "relaxed-softmax-wgan-gp": ({"name": "quantized-digits", "params": {"levels": 4}}, MLP, MLP, "wasserstein",
                                [{"name": "gp", "params": {"weight": 10.0}}], {"name": "relaxed"}),
    "relaxed-gumbel-hard": ({"name": "binary-digits"}, {**DCGAN, "norm": "batch"}, DCGAN, "ns", [],
                            {"name": "relaxed", "params": {"relaxation": "gumbel", "hard": True,
                                                           "anneal_rate": 0.1}}),
    "mle": (ORACLE, G_LSTM, MLP, "ns", [], {"name": "mle"}),
    "seqgan-cnn": (ORACLE, G_LSTM, D_CNN, "ns", [],
                   {"name": "seqgan", "params": {"pretrain_g": 2, "pretrain_d": 2, "rollouts": 2}}),
    "seqgan-lstm": (ORACLE, G_LSTM, D_LSTM, "ns", [], {"name": "seqgan", "params": {"rollouts": 2}}),
    "maligan-cnn": (ORACLE, G_LSTM, D_CNN, "ns", [],
                    {"name": "maligan", "params": {"samples": 4, "pretrain_g": 2, "pretrain_d": 1}}),
    "maligan-kl-lstm": (ORACLE, G_LSTM, D_LSTM, {"name": "f-gan", "params": {"divergence": "kl"}}, [],
                        {"name": "maligan", "params": {"samples": 4, "divergence": "kl"}}),
    "scratchgan": (ORACLE, G_LSTM, D_LSTM, "ns", [], {"name": "scratchgan"}),
    "mle-transformer": (ORACLE, G_TF, MLP, "ns", [], {"name": "mle"}),
    "seqgan-transformer": (ORACLE, G_TF, D_CNN, "ns", [], {"name": "seqgan", "params": {"rollouts": 2}}),
}


def tree(case, steps):
    data, g, d, loss, pens, method = CASES[case]
    return {"data": data, "model": {"z_dim": 8, "generator": g, "discriminator": d},
            "loss": loss if isinstance(loss, dict) else {"name": loss}, "penalties": pens, "method": method,
            "optim": {"generator": {"name": "adam", "params": {"lr": 0.01}},
                      "discriminator": {"name": "adam", "params": {"lr": 0.01}}},
            "train": {"steps": steps, "batch_size": 16, "n_disc": 2, "log_every": 1, "sample_every": 3,
                      "checkpoint_every": 3, "latest_every": 3, "progress": False, "ema_decay": 0.9}}


@pytest.mark.parametrize("case", sorted(CASES))
def test_trains_samples_and_evaluates(case, tmp_path):
    cfg = from_dict(tree(case, 6))
    run = ganscape.train(cfg, run_dir=tmp_path / "run")
    assert rundir.read_status(run)["status"] == "completed"
    stats = rundir.read_jsonl(run / "stats.jsonl")
    assert len(stats) == 6
    for r in stats:
        for k, v in r.items():
            assert v == v and abs(v) != float("inf"), (k, v)
    ck = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    first = torch.load(run / "checkpoints" / "step_000003.pt", weights_only=True)
    for name in ck["nets"]:  # every trained net moved between steps 3 and 6
        assert any(not torch.equal(v, first["nets"][name][k]) for k, v in ck["nets"][name].items()
                   if v.is_floating_point()), name
    x = ganscape.sample(run, n=5)
    tokens = cfg.data.name == "oracle"
    if tokens:
        assert x.shape == (5, 6) and x.dtype == torch.long and (run / "samples" / "step_000006.txt").exists()
        r = ganscape.evaluate(run, metrics="oracle-nll,test-nll,ngram-diversity", n=64, record=False)["results"]
        assert set(r) == {"oracle_nll", "test_nll", "distinct1", "distinct2", "distinct3", "distinct4"}
        assert 0 < r["oracle_nll"] < 20 and 0 < r["test_nll"] < 20
    else:
        levels = torch.tensor(sorted({v for c in ganscape.api.data_info(run)["discrete"].get(
            "colors", [[-1.0], [1.0]]) for v in c}))
        assert x.shape == (5, 1, 8, 8) and torch.isin(x, levels).all()
        r = ganscape.evaluate(run, metrics="fid", n=64, record=False)["results"]
        assert r["fid"] > 0


@pytest.mark.parametrize("case", ["bgan-dcgan-dynamic", "bgan-reinforce-rkl", "relaxed-gumbel-hard", "seqgan-cnn",
                                  "maligan-cnn", "scratchgan", "mle", "seqgan-transformer"])
def test_resume_is_bit_exact(case, tmp_path, same_checkpoints):
    full = ganscape.train(from_dict(tree(case, 6)), run_dir=tmp_path / "full")
    half = ganscape.train(from_dict(tree(case, 3)), run_dir=tmp_path / "half")
    ganscape.resume(half, steps=6)
    a, b = same_checkpoints(full, half)
    assert a["method"].keys() == b["method"].keys()
    for k, v in a["method"].items():  # baselines, rollout nets
        if isinstance(v, torch.Tensor):
            assert torch.equal(v, b["method"][k]), k
        elif isinstance(v, dict):
            assert all(torch.equal(t, b["method"][k][n]) for n, t in v.items()), k


def test_token_runs_pick_token_metrics_by_default(tmp_path):
    run = ganscape.train(from_dict(tree("mle", 2)), run_dir=tmp_path / "run")
    rec = ganscape.evaluate(run, n=64, record=False)
    assert {"oracle_nll", "test_nll", "bleu2", "self_bleu2", "distinct2"} <= set(rec["results"])
    assert rec["skipped"] == ["in-vocab-words"]  # character text only
    from ganscape.registry import ConfigError
    with pytest.raises(ConfigError, match="scores images or points; for token data choose"):
        ganscape.evaluate(run, metrics="fid", n=64, record=False)
    with pytest.raises(ConfigError, match="scores character-level text"):
        ganscape.evaluate(run, metrics="in-vocab-words", n=64, record=False)


def test_method_data_mismatch_is_clear(tmp_path):
    from ganscape.registry import ConfigError
    t = tree("mle", 2)
    t["data"] = {"name": "digits"}
    with pytest.raises(ConfigError, match="method mle trains sequence generators: it needs token data"):
        ganscape.train(from_dict(t), run_dir=tmp_path / "a")
    t = tree("bgan-mlp", 2)
    t["data"] = {"name": "digits"}
    with pytest.raises(ConfigError, match="needs a data set of discrete images"):
        ganscape.train(from_dict(t), run_dir=tmp_path / "b")
    t = tree("scratchgan", 2)
    t["model"]["discriminator"] = D_CNN
    with pytest.raises(ConfigError, match="needs a discriminator with a logit per position"):
        ganscape.train(from_dict(t), run_dir=tmp_path / "c")
