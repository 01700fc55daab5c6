"""The study folder against its database (issue 17 items 1-3): a fresh,
emptied or recreated database next to old trial folders, copied and moved
study folders, and damaged study.db files."""
import json
import os
import shutil
from pathlib import Path

import optuna
import pytest
import yaml

from ganscape.cli import main
from ganscape.study.folder import read_meta, storage_url
from ganscape.study.runner import prepare, worker_main
from ganscape.study.storage import counts, load_table

pytestmark = pytest.mark.filterwarnings("ignore:gaussian_stats")  # FID of 100 samples, on purpose

SPEC = {
    "name": "tiny",
    "base": "digits",
    "set": ["train.steps=10", "train.batch_size=32", "train.log_every=5", "train.sample_every=0",
            "train.checkpoint_every=0", "train.latest_every=5", "train.ema_decay=0", "model.z_dim=8",
            "model.generator.arch.params.width=16", "model.discriminator.arch.params.width=16"],
    "space": {
        "loss": {"key": "loss.name", "choices": ["least-squares", "hinge"]},
        "lr": {"keys": ["optim.generator.params.lr", "optim.discriminator.params.lr"],
               "float": [1e-4, 1e-3], "log": True},
    },
    "trials": 1,
    "objective": {"metric": "fid", "n": 100, "every": 10},
}


