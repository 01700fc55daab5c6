"""The loop end to end: run folder, bit-exact resume, damaged checkpoints,
divergence, Ctrl-C."""
import json
import os

import pytest
import torch

import ganscape
from ganscape.config import from_dict
from ganscape.train import checkpoint as ckpt_io
from ganscape.train import rundir
from ganscape.train.checkpoint import CheckpointError


def _stats(run):
    # everything but wall-clock timing
    return [{k: v for k, v in r.items() if k != "sec_per_step"} for r in rundir.read_jsonl(run / "stats.jsonl")]


def _train(tree, tmp_path, name="run", **changes):
    for k, v in changes.items():
        tree["train"][k] = v
    return ganscape.train(from_dict(tree), run_dir=tmp_path / name)


def test_run_folder_format(tiny_tree, tmp_path):
    run = _train(tiny_tree, tmp_path)
    assert json.loads((run / "config.json").read_text())["train"]["steps"] == 20
    assert rundir.read_status(run)["status"] == "completed"
    stats = rundir.read_jsonl(run / "stats.jsonl")
    assert [r["step"] for r in stats] == [5, 10, 15, 20]
    assert {"d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm", "sec_per_step"} <= set(stats[0])
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000010.png", "step_000020.png"]
    assert {p.name for p in (run / "checkpoints").iterdir()} == {"latest.pt", "previous.pt", "step_000010.pt",
                                                                 "step_000020.pt"}
    ckpt = ckpt_io.load(run / "checkpoints" / "latest.pt")
    assert ckpt["step"] == 20 and ckpt["config"]["train"]["steps"] == 20
    # the saved config reproduces the run
    assert ganscape.load_run(run) == from_dict(tiny_tree)


def test_same_seed_same_run_and_resume_is_bit_exact(tiny_tree, tmp_path):
    tiny_tree["deterministic"] = True
    tiny_tree["train"]["ema_decay"] = 0.9
    tiny_tree["penalties"] = ["gp"]
    tiny_tree["model"]["discriminator"]["norm"] = "spectral"
    tiny_tree["model"]["generator"]["norm"] = "batch"
    tiny_tree["method"] = {"name": "gan", "params": {"historical_averaging": 0.01}}
    full = _train(tiny_tree, tmp_path, "full")
    again = _train(tiny_tree, tmp_path, "again")
    assert _stats(full) == _stats(again)
    # stop at step 10, resume to 20
    half = _train(tiny_tree, tmp_path, "half", steps=10)
    assert rundir.read_status(half)["step"] == 10
    ganscape.resume(half, steps=20)
    assert _stats(half) == _stats(full)
    a = ckpt_io.load(full / "checkpoints" / "latest.pt")
    b = ckpt_io.load(half / "checkpoints" / "latest.pt")
    for group, key in (("nets", "G"), ("nets", "D"), ("ema", "G")):
        for k in a[group][key]:
            assert torch.equal(a[group][key][k], b[group][key][k]), (group, key, k)


def test_resume_after_a_checkpoint_before_the_end_rewrites_later_stats(tiny_tree, tmp_path):
    tiny_tree["deterministic"] = True
    full = _train(tiny_tree, tmp_path, "full")
    run = _train(tiny_tree, tmp_path, "cut")
    # pretend the run died at step 20 with only the step-10 checkpoint on disk
    for name in ("latest.pt", "previous.pt", "step_000020.pt"):
        (run / "checkpoints" / name).unlink()
    ganscape.resume(run)
    assert _stats(run) == _stats(full)


def test_truncated_checkpoint_falls_back_to_the_previous(tiny_tree, tmp_path):
    run = _train(tiny_tree, tmp_path)
    latest = run / "checkpoints" / "latest.pt"
    latest.write_bytes(latest.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        ckpt_io.load(latest)
    with pytest.warns(UserWarning, match="latest.pt is truncated or corrupt"):
        ckpt, path = ckpt_io.load_newest(run / "checkpoints")
    # the kept step_000020.pt holds the newest good step, newer than previous.pt's 15
    assert path.name == "step_000020.pt" and ckpt["step"] == 20
    for p in (run / "checkpoints").iterdir():
        p.write_bytes(b"garbage")
    with pytest.warns(UserWarning), pytest.raises(CheckpointError, match="no usable checkpoint"):
        ckpt_io.load_newest(run / "checkpoints")


def test_checkpoint_without_code_is_loaded_weights_only(tmp_path):
    # a pickle that would run code is refused, not executed
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "x": Evil()}, path)
    with pytest.raises(CheckpointError):
        ckpt_io.load(path)


