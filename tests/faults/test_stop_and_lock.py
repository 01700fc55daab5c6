"""Signals at every moment of a run, torn log lines and two processes in one
run folder (issue 17, items 13, 14, 15 and 23), on real processes with real
signals. The moment a signal arrives is made exact by sending it from the
code that runs at that moment (a patched function in the child process), so
no test depends on how fast the machine is."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import ganscape
from ganscape.config import from_dict
from ganscape.train import checkpoint as ckpt_io
from ganscape.train import rundir

SETTINGS = ["model.z_dim=8", "model.generator.arch.params.width=32", "model.discriminator.arch.params.width=32",
            "train.batch_size=16", "train.log_every=2", "train.sample_every=0", "train.progress=false"]


def _cfg(settings):
    return ganscape.make_config("digits", overrides=settings)


def _sets(items):
    return [a for s in items for a in ("--set", s)]


def _env():
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    return env


def _cli(args, patch="", **kw):
    """`ganscape ARGS` in a child process, after running `patch` there (code
    that wraps a ganscape function to send a signal at an exact moment)."""
    # SIGINT as in a terminal: a shell without job control starts background commands (and so this
    # test's children) with SIGINT ignored, and a process that ignores it would pass for the wrong reason
    code = "import os, signal, sys\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n" + \
        textwrap.dedent(patch) + \
        f"\nfrom ganscape.cli import main\nsys.exit(main({list(map(str, args))!r}))\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=900, **kw)


def _signal_in(target, *signals):
    """Patch code: `target` (module:function) sends `signals` to its own
    process when it is called, then does its work."""
    module, name = target.split(":")
    sends = "".join(f"    os.kill(os.getpid(), signal.{s})\n" for s in signals)
    return f"""
