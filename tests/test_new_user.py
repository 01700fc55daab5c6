"""What a new user hits (issue 17, items 32, 33, 35): run names, one's own
image folder, what `eval`, `sample --out DIR` and `train --resume` say."""
import json

import numpy as np
import pytest
import yaml

from ganscape.api import make_config
from ganscape.cli import main
from ganscape.config import ConfigError, load_config
from ganscape.train import rundir

TINY = ["--no-progress", "--set", "model.z_dim=4", "--set", "model.generator.arch.params.width=16",
        "--set", "model.discriminator.arch.params.width=16", "--set", "train.batch_size=16",
        "--set", "train.log_every=5", "--set", "train.sample_every=0", "--set", "train.checkpoint_every=0",
        "--set", "train.latest_every=5", "--set", "eval.every=0"]


# ---- item 32: a run is named after its preset --------------------------------------------

@pytest.mark.parametrize("preset", ["digits", "vae-digits", "cgan-digits", "realnvp-digits"])
def test_default_name_is_the_preset(preset):
    assert make_config(preset).name == preset


def test_a_config_file_alone_names_the_run_after_its_stem(tmp_path):
    f = tmp_path / "my run.yaml"
    f.write_text("loss: hinge\n")
    assert load_config(None, str(f)).name == "my-run"  # the space is not allowed in a folder name
    # a name given in the file or by --set wins
    f.write_text("name: mine\nloss: hinge\n")
    assert load_config(None, str(f)).name == "mine"
    assert load_config("vae-digits", None, ["name=other"]).name == "other"


def test_two_digits_based_presets_write_two_differently_named_folders(tmp_path):
    for preset in ("digits", "cgan-digits"):
        assert main(["train", "--preset", preset, "--out", str(tmp_path), "--steps", "2", *TINY]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cgan-digits-001", "digits-001"]


# ---- item 33: one's own images ------------------------------------------------------------

def _folder(root, n=24, shape=(40, 48), classes=("cat", "dog"), seed=0):
    from PIL import Image
    rng = np.random.default_rng(seed)
    for k in range(n):
        d = root / classes[k % len(classes)]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(d / f"{k}.png")
    return root


def test_image_folder_size_and_channels_are_inferred_and_recorded(tmp_path):
    from ganscape.api import resolve_data
    from ganscape.registry import DATASETS
    grey = _folder(tmp_path / "grey")  # 48 x 40 greyscale: shorter side 40 -> 32 px, 1 channel
    cfg, note = resolve_data(make_config(None, None, ["data.name=image-folder", f"data.params.root={grey}"]))
    assert (cfg.data.params["size"], cfg.data.params["channels"]) == (32, 1)
    assert "size 32" in note and "channels 1" in note and "data.params.size" in note
    assert DATASETS.build("image-folder", {"root": str(grey)}, "train").floats().shape[1:] == (1, 32, 32)
    rgb = _folder(tmp_path / "rgb", shape=(20, 70, 3))  # colour, shorter side 20 -> 16 px, 3 channels
    cfg, _ = resolve_data(make_config(None, None, ["data.name=image-folder", f"data.params.root={rgb}"]))
    assert (cfg.data.params["size"], cfg.data.params["channels"]) == (16, 3)
    # given values are kept, and then nothing is said
    cfg, note = resolve_data(make_config(None, None, ["data.name=image-folder", f"data.params.root={rgb}",
                                                      "data.params.size=8", "data.params.channels=1"]))
    assert (cfg.data.params["size"], cfg.data.params["channels"], note) == (8, 1, "")


def test_another_component_name_drops_the_presets_params(tmp_path):
    # the digits preset's data params are {size: 8}: they belonged to digits, not to image-folder
    for over in (["data.name=image-folder", "data.params.root=D"], ["data.params.root=D", "data.name=image-folder"]):
        params = make_config(None, None, over).data.params
        assert params["root"] == "D" and params["size"] is None
    f = tmp_path / "mine.yaml"
    f.write_text(yaml.safe_dump({"data": {"name": "image-folder", "params": {"root": "D"}}}))
    assert load_config(None, str(f)).data.params["size"] is None
    # the same name keeps them (a partial override of the preset's component)
    assert make_config(None, None, ["data.name=digits"]).data.params["size"] == 8


@pytest.mark.parametrize("preset", ["cgan-digits", "ssgan-digits"])
def test_class_subfolders_without_labels_from_dirs_name_the_fix(preset, tmp_path, capsys):
    root = _folder(tmp_path / "imgs")
    out = tmp_path / "runs"
    assert main(["train", "--preset", preset, "--out", str(out), "--steps", "2", "--no-progress",
                 "--set", "data.name=image-folder", "--set", f"data.params.root={root}"]) == 2
    assert "data.params.labels_from_dirs=true" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("extra, says", [
    (["eval.extractor=random-conv", "eval.metrics=[fid,is]"], "is needs class probabilities"),
    (["eval.extractor=digits-cnn", "eval.metrics=[fid]", "data.params.size=64"], "cannot score images of shape"),
])
def test_an_extractor_that_cannot_serve_the_metrics_fails_before_any_folder(tmp_path, capsys, extra, says):
    root = _folder(tmp_path / "imgs", n=40, shape=(64, 64))
    out = tmp_path / "runs"
    sets = [s for kv in ["data.name=image-folder", f"data.params.root={root}", "train.batch_size=8",
                         "eval.every=1", *extra] for s in ("--set", kv)]
    assert main(["train", "--out", str(out), "--steps", "2", "--no-progress", *sets]) == 2
    err = capsys.readouterr().err
    assert says in err and "eval.extractor=NAME" in err
    assert not out.exists()


# ---- item 35: what eval, sample --out DIR and train --resume say -----------------------------

@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("r") / "run"
    assert main(["train", "--run-dir", str(run), "--steps", "6", *TINY]) == 0
    return run


def test_eval_says_checkpoint_step_direction_and_a_heldout_baseline(tiny_run, capsys):
    capsys.readouterr()
    assert main(["eval", str(tiny_run), "--metrics", "fid,prdc", "--n", "100"]) == 0
    out = capsys.readouterr().out
    assert "scored: checkpoint latest.pt (step 6)" in out
    fid_line = next(line for line in out.splitlines() if line.strip().startswith("fid "))
    assert fid_line.rstrip().endswith("lower is better")
    assert next(line for line in out.splitlines() if line.strip().startswith("recall ")).rstrip().endswith(
        "higher is better")
    assert "held-out real" in out and "(n=100 each)" in out
    rec = rundir.read_jsonl(tiny_run / rundir.METRICS)[-1]
    base = rec["heldout_real"]
    assert base["n"] == 100 and base["split"] == "test" and set(base["results"]) >= {"fid", "precision"}
    # the printed baseline is the recorded one
    assert f"{base['results']['fid']:.4f}" in fid_line
    # held-out real digits are much closer to the training digits than a 6-step generator's samples
    assert base["results"]["fid"] < rec["results"]["fid"]


def test_heldout_baseline_is_independent_real_data_scored_the_same_way(tiny_run):
    # an independent computation: the test split at the same n against the train split, by evaluate_arrays
    import torch
    from ganscape.metrics.evaluate import evaluate_arrays, reference_images
    from ganscape.metrics.evaluate_run import heldout_baseline
    cfg = rundir.load_config(tiny_run)
    got = heldout_baseline(cfg, ["fid"], 50, "train")
    test, _, _ = reference_images("digits", {"size": 8}, "test", None)
    idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(0))[:50]
    train, _, _ = reference_images("digits", {"size": 8}, "train", None)
    want = evaluate_arrays(test[idx], train, ["fid"], extractor="digits-cnn", value_range="11")
    assert got["results"]["fid"] == pytest.approx(want["results"]["fid"], rel=1e-6)
    # where the data do not allow it, it says why and how
    assert "--n 300" in heldout_baseline(cfg, ["fid"], 5000, "train")["skipped"]
    assert "train" in heldout_baseline(cfg, ["fid"], 50, "test")["skipped"]


