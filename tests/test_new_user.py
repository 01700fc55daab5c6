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
    assert DATASETS.build("image-folder", {"root": str(grey)}, "train").x.shape[1:] == (1, 32, 32)
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


def test_class_subfolders_without_labels_from_dirs_name_the_fix(tmp_path, capsys):
    root = _folder(tmp_path / "imgs")
    out = tmp_path / "runs"
    assert main(["train", "--preset", "cgan-digits", "--out", str(out), "--steps", "2", "--no-progress",
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
