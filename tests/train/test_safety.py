"""Data safety of the run folder (issue 6, items 1-8 and 12): corrupt
checkpoints are moved aside and never rotated over good ones, broken weights
are never saved, eval records survive a resume, kept checkpoints lost to a
kill are rewritten, failed writes end in status "failed", configs are
validated up front and compared on resume."""
import errno
import json
import warnings

import pytest
import torch

import ganscape
from ganscape.config import ConfigError, from_dict
from ganscape.train import checkpoint as ckpt_io
from ganscape.train import rundir
from ganscape.train.loop import RunFailed


def _train(tree, tmp_path, name="run", **changes):
    tree["train"].update(changes)
    return ganscape.train(from_dict(tree), run_dir=tmp_path / name)


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


# ---- 1. a corrupt latest.pt is never rotated over a good previous.pt ----------------
def test_corrupt_latest_is_moved_aside_and_never_rotated_over_previous(tiny_tree, tmp_path, monkeypatch):
    run = _train(tiny_tree, tmp_path, steps=100, latest_every=50, checkpoint_every=0)
    ck = run / "checkpoints"
    assert ckpt_io.load(ck / "previous.pt")["step"] == 50
    with open(ck / "latest.pt", "r+b") as f:
        f.truncate(1000)
    # the next write fails (the recipe: a folder where the temp file goes)
    real_write = ckpt_io._write_file

    def fail_once(tmp, payload):
        monkeypatch.setattr(ckpt_io, "_write_file", real_write)
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(ckpt_io, "_write_file", fail_once)
    with pytest.warns(ckpt_io.CheckpointWarning, match=r"latest\.pt is truncated or corrupt; moved aside to "
                                                      r"latest\.pt\.corrupt"):
        with pytest.raises(RunFailed, match="input/output error"):
            ganscape.resume(run, steps=200)
    assert (ck / "latest.pt.corrupt").exists() and not (ck / "latest.pt").exists()
    assert ckpt_io.load(ck / "previous.pt")["step"] == 50
    assert not list(ck.glob("*.tmp"))
    # and the second resume still finds the good checkpoint and finishes
    ganscape.resume(run, steps=120)
    assert ckpt_io.load(ck / "latest.pt")["step"] == 120
    assert ckpt_io.load(ck / "previous.pt")["step"] == 100


def test_save_latest_moves_a_corrupt_latest_aside_instead_of_rotating_it(tmp_path):
    ckpt_io.save_latest(tmp_path, {"step": 1})
    ckpt_io.save_latest(tmp_path, {"step": 2})
    (tmp_path / "latest.pt").write_bytes(b"garbage")
    with pytest.warns(ckpt_io.CheckpointWarning, match="moved aside to latest.pt.corrupt"):
        ckpt_io.save_latest(tmp_path, {"step": 3})
    assert ckpt_io.load(tmp_path / "latest.pt")["step"] == 3
    assert ckpt_io.load(tmp_path / "previous.pt")["step"] == 1
    assert (tmp_path / "latest.pt.corrupt").read_bytes() == b"garbage"


def test_a_failed_write_leaves_latest_and_previous_untouched(tmp_path, monkeypatch):
    ckpt_io.save_latest(tmp_path, {"step": 1})
    ckpt_io.save_latest(tmp_path, {"step": 2})

    def disk_full(tmp, payload):
        tmp.write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt_io, "_write_file", disk_full)
    with pytest.raises(ckpt_io.WriteError, match=r"cannot write .*latest\.pt: no space left on device"):
        ckpt_io.save_latest(tmp_path, {"step": 3})
    assert _names(tmp_path) == ["latest.pt", "previous.pt"]
    assert ckpt_io.load(tmp_path / "latest.pt")["step"] == 2
    assert ckpt_io.load(tmp_path / "previous.pt")["step"] == 1


