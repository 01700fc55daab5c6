"""`ganscape sample`, `eval` and `download`: refusals with clear messages
(exit code 2), nothing written on error."""
import shutil

import numpy as np
import pytest
import torch

import ganscape
from ganscape.cli import main
from ganscape.config import from_dict

TREE = {
    "name": "tiny", "data": {"name": "digits"},
    "model": {"z_dim": 8,
              "generator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 2}}},
              "discriminator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 2}}}},
    "train": {"steps": 4, "batch_size": 16, "log_every": 2, "sample_every": 4,
              "checkpoint_every": 4, "latest_every": 2, "progress": False},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return ganscape.train(from_dict(TREE), run_dir=tmp_path_factory.mktemp("cli") / "run")


@pytest.fixture(scope="module")
def nan_run(run, tmp_path_factory):
    """A copy of `run` whose latest checkpoint holds NaN generator weights."""
    bad = tmp_path_factory.mktemp("cli") / "nan"
    shutil.copytree(run, bad)
    path = bad / "checkpoints" / "latest.pt"
    ckpt = torch.load(path, weights_only=True)
    for group in ("nets", "ema"):
        for t in ckpt[group].get("G", {}).values():
            if t.is_floating_point():
                t.fill_(float("nan"))
    # written as training writes it, with the digest of the new content (the old one would not match)
    from ganscape.train import checkpoint as ckpt_io
    ckpt_io.save(path, {k: v for k, v in ckpt.items() if k not in ("format", "digest")})
    return bad


def test_sample_refuses_a_generator_that_outputs_nan(nan_run, tmp_path, capsys):
    out = tmp_path / "s.npz"
    assert main(["sample", str(nan_run), "-n", "8", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"error: the generator of {nan_run} (checkpoint latest.pt, step 4) outputs NaN or Inf" in err
    assert "diverged" in err and "--checkpoint" in err
    assert not out.exists()


def test_eval_refuses_a_generator_that_outputs_nan(nan_run, capsys):
    assert main(["eval", str(nan_run), "--metrics", "fid", "--n", "20", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert f"error: the generator of {nan_run} (checkpoint latest.pt, step 4) outputs NaN or Inf" in err
    assert not (nan_run / "metrics.jsonl").exists()


@pytest.mark.parametrize("argv, message", [
    (["sample", "RUN", "--out", "x.npz", "--checkpoint", "abc"],
     "argument --checkpoint: 'abc' is not allowed; choose latest, best or a step number"),
    (["eval", "RUN", "--checkpoint", "-1"],
     "argument --checkpoint: '-1' is not allowed; choose latest, best or a step number"),
    (["sample", "RUN", "--out", "x.npz", "-n", "0"], "argument -n: must be >= 1, got 0"),
    (["eval", "RUN", "--n", "0"], "argument -n/--n: must be >= 1, got 0"),
    (["eval", "RUN", "--n", "-5"], "argument -n/--n: must be >= 1, got -5"),
    (["eval", "RUN", "--batch-size", "0"], "argument --batch-size: must be >= 1, got 0"),
    (["eval", "RUN", "--batch-size", "x"], "argument --batch-size: 'x' is not an integer"),
    (["download", "no-such-thing"], "argument name: invalid choice: 'no-such-thing' (choose from "),
])
def test_bad_arguments_are_refused_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_download_lists_the_fid_weights_among_the_choices(capsys):
    with pytest.raises(SystemExit):
        main(["download", "mnst"])
    err = capsys.readouterr().err
    assert "inception-v3-fid" in err and "mnist" in err and "cifar10" in err


def test_missing_inception_weights_say_how_to_get_them(tmp_path, capsys):
    from ganscape.metrics.features.inception import InceptionParams, resolve_weights
    with pytest.raises(FileNotFoundError) as e:
        resolve_weights(InceptionParams(weights=str(tmp_path / "nope.pth")))
    assert "ganscape download inception-v3-fid" in str(e.value)
    assert "--extractor-weights PATH" in str(e.value)
    np.savez(tmp_path / "s.npz", x=np.full((4, 1, 8, 8), -0.5, np.float32))
    assert main(["eval", "--samples", str(tmp_path / "s.npz"), "--reference", str(tmp_path / "s.npz"),
                 "--extractor", "inception-v3-fid", "--extractor-weights", str(tmp_path / "nope.pth")]) == 2
    err = capsys.readouterr().err
    assert f"weights not found at {tmp_path / 'nope.pth'}" in err


def test_extractor_weights_reach_the_extractor(run, tmp_path, capsys):
    from ganscape.metrics.features.digits_cnn import default_weights_path
    weights = tmp_path / "copy.safetensors"
    shutil.copy(default_weights_path(), weights)
    assert main(["eval", str(run), "--metrics", "fid", "--n", "20", "--device", "cpu",
                 "--extractor-weights", str(weights)]) == 0
    assert "extractor digits-cnn" in capsys.readouterr().out
    weights.write_bytes(b"not weights")
    assert main(["eval", str(run), "--metrics", "fid", "--n", "20", "--device", "cpu",
                 "--extractor-weights", str(weights)]) == 2
    assert f"{weights} is not a readable safetensors file of digits-cnn weights" in capsys.readouterr().err


def test_eval_n_default_and_explicit(run, capsys):
    assert main(["eval", str(run), "--metrics", "fid", "--n", "30", "--device", "cpu"]) == 0
    assert "30 generated vs" in capsys.readouterr().out


def test_unit_range_samples_need_range_01(run, tmp_path, capsys):
    x = ganscape.sample(run, n=20)
    np.savez(tmp_path / "u.npz", x=((x + 1) / 2).numpy())
    args = ["eval", "--samples", str(tmp_path / "u.npz"), "--reference", "digits", "--metrics", "fid"]
    assert main(args) == 2
    assert "values lie in [0, 1]; ganscape expects [-1, 1]" in capsys.readouterr().err
    assert main([*args, "--range", "01"]) == 0
    out = capsys.readouterr()
    assert "converted from [0, 1] to [-1, 1]" in out.err and "20 generated vs" in out.out


def test_batch_norm_nets_evaluate_with_batch_size_one(tmp_path, capsys):
    tree = {**TREE, "model": {**TREE["model"], "generator": {"arch": {"name": "mlp", "params": {"width": 16}},
                                                            "norm": "batch"}}}
    run = ganscape.train(from_dict(tree), run_dir=tmp_path / "bn")
    assert main(["sample", str(run), "-n", "1", "--out", str(tmp_path / "one.npz")]) == 0
    assert main(["eval", str(run), "--metrics", "fid", "--n", "3", "--batch-size", "1", "--device", "cpu"]) == 0
