"""VIME as a recipe (methods/vime.py): it trains every net on a sparse task
and a discrete one, its reward is the environment's plus eta x the
normalized information gain (and eta 0 is plain TRPO: the same policy
updates as method expert), the replay pool is a ring, and resuming is
bit-exact with the pool and the normalizer restored."""
import math

import pytest
import torch

pytest.importorskip("gymnasium", reason="the rl extra (gymnasium) is not installed")

import ganscape  # noqa: E402
from ganscape.config import from_dict  # noqa: E402
from ganscape.train import rundir  # noqa: E402


def tree(env_id, steps, limit, **params):
    p = {"algo": "trpo", "steps_per_iter": 150, "hidden": [16], "vf_epochs": 2, "cg_iters": 5, "lam": 1.0,
         "bnn_hidden": [8], "bnn_updates": 5, "min_pool": 100, "pool_size": 400, "weight_samples": 2, "eta": 0.1}
    p.update(params)
    return {"seed": 1, "data": "none", "env": {"id": env_id, "max_episode_steps": limit},
            "method": {"name": "vime", "params": p},
            "train": {"steps": steps, "log_every": 1, "sample_every": 0, "checkpoint_every": 0, "latest_every": 1,
                      "progress": False, "threads": 1}}


@pytest.mark.parametrize("env_id,limit", [("ganscape/SparseMountainCar-v0", 60), ("CartPole-v1", 40)])
def test_vime_trains_its_bnn_and_adds_the_bonus(env_id, limit, tmp_path):
    run = ganscape.train(from_dict(tree(env_id, 3, limit)), run_dir=tmp_path / "run")
    stats = rundir.read_jsonl(run / "stats.jsonl")
    assert all(math.isfinite(v) for r in stats for v in r.values())
    assert all(r["vime/gain"] > 0 and r["vime/bonus"] > 0 for r in stats)
    # the pool reaches min_pool at the first step (150+ transitions): the BNN trains every step
    assert all("bnn_loss" in r for r in stats)
    ck = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    assert set(ck["nets"]) == {"pi", "V", "BNN"}
    m = ck["method"]
    assert m["pool_n"] == min(400, int(stats[-1]["env_steps"])) and len(m["pool_x"]) == m["pool_n"]
    assert m["pool_next"] == int(stats[-1]["env_steps"]) % 400   # a ring of pool_size
    assert len(m["normalizer"]["medians"]) == 3


def test_the_bonus_is_eta_times_the_normalized_gain(tmp_path):
    """After the first step the normalizer holds one median: the bonus's mean is eta x mean(gain) / median."""
    run = ganscape.train(from_dict(tree("CartPole-v1", 1, 40, eta=0.5)), run_dir=tmp_path / "run")
    r = rundir.read_jsonl(run / "stats.jsonl")[0]
    median = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)["method"]["normalizer"]["medians"][0]
    assert r["vime/bonus"] == pytest.approx(0.5 * r["vime/gain"] / median, rel=1e-5)


def test_eta_zero_is_plain_trpo(tmp_path):
    """eta 0: no bonus and no BNN training, the same policy as method expert with the same settings."""
    t = tree("CartPole-v1", 2, 40, eta=0.0)
    vime = ganscape.train(from_dict(t), run_dir=tmp_path / "vime")
    expert = dict(t)
    expert["method"] = {"name": "expert", "params": {k: v for k, v in t["method"]["params"].items()
                                                     if k in ("algo", "steps_per_iter", "hidden", "vf_epochs",
                                                              "cg_iters", "lam")}}
    exp = ganscape.train(from_dict(expert), run_dir=tmp_path / "expert")
    a = torch.load(vime / "checkpoints" / "latest.pt", weights_only=True)["nets"]["pi"]
    b = torch.load(exp / "checkpoints" / "latest.pt", weights_only=True)["nets"]["pi"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert all("bnn_loss" not in r and "vime/bonus" not in r for r in rundir.read_jsonl(vime / "stats.jsonl"))


@pytest.mark.parametrize("bonus", ["vime", "l2"])
def test_resume_is_bit_exact(bonus, tmp_path, same_checkpoints):
    t = tree("ganscape/SparseMountainCar-v0", 4, 60, bonus=bonus)
    full = ganscape.train(from_dict(t), run_dir=tmp_path / "full")
    t["train"]["steps"] = 2
    half = ganscape.train(from_dict(t), run_dir=tmp_path / "half")
    ganscape.resume(half, steps=4)
    a, b = same_checkpoints(full, half)
    assert a["method"]["normalizer"] == b["method"]["normalizer"]
    assert torch.equal(a["method"]["pool_x"], b["method"]["pool_x"])
    assert rundir.read_jsonl(full / "stats.jsonl")[-1] == {**rundir.read_jsonl(half / "stats.jsonl")[-1],
                                                           "sec_per_step": rundir.read_jsonl(full / "stats.jsonl")[-1]["sec_per_step"]}
