"""--threads reaches every entry point: train and the API (beating
train.threads), a study's worker processes and `study rerun` (fixed when
given; otherwise each run measures its own within the worker's share), and
the argument is checked at parsing."""
import json
from pathlib import Path

import pytest
import yaml

import ganscape
from ganscape.cli import main
from ganscape.study.rerun import rerun_best
from ganscape.study.runner import run_study
from ganscape.train import threads as thr

pytestmark = pytest.mark.filterwarnings("ignore:gaussian_stats")

TINY = ["train.steps=6", "train.batch_size=16", "train.log_every=3", "train.sample_every=0",
        "train.checkpoint_every=0", "train.latest_every=3", "train.ema_decay=0", "model.z_dim=8",
        "model.generator.arch.params.width=16", "model.discriminator.arch.params.width=16",
        "train.progress=false"]


def _choices(run: Path):
    return [json.loads(x) for x in (Path(run) / "threads.jsonl").read_text().splitlines()]


def test_cli_threads_beats_the_config_and_is_checked(tmp_path, capsys):
    args = ["train", "--run-dir", str(tmp_path / "r"), "--no-progress", "--threads", "2"]
    for s in TINY + ["train.threads=1"]:
        args += ["--set", s]
    assert main(args) == 0
    assert [(c["threads"], c["why"]) for c in _choices(tmp_path / "r")] == [(2, "--threads")]
    with pytest.raises(SystemExit):
        main(["train", "--threads", "0"])
    assert "argument --threads: must be >= 1, got 0" in capsys.readouterr().err


def test_api_threads_and_train_threads(tmp_path):
    run = ganscape.train("digits", overrides=TINY + ["train.threads=2"], run_dir=tmp_path / "a")
    assert [(c["threads"], c["why"]) for c in _choices(run)] == [(2, "train.threads")]
    run = ganscape.train("digits", overrides=TINY + ["train.threads=2"], run_dir=tmp_path / "b", threads=1)
    assert [(c["threads"], c["why"]) for c in _choices(run)] == [(1, "--threads")]
    assert thr._override is None                      # the API call's override ended with it


def _spec(tmp_path):
    spec = {"name": "tiny-threads", "description": "threads", "base": "digits", "set": TINY,
            "space": {"loss": {"key": "loss.name", "choices": ["ns", "hinge"]}},
            "trials": 1, "objective": {"metric": "fid", "n": 50, "every": 6}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_study_workers_and_rerun_pass_threads_on(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    out = tmp_path / "S"
    run_study(_spec(tmp_path), out, workers=1, progress=False, threads=1)
    trial = next((out / "trials").iterdir())
    assert [(c["threads"], c["why"]) for c in _choices(trial)] == [(1, "--threads")]
    # no threads: the rerun measures its own count within CPUs // workers (two workers: half)
    rerun_best(out, seeds=2, workers=2)
    rerun = next((out / "reruns").iterdir())
    c = _choices(rerun)[0]
    assert c["why"] != "--threads" and c["available"] == max(1, thr.available_cpus() // 2)
    assert thr._override is None and thr._cap is None  # the in-process rerun kept its settings to itself
