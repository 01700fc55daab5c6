"""Fault injection on real processes and real file systems: kill -9 at random
points while checkpoints are written, a full disk (a small tmpfs), a
read-only folder, corrupt latest and previous checkpoints, SIGTERM, SIGHUP
and a double Ctrl-C. After each: resume works and a loadable checkpoint of
the newest good step is on disk.

The tmpfs tests need permission to mount (root, as in CI here); elsewhere
they are skipped with the reason, and tests/train/test_safety.py covers the
same paths by injecting the errors into the writer.
"""
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ganscape.train import checkpoint as ckpt_io
from ganscape.train import rundir

# Nets big enough that a checkpoint write takes a noticeable share of a step
# (so random kills land inside writes), small enough to train fast.
SETTINGS = ["model.z_dim=8", "model.generator.arch.params.width=128", "model.discriminator.arch.params.width=128",
            "train.batch_size=32", "train.log_every=2", "train.sample_every=0", "train.progress=false"]


def _cli(*args):
    return [sys.executable, "-m", "ganscape.cli", *args]


def _sets(items):
    return [a for s in items for a in ("--set", s)]


# What the tests below wait for only has to happen, however slowly: a loaded
# machine may take minutes where an idle one takes a second. HANG is a guard
# against a process that never gets there, not a speed requirement.
HANG = 900


def _wait_for(predicate, proc, timeout=HANG):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _status(run):
    try:
        return rundir.read_status(run)
    except (json.JSONDecodeError, OSError):
        return {}


def _committed_step(run):
    """Lower bound of the newest committed checkpoint: status.json is updated
    right after latest.pt is."""
    step = _status(run).get("checkpoint_step")
    return -1 if step is None else step


def _env():
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    return env


KILLS = 3


def test_kill_9_at_random_points_during_checkpoint_writes(tmp_path):
    """Every step writes latest.pt (every 3rd also a kept step_N.pt); the run
    is killed with SIGKILL at random moments, then resumed, KILLS times. The
    number of kills is fixed, not what fits in a time (a loaded machine
    starts each process more slowly and must still pass)."""
    rng = random.Random(0)
    run = tmp_path / "run"
    settings = SETTINGS + ["train.steps=100000", "train.latest_every=1", "train.checkpoint_every=3"]
    start = _cli("train", "--run-dir", str(run), *_sets(settings))
    kills = 0
    while kills < KILLS:
        cmd = start if kills == 0 else _cli("train", "--resume", str(run))
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
        before = _committed_step(run)
        # wait until this process has written at least one checkpoint, then kill at a random moment
        assert _wait_for(lambda: _committed_step(run) > before, proc), proc.communicate()[1][-2000:]
        time.sleep(rng.uniform(0.0, 0.25))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        committed = _committed_step(run)
        ckpt, path = ckpt_io.load_newest(run / "checkpoints")
        assert ckpt["step"] >= committed, (path, ckpt["step"], committed)
    # a last resume finishes cleanly: no temp files, every kept checkpoint present
    ckpt, _ = ckpt_io.load_newest(run / "checkpoints")
    final = ckpt["step"] + 4
    out = subprocess.run(_cli("train", "--resume", str(run), "--steps", str(final)), capture_output=True,
                         text=True, env=_env(), timeout=HANG)
    assert out.returncode == 0, out.stderr[-2000:]
    assert rundir.read_status(run)["status"] == "completed"
    assert not list(run.rglob("*.tmp"))
    kept = {int(p.stem.split("_")[1]) for p in (run / "checkpoints").glob("step_*.pt")}
    assert set(range(3, final + 1, 3)) <= kept
    for s in kept:
        assert ckpt_io.load(ckpt_io.step_path(run / "checkpoints", s))["step"] == s


@contextlib.contextmanager
def _tmpfs(path: Path, size: str):
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; tests/train/test_safety.py injects the same errors")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", f"ganscape-{uuid.uuid4().hex[:8]}",
                        str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}); test_safety.py injects the same errors")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_disk_full_on_a_real_tmpfs(tmp_path):
    # about 1 MB per checkpoint (nets and Adam state): a 6 MB disk fills up after a few kept ones
    with _tmpfs(tmp_path / "disk", "6m") as disk:
        run = disk / "run"
        settings = SETTINGS + ["train.steps=1000", "train.latest_every=1", "train.checkpoint_every=2"]
        out = subprocess.run(_cli("train", "--run-dir", str(run), *_sets(settings)), capture_output=True, text=True,
                             env=_env(), timeout=HANG)
        assert out.returncode == 1, out.stderr[-3000:]
        err = out.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: cannot write ") and "no space left on device" in err[0]
        assert "Traceback" not in out.stderr
        assert not list(run.rglob("*.tmp"))
        status = _status(run)
        if status.get("status") != "failed":  # status.json itself may not fit any more
            assert status.get("status") == "running"
        ckpt, path = ckpt_io.load_newest(run / "checkpoints")
        assert ckpt["step"] >= _committed_step(run) >= 2
        # free some room (the kept files) and resume without kept checkpoints
        for p in (run / "checkpoints").glob("step_*.pt"):
            p.unlink()
        r = subprocess.run(_cli("train", "--resume", str(run), "--steps", str(ckpt["step"] + 2),
                                "--set", "train.checkpoint_every=0"), capture_output=True, text=True, env=_env(),
                           timeout=HANG)
        assert r.returncode == 0, r.stderr[-2000:]
        assert rundir.read_status(run)["status"] == "completed"