def test_checkpoint_fallback_warning_is_one_line(tmp_path):
    ckpt_io.save_latest(tmp_path, {"step": 1})
    ckpt_io.save_latest(tmp_path, {"step": 2})
    # a pickle with a global weights_only refuses: torch's message is paragraphs long
    import pickle
    (tmp_path / "latest.pt").write_bytes(pickle.dumps(warnings.WarningMessage))
    with pytest.warns(ckpt_io.CheckpointWarning) as rec:
        ckpt, path = ckpt_io.load_newest(tmp_path)
    assert ckpt["step"] == 1 and path.name == "previous.pt"
    assert len(rec) == 1 and "\n" not in str(rec[0].message) and "weights_only" not in str(rec[0].message)


# ---- 2. no checkpoint with NaN/Inf weights; sample refuses a broken generator -------
def test_infinite_weights_with_finite_losses_stop_the_run_before_they_are_saved(tiny_tree, tmp_path):
    tiny_tree.update(loss="wasserstein",
                     optim={"generator": {"name": "sgd", "params": {"lr": 1e10}},
                            "discriminator": {"name": "sgd", "params": {"lr": 1e10}}})
    run = _train(tiny_tree, tmp_path, steps=200, latest_every=1, log_every=1, ema_decay=0.0, checkpoint_every=0)
    status = rundir.read_status(run)
    assert status["status"] == "diverged"
    for name in ("latest.pt", "previous.pt"):
        p = run / "checkpoints" / name
        if p.exists():
            ck = ckpt_io.load(p)
            assert all(torch.isfinite(t).all() for t in ck["nets"]["G"].values()), name
            assert all(torch.isfinite(t).all() for t in ck["nets"]["D"].values()), name
    assert status["checkpoint_step"] == ckpt_io.load(run / "checkpoints" / "latest.pt")["step"]


def test_all_finite_checks_parameters_and_buffers():
    net = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))
    assert ckpt_io.all_finite([net])
    net[1].running_var[1] = float("inf")
    assert not ckpt_io.all_finite([net])
    net[1].running_var[1] = 1.0
    with torch.no_grad():
        net[0].weight[0, 0] = float("nan")
    assert not ckpt_io.all_finite([net])


# ---- 3. a fallback resume keeps what `ganscape eval` wrote -------------------------
def test_fallback_resume_keeps_eval_records(tiny_tree, tmp_path):
    run = _train(tiny_tree, tmp_path, steps=20, latest_every=5, checkpoint_every=0)
    metrics = run / "metrics.jsonl"
    rundir.append_jsonl(metrics, {"step": 20, "results": {"fid": 1.0}})               # ganscape eval
    rundir.append_jsonl(metrics, {"step": 20, "source": "train", "results": {"fid": 2.0}})  # training
    rundir.append_jsonl(metrics, {"step": 10, "source": "train", "results": {"fid": 3.0}})
    (run / "checkpoints" / "latest.pt").write_bytes(b"damaged")
    with pytest.warns(ckpt_io.CheckpointWarning):
        ganscape.resume(run, steps=15)
    kept = rundir.read_jsonl(metrics)
    assert [r["results"]["fid"] for r in kept] == [1.0, 3.0]


# ---- 4. orphaned temp files are cleaned; a kept checkpoint lost to a kill returns ---
def test_orphan_temp_files_are_removed_and_a_lost_kept_checkpoint_is_rewritten(tiny_tree, tmp_path):
    run = _train(tiny_tree, tmp_path, steps=20, checkpoint_every=10, latest_every=5)
    ck = run / "checkpoints"
    # a kill during the step-20 write: the kept file is gone, its temp file stays
    (ck / "step_000020.pt").unlink()
    (ck / "step_000020.pt.tmp").write_bytes(b"x" * 10_000)
    (run / "status.json.tmp").write_text("{")
    ganscape.resume(run, steps=20)
    assert not list(run.rglob("*.tmp"))
    assert ckpt_io.load(ck / "step_000020.pt")["step"] == 20


def test_kept_checkpoint_is_written_before_latest(tiny_tree, tmp_path, monkeypatch):
    order = []
    real_save = ckpt_io.save

    def spy(path, payload):
        order.append(path.name)
        real_save(path, payload)

    monkeypatch.setattr(ckpt_io, "save", spy)
    monkeypatch.setattr(ckpt_io, "_commit", lambda tmp, path: (order.append(path.name), tmp.replace(path)))
    _train(tiny_tree, tmp_path, steps=10, checkpoint_every=10, latest_every=100)
    assert order.index("step_000010.pt") < order.index("latest.pt")


