"""End-to-end smoke tests of the command line."""
import json
import subprocess
import sys

import numpy as np

from ganscape.cli import main

FAST = ["--set", "train.steps=6", "--set", "train.batch_size=16", "--set", "train.log_every=3",
        "--set", "model.generator.arch.params.width=16", "--set", "model.discriminator.arch.params.width=16",
        "--no-progress"]


def test_help_lists_commands_and_examples():
    out = subprocess.run([sys.executable, "-m", "ganscape.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0
    for word in ("train", "sample", "list", "download", "examples:", "--resume"):
        assert word in out.stdout


def test_train_sample_resume(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "--run-dir", str(run), *FAST]) == 0
    assert "status: completed at step 6" in capsys.readouterr().out
    assert main(["sample", str(run), "-n", "5", "--out", str(tmp_path / "s.npz")]) == 0
    assert np.load(tmp_path / "s.npz")["x"].shape == (5, 1, 8, 8)
    assert main(["sample", str(run), "-n", "5", "--out", str(tmp_path / "pngs")]) == 0
    assert (tmp_path / "pngs.png").exists() and not (tmp_path / "pngs" / "grid.png").exists()  # the grid beside
    assert main(["train", "--resume", str(run), "--steps", "9", "--no-progress"]) == 0
    assert "status: completed at step 9" in capsys.readouterr().out
    # training into a folder that holds a run is refused, and nothing is lost
    assert main(["train", "--run-dir", str(run), *FAST]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert json.loads((run / "status.json").read_text())["step"] == 9


def test_dry_run_prints_the_resolved_config(capsys):
    assert main(["train", "--preset", "ring8", "--set", "loss=hinge", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "name: hinge" in out and "ring-8" in out


def test_config_errors_exit_2_with_a_message(capsys):
    assert main(["train", "--set", "train.stepz=3", "--dry-run"]) == 2
    assert "unknown key train.stepz" in capsys.readouterr().err
    assert main(["sample", "/nonexistent/run", "--out", "x.npz"]) == 2
    assert "not a ganscape run folder" in capsys.readouterr().err


def test_list_shows_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("datasets:", "architectures:", "normalizations:", "losses:", "penalties:", "optimizers:",
                 "methods:", "ring-8", "spectral", "f-gan", "dragan", "presets:"):
        assert word in out
    assert main(["list", "loss"]) == 0
    assert "divergence: kl|reverse-kl" in capsys.readouterr().out
    assert main(["list", "dataset"]) == 0
    out = capsys.readouterr().out          # optional types name what they hold
    assert "channels: 1|3 or null = None" in out and "max_images: int or null = None" in out
    assert "Optional" not in out
    assert main(["list", "lossy"]) == 2


def test_download_fid_weights_verified(tmp_path, monkeypatch, capsys):
    import hashlib

    from ganscape.metrics.features import inception
    src = tmp_path / "weights.pth"
    src.write_bytes(b"not really inception weights")
    monkeypatch.setattr(inception, "FID_WEIGHTS_URL", src.as_uri())
    monkeypatch.setattr(inception, "FID_WEIGHTS_SHA256", "0" * 64)
    assert main(["download", "inception-v3-fid", "--root", str(tmp_path / "w")]) == 2
    assert "SHA-256" in capsys.readouterr().err
    assert not (tmp_path / "w" / inception.FID_WEIGHTS_FILENAME).exists()
    monkeypatch.setattr(inception, "FID_WEIGHTS_SHA256", hashlib.sha256(src.read_bytes()).hexdigest())
    assert main(["download", "inception-v3-fid", "--root", str(tmp_path / "w")]) == 0
    assert (tmp_path / "w" / inception.FID_WEIGHTS_FILENAME).read_bytes() == src.read_bytes()


def test_eval_a_run_and_samples(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "--run-dir", str(run), *FAST]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--metrics", "fid,is", "--n", "200", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "200 generated vs 1497 reference samples; extractor digits-cnn" in out and "fid" in out
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 1
    assert main(["sample", str(run), "-n", "50", "--out", str(tmp_path / "s.npz")]) == 0
    assert main(["eval", "--samples", str(tmp_path / "s.npz"), "--reference", "digits", "--metrics", "fid",
                 "--json"]) == 0
    rec = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert rec["n_fake"] == 50 and rec["reference"]["dataset"] == "digits"
    assert main(["eval", str(run), "--metrics", "fdi"]) == 2
    assert "unknown metric 'fdi'" in capsys.readouterr().err
    assert main(["eval"]) == 2
