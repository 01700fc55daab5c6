"""The SeqGAN oracle: its likelihood by a hand-written LSTM and by exact
enumeration, its entropy estimate, and the saved file."""
import itertools
import math

import pytest
import torch

from ganscape.data.oracle import OracleLSTM, OracleParams, oracle_data
from ganscape.registry import DATASETS, ConfigError


def manual_log_prob(o: OracleLSTM, x: torch.Tensor) -> torch.Tensor:
    """The LSTM equations written out (PyTorch's gate order i, f, g, o)."""
    W_ih, W_hh = o.lstm.weight_ih_l0, o.lstm.weight_hh_l0
    b = o.lstm.bias_ih_l0 + o.lstm.bias_hh_l0
    H = W_hh.shape[1]
    out = torch.zeros(x.shape)
    for r, seq in enumerate(x):
        h, c = torch.zeros(H), torch.zeros(H)
        prev = o.vocab_size  # BOS
        for t, tok in enumerate(seq.tolist()):
            z = W_ih @ o.emb.weight[prev] + W_hh @ h + b
            i, f, g, oo = torch.sigmoid(z[:H]), torch.sigmoid(z[H:2 * H]), torch.tanh(z[2 * H:3 * H]), \
                torch.sigmoid(z[3 * H:])
            c = f * c + i * g
            h = oo * torch.tanh(c)
            logits = o.head.weight @ h + o.head.bias
            out[r, t] = logits[tok] - torch.logsumexp(logits, 0)
            prev = tok
    return out


def test_weights_are_standard_normal():
    o = OracleLSTM(5000, 32, 32, 20, seed=0)
    w = torch.cat([p.flatten() for p in o.parameters()])
    assert len(w) > 300_000
    assert abs(w.mean().item()) < 0.01 and abs(w.std().item() - 1.0) < 0.01
    assert not any(p.requires_grad for p in o.parameters())
    o2 = OracleLSTM(5000, 32, 32, 20, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(o.parameters(), o2.parameters()))


