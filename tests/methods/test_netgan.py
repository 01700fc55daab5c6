"""Method netgan and architecture netgan (NetGAN, Bojchevski et al. 2018): the temperature schedule and
the L2 term by hand, the generator's outputs, one step changing both nets, a bit-exact resume, refusals."""
import math

import pytest
import torch

import ganscape
from ganscape.config import from_dict
from ganscape.methods.netgan import NetGANParams, l2_loss, temperature
from ganscape.registry import ConfigError
from ganscape.train import rundir
from ganscape.train.state import DataSpec, build_state, load_data


def tree(steps, **method):
    return {"data": {"name": "graph", "params": {"graph": "karate", "n_walks": 64}},
            "model": {"z_dim": 4, "generator": {"arch": {"name": "netgan", "params": {"hidden": 8, "down": 6}}},
                      "discriminator": {"arch": {"name": "netgan", "params": {"hidden": 6, "down": 5}}}},
            "loss": {"name": "wasserstein"}, "penalties": [{"name": "gp", "params": {"weight": 10.0}}],
            "method": {"name": "netgan", "params": {"anneal_every": 2, **method}},
            "optim": {"generator": {"name": "adam", "params": {"lr": 0.001, "betas": [0.5, 0.9]}},
                      "discriminator": {"name": "adam", "params": {"lr": 0.001, "betas": [0.5, 0.9]}}},
            "eval": {"metrics": []},
            "train": {"steps": steps, "batch_size": 8, "n_disc": 2, "log_every": 1, "sample_every": 0,
                      "checkpoint_every": 2, "latest_every": 2, "progress": False, "num_samples": 4}}


def test_temperature_schedule_is_the_codes():
    p = NetGANParams()
    assert temperature(p, 0) == temperature(p, 499) == 5.0
    assert temperature(p, 500) == pytest.approx(5.0 * math.exp(-5e-5 * 500))
    assert temperature(p, 1250) == pytest.approx(5.0 * math.exp(-5e-5 * 1000))
    assert temperature(p, 10 ** 6) == 0.5


def test_l2_is_half_the_sum_of_squares_without_w_down():
    m = torch.nn.Module()
    m.a = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    m.W_down = torch.nn.Parameter(torch.tensor([100.0]))
    m.lin = torch.nn.Linear(1, 1)
    with torch.no_grad():
        m.lin.weight.fill_(3.0)
        m.lin.bias.fill_(0.5)
    assert float(l2_loss(m).detach()) == pytest.approx(0.5 * (1 + 4 + 9 + 0.25))


def test_generator_outputs_and_one_step_moves_both_nets():
    cfg = from_dict(tree(1))
    data = load_data(cfg)
    state, method = build_state(cfg, DataSpec.of(data), torch.device("cpu"))
    G, D = state.nets["G"], state.nets["D"]
    z = G.sample_z(5)
    y = G.relaxed(z, 2.0, hard=True)
    assert tuple(y.shape) == (5, 16, 34) and torch.equal(y.sum(-1), torch.ones(5, 16))
    assert set(y.unique().tolist()) <= {0.0, 1.0} and y.requires_grad        # straight-through one-hots
    s = G.relaxed(z, 2.0, relaxation="softmax")
    assert torch.allclose(s.sum(-1), torch.ones(5, 16)) and (s > 0).all()
    a = G.sample(6, generator=torch.Generator().manual_seed(1))
    b = G.sample(6, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.dtype == torch.int64 and 0 <= int(a.min()) and int(a.max()) < 34
    assert tuple(D(data.x[:3]).shape) == (3,)
    before = {k: [p.detach().clone() for p in state.nets[k].parameters()] for k in ("G", "D")}
    from ganscape.methods.base import Batch
    stats = method.step(state, [Batch(data.x[:8]), Batch(data.x[8:16])], True)
    assert float(stats["tau"]) == 5.0 and "penalty/gp" in stats
    assert all(math.isfinite(float(v)) for v in stats.values())
    for k in ("G", "D"):
        assert any(not torch.equal(p0, p) for p0, p in zip(before[k], state.nets[k].parameters())), k


def test_trains_and_resumes_bit_exactly(tmp_path, same_checkpoints):
    full = ganscape.train(from_dict(tree(4)), run_dir=tmp_path / "full")
    stats = rundir.read_jsonl(full / "stats.jsonl")
    # anneal_every 2: tau stays 5 for steps 0 and 1, then 5 exp(-5e-5 * 2) for steps 2 and 3
    assert [r["tau"] for r in stats] == pytest.approx([5.0, 5.0, 5.0 * math.exp(-1e-4), 5.0 * math.exp(-1e-4)])
    half = ganscape.train(from_dict(tree(2)), run_dir=tmp_path / "half")
    ganscape.resume(half, steps=4)
    same_checkpoints(full, half)
    x = ganscape.sample(full, n=3)
    assert tuple(x.shape) == (3, 16) and x.dtype == torch.int64


def test_refuses_what_it_cannot_do(tmp_path):
    t = tree(1)
    t["data"] = {"name": "digits"}
    with pytest.raises(ConfigError, match="netgan"):
        ganscape.train(from_dict(t), run_dir=tmp_path / "a")
    t = tree(1)
    t["model"]["generator"]["arch"] = {"name": "lstm"}
    with pytest.raises(ConfigError, match="method netgan trains the netgan nets, not 'lstm'"):
        ganscape.train(from_dict(t), run_dir=tmp_path / "b")
    with pytest.raises(ConfigError, match="relaxation: 'st' is not allowed"):
        from_dict(tree(1, relaxation="st"))
