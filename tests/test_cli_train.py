"""`ganscape train` behaviour (issue 6, items 8-13): --steps, --config on the
default preset, safe run names and folders, clean failures."""
import json

import pytest
import yaml

from ganscape.cli import main
from ganscape.train import checkpoint as ckpt_io
from ganscape.train import rundir

TINY = ["--no-progress", "--set", "model.z_dim=4", "--set", "model.generator.arch.params.width=16",
        "--set", "model.discriminator.arch.params.width=16", "--set", "train.batch_size=16",
        "--set", "train.log_every=5", "--set", "train.sample_every=0", "--set", "train.checkpoint_every=0",
        "--set", "train.latest_every=5"]


def _err(capsys):
    return capsys.readouterr().err


def test_steps_without_resume_sets_train_steps(tmp_path):
    assert main(["train", "--run-dir", str(tmp_path / "r"), "--steps", "7", *TINY]) == 0
    assert rundir.read_status(tmp_path / "r")["step"] == 7
    assert json.loads((tmp_path / "r" / "config.json").read_text())["train"]["steps"] == 7


@pytest.mark.parametrize("bad", ["-5", "0", "x"])
def test_non_positive_steps_are_rejected(bad, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--resume", str(tmp_path), "--steps", bad])
    assert e.value.code == 2 and "--steps" in _err(capsys)


def test_config_file_alone_layers_on_the_default_preset(tmp_path, capsys):
    f = tmp_path / "my.yaml"
    f.write_text(yaml.safe_dump({"loss": "hinge"}))
    assert main(["train", "--config", str(f), "--dry-run"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["loss"]["name"] == "hinge"
    # everything else is the digits preset's (an MLP with spectral norm in D, 6000 steps)
    assert cfg["model"]["discriminator"]["norm"]["name"] == "spectral"
    assert cfg["model"]["generator"]["arch"]["params"]["width"] == 256


def test_run_folders_are_named_after_the_preset_not_the_data_set(tmp_path):
    # issue 17, item 32: every digits-based preset wrote runs/digits-NNN
    assert main(["train", "--out", str(tmp_path), "--steps", "2", *TINY, "--set", "data=shapes",
                 "--set", "train.batch_size=8"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["digits-001"]  # the default preset's name


@pytest.mark.parametrize("name", ["../../x", "/abs/path", "a/b", ".hidden", ".."])
def test_a_run_name_is_one_path_component(name, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["train", "--out", str(out), "--steps", "2", *TINY, "--set", f"name={name}"])
    assert code == 2
    err = _err(capsys)
    assert "name:" in err and "one folder name" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_out_on_a_run_folder_is_refused(tmp_path, capsys):
    run = tmp_path / "runs" / "r"
    assert main(["train", "--run-dir", str(run), "--steps", "2", *TINY]) == 0
    before = sorted(p.name for p in run.iterdir())
    assert main(["train", "--out", str(run), "--steps", "2", *TINY]) == 2
    assert "is a run folder" in _err(capsys)
    assert sorted(p.name for p in run.iterdir()) == before


def test_run_dir_with_foreign_files_is_refused(tmp_path, capsys):
    run = tmp_path / "r"
    run.mkdir()
    (run / "stats.jsonl").write_text('{"step": 1}\n')
    assert main(["train", "--run-dir", str(run), "--steps", "2", *TINY]) == 2
    assert "is not empty" in _err(capsys)
    assert sorted(p.name for p in run.iterdir()) == ["stats.jsonl"]


def test_a_failed_start_leaves_no_folder(tmp_path, capsys):
    out = tmp_path / "runs"
    # a 2-D data set with a DCGAN: refused when the nets are built, before any folder exists
    assert main(["train", "--out", str(out), *TINY, "--set", "data=ring-8",
                 "--set", "model.generator.arch=dcgan"]) == 2
    assert "does not handle points data" in _err(capsys)
    assert not out.exists() or not any(out.iterdir())


def test_resume_with_set_changes_allowed_keys_only(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "--run-dir", str(run), "--steps", "5", *TINY]) == 0
    assert main(["train", "--resume", str(run), "--steps", "10", "--set", "optim.generator.params.lr=1e-5"]) == 0
    assert ckpt_io.load(run / "checkpoints" / "latest.pt")["step"] == 10
    assert main(["train", "--resume", str(run), "--set", "model.z_dim=9"]) == 2
    assert "cannot change on resume" in _err(capsys)


def test_resume_after_an_architecture_edit_is_a_clear_error(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "--run-dir", str(run), "--steps", "5", *TINY]) == 0
    cfg = json.loads((run / "config.json").read_text())
    cfg["model"]["discriminator"]["arch"]["params"]["depth"] = 5
    (run / "config.json").write_text(json.dumps(cfg))
    assert main(["train", "--resume", str(run), "--steps", "10"]) == 2
    err = _err(capsys)
    assert "model.discriminator.arch.params.depth: 3 in the checkpoint, 5 now" in err and "Traceback" not in err
    # sample and eval use the checkpoint's architecture
    assert main(["sample", str(run), "-n", "4", "--out", str(tmp_path / "s.npz")]) == 0
    # the warning says so in one line (Python's display adds the file, line and source that warned)
    err = capsys.readouterr().err.strip().splitlines()
    assert [line for line in err if "differs from the config" in line][0].startswith("warning: ")
    assert len(err) == 1, err


def test_read_only_run_folder_is_one_line(tmp_path, capsys, monkeypatch):
    import errno

    run = tmp_path / "r"
    assert main(["train", "--run-dir", str(run), "--steps", "5", *TINY]) == 0

    def read_only(path, text):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(rundir, "_write_text", read_only)
    assert main(["train", "--resume", str(run), "--steps", "10"]) == 1
    err = _err(capsys).strip()
    assert err.count("\n") == 0 and "status.json: read-only file system" in err