def test_one_bias_vector_per_gate_as_seqgans_oracle():
    """SeqGAN's target LSTM has one N(0, 1) bias per gate; torch's LSTM adds
    bias_ih + bias_hh, so drawing both gave an N(0, 2) bias (issue 17, item 7)."""
    o = OracleLSTM(50, 8, 512, 5, seed=3)
    assert torch.count_nonzero(o.lstm.bias_hh_l0) == 0
    b = o.lstm.bias_ih_l0 + o.lstm.bias_hh_l0                  # the bias each gate sees: 2048 draws
    assert abs(b.std().item() - 1.0) < 0.06                     # two N(0, 1) vectors: std 1.41
    # the hand-written LSTM (one summed bias) still agrees with the module
    x = torch.randint(0, 50, (4, 5), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(o.log_prob(x), manual_log_prob(o, x), atol=1e-4, rtol=1e-4)


def test_log_prob_by_hand_and_by_enumeration():
    o = OracleLSTM(vocab_size=3, emb_dim=2, hidden_dim=2, length=3, seed=4)
    xs = torch.tensor(list(itertools.product(range(3), repeat=3)))
    lp = o.log_prob(xs)
    torch.testing.assert_close(lp, manual_log_prob(o, xs), atol=1e-5, rtol=1e-5)
    p = lp.sum(1).exp()
    torch.testing.assert_close(p.sum(), torch.tensor(1.0))
    # the exact entropy per token against the Monte Carlo NLL of the oracle's own samples
    exact = -(p * lp.sum(1)).sum().item() / 3
    mc = o.entropy_rate_estimate(40000, torch.Generator().manual_seed(0))
    assert mc == pytest.approx(exact, abs=0.02)
    # samples follow the enumerated distribution
    s = o.sample(30000, torch.Generator().manual_seed(1))
    freq = torch.bincount(s[:, 0] * 9 + s[:, 1] * 3 + s[:, 2], minlength=27).float() / len(s)
    assert (freq - p).abs().max() < 0.012


def test_sampler_never_draws_a_zero_probability_id():
    o = OracleLSTM(vocab_size=5, emb_dim=2, hidden_dim=2, length=4, seed=0)
    with torch.no_grad():
        o.head.weight.zero_()
        o.head.bias.copy_(torch.tensor([0.0, -math.inf, math.log(3.0), -math.inf, 0.0]))  # p = 1/5, 0, 3/5, 0, 1/5
    s = o.sample(5000, torch.Generator().manual_seed(0), batch=700)  # batches of 700: the last one is short
    freq = torch.bincount(s.flatten(), minlength=5).float() / s.numel()
    assert freq[1] == 0 and freq[3] == 0
    torch.testing.assert_close(freq, torch.tensor([0.2, 0.0, 0.6, 0.0, 0.2]), atol=0.01, rtol=0)  # sd 0.003
    assert o.sample(0, torch.Generator()).shape == (0, 4)


def test_nll_checks_its_input():
    o = OracleLSTM(vocab_size=5, emb_dim=2, hidden_dim=2, length=4)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        o.nll(torch.zeros(3, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        o.nll(torch.full((3, 4), 5))
    uniform = o.nll(torch.randint(0, 5, (20000, 4), generator=torch.Generator().manual_seed(0)))
    assert uniform > o.entropy_rate_estimate(20000, torch.Generator().manual_seed(0))


PARAMS = {"vocab_size": 50, "length": 6, "n_train": 300, "n_test": 40}


def test_data_set_is_fixed_by_the_oracle_seed_not_the_run_seed():
    a = DATASETS.build("oracle", PARAMS, "train", 0)
    b = DATASETS.build("oracle", PARAMS, "train", 7)
    t = DATASETS.build("oracle", PARAMS, "test", 0)
    assert a.kind == "tokens" and a.vocab_size == 50 and a.floats().shape == (300, 6) and t.floats().shape == (40, 6)
    assert torch.equal(a.floats(), b.x) and not torch.equal(a.floats()[:40], t.floats())
    c = DATASETS.build("oracle", {**PARAMS, "oracle_seed": 1}, "train", 0)
    assert not torch.equal(a.floats(), c.floats())
    # the training data are the oracle's samples: their NLL is its entropy estimate, not a random generator's
    o = a.info["oracle"]
    assert o.nll(a.floats()) == pytest.approx(o.entropy_rate_estimate(3000, torch.Generator().manual_seed(5)), abs=0.15)
    assert o.nll(a.floats()) < o.nll(torch.randint(0, 50, (300, 6))) - 0.5


def test_saved_with_the_data(tmp_path):
    path = tmp_path / "oracle.pt"
    params = {**PARAMS, "path": str(path)}
    a = DATASETS.build("oracle", params, "train", 0)
    assert path.exists()
    oracle_data.cache_clear()
    b = DATASETS.build("oracle", params, "train", 0)  # loaded from the file
    assert torch.equal(a.floats(), b.x)
    assert all(torch.equal(p, q) for p, q in zip(a.info["oracle"].parameters(), b.info["oracle"].parameters()))
    # the file wins over the seed: it is the data
    d = torch.load(path, weights_only=True)
    d["train"] = torch.zeros_like(d["train"])
    torch.save(d, path)
    oracle_data.cache_clear()
    assert DATASETS.build("oracle", params, "train", 0).floats().sum() == 0
    oracle_data.cache_clear()
    with pytest.raises(ConfigError, match=r"different vocab_size \(50 in the file, 60 asked\)"):
        DATASETS.build("oracle", {**params, "vocab_size": 60}, "train", 0)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["oracle.pt"]  # no temporary file left behind
    d = torch.load(path, weights_only=True)
    d["oracle"]["head.bias"] = torch.zeros(7)
    torch.save(d, path)
    oracle_data.cache_clear()
    with pytest.raises(ConfigError, match="oracle weights do not fit an LSTM of these params"):
        DATASETS.build("oracle", params, "train", 0)
    torch.save({"something": torch.zeros(3)}, path)
    oracle_data.cache_clear()
    with pytest.raises(ConfigError, match="not a readable oracle file .*KeyError"):
        DATASETS.build("oracle", params, "train", 0)
    # a file written by the old two-bias oracle (no format in its key) is another oracle: refused
    DATASETS.build("oracle", {**params, "path": str(tmp_path / "new.pt")}, "train", 0)
    d = torch.load(tmp_path / "new.pt", weights_only=True)
    del d["params"]["format"]
    torch.save(d, path)
    oracle_data.cache_clear()
    with pytest.raises(ConfigError, match="older ganscape .*two bias vectors per gate.*delete it"):
        DATASETS.build("oracle", params, "train", 0)
    path.write_bytes(path.read_bytes()[:100])  # truncated
    oracle_data.cache_clear()
    with pytest.raises(ConfigError, match="not a readable oracle file"):
        DATASETS.build("oracle", params, "train", 0)


def test_bad_params():
    with pytest.raises(ConfigError, match="vocab_size"):
        OracleParams(vocab_size=1).validate("data.params")
    with pytest.raises(ConfigError, match="unknown key"):
        DATASETS.build("oracle", {"vocab": 10}, "train", 0)
    assert math.isfinite(OracleLSTM(4, 2, 2, 3).nll(torch.zeros(2, 3, dtype=torch.long)))
