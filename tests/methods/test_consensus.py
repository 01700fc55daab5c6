"""Method consensus (Mescheder et al. 2017) and the gan method's instance noise: one consensus step
against the update worked by hand on the Dirac-GAN, a few steps on digits with a bit-exact resume, the
settings it refuses; instance noise drawn per example of the global batch."""
import math

import numpy as np
import pytest
import torch

import ganscape
from ganscape import ranks
from ganscape.api import make_config
from ganscape.config import apply_overrides, from_dict
from ganscape.registry import ConfigError
from ganscape.train import rundir
from ganscape.train.state import DataSpec, build_state

from ganscape.methods.base import Batch


def _sig(t):
    return 1.0 / (1.0 + math.exp(-t))


@pytest.mark.parametrize("gamma", [0.0, 1.0, 3.0])
def test_one_step_is_the_papers_update(gamma):
    """Dirac-GAN, minimax loss, at (theta, psi) = (0.7, -0.4): L_D = sp(0) + sp(psi theta), L_G = -sp(psi theta);
    g = (dL_G/dtheta, dL_D/dpsi) = (-psi s, theta s), s = sigmoid(psi theta); L = 1/2 (theta^2 + psi^2) s^2;
    each player steps by lr (g + gamma dL)."""
    cfg = apply_overrides(make_config("dirac-gan"), [f"method={{name: consensus, params: {{gamma: {gamma}}}}}"])
    state, method = build_state(cfg, DataSpec((1,), 0, "points"), torch.device("cpu"))
    th, ps, h = 0.7, -0.4, 0.1
    with torch.no_grad():
        state.nets["G"].theta.fill_(th)
        state.nets["D"].psi.fill_(ps)
    stats = method.step(state, [Batch(torch.zeros(8, 1))], True)
    s = _sig(ps * th)
    ds = s * (1 - s)
    L_theta = th * s * s + (th * th + ps * ps) * s * ds * ps
    L_psi = ps * s * s + (th * th + ps * ps) * s * ds * th
    assert float(state.nets["G"].theta.detach()) == pytest.approx(th - h * (-ps * s + gamma * L_theta), abs=1e-6)
    assert float(state.nets["D"].psi.detach()) == pytest.approx(ps - h * (th * s + gamma * L_psi), abs=1e-6)
    assert float(stats["consensus"]) == pytest.approx(0.5 * (th * th + ps * ps) * s * s, abs=1e-6)


def tree(steps, **method):
    return {"data": {"name": "digits"}, "model": {"z_dim": 4,
            "generator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 1}}, "norm": "batch"},
            "discriminator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 1}}, "norm": "none"}},
            "eval": {"metrics": []}, "loss": {"name": "ns"}, "penalties": [{"name": "r1", "params": {"weight": 1.0}}],
            "method": {"name": "consensus", "params": {"gamma": 1.0, **method}},
            "optim": {"generator": {"name": "rmsprop", "params": {"lr": 0.001}},
                      "discriminator": {"name": "rmsprop", "params": {"lr": 0.001}}},
            "train": {"steps": steps, "batch_size": 16, "log_every": 1, "sample_every": 0, "checkpoint_every": 2,
                      "latest_every": 2, "progress": False, "num_samples": 4}}


def test_trains_on_digits_and_resumes_bit_exactly(tmp_path, same_checkpoints):
    full = ganscape.train(from_dict(tree(4, instance_noise=0.1)), run_dir=tmp_path / "full")
    stats = rundir.read_jsonl(full / "stats.jsonl")
    assert len(stats) == 4 and all(math.isfinite(v) for r in stats for v in r.values())
    assert all(r["consensus"] > 0 and "penalty/r1" in r for r in stats)
    half = ganscape.train(from_dict(tree(2, instance_noise=0.1)), run_dir=tmp_path / "half")
    ganscape.resume(half, steps=4)
    a, _ = same_checkpoints(full, half)
    first = torch.load(full / "checkpoints" / "step_000002.pt", weights_only=True)
    for net in ("G", "D"):
        assert any(not torch.equal(v, first["nets"][net][k]) for k, v in a["nets"][net].items()
                   if v.is_floating_point()), net


def test_refuses_what_it_cannot_do(tmp_path):
    t = tree(2)
    t["train"]["n_disc"] = 2
    with pytest.raises(ConfigError, match="train.n_disc: method consensus updates D and G simultaneously"):
        ganscape.train(from_dict(t), run_dir=tmp_path / "a")
    t = tree(2)
    t["method"]["params"]["gamma"] = -1.0
    with pytest.raises(ConfigError, match="gamma: must be >= 0"):
        from_dict(t)


def test_instance_noise_is_drawn_per_example_of_the_global_batch():
    cfg = apply_overrides(make_config("dirac-gan"), ["method={name: gan, params: {instance_noise: 0.5}}"])
    _, method = build_state(cfg, DataSpec((1,), 0, "points"), torch.device("cpu"))
    x = torch.arange(6.0).reshape(3, 2)
    torch.manual_seed(3)
    whole = method.noisy(torch.arange(12.0).reshape(6, 2))
    torch.manual_seed(3)
    ranks.set_ranks(1, 2)
    try:
        with ranks.sharded():
            mine = method.noisy(x + 6.0)               # rank 1 of 2: rows 3..5 of the global batch
    finally:
        ranks.set_ranks(0, 1)
    assert torch.equal(mine, whole[3:])
    np.testing.assert_allclose(float((whole - torch.arange(12.0).reshape(6, 2)).std()), 0.5, atol=0.35)
    off = apply_overrides(cfg, ["method.params.instance_noise=0.0"])
    _, plain = build_state(off, DataSpec((1,), 0, "points"), torch.device("cpu"))
    assert plain.noisy(x) is x                          # nothing drawn: runs without noise are unchanged