def test_sample_out_dir_holds_only_the_samples(tiny_run, tmp_path, capsys):
    out = tmp_path / "gen"
    assert main(["sample", str(tiny_run), "-n", "7", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"{i:06d}.png" for i in range(7)]
    assert (tmp_path / "gen.png").exists() and str(tmp_path / "gen.png") in capsys.readouterr().out
    # so eval --samples DIR counts 7 samples, not 8
    assert main(["eval", "--samples", str(out), "--reference", "digits", "--metrics", "fid", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_fake"] == 7


def test_resume_of_a_completed_run_says_what_steps_would_do(tiny_run, capsys):
    capsys.readouterr()
    assert main(["train", "--resume", str(tiny_run), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "already completed step 6" in err and "--steps N with N > 6" in err
    assert main(["train", "--resume", str(tiny_run), "--steps", "3", "--no-progress"]) == 0
    assert "--steps 3 is not beyond it" in capsys.readouterr().err
    assert main(["train", "--resume", str(tiny_run), "--steps", "8", "--no-progress"]) == 0
    assert "already completed" not in capsys.readouterr().err  # it trained on to step 8


@pytest.mark.parametrize("dataset, params", [("digits", {"size": 8}), ("stacked-digits", {"size": 8}),
                                             ("shapes", {})])
def test_default_eval_metrics_suit_the_data_sets_extractor(dataset, params):
    # `ganscape eval RUN` of a stacked-digits or shapes run failed: IS, a default, needs class
    # probabilities, which their extractors (digits-cnn per channel, random-conv) do not give
    from ganscape.metrics.evaluate import DEFAULT_METRICS, build_extractor, check_extractor
    from ganscape.registry import DATASETS
    data = DATASETS.build(dataset, params, "test")
    defaults = DATASETS.get(dataset).tags.get("metrics", DEFAULT_METRICS)
    check_extractor(build_extractor(None, None, dataset), defaults, data.shape)
