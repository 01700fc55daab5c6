"""train.init_from: a run starts its nets from another run's checkpoint."""
import pytest
import torch

import ganscape
from ganscape.config import from_dict
from ganscape.registry import ConfigError
from ganscape.train.loop import warm_start
from ganscape.train.state import DataSpec, build_state, load_data

ORACLE = {"name": "oracle", "params": {"vocab_size": 20, "length": 5, "n_train": 128, "n_test": 32,
                                       "emb_dim": 4, "hidden_dim": 4}}
G = {"arch": {"name": "lstm", "params": {"emb_dim": 8, "hidden_dim": 8}}, "norm": "none"}
D = {"arch": {"name": "seq-cnn", "params": {"emb_dim": 8, "width": 0.05}}, "norm": "none"}


def tree(method, steps=3, **train):
    return {"data": ORACLE, "model": {"generator": G, "discriminator": D}, "method": method,
            "optim": {"generator": {"name": "adam", "params": {"lr": 0.01}}},
            "train": {"steps": steps, "batch_size": 16, "log_every": 1, "sample_every": 0, "checkpoint_every": 0,
                      "progress": False, **train}}


def test_seqgan_starts_from_an_mle_run(tmp_path):
    mle = ganscape.train(from_dict(tree({"name": "mle"}, steps=4)), run_dir=tmp_path / "mle")
    saved = torch.load(mle / "checkpoints" / "latest.pt", weights_only=True)["nets"]["G"]
    cfg = from_dict(tree({"name": "seqgan", "params": {"rollouts": 2}}, ema_decay=0.9))
    data = load_data(cfg, "train")
    state, _ = build_state(cfg, DataSpec.of(data), torch.device("cpu"))
    before_d = {k: v.clone() for k, v in state.nets["D"].state_dict().items()}
    done = warm_start(state, f"{mle}:latest")
    assert sorted(done) == ["G"] and "step 4" in done["G"]
    for k, v in saved.items():
        assert torch.equal(state.nets["G"].state_dict()[k], v)
        assert torch.equal(state.ema["G"].state_dict()[k], v)        # the EMA copy starts there too
    for k, v in before_d.items():                                      # D is not in the source: untouched
        assert torch.equal(state.nets["D"].state_dict()[k], v)
    # and a whole run with it trains from there
    run = ganscape.train(from_dict(tree({"name": "seqgan", "params": {"rollouts": 2}}, init_from=str(mle))),
                         run_dir=tmp_path / "seqgan")
    assert (run / "checkpoints" / "latest.pt").exists()


def test_errors_name_the_problem(tmp_path):
    mle = ganscape.train(from_dict(tree({"name": "mle"}, steps=1)), run_dir=tmp_path / "mle")
    bigger = tree({"name": "mle"})
    bigger["model"]["generator"] = {**G, "arch": {"name": "lstm", "params": {"emb_dim": 8, "hidden_dim": 16}}}
    with pytest.raises(ConfigError, match="net G of .* does not fit"):
        ganscape.train(from_dict({**bigger, "train": {**bigger["train"], "init_from": str(mle)}}),
                       run_dir=tmp_path / "b")
    assert not (tmp_path / "b").exists()                               # nothing left behind
    with pytest.raises(Exception, match="step_000007.pt does not exist"):
        ganscape.train(from_dict(tree({"name": "mle"}, init_from=f"{mle}:7")), run_dir=tmp_path / "c")


def test_a_key_added_since_a_run_was_saved_is_no_difference():
    """Runs saved before train.init_from existed still load and resume."""
    from ganscape.config import config_diff, to_plain
    cfg = from_dict(tree({"name": "mle"}))
    old = to_plain(cfg)
    del old["train"]["init_from"]
    assert config_diff(old, to_plain(cfg)) == []
    changed = to_plain(cfg)
    changed["train"]["init_from"] = "runs/x"
    assert [k for k, _, _ in config_diff(old, changed)] == ["train.init_from"]


def test_max_seconds_stops_a_run_as_completed_with_the_reason(tmp_path, monkeypatch):
    import types

    from ganscape.train import loop, rundir

    # The loop's clock, made exact: every reading is 1/16 s after the one
    # before, so each step (two readings apart) takes 1/16 s however fast
    # or loaded the machine is, and a 0.5 s budget is 8 steps.
    readings = []
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(
        perf_counter=lambda: readings.append(None) or len(readings) / 16))
    cfg = from_dict({"train": {"steps": 100000, "max_seconds": 0.5, "log_every": 1000, "sample_every": 0,
                               "checkpoint_every": 0, "progress": False}})
    run = ganscape.train(cfg, run_dir=tmp_path / "run")
    status = rundir.read_status(run)
    assert status["status"] == "completed" and status["step"] == 8
    assert "time budget reached: 0.5 s of training steps" in status["reason"]
    assert "train.max_seconds 0.5" in status["reason"]
    stats = rundir.read_jsonl(run / "stats.jsonl")
    assert stats[-1]["step"] == status["step"]            # the last step is logged
    ck = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    assert ck["step"] == status["step"]