def test_nan_stops_the_run_as_diverged_and_keeps_the_last_good_checkpoint(tiny_tree, tmp_path, monkeypatch):
    import dataclasses

    from ganscape.registry import LOSSES

    tiny_tree["train"].update(latest_every=2, log_every=4, checkpoint_every=0)
    entry = LOSSES.get("ns")
    calls = []

    def nan_from_step_7(params, real, fake):
        out = entry.fn(params, real, fake)
        if real is None:
            calls.append(1)
            if len(calls) >= 7:  # the generator loss of step 7 is NaN
                out["g"] = out["g"] * float("nan")
        return out

    monkeypatch.setitem(LOSSES._entries, "ns", dataclasses.replace(entry, fn=nan_from_step_7))
    run = _train(tiny_tree, tmp_path, steps=50)
    status = rundir.read_status(run)
    # detected at the first log step after it, never saved into a checkpoint
    assert status["status"] == "diverged" and status["step"] == 8
    assert "NaN" in status["reason"]
    ckpt = ckpt_io.load(run / "checkpoints" / "latest.pt")
    assert ckpt["step"] == 6
    for t in ckpt["nets"]["G"].values():
        assert torch.isfinite(t).all()
    assert [r["step"] for r in rundir.read_jsonl(run / "stats.jsonl")] == [4]


def test_ctrl_c_saves_and_stops(tiny_tree, tmp_path, monkeypatch):
    import signal

    from ganscape.train import loop

    real_finite, calls = loop._finite, []

    def ctrl_c_in_step_three(stats):  # called once per step, after the step's update
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return real_finite(stats)

    monkeypatch.setattr(loop, "_finite", ctrl_c_in_step_three)
    before = signal.getsignal(signal.SIGINT)
    run = _train(tiny_tree, tmp_path)
    status = rundir.read_status(run)
    assert status["status"] == "interrupted" and status["step"] == 3
    assert "stopped by SIGINT" in status["reason"]
    assert ckpt_io.load(run / "checkpoints" / "latest.pt")["step"] == 3
    assert signal.getsignal(signal.SIGINT) is before  # the run's handler is gone once it has ended


def test_two_d_run_records_mode_coverage(tmp_path):
    cfg = ganscape.make_config("ring8", overrides=["train.steps=5", "train.progress=false", "data.params.n=1000",
                                                   "train.batch_size=64"])
    run = ganscape.train(cfg, run_dir=tmp_path / "ring")
    metrics = rundir.read_jsonl(run / "metrics.jsonl")
    assert metrics[0]["metric"] == "mode_coverage" and metrics[0]["n"] == 2500
    assert 0 <= metrics[0]["modes_captured"] <= 8
    assert (run / "samples" / "step_000005.png").exists()


def test_sample_from_a_run(tiny_tree, tmp_path):
    tiny_tree["train"]["ema_decay"] = 0.5
    run = _train(tiny_tree, tmp_path)
    x = ganscape.sample(run, n=10, seed=3)
    assert x.shape == (10, 1, 8, 8) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(x, ganscape.sample(run, n=10, seed=3))
    out = ganscape.save_samples(x, tmp_path / "s.npz")
    import numpy as np
    with np.load(out) as f:
        assert f["x"].shape == (10, 1, 8, 8) and f["uint8"].dtype == np.uint8
    folder = ganscape.save_samples(x, tmp_path / "pngs")
    assert (tmp_path / "pngs.png").exists() and sorted(p.name for p in folder.iterdir()) == [f"{i:06d}.png" for i in range(10)]


def test_tensorboard_events_when_installed(tiny_tree, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = _train(tiny_tree, tmp_path)
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    d_loss = acc.Scalars("d_loss")
    assert [e.step for e in d_loss] == [5, 10, 15, 20]
    stats = rundir.read_jsonl(run / "stats.jsonl")
    assert d_loss[-1].value == pytest.approx(stats[-1]["d_loss"], rel=1e-6)


def test_real_ctrl_c_in_a_subprocess(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "ganscape.cli", "train", "--run-dir", str(run), "--no-progress",
           "--set", "train.steps=100000", "--set", "train.log_every=5", "--set", "train.sample_every=0",
           "--set", "train.checkpoint_every=0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # the wait has no deadline that a slow machine could miss: only a guard against a hang (15 min)
    deadline = time.monotonic() + 900
    while not (run / "stats.jsonl").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert (run / "stats.jsonl").exists(), proc.poll()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, err
    status = rundir.read_status(run)
    assert status["status"] == "interrupted" and 5 <= status["step"] < 100000
    assert ckpt_io.load(run / "checkpoints" / "latest.pt")["step"] == status["step"]
    assert (run / "stats.png").exists()