# ---- 6. disk full / read-only: one line, status failed, temp files gone ------------
def test_disk_full_during_a_checkpoint_fails_cleanly(tiny_tree, tmp_path, monkeypatch):
    real_write = ckpt_io._write_file
    calls = []

    def full_from_the_third(tmp, payload):
        calls.append(tmp.name)
        if len(calls) >= 3:
            tmp.write_bytes(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(tmp, payload)

    monkeypatch.setattr(ckpt_io, "_write_file", full_from_the_third)
    with pytest.raises(RunFailed) as e:
        _train(tiny_tree, tmp_path, steps=20, latest_every=5, checkpoint_every=0)
    msg = str(e.value)
    assert "\n" not in msg and "latest.pt: no space left on device" in msg and "up to step 10" in msg
    run = tmp_path / "run"
    status = rundir.read_status(run)
    assert status["status"] == "failed" and "no space left on device" in status["reason"]
    assert status["checkpoint_step"] == 10
    assert not list(run.rglob("*.tmp"))
    assert ckpt_io.load(run / "checkpoints" / "latest.pt")["step"] == 10
    assert ckpt_io.load(run / "checkpoints" / "previous.pt")["step"] == 5


# ---- 7. config errors surface before training --------------------------------------
def test_eval_best_is_checked_before_training(tiny_tree, tmp_path):
    tiny_tree["eval"] = {"metrics": ["fid"], "best": "fidd"}
    with pytest.raises(ConfigError, match=r"eval.best: 'fidd' is not a result of eval.metrics \['fid'\]; "
                                          r"choose one of: fid"):
        from_dict(tiny_tree)
    tiny_tree["eval"] = {"metrics": ["prdc", "kid"], "best": "recall"}
    assert from_dict(tiny_tree).eval.best == "recall"


def test_an_error_during_training_never_leaves_status_running(tiny_tree, tmp_path, monkeypatch):
    from ganscape.methods.gan import GAN

    def boom(self, state, reals, log):
        if state.step == 3:
            raise RuntimeError("simulated failure\nwith a second line")
        return real_step(self, state, reals, log)

    real_step = GAN.step
    monkeypatch.setattr(GAN, "step", boom)
    with pytest.raises(RuntimeError, match="simulated"):
        _train(tiny_tree, tmp_path)
    status = rundir.read_status(tmp_path / "run")
    assert status["status"] == "failed" and status["reason"] == "RuntimeError: simulated failure"


def test_batch_norm_with_a_batch_of_one_is_a_config_error(tiny_tree):
    tiny_tree["model"]["generator"]["norm"] = "batch"
    tiny_tree["train"]["batch_size"] = 1
    with pytest.raises(ConfigError, match="model.generator.norm batch needs at least 2 examples per batch"):
        from_dict(tiny_tree)


# ---- 8. resume compares config.json with the checkpoint's config --------------------
def test_resume_refuses_an_edited_architecture_or_loss_and_names_the_keys(tiny_tree, tmp_path):
    run = _train(tiny_tree, tmp_path, steps=10)
    original = (run / "config.json").read_text()
    cfg = json.loads(original)
    cfg["model"]["generator"]["arch"]["params"]["width"] = 64
    cfg["loss"] = {"name": "hinge", "params": {}}
    (run / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError) as e:
        ganscape.resume(run, steps=20)
    msg = str(e.value)
    assert "model.generator.arch.params.width: 32 in the checkpoint, 64 now" in msg
    assert "loss.name: 'ns' in the checkpoint, 'hinge' now" in msg
    assert rundir.read_status(run)["status"] == "completed"  # nothing was touched
    # sample builds the generator the weights belong to, with a warning
    with pytest.warns(UserWarning, match="differs from the config of latest.pt at"):
        x = ganscape.sample(run, n=4)
    assert x.shape == (4, 1, 8, 8)
    (run / "config.json").write_text(original)
    ganscape.resume(run, steps=20)
    assert rundir.read_status(run)["step"] == 20


def test_resume_with_allowed_changes(tiny_tree, tmp_path):
    run = _train(tiny_tree, tmp_path, steps=10)
    ganscape.resume(run, overrides=["train.steps=15", "optim.generator.params.lr=1e-5"])
    cfg = ganscape.load_run(run)
    assert cfg.train.steps == 15 and cfg.optim.generator.params["lr"] == 1e-5
    ck = ckpt_io.load(run / "checkpoints" / "latest.pt")
    assert ck["step"] == 15 and ck["config"]["optim"]["generator"]["params"]["lr"] == 1e-5
    assert ck["optims"]["G"]["param_groups"][0]["lr"] == 1e-5
    with pytest.raises(ConfigError, match="--set loss: cannot change on resume"):
        ganscape.resume(run, overrides=["loss=hinge"])
    with pytest.raises(ConfigError, match="steps: must be >= 1"):
        ganscape.resume(run, steps=-5)


# ---- 12. status.json follows the checkpoints ----------------------------------------
def test_status_step_follows_latest_and_no_false_claim_of_a_kept_checkpoint(tiny_tree, tmp_path, monkeypatch):
    from ganscape.train import loop

    seen = []
    real_save_latest = ckpt_io.save_latest

    def spy(folder, payload):
        real_save_latest(folder, payload)
        seen.append(payload["step"])

    monkeypatch.setattr(ckpt_io, "save_latest", spy)
    real_status = rundir.write_status
    statuses = []
    monkeypatch.setattr(rundir, "write_status", lambda run, s, **kw: (statuses.append((s, kw.get("step"))),
                                                                        real_status(run, s, **kw)))
    _train(tiny_tree, tmp_path, steps=20, latest_every=5, checkpoint_every=0)
    assert seen == [5, 10, 15, 20]
    assert [st for st in statuses if st[0] == "running"] == [("running", 0), ("running", 5), ("running", 10),
                                                             ("running", 15), ("running", 20)]
    # diverging before any checkpoint must not claim one was kept
    monkeypatch.setattr(loop, "_finite", lambda stats: torch.tensor(False))
    run = _train(tiny_tree, tmp_path, name="nan", steps=20, latest_every=5, log_every=1)
    status = rundir.read_status(run)
    assert status["status"] == "diverged" and "last good checkpoint" not in status["reason"]
    assert "no checkpoint had been written" in status["reason"]


def test_a_kept_checkpoint_newer_than_latest_is_preferred(tmp_path):
    ckpt_io.save_latest(tmp_path, {"step": 5})
    ckpt_io.save(ckpt_io.step_path(tmp_path, 4), {"step": 4})
    assert ckpt_io.load_newest(tmp_path)[0]["step"] == 5
    # killed after step_10.pt was written, before latest.pt moved on
    ckpt_io.save(ckpt_io.step_path(tmp_path, 10), {"step": 10})
    ckpt, path = ckpt_io.load_newest(tmp_path)
    assert ckpt["step"] == 10 and path.name == "step_000010.pt"
    (tmp_path / "step_000010.pt").write_bytes(b"bad")
    with pytest.warns(ckpt_io.CheckpointWarning):
        assert ckpt_io.load_newest(tmp_path)[0]["step"] == 5


def test_format_1_checkpoints_are_read_in_the_named_layout(tmp_path):
    g, d = {"w": torch.ones(2)}, {"w": torch.zeros(3)}
    path = tmp_path / "old.pt"
    torch.save({"format": 1, "G": g, "D": d, "opt_g": {"s": 1}, "opt_d": {"s": 2}, "G_ema": g, "step": 7}, path)
    ck = ckpt_io.load(path)
    assert ck["format"] == ckpt_io.FORMAT == 2 and ck["step"] == 7
    assert set(ck["nets"]) == {"G", "D"} and ck["optims"] == {"G": {"s": 1}, "D": {"s": 2}}
    assert torch.equal(ck["ema"]["G"]["w"], torch.ones(2)) and "G" not in ck
