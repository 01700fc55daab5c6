"""The training doctor on real runs: live checks (train.doctor), `ganscape doctor RUN` measuring kept
checkpoints, and the checks' judge and memorization measures on digits."""
from __future__ import annotations

import json

import pytest
import torch

import ganscape
from ganscape.cli import main
from ganscape.config import load_config
from ganscape.probes.doctor_checks import Checker, heldout_for
from ganscape.train.rundir import read_jsonl
from ganscape.train.state import load_data

SMALL = ["train.steps=120", "train.batch_size=64", "train.log_every=10", "train.doctor=true",
         "train.doctor_every=30", "train.checkpoint_every=30", "train.latest_every=30", "train.progress=false",
         "model.generator.arch.params.width=32", "model.discriminator.arch.params.width=32",
         "model.discriminator.pack=1", "model.z_dim=4"]


def test_live_checks_equal_those_measured_afterwards_on_the_kept_checkpoints(tmp_path, capsys):
    cfg = load_config("ring8", overrides=SMALL)
    run = ganscape.train(cfg, run_dir=tmp_path / "r")
    assert json.loads((run / "status.json").read_text())["status"] == "completed"
    live = read_jsonl(run / "doctor.jsonl")
    assert [c["step"] for c in live] == [30, 60, 90, 120]
    for c in live:
        assert c["real_modes"] == 8 and len(c["hist"]) == 8 and 0 < c["diversity"] < 5 and 0 <= c["hq"] <= 1
    assert isinstance(json.loads((run / "doctor.json").read_text()), list)
    assert (run / "doctor.png").stat().st_size > 1000
    capsys.readouterr()
    assert main(["doctor", str(run), "--json", "--recheck"]) == 0
    findings = json.loads(capsys.readouterr().out)
    assert isinstance(findings, list) and all({"finding", "step", "evidence", "advice"} <= set(f) for f in findings)
    # the same fixed latents and weights: the checks measured afterwards are the live ones
    from ganscape.probes.doctor_run import measure_checkpoints
    again = measure_checkpoints(run, cfg, most=10)
    assert [c["step"] for c in again] == [30, 60, 90, 120]
    for a, b in zip(live, again):
        assert a["modes"] == b["modes"] and a["diversity"] == pytest.approx(b["diversity"], rel=1e-9)


def test_doctor_refuses_a_folder_that_is_not_a_run(tmp_path, capsys):
    assert main(["doctor", str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err


class Replay(torch.nn.Module):
    """A 'generator' that returns given images in order, whatever the latents."""

    def __init__(self, images):
        super().__init__()
        self.images, self.i, self.z_dim = images, 0, 4
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, z):
        out = self.images[self.i:self.i + len(z)]
        self.i += len(z)
        return out


def test_checks_on_digits_judge_classes_and_catch_mirrored_copies():
    cfg = load_config("digits")
    train, test = load_data(cfg, "train"), heldout_for(cfg)
    checker = Checker(cfg, train, test, n=300)
    assert checker.k == 10 and checker.real_modes == 10
    x = train.floats()[:300]
    copies = checker.measure(Replay(torch.flip(x, dims=[3])), 1)          # mirrored training digits
    fresh = checker.measure(Replay(test.floats()[:300]), 2)               # held-out digits
    ones = checker.measure(Replay(train.floats()[train.y == 1][:300].repeat(3, 1, 1, 1)), 3)
    assert copies["memorized"] > 0.9 and fresh["memorized"] < 0.2
    assert fresh["modes"] == list(range(10)) and 0.8 < fresh["diversity"] < 1.2
    assert ones["modes"] == [1] and ones["diversity"] < fresh["diversity"]
