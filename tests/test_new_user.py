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