def _run(spec, out, *extra):
    return main(["study", "run", str(spec), "--out", str(out), "--no-progress", *extra])


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A study folder with one completed trial (copied by each test)."""
    root = tmp_path_factory.mktemp("finished")
    spec = root / "tiny.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    assert _run(spec, root / "S") == 0
    return spec, root / "S"


def _copy(finished, tmp_path, name="S"):
    spec, src = finished
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return spec, dst


def _one_error_line(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    for n in needles:
        assert str(n) in err[0], err
    return err[0]


def _fingerprint(run: Path):
    return {p.name: p.read_bytes() for p in (run / "config.json", run / "metrics.jsonl", run / "status.json")}


# ---- item 1: a database that no longer records the trial folders ----------------------------------------
@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_a_deleted_or_emptied_database_next_to_trial_folders_is_refused(finished, tmp_path, capsys, how):
    spec, out = _copy(finished, tmp_path)
    run = out / "trials" / "trial-0000"
    before = _fingerprint(run)
    db = out / "study.db"
    if how == "deleted":
        db.unlink()
    else:
        db.write_bytes(b"")
    assert _run(spec, out, "--trials", "2") == 2
    _one_error_line(capsys, run, "restore the database")
    assert _fingerprint(run) == before  # nothing retrained, nothing reused
    assert not (out / "trials" / "trial-0001").exists()


def test_a_recreated_database_whose_trial_has_other_settings_is_refused(finished, tmp_path, capsys):
    # the case: trial 0 of the new database is {hinge, 2.43e-4}, the folder holds least-squares
    spec, out = _copy(finished, tmp_path)
    run = out / "trials" / "trial-0000"
    recorded = json.loads((run / "trial.json").read_text())["params"]
    other = "hinge" if recorded["loss"] == "least-squares" else "least-squares"
    (out / "study.db").unlink()
    study = optuna.create_study(study_name="tiny", storage=storage_url(out))
    dists = {"loss": optuna.distributions.CategoricalDistribution(["least-squares", "hinge"]),
             "lr": optuna.distributions.FloatDistribution(1e-4, 1e-3, log=True)}
    study.add_trial(optuna.trial.create_trial(params={"loss": other, "lr": 2.43e-4}, distributions=dists,
                                              value=1.0, user_attrs={"run_dirs": ["trials/trial-0000"]}))
    before = _fingerprint(run)
    assert _run(spec, out, "--trials", "2") == 2
    line = _one_error_line(capsys, run, "other settings", "loss.name")
    assert repr(other) in line and repr(recorded["loss"]) in line
    assert _fingerprint(run) == before


def test_a_trial_handed_a_folder_with_other_settings_fails_without_touching_it(finished, tmp_path):
    # past prepare's check (a trial waiting in the queue names the folder before it has parameters),
    # the worker compares the folder's config with the trial's and does not reuse it
    spec, out = _copy(finished, tmp_path)
    run = out / "trials" / "trial-0000"
    recorded = json.loads((run / "trial.json").read_text())["params"]
    other = "hinge" if recorded["loss"] == "least-squares" else "least-squares"
    before = _fingerprint(run)
    shutil.move(str(out / "trials"), str(tmp_path / "aside"))
    (out / "study.db").unlink()
    prepare(spec, out, trials=1)
    study = optuna.load_study(study_name="tiny", storage=storage_url(out))
    study.enqueue_trial({"loss": other, "lr": 2.43e-4}, user_attrs={"run_dirs": ["trials/trial-0000"]})
    shutil.rmtree(out / "trials")
    shutil.move(str(tmp_path / "aside"), str(out / "trials"))
    worker_main(str(out), 0, 1, None)
    table = load_table(out)
    assert [r["state"] for r in table] == ["failed"]
    assert "other settings" in table[0]["reason"] and "not reused" in table[0]["reason"]
    assert table[0]["value"] is None
    assert _fingerprint(run) == before


# ---- item 2: the storage path is relative to the study folder --------------------------------------------
def test_a_copied_study_writes_its_own_database_and_a_moved_one_still_opens(finished, tmp_path, capsys):
    spec, out = _copy(finished, tmp_path)
    assert read_meta(out)["storage"] == "study.db"
    copy = tmp_path / "S2"
    shutil.copytree(out, copy)
    assert _run(spec, copy, "--trials", "2") == 0
    assert counts(copy)["complete"] == 2 and counts(out)["complete"] == 1  # S untouched
    moved = tmp_path / "S3"
    shutil.move(str(out), str(moved))
    capsys.readouterr()
    assert main(["study", "status", str(moved)]) == 0
    assert "1 of 1 trials finished" in capsys.readouterr().out


def test_an_old_absolute_storage_path_loads_and_says_which_database_it_uses(finished, tmp_path, capsys):
    spec, out = _copy(finished, tmp_path)
    meta = read_meta(out)
    meta["storage"] = f"sqlite:///{(tmp_path / 'elsewhere' / 'study.db').resolve()}"  # as written before
    (out / "study.json").write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(["study", "status", str(out)]) == 0
    cap = capsys.readouterr()
    assert "1 of 1 trials finished" in cap.out
    assert cap.err.count("\n") == 1 and "outside this folder" in cap.err and str(out / "study.db") in cap.err
    assert _run(spec, out, "--trials", "2") == 0  # continuing rewrites it relative
    assert read_meta(out)["storage"] == "study.db" and counts(out)["complete"] == 2
    # an absolute path that is gone, and no study.db in the folder: one line
    (out / "study.db").unlink()
    (out / "study.json").write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(["study", "status", str(out)]) == 2
    _one_error_line(capsys, "does not exist", "holds no study.db")


def test_an_explicit_storage_url_is_kept_as_given(tmp_path, capsys):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    out = tmp_path / "S"
    assert _run(spec, out, "--storage", url, "--trials", "1") == 0
    assert read_meta(out)["storage"] == url and storage_url(out) == url
    capsys.readouterr()
    assert _run(spec, tmp_path / "T", "--storage", str(tmp_path / "plain.db")) == 2
    _one_error_line(capsys, "--storage", "SQLAlchemy URL")


# ---- item 3: a damaged study.db is one line naming it -----------------------------------------------------
@pytest.mark.parametrize("damage", ["truncated", "random", "text", "empty"])
def test_a_damaged_database_is_one_line_naming_it(finished, tmp_path, capsys, damage):
    spec, out = _copy(finished, tmp_path)
    db = out / "study.db"
    data = db.read_bytes()
    db.write_bytes({"truncated": data[:len(data) // 2], "random": os.urandom(len(data)),
                    "text": b"not a database\n" * 100, "empty": b""}[damage])
    capsys.readouterr()
    for argv in (["study", "status", str(out)], ["report", str(out)], ["study", "run", str(spec), "--out", str(out),
                                                                       "--no-progress"]):
        assert main(argv) == 2, argv
        _one_error_line(capsys, db)


# ---- item 36: trial numbers are folder numbers after an interruption ---------------------------------------
def test_a_retried_trial_keeps_the_number_of_its_folder(tmp_path, capsys):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, "trials": 2}))
    out = prepare(spec, tmp_path / "S")
    study = optuna.load_study(study_name="tiny", storage=storage_url(out))
    dists = {"loss": optuna.distributions.CategoricalDistribution(["least-squares", "hinge"]),
             "lr": optuna.distributions.FloatDistribution(1e-4, 1e-3, log=True)}
    params = {"loss": "hinge", "lr": 3e-4}

    def add(state, value, **attrs):
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, state=state, value=value,
                                                  user_attrs=attrs))
    # Optuna's trial 0 died with its worker; trial 1 retried it in trials/trial-0000; trial 2 is new
    add(optuna.trial.TrialState.FAIL, None, run_dirs=["trials/trial-0000"])
    add(optuna.trial.TrialState.COMPLETE, 7.0, run_dirs=["trials/trial-0000"], retry_of=0, retries=1)
    add(optuna.trial.TrialState.COMPLETE, 9.0, run_dirs=["trials/trial-0002"])
    table = sorted(load_table(out), key=lambda r: r["number"])
    assert [(r["number"], r["optuna_number"]) for r in table] == [(0, 1), (2, 2)]
    assert counts(out)["best_trial"] == 0
    assert main(["report", str(out)]) == 0
    assert "(trial 0)" in (out / "report.md").read_text()
    assert main(["study", "status", str(out)]) == 0
    assert "best: 7.0 (trial 0:" in capsys.readouterr().out
