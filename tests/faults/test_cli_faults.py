"""What the command line says to bad requests (issue 17, items 18, 25, 26):
one line, nothing half-written."""
import os

import numpy as np
import pytest

import ganscape
from ganscape.cli import main
from ganscape.config import from_dict
from ganscape.train import rundir


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tree = {"model": {"z_dim": 8, "generator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 1}}},
                      "discriminator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 1}}}},
            "train": {"steps": 2, "batch_size": 16, "progress": False, "sample_every": 2}}
    return ganscape.train(from_dict(tree), run_dir=tmp_path_factory.mktemp("cli") / "run")


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _errors(capsys):
    return [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("features")]


@pytest.mark.parametrize("inside", ["", "samples", "mine"])
def test_sample_refuses_to_write_into_a_run_folder(run, inside, capsys):
    before = _files(run)
    out = run / inside if inside else run
    assert main(["sample", str(run), "-n", "4", "--out", str(out)]) == 2
    err = _errors(capsys)
    assert len(err) == 1 and f"is inside the run folder {run.resolve()}" in err[0], err
    assert _files(run) == before


def test_sample_next_to_a_run_folder_is_fine(run, tmp_path, capsys):
    assert main(["sample", str(run), "-n", "4", "--out", str(tmp_path / "run-samples")]) == 0
    assert len(list((tmp_path / "run-samples").glob("0*.png"))) == 4
    # a config.json alone does not make a folder a run (other tools use the name)
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "config.json").write_text("{}")
    assert main(["sample", str(run), "-n", "2", "--out", str(tmp_path / "project" / "s")]) == 0


def test_eval_with_no_metric_named_records_nothing(run, capsys):
    before = rundir.read_jsonl(run / "metrics.jsonl")
    for metrics in ("", ",", " , "):
        assert main(["eval", str(run), "--metrics", metrics, "--n", "16"]) == 2
        err = _errors(capsys)
        assert len(err) == 1 and "names no metric" in err[0], err
    assert rundir.read_jsonl(run / "metrics.jsonl") == before


def test_npz_errors_name_the_file(tmp_path, capsys):
    obj = tmp_path / "objects.npz"
    np.savez(obj, x=np.array([{"a": 1}, None], dtype=object))
    rand = tmp_path / "random.npz"
    rand.write_bytes(os.urandom(4096))
    for path, what in ((obj, "holds an object array, which is never loaded"),
                       (rand, "not a .npz file")):
        assert main(["eval", "--samples", str(path), "--reference", "digits", "--metrics", "fid"]) == 2
        err = _errors(capsys)
        assert len(err) == 1 and err[0].startswith(f"error: {path}: {what}"), err


# ---- 16. counts whose output cannot fit ------------------------------------------
@pytest.mark.parametrize("command", ["sample", "eval"])
def test_a_sample_count_that_cannot_fit_in_memory_is_refused_at_once(run, tmp_path, command, capsys):
    # 10^11 images of 1x8x8: 52 TB in memory, beyond any machine; refused before anything of that size is made
    n = "100000000000"
    args = (["sample", str(run), "-n", n, "--out", str(tmp_path / "out")] if command == "sample" else
            ["eval", str(run), "--n", n, "--metrics", "fid"])
    before = rundir.read_jsonl(run / "metrics.jsonl")
    assert main(args) == 2
    err = _errors(capsys)
    # sample writes its images as they come (one batch in memory), so what they cannot fit is the disk;
    # eval --metrics fid extracts features as the images come and holds those: digits-cnn's 128 features
    # and 10 class probabilities, float64, three copies at the peak, and a label: 3320 bytes a sample
    from ganscape.resources import block_size, format_bytes
    disk = format_bytes(int(n) * block_size(tmp_path))  # a block a file: 410 TB where blocks are 4 KB
    start = (f"error: {n} PNG files would take at least {disk} of disk, more than the" if command == "sample" else
             f"error: n={n}: the features of {n} samples (138 values each) would take 332 TB of memory, "
             "more than the")
    assert len(err) == 1 and err[0].startswith(start), err
    assert not (tmp_path / "out").exists() and rundir.read_jsonl(run / "metrics.jsonl") == before


def test_png_files_that_cannot_fit_on_the_disk_are_refused(run, tmp_path, monkeypatch, capsys):
    from collections import namedtuple

    from ganscape import resources
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(resources.shutil, "disk_usage", lambda p: usage(10 ** 9, 10 ** 9 - 100_000, 100_000))
    assert main(["sample", str(run), "-n", "64", "--out", str(tmp_path / "pngs")]) == 2
    err = _errors(capsys)
    assert len(err) == 1 and "64 PNG files would take at least" in err[0] and "of disk" in err[0], err
    assert not (tmp_path / "pngs").exists()
    monkeypatch.undo()
    assert main(["sample", str(run), "-n", "64", "--out", str(tmp_path / "pngs")]) == 0


def test_an_eval_n_that_cannot_fit_is_refused_before_training(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--run-dir", str(run), "--set", "eval.metrics=[fid]", "--set", "eval.n=100000000000",
                 "--set", "train.steps=2", "--set", "train.progress=false"]) == 2
    err = _errors(capsys)
    assert len(err) == 1 and "n=100000000000: 100000000000 samples of shape (1, 8, 8) would take" in err[0], err
    assert not run.exists()
