"""The study runner end to end: a tiny study with 2 local workers, kill -9 of
the coordinator and of a worker, a re-run that continues, pruning, failed
trials with their reasons, Ray, and the CLI."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from ganscape.cli import main
from ganscape.registry import ConfigError
from ganscape.study.folder import storage_url
from ganscape.study.runner import run_study
from ganscape.study.storage import counts, load_table

pytestmark = pytest.mark.filterwarnings("ignore:gaussian_stats")  # FID of 100 samples, on purpose

STEPS = 20
TINY = {
    "name": "tiny",
    "description": "a tiny study for tests",
    "base": "digits",
    "set": [f"train.steps={STEPS}", "train.batch_size=32", "train.log_every=10", "train.sample_every=10",
            "train.checkpoint_every=0", "train.latest_every=5", "train.ema_decay=0", "model.z_dim=8",
            "model.generator.arch.params.width=32", "model.discriminator.arch.params.width=32"],
    "space": {
        "loss": {"key": "loss.name", "choices": ["ns", "hinge"]},
        "lr": {"keys": ["optim.generator.params.lr", "optim.discriminator.params.lr"],
               "float": [1e-4, 1e-3], "log": True},
    },
    "trials": 4,
    "objective": {"metric": "fid", "n": 100, "every": 10},
}


def _write(tmp_path, **change):
    spec = {**TINY, **change}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _check_finished(out: Path, n: int):
    """n trials, each completed once, each run folder intact and complete."""
    c = counts(out)
    assert c["complete"] == n and c["failed"] == c["running"] == c["waiting"] == 0, c
    table = [r for r in load_table(out) if r["state"] == "complete"]
    assert len(table) == n and len({r["number"] for r in table}) == n
    dirs = [r["run_dirs"][0] for r in table]
    assert len(set(dirs)) == n
    for r in table:
        run = Path(r["run_dirs"][0])
        status = json.loads((run / "status.json").read_text())
        assert status["status"] == "completed" and status["step"] == STEPS
        trial = json.loads((run / "trial.json").read_text())
        assert trial["params"] == r["params"]
        steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert steps == [10, 20], steps  # every evaluation exactly once, resumed or not
        assert r["value"] == pytest.approx(min(v for _, v in r["curve"]))
    return table


def test_a_tiny_study_with_two_workers(tmp_path):
    out = tmp_path / "study"
    c = run_study(_write(tmp_path), out, workers=2, progress=False)
    assert c["complete"] == 4 and "best" in c
    table = _check_finished(out, 4)
    assert {r["params"]["loss"] for r in table} <= {"ns", "hinge"}
    assert len({r["params"]["lr"] for r in table}) == 4  # the two workers do not propose the same settings
    # the storage is an ordinary Optuna study
    st = optuna.load_study(study_name="tiny", storage=storage_url(out))
    assert len(st.trials) == 4 and st.best_value == pytest.approx(c["best"], abs=1e-3)
    # a second run of the same command has nothing left to do; more trials continue the study
    assert run_study(_write(tmp_path), out, workers=1, progress=False)["complete"] == 4
    assert run_study(_write(tmp_path), out, workers=1, progress=False, trials=5)["complete"] == 5
    with pytest.raises(ConfigError, match="different spec"):
        run_study(_write(tmp_path, description="changed"), out, progress=False)
    with pytest.raises(ConfigError, match="must use the same --set"):
        run_study(_write(tmp_path), out, progress=False, overrides=["train.steps=30"])


def _cli(spec, out, *extra):
    return [sys.executable, "-m", "ganscape.cli", "study", "run", str(spec), "--out", str(out), "--no-progress",
            *extra]


def _wait_for(pred, timeout=900.0, interval=0.2):  # a hang guard: a loaded machine only has to get there
    t0 = time.time()
    while time.time() - t0 < timeout:
        if pred():
            return True
        time.sleep(interval)
    return False


def _done(out):
    try:
        return counts(out)["complete"]
    except Exception:  # noqa: BLE001 - the storage may not exist yet
        return 0


def _wait_workers_gone(out):
    pids = [t.user_attrs.get("pid") for t in optuna.load_study(study_name="tiny", storage=storage_url(out)).trials
            if t.user_attrs.get("pid")]
    assert _wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in pids))


def test_kill_9_of_the_coordinator_then_the_same_command_continues(tmp_path):
    spec, out = _write(tmp_path, trials=4), tmp_path / "study"
    coordinator = subprocess.Popen(_cli(spec, out, "--workers", "2"), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
    assert _wait_for(lambda: _done(out) >= 1)
    os.kill(coordinator.pid, signal.SIGKILL)
    coordinator.wait()
    done_at_kill = _done(out)
    assert done_at_kill < 4
    # the same command again (the orphaned workers finish their trial and stop)
    r = subprocess.run(_cli(spec, out, "--workers", "2"), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    _wait_workers_gone(out)
    _check_finished(out, 4)


def test_kill_9_of_a_worker_resumes_its_trial_from_the_checkpoint(tmp_path):
    spec, out = _write(tmp_path, trials=2), tmp_path / "study"
    coordinator = subprocess.Popen(_cli(spec, out, "--workers", "1"), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)

    def running_with_checkpoint():
        try:
            st = optuna.load_study(study_name="tiny", storage=storage_url(out))
        except Exception:  # noqa: BLE001
            return None
        for t in st.trials:
            if t.state.name == "RUNNING" and "pid" in t.user_attrs and t.user_attrs.get("run_dirs"):
                status = out / t.user_attrs["run_dirs"][0] / "status.json"
                if status.exists() and json.loads(status.read_text()).get("checkpoint_step"):
                    return t
        return None

    assert _wait_for(lambda: running_with_checkpoint() is not None)
    victim = running_with_checkpoint()
    os.kill(victim.user_attrs["pid"], signal.SIGKILL)
    coordinator.wait(timeout=900)
    assert coordinator.returncode != 0  # a worker died: the coordinator says so
    r = subprocess.run(_cli(spec, out), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    table = _check_finished(out, 2)
    st = optuna.load_study(study_name="tiny", storage=storage_url(out))
    retry = [t for t in st.trials if t.user_attrs.get("retry_of") == victim.number]
    assert len(retry) == 1 and retry[0].state.name == "COMPLETE"
    assert st.trials[victim.number].state.name == "FAIL"
    # the retry trained in the victim's folder, from its checkpoint
    assert retry[0].user_attrs["run_dirs"] == victim.user_attrs["run_dirs"]
    assert retry[0].params == victim.params
    assert victim.number not in {r["optuna_number"] for r in table}
    # the table numbers trials by their folder: the retry is trial {victim.number}, as trials/trial-NNNN says
    assert {r["number"] for r in table} == {int(Path(r["run_dirs"][0]).name[6:]) for r in table}


def test_ctrl_c_stops_the_study_and_the_same_command_resumes_the_interrupted_trial(tmp_path):
    # three trials, so a machine fast enough to finish one between two looks still shows the next one mid-training
    spec, out = _write(tmp_path, trials=3), tmp_path / "study"
    # preexec_fn: as in a terminal's foreground job, whatever launched pytest (a shell's background job
    # starts with SIGINT ignored, which Python and every child then keep: Ctrl-C would do nothing)
    coordinator = subprocess.Popen(_cli(spec, out, "--workers", "1"), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True, start_new_session=True,
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def mid_training():  # the run folders, not the database: a cheap look, taken every 20 ms
        # trials 0 and 1 only, with half their steps to go: a signal that lands after the last trial's
        # last step is only noted (the run completes), and then the study ends with nothing interrupted
        for name in ("trial-0000", "trial-0001"):
            try:
                s = json.loads((out / "trials" / name / "status.json").read_text())
            except (OSError, ValueError):
                continue
            if s.get("status") == "running" and 0 < (s.get("checkpoint_step") or 0) <= STEPS // 2:
                return True
        return False

    seen = _wait_for(lambda: mid_training() or coordinator.poll() is not None, interval=0.02)
    assert seen and coordinator.poll() is None, "the study ended before a trial was seen mid-training"
    os.killpg(coordinator.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole process group
    _, err = coordinator.communicate(timeout=900)
    assert coordinator.returncode == 130 and "run the same command again" in err, err[-2000:]
    st = optuna.load_study(study_name="tiny", storage=storage_url(out))
    assert not any(t.state.name == "FAIL" for t in st.trials)  # interrupted is not failed
    r = subprocess.run(_cli(spec, out), capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    _check_finished(out, 3)


def test_failed_and_pruned_trials_are_recorded_with_reasons(tmp_path):
    # lr up to 1e4 makes some trials diverge; batch norm in D with layer... an invalid choice is a failed trial
    spec = _write(tmp_path, trials=3, space={
        "g_norm": {"key": "model.generator.norm", "choices": ["batch", "spectral"]},
        "lr": {"keys": ["optim.generator.params.lr", "optim.discriminator.params.lr"], "float": [1e-4, 1e-3]}},
        sampler={"name": "grid"}, )
    out = tmp_path / "study"
    with pytest.raises(ConfigError):  # grid needs values of every number
        run_study(spec, out, progress=False)
    spec = _write(tmp_path, trials=2, space={
        "g_norm": {"key": "model.generator.norm", "choices": ["batch", "spectral"]}}, sampler={"name": "grid"})
    c = run_study(spec, out, progress=False)
    assert c["complete"] == 1 and c["failed"] == 1
    failed = [r for r in load_table(out) if r["state"] == "failed"][0]
    assert failed["params"] == {"g_norm": "spectral"} and failed["reason"].startswith("invalid config:")
    assert "spectral" in failed["reason"] and failed["value"] is None


def test_pruning_stops_hopeless_trials(tmp_path):
    spec = _write(tmp_path, trials=4, pruner={"name": "median", "n_startup_trials": 1},
                  space={"lr": {"keys": ["optim.generator.params.lr", "optim.discriminator.params.lr"],
                                "float": [1e-6, 1e-3], "log": True}})
    out = tmp_path / "study"
    c = run_study(spec, out, progress=False)
    assert c["complete"] + c["pruned"] == 4 and c["pruned"] >= 1  # seeded: the same trials are pruned each time
    for r in load_table(out):
        status = json.loads((Path(r["run_dirs"][0]) / "status.json").read_text())
        assert status["status"] == ("pruned" if r["state"] == "pruned" else "completed")
        if r["state"] == "pruned":
            assert status["step"] == 10 and "pruned at step 10" in status["reason"]


def test_study_cli_list_status_and_errors(tmp_path, capsys):
    assert main(["study", "list"]) == 0
    assert "norm-penalty-digits" in capsys.readouterr().out
    out = tmp_path / "study"
    assert main(["study", "run", str(_write(tmp_path, trials=1)), "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["study", "status", str(out)]) == 0
    text = capsys.readouterr().out
    assert "1 of 1 trials finished: 1 complete" in text and "best:" in text
    # the best setting over 2 fresh seeds in reruns/; the search's own value apart (the winner's curse)
    assert main(["study", "rerun", str(out), "--seeds", "2"]) == 0
    cap = capsys.readouterr()
    assert "best overall (trial 0):" in cap.out and "fresh seeds (in the search: " in cap.out
    assert "study rerun" in cap.err and "2/2" in cap.err  # a progress bar over the runs
    rr = json.loads((out / "reruns.json").read_text())["reruns"]
    assert len(rr) == 1 and rr[0]["seeds"] == [1, 2] and len(rr[0]["values"]) == 2
    assert rr[0]["search_values"] == [pytest.approx(counts(out)["best"], abs=1e-3)]
    for s in (1, 2):
        extra = out / "reruns" / f"trial-0000-seed{s}"
        assert json.loads((extra / "status.json").read_text())["status"] == "completed"
        assert json.loads((extra / "config.json").read_text())["seed"] == s
    stamp = (extra / "status.json").stat().st_mtime_ns
    assert main(["study", "rerun", str(out), "--seeds", "2"]) == 0  # finished seeds are reused
    assert (extra / "status.json").stat().st_mtime_ns == stamp
    assert main(["study", "rerun", str(out), "--seeds", "1"]) == 2
    assert "at least 2 fresh seeds" in capsys.readouterr().err
    assert main(["report", str(out)]) == 0
    written = capsys.readouterr().out
    assert (out / "report.html").exists() and (out / "report.md").exists() and (out / "csv" / "trials.csv").exists()
    assert str(out / "report.html") in written
    assert "tiny" in (out / "report.md").read_text()
    assert main(["report", str(out / "trials" / "trial-0000")]) == 0
    assert (out / "trials" / "trial-0000" / "report.html").exists()
    capsys.readouterr()
    assert main(["report", str(tmp_path)]) == 2
    assert "neither a study folder" in capsys.readouterr().err
    assert main(["study", "run", "no-such-study", "--out", str(tmp_path / "x")]) == 2
    assert "unknown study 'no-such-study'" in capsys.readouterr().err
    assert main(["study", "run", str(_write(tmp_path)), "--out", str(tmp_path / "y"), "--set", "train.stpes=3"]) == 2
    assert "train.stpes" in capsys.readouterr().err
    assert not (tmp_path / "y").exists()
    assert main(["study", "status", str(tmp_path)]) == 2
    assert "not a ganscape study folder" in capsys.readouterr().err


def test_the_ray_backend_runs_the_same_workers(tmp_path):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install ganscape[ray])")
    out = tmp_path / "study"
    try:
        c = run_study(_write(tmp_path, trials=2), out, workers=2, backend="ray", threads=1, progress=False)
    except Exception as e:  # noqa: BLE001
        if "ray" in type(e).__module__ and not ray.is_initialized():
            pytest.skip(f"a local Ray instance cannot start here: {e}")
        raise
    assert c["complete"] == 2
    _check_finished(out, 2)
    workers = {t.user_attrs["pid"] for t in optuna.load_study(study_name="tiny",
                                                              storage=storage_url(out)).trials}
    assert os.getpid() not in workers  # trials ran in Ray's worker processes
