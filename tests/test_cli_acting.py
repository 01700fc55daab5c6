"""The command line for runs of a policy: `ganscape demos` (a demonstrations
file), `ganscape sample --episodes` (a GIF or PNG strip of episodes and
their trajectories), `ganscape eval` with the return metrics, and `sample`
of a GAN run left as it was. One tiny expert run serves the module."""
import json

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium", reason="the rl extra (gymnasium) is not installed")

import ganscape  # noqa: E402
from ganscape.cli import main  # noqa: E402
from ganscape.config import from_dict  # noqa: E402
from ganscape.data.demos import episode_bounds, read_demonstrations  # noqa: E402
from ganscape.train import rundir  # noqa: E402

EXPERT = {"seed": 1, "data": "none", "env": {"id": "CartPole-v1", "num_envs": 2},
          "method": {"name": "expert", "params": {"algo": "ppo", "steps_per_iter": 200, "hidden": [16], "epochs": 2,
                                                  "vf_epochs": 2}},
          "train": {"steps": 2, "log_every": 1, "sample_every": 0, "checkpoint_every": 0, "latest_every": 1,
                    "progress": False}}


@pytest.fixture(scope="module")
def expert_run(tmp_path_factory):
    return ganscape.train(from_dict(EXPERT), run_dir=tmp_path_factory.mktemp("cli-acting") / "expert")


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    return err


def test_demos_writes_a_demonstrations_file(expert_run, tmp_path, capsys):
    out = tmp_path / "d" / "expert.npz"
    assert main(["demos", str(expert_run), "--episodes", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "wrote 2 episodes" in printed and "CartPole-v1" in printed and str(out) in printed
    d = read_demonstrations(out)
    assert d["env_id"] == "CartPole-v1" and d["dones"].sum() == 2
    assert d["obs"].shape[1:] == (4,) and d["acts"].dtype == np.int64
    assert d["next_obs"].shape == d["obs"].shape and d["terminated"].dtype == bool
    bounds = episode_bounds(d["dones"])
    returns = [float(d["rews"][a:b].sum()) for a, b in bounds]
    assert d["expert_return"] == pytest.approx(np.mean(returns))
    # the same command gives the same file; another seed other episodes
    again = tmp_path / "again.npz"
    assert main(["demos", str(expert_run), "--episodes", "2", "--out", str(again)]) == 0
    assert np.array_equal(read_demonstrations(again)["obs"], d["obs"])
    other = tmp_path / "other.npz"
    assert main(["demos", str(expert_run), "--episodes", "2", "--seed", "1", "--out", str(other)]) == 0
    assert not np.array_equal(read_demonstrations(other)["obs"][:1], d["obs"][:1])
    # the file trains an imitation run as it is
    run = ganscape.train(from_dict({"data": {"name": "demonstrations", "params": {"path": str(out),
                                                                               "trajectories": 1}},
                                    "env": {"id": "CartPole-v1"},
                                    "method": {"name": "bc", "params": {"hidden": [8]}},
                                    "train": {"steps": 1, "batch_size": 8, "sample_every": 0, "progress": False}}),
                         run_dir=tmp_path / "bc")
    assert rundir.read_status(run)["status"] == "completed"


def test_sample_renders_a_gif_and_its_trajectories(expert_run, tmp_path, capsys):
    from PIL import Image
    out = tmp_path / "episode.gif"
    assert main(["sample", str(expert_run), "--episodes", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "wrote 1 episodes" in printed and str(out) in printed
    traj = np.load(tmp_path / "episode.npz")
    assert str(traj["env_id"]) == "CartPole-v1" and traj["dones"].sum() == 1
    frames = len(traj["obs"]) + 1   # the reset frame, then one per step
    assert f"({frames} frames)" in printed
    with Image.open(out) as im:   # (Pillow merges consecutive frames that look the same)
        assert im.format == "GIF" and 1 < im.n_frames <= frames
    # a policy's run renders episodes even without --episodes
    assert main(["sample", str(expert_run), "--out", str(tmp_path / "plain.gif")]) == 0
    assert (tmp_path / "plain.gif").exists() and (tmp_path / "plain.npz").exists()


def test_sample_png_strip(expert_run, tmp_path, capsys):
    from PIL import Image
    out = tmp_path / "strip.png"
    assert main(["sample", str(expert_run), "--episodes", "2", "--out", str(out)]) == 0
    with Image.open(out) as im:
        assert im.format == "PNG"
        w, h = im.size
    assert w > h   # frames side by side, one row per episode
    assert np.load(tmp_path / "strip.npz")["dones"].sum() == 2


def test_sample_refuses_other_suffixes(expert_run, tmp_path, capsys):
    assert main(["sample", str(expert_run), "--episodes", "1", "--out", str(tmp_path / "f.txt")]) == 2
    err = _one_line_error(capsys)
    assert "f.txt must end in .gif (an animation) or .png (a strip of frames)" in err
    assert not list(tmp_path.iterdir())


def test_eval_return(expert_run, capsys):
    assert main(["eval", str(expert_run), "--metrics", "return", "--param", "return.episodes=3"]) == 0
    out = capsys.readouterr().out
    assert "return" in out
    rec = rundir.read_jsonl(expert_run / "metrics.jsonl")[-1]
    assert rec["protocol"]["return"]["episodes"] == 3 and rec["protocol"]["return"]["env"] == "CartPole-v1"
    r = rec["results"]
    assert r["return_min"] <= r["return"] <= r["return_max"] and r["return"] >= 1
    assert main(["eval", str(expert_run), "--metrics", "return", "--param", "return.episodes=3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"]["return"] == r["return"]   # fixed-seed episodes


def test_normalized_return_without_an_expert_return_is_refused(expert_run, capsys):
    assert main(["eval", str(expert_run), "--metrics", "normalized-return",
                 "--param", "normalized-return.episodes=2"]) == 2
    err = _one_line_error(capsys)
    assert "normalized-return needs the expert's return" in err
    assert "--param normalized-return.expert=R" in err
    # given, it is (R - R_random) / (R_expert - R_random), R over the same fixed-seed episodes as `return`
    assert main(["eval", str(expert_run), "--metrics", "return,normalized-return", "--param", "return.episodes=2",
                 "--param", "normalized-return.episodes=2", "--param", "normalized-return.expert=500", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)["results"]
    assert r["expert_return"] == 500 and r["random_return"] > 0
    assert r["normalized_return"] == pytest.approx((r["return"] - r["random_return"]) / (500 - r["random_return"]),
                                                   rel=1e-12)


def test_sample_of_a_gan_run_is_unaffected(tmp_path, capsys):
    run = tmp_path / "gan"
    assert main(["train", "--run-dir", str(run), "--set", "train.steps=2", "--set", "train.batch_size=16",
                 "--set", "model.generator.arch.params.width=16", "--set",
                 "model.discriminator.arch.params.width=16", "--set", "train.sample_every=0", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["sample", str(run), "-n", "5", "--out", str(tmp_path / "s.npz")]) == 0
    assert np.load(tmp_path / "s.npz")["x"].shape == (5, 1, 8, 8)
    assert main(["sample", str(run), "--episodes", "1", "--out", str(tmp_path / "e.gif")]) == 2
    assert "trains no policy" in _one_line_error(capsys)
    assert main(["demos", str(run), "--out", str(tmp_path / "d.npz")]) == 2
    assert "trains no policy" in _one_line_error(capsys)