def test_read_only_folder(tmp_path):
    with _tmpfs(tmp_path / "disk", "64m") as disk:
        run = disk / "run"
        settings = SETTINGS + ["train.steps=6", "train.latest_every=2", "train.checkpoint_every=0"]
        assert subprocess.run(_cli("train", "--run-dir", str(run), *_sets(settings)), capture_output=True,
                              env=_env(), timeout=HANG).returncode == 0
        before = {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()}
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        out = subprocess.run(_cli("train", "--resume", str(run), "--steps", "12"), capture_output=True, text=True,
                             env=_env(), timeout=HANG)
        assert out.returncode == 1
        err = out.stderr.strip().splitlines()
        assert len(err) == 1 and "read-only file system" in err[0] and "Traceback" not in out.stderr
        assert {p.name: p.read_bytes() for p in (run / "checkpoints").iterdir()} == before
        subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
        out = subprocess.run(_cli("train", "--resume", str(run), "--steps", "12"), capture_output=True, text=True,
                             env=_env(), timeout=HANG)
        assert out.returncode == 0, out.stderr[-2000:]
        assert rundir.read_status(run)["step"] == 12


def test_corrupt_latest_and_previous_fall_back_to_a_kept_checkpoint(tmp_path):
    run = tmp_path / "run"
    settings = SETTINGS + ["train.steps=9", "train.latest_every=1", "train.checkpoint_every=4"]
    assert subprocess.run(_cli("train", "--run-dir", str(run), *_sets(settings)), capture_output=True,
                          env=_env(), timeout=HANG).returncode == 0
    ck = run / "checkpoints"
    for name in ("latest.pt", "previous.pt"):
        with open(ck / name, "r+b") as f:
            f.truncate(1000)
    out = subprocess.run(_cli("train", "--resume", str(run), "--steps", "12"), capture_output=True, text=True,
                         env=_env(), timeout=HANG)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "latest.pt is truncated or corrupt; moved aside to latest.pt.corrupt" in out.stderr
    assert "previous.pt is truncated or corrupt; moved aside to previous.pt.corrupt" in out.stderr
    assert ckpt_io.load(ck / "latest.pt")["step"] == 12
    assert ckpt_io.load(ck / "step_000008.pt")["step"] == 8
    # the damaged files are kept aside for a person to look at, never loaded again
    assert (ck / "latest.pt.corrupt").exists() and (ck / "previous.pt.corrupt").exists()


@pytest.mark.parametrize("signals", [("SIGTERM",), ("SIGHUP",), ("SIGINT", "SIGINT")])
def test_signals_save_and_record_interrupted(signals, tmp_path):
    run = tmp_path / "run"
    settings = SETTINGS + ["train.steps=100000", "train.latest_every=20", "train.checkpoint_every=0"]
    proc = subprocess.Popen(_cli("train", "--run-dir", str(run), *_sets(settings)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())
    # signals arrive once a checkpoint exists (a second signal before any would leave nothing to resume)
    assert _wait_for(lambda: _committed_step(run) >= 20, proc)
    for name in signals:
        proc.send_signal(getattr(signal, name))
        time.sleep(0.001)
    out, err = proc.communicate(timeout=HANG)
    assert proc.returncode == 0, err[-2000:]
    status = rundir.read_status(run)
    assert status["status"] == "interrupted", status
    assert status["step"] >= 1
    ckpt, _ = ckpt_io.load_newest(run / "checkpoints")
    if len(signals) == 1:  # a single signal: the step finishes and is saved
        assert f"stopped by {signals[0]}" in status["reason"]
        assert ckpt["step"] == status["step"] == status["checkpoint_step"]
    else:  # a second signal may stop at once; what was saved is still good
        assert ckpt["step"] == status["checkpoint_step"] >= 20
    assert not list(run.rglob("*.tmp"))
    # and the run resumes
    r = subprocess.run(_cli("train", "--resume", str(run), "--steps", str(status["step"] + 3)), capture_output=True,
                       text=True, env=_env(), timeout=HANG)
    assert r.returncode == 0, r.stderr[-2000:]
    assert rundir.read_status(run)["status"] == "completed"
