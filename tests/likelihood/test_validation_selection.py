"""A validation split for the likelihood families (issue 17 item 28): the
digits data sets hold out `validation` training images as split "val"; the
metric nll scores them when asked; `eval.params` passes that to the
evaluations during training, so best.pt is the checkpoint with the best
validation likelihood, chosen without the test split."""
import math

import pytest
import torch

import ganscape
from ganscape.config import from_dict, load_config
from ganscape.data.digits import DigitsParams, digits
from ganscape.data.discrete import BinaryDigitsParams, binary_digits
from ganscape.registry import ConfigError
from ganscape.train import rundir


def _rows(x):
    return {tuple(r.flatten().tolist()) for r in x}


def test_val_is_held_out_of_train_and_always_the_same_images():
    full = digits(DigitsParams(), "train").floats()
    train = digits(DigitsParams(validation=200), "train", seed=0).floats()
    val = digits(DigitsParams(validation=200), "val", seed=5).floats()
    test = digits(DigitsParams(validation=200), "test").floats()
    assert (len(full), len(train), len(val), len(test)) == (1497, 1297, 200, 300)
    # the same fixed order: train is the head of the full training split, val its tail
    assert torch.equal(torch.cat([train, val]), full)
    assert torch.equal(val, digits(DigitsParams(validation=200), "val", seed=0).floats())
    assert not (_rows(val) - _rows(full))
    assert torch.equal(test, digits(DigitsParams(), "test").floats())   # the test split never moves
    bval = binary_digits(BinaryDigitsParams(validation=200), "val").floats()
    btrain = binary_digits(BinaryDigitsParams(validation=200), "train").floats()
    assert bval.shape == (200, 1, 8, 8) and len(btrain) == 1297 and set(bval.unique().tolist()) <= {-1.0, 1.0}
    # dynamic binarization: the val split is one fixed binary draw, like test
    dyn = binary_digits(BinaryDigitsParams(validation=200, dynamic=True), "val")
    assert dyn.transform is None and set(dyn.floats().unique().tolist()) <= {-1.0, 1.0}


def test_val_split_errors_name_the_fix():
    with pytest.raises(ConfigError, match="validation: N"):
        digits(DigitsParams(), "val")
    with pytest.raises(ConfigError, match=r"validation.*\[0, 1496\]"):
        load_config("pixelcnn-digits", None, ["data.params.validation=1497"])
    with pytest.raises(ConfigError, match="validation"):
        load_config("pixelcnn-digits", None, ["data.params.validation=-1"])


def test_eval_params_are_typed_and_checked():
    cfg = load_config("pixelcnn-digits", None, ["eval.metrics=[nll]", "eval.best=bits_per_dim",
                                                 "eval.params={nll: {split: val}}"])
    assert cfg.eval.params["nll"]["split"] == "val" and cfg.eval.params["nll"]["iwae_k"] == 1000  # defaults filled
    with pytest.raises(ConfigError, match="eval.params.nl: unknown metric 'nl'"):
        load_config("pixelcnn-digits", None, ["eval.metrics=[nll]", "eval.best=bits_per_dim",
                                               "eval.params={nl: {}}"])
    # a preset's nll parameters do not stand in the way of other metrics
    cfg = load_config("vae-digits", None, ["eval.metrics=[fid]", "eval.best=fid"])
    assert cfg.eval.metrics == ("fid",) and cfg.eval.params["nll"]["split"] == "val"
    with pytest.raises(ConfigError, match="eval.params.nll.split"):
        load_config("pixelcnn-digits", None, ["eval.metrics=[nll]", "eval.best=bits_per_dim",
                                               "eval.params={nll: {split: valid}}"])
    with pytest.raises(ConfigError, match="unknown key eval.params.nll.nope"):
        load_config("pixelcnn-digits", None, ["eval.metrics=[nll]", "eval.best=bits_per_dim",
                                               "eval.params={nll: {nope: 1}}"])


def _tiny(validation, steps=6):
    return {"data": {"name": "digits", "params": {"validation": validation}},
            "model": {"generator": {"arch": {"name": "pixelcnn", "params": {"hidden": 8, "layers": 3,
                                                                            "head_hidden": 16}}, "norm": "none"}},
            "method": "likelihood",
            "optim": {"generator": {"name": "adam", "params": {"lr": 0.003}}},
            "train": {"steps": steps, "batch_size": 16, "log_every": 1, "sample_every": 100,
                      "checkpoint_every": 100, "progress": False, "num_samples": 4},
            "eval": {"every": 1, "metrics": ["nll"], "n": 2, "best": "bits_per_dim",
                     "params": {"nll": {"split": "val", "baseline_components": 0}}}}


def test_training_keeps_the_checkpoint_with_the_best_validation_likelihood(tmp_path):
    from ganscape.metrics.nll import NLLParams, model_nll
    run = ganscape.train(from_dict(_tiny(40)), run_dir=tmp_path / "run")
    recs = [r for r in rundir.read_jsonl(run / "metrics.jsonl") if r.get("source") == "train"]
    assert [r["step"] for r in recs] == [1, 2, 3, 4, 5, 6]
    assert all(r["protocol"]["nll"]["split"] == "val" for r in recs)
    bits = [r["results"]["bits_per_dim"] for r in recs]
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    assert best["step"] == recs[bits.index(min(bits))]["step"]
    # the recorded figure is the likelihood of the 40 held-out images under that checkpoint
    G = ganscape.load_generator(run, "best")
    val = digits(DigitsParams(validation=40), "val").floats()
    assert len(val) == 40
    assert model_nll(G, val, 17, NLLParams())["bits_per_dim"] == pytest.approx(min(bits), rel=1e-5)
    assert all(math.isfinite(b) for b in bits)


def test_nll_on_val_without_a_held_out_split_is_one_line(tmp_path):
    tree = _tiny(0, steps=1)
    with pytest.raises(ConfigError, match="split 'val' is the training images held out") as e:
        ganscape.train(from_dict(tree), run_dir=tmp_path / "run")
    assert "\n" not in str(e.value)
    assert not (tmp_path / "run").exists()       # refused before the run folder is made
    # the metric itself says what is wrong when called on such a reference directly
    from ganscape.metrics.nll import _split
    with pytest.raises(ConfigError, match="split val is the training images a data set holds out"):
        _split({"dataset": "digits", "params": {"size": 8}}, "val", 0, "metric nll")