import importlib
import ganscape.cli  # the package's own import order first
_m = importlib.import_module("{module}")
_orig = _m.{name}
def _patched(*a, **k):
{sends}    return _orig(*a, **k)
_m.{name} = _patched
"""


# ---- 13. the moments between the folder appearing and the loop -------------------
def test_a_signal_right_after_the_folder_appears_records_interrupted_and_resumes(tmp_path):
    run = tmp_path / "run"
    # Logger() is built after config.json and status.json are written, before the first step
    out = _cli(["train", "--run-dir", run, *_sets(SETTINGS + ["train.steps=6"])],
               _signal_in("ganscape.train.loop:Logger", "SIGTERM"))
    assert out.returncode == 0, out.stderr[-2000:]
    status = rundir.read_status(run)
    assert status["status"] == "interrupted" and status["step"] == 0 and "SIGTERM" in status["reason"]
    ganscape.resume(run)
    assert rundir.read_status(run)["status"] == "completed"
    assert ckpt_io.load(run / "checkpoints" / "latest.pt")["step"] == 6


def test_kill_9_before_the_first_checkpoint_resumes_from_step_0(tmp_path, same_checkpoints):
    run, fresh = tmp_path / "run", tmp_path / "fresh"
    settings = SETTINGS + ["train.steps=6", "train.latest_every=3"]
    out = _cli(["train", "--run-dir", run, *_sets(settings)], _signal_in("ganscape.train.loop:Logger", "SIGKILL"))
    assert out.returncode == -signal.SIGKILL
    assert rundir.read_status(run)["status"] == "running" and not list(run.rglob("*.pt"))
    with pytest.warns(ckpt_io.CheckpointWarning, match="has no checkpoint .* starts from step 0"):
        ganscape.resume(run)
    assert rundir.read_status(run)["status"] == "completed"
    # the same run as one that was never killed, bit for bit
    ganscape.train(_cfg(settings), run_dir=fresh)
    a, _ = same_checkpoints(run, fresh)
    assert a["step"] == 6
    assert [r["step"] for r in rundir.read_jsonl(run / "stats.jsonl")] == [2, 4, 6]


@pytest.mark.parametrize("signals", [("SIGTERM",), ("SIGINT", "SIGINT")])
def test_a_signal_while_the_run_is_built_leaves_no_folder_and_one_line(signals, tmp_path):
    run = tmp_path / "run"
    out = _cli(["train", "--run-dir", run, *_sets(SETTINGS + ["train.steps=6"])],
               _signal_in("ganscape.train.loop:build_state", *signals))
    assert out.returncode == 1, out.stderr[-2000:]
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: stopped by ") and "before training started" in err[0], err
    assert not run.exists()


def test_a_second_signal_while_a_resume_is_built_changes_nothing(tmp_path):
    run = tmp_path / "run"
    ganscape.train(_cfg(SETTINGS + ["train.steps=4"]), run_dir=run)
    before = {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    out = _cli(["train", "--resume", run, "--steps", "8"],
               _signal_in("ganscape.train.loop:build_state", "SIGINT", "SIGINT"))
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert len(out.stderr.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"} == before


# ---- 14. a second Ctrl-C while the run records how it ended ----------------------
def test_a_second_ctrl_c_during_the_cleanup_after_the_loop(tmp_path):
    run = tmp_path / "run"
    # the training curves are drawn after the last step, in the second or so before the status is written
    out = _cli(["train", "--run-dir", run, *_sets(SETTINGS + ["train.steps=4"])],
               _signal_in("ganscape.viz:save_stats_plot", "SIGINT", "SIGINT"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Traceback" not in out.stderr and "KeyboardInterrupt" not in out.stderr
    status = rundir.read_status(run)
    assert status["status"] == "completed" and status["step"] == 4
    assert (run / "stats.png").exists()


def test_a_second_ctrl_c_mid_step_records_interrupted(tmp_path):
    run = tmp_path / "run"
    out = _cli(["train", "--run-dir", run, *_sets(SETTINGS + ["train.steps=50", "train.latest_every=2"])],
               _signal_in("ganscape.train.loop:update_ema", "SIGINT", "SIGINT"))
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr[-2000:]
    status = rundir.read_status(run)
    assert status["status"] == "interrupted" and "second signal" in status["reason"]


# ---- 15. torn last lines of the append-only files --------------------------------
@pytest.mark.parametrize("tail", ['garbage\n', '{"step": 9, "d_lo', '12\n'])
def test_a_torn_last_line_is_repaired_on_resume(tail, tiny_tree, tmp_path):
    tiny_tree["train"].update(steps=10, log_every=5, latest_every=5, checkpoint_every=0)
    tiny_tree["eval"] = {"metrics": ["fid"], "every": 5, "n": 64, "extractor": "digits-cnn"}
    run = ganscape.train(from_dict(tiny_tree), run_dir=tmp_path / "run")
    for name in ("stats.jsonl", "metrics.jsonl"):
        with open(run / name, "a") as f:
            f.write(tail)
    with pytest.warns(UserWarning, match="dropped a torn last line"):
        ganscape.resume(run, steps=15)
    assert rundir.read_status(run)["status"] == "completed"
    for name in ("stats.jsonl", "metrics.jsonl"):
        lines = (run / name).read_text().splitlines()
        assert all(isinstance(json.loads(line), dict) for line in lines), name
    assert [r["step"] for r in rundir.read_jsonl(run / "stats.jsonl")] == [5, 10, 15]


def test_a_bad_line_in_the_middle_is_named(tmp_path):
    p = tmp_path / "stats.jsonl"
    p.write_text('{"step": 1}\nnot json\n{"step": 3}\n')
    with pytest.raises(ValueError, match=r"stats\.jsonl: line 2 is not a JSON object"):
        rundir.read_jsonl(p)


# ---- 23. one process at a time trains in a run folder ----------------------------
def test_the_lock_names_its_holder_and_is_released(tmp_path):
    fd = rundir.lock_run(tmp_path)
    with pytest.raises(rundir.RunBusy, match=f"process {os.getpid()} is training in it"):
        rundir.lock_run(tmp_path)
    rundir.unlock_run(fd)
    rundir.unlock_run(rundir.lock_run(tmp_path))


def _wait_for(predicate, proc, timeout=600):
    # a guard against a hang, not a speed requirement: the child only has to get there
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_a_second_resume_of_a_running_run_is_refused_and_touches_nothing(tmp_path):
    run = tmp_path / "run"
    ganscape.train(_cfg(SETTINGS + ["train.steps=2"]), run_dir=run)
    first = subprocess.Popen([sys.executable, "-m", "ganscape.cli", "train", "--resume", str(run), "--steps",
                              "1000000", "--set", "train.latest_every=5"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, env=_env())
    try:
        assert _wait_for(lambda: (rundir.read_status(run).get("checkpoint_step") or 0) >= 5, first)
        second = _cli(["train", "--resume", run, "--steps", "20"])
        assert second.returncode == 1
        err = second.stderr.strip().splitlines()
        assert len(err) == 1 and f"process {first.pid} is training in it" in err[0], err
        assert rundir.read_status(run)["status"] == "running"
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=600)
    assert first.returncode == 0
    assert rundir.read_status(run)["status"] == "interrupted"
    # a holder that is gone holds nothing (test_faults' kill -9 test resumes after every SIGKILL)
    ganscape.resume(run, steps=rundir.read_status(run)["step"] + 2)
    assert rundir.read_status(run)["status"] == "completed"


def test_lock_in_process_api(tiny_tree, tmp_path):
    from ganscape.train.loop import RunBusy
    run = ganscape.train(from_dict(tiny_tree), run_dir=tmp_path / "run")
    fd = rundir.lock_run(run)
    try:
        with pytest.raises(RunBusy, match="is training in it"):
            ganscape.resume(run, steps=30)
    finally:
        rundir.unlock_run(fd)
    assert rundir.read_status(run)["status"] == "completed"
