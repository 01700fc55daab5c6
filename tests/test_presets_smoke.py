"""Every shipped preset trains, samples and evaluates (issue 17, item 29).

One parametrized test over `list_presets()`: each preset as shipped, with
only what makes it test-sized changed (a few steps, a small batch, small
evaluation counts; the sequence recipes' pretraining phases shortened so
that every phase runs; a small oracle data set; a text file written here
for the text presets, which need one). What is checked: the run completes,
a checkpoint exists, `sample` gives finite values of the data's shape, and
an evaluation with the preset's own metrics (else FID for images, the
token defaults for sequences) returns finite numbers; 2-D presets report mode coverage. Presets whose
data are files that are not here (MNIST, CIFAR-10, ...) are skipped with
the reason. A new preset is covered without touching this file.

Presets of a method that acts (expert, gail, airl, bc, vime) run with
iterations of 200 transitions from one environment copy and evaluations of 2
episodes; instead of samples they roll one episode out into a demonstrations
file (ganscape.episodes.demos) and are scored by return. They are skipped
when gymnasium is missing, MuJoCo tasks when mujoco is missing, and presets
on shipped demonstrations that are not built yet.
"""
import math

import pytest
import torch
import yaml

import ganscape
from ganscape.config import PRESET_DIR, list_presets, load_config
from ganscape.metrics.evaluate import split_metrics
from ganscape.registry import DATASETS
from ganscape.train import rundir
from ganscape.train.state import build_method

# data sets read from files the test machine does not hold (download needs the network; a pack is made
# from the user's images): the large-scale presets on them (resnet19-celebahq, sndcgan-cifar10,
# resnet-cifar10, dcgan-lsun-bedroom) run one step on substitute data in tests/test_scale_presets.py
FILE_DATA = {"mnist", "fashion-mnist", "cifar10", "image-folder", "packed"}

# a few steps of everything; evaluation during training (if the preset has any) only at the end, on
# 40 samples (4 of each class for the class-conditional metrics)
TINY = ["train.steps=3", "train.batch_size=16", "train.log_every=1", "train.sample_every=3",
        "train.checkpoint_every=0", "train.latest_every=3", "train.num_samples=16", "eval.every=0", "eval.n=40"]

# the likelihood on 32 test images, with AIS / IWAE at a few steps (exact models ignore these)
SMALL_NLL = {"n": 32, "iwae_k": 2, "ais_steps": 5, "ais_chains": 2, "ais_validation": 8}

# the methods that act in an environment (config section env) and the MuJoCo tasks' names
ACTING = {"expert", "gail", "airl", "bc", "vime"}
MUJOCO_TASKS = ("HalfCheetah", "Hopper", "Walker", "Ant", "Humanoid")

TEXT = "".join(f"the {a} {v} the {b} .\n" for a in ("cat", "dog", "bird") for v in ("sees", "likes")
               for b in ("tree", "house", "cat")) * 4


def tiny_overrides(preset: str, tmp_path) -> list:
    """TINY plus what this preset's recipe and data need to be test-sized."""
    tree = shipped(preset)
    data, method = _component(tree.get("data")), _component(tree.get("method"))
    over = list(TINY)
    for phase in ("pretrain_g", "pretrain_d"):  # sequence recipes: MLE / D phases before the GAN phase
        if method["params"].get(phase):
            over.append(f"method.params.{phase}=1")
    if method["params"].get("rollouts"):  # SeqGAN's Monte Carlo rollouts per token
        over.append("method.params.rollouts=2")
    if tree.get("train", {}).get("labelled_batch_size"):
        over.append("train.labelled_batch_size=16")
    if data["name"] == "oracle":
        over += ["data.params.n_train=64", "data.params.n_test=32"]
    if data["name"] == "text":  # the text presets need a file: a small grammar's sentences
        f = tmp_path / "grammar.txt"
        f.write_text(TEXT)
        over += [f"data.params.path={f}", "data.params.length=16"]
    pack = _component(tree.get("model", {}).get("discriminator", {}).get("pack", 1))
    if isinstance(pack, int) and pack > 1:
        over.append(f"train.batch_size={4 * pack}")
    if method["name"] in ACTING:  # policy iterations of 200 transitions, one environment, 2-episode evaluations
        if method["name"] != "bc":
            over.append("method.params.steps_per_iter=200")
        if "bnn_updates" in method["params"]:  # VIME's dynamics model: a few updates per iteration
            over.append("method.params.bnn_updates=10")
        over.append("env.num_envs=1")
        for metric, params in (tree.get("eval", {}).get("params") or {}).items():
            if isinstance(params, dict) and "episodes" in params:   # return, normalized-return, success-rate
                over.append(f"eval.params.{metric}.episodes=2")
    return over


def acting_skip_reason(preset: str):
    """Why a preset of a method that acts cannot run here, or None."""
    tree = shipped(preset)
    if _component(tree.get("method"))["name"] not in ACTING:
        return None
    try:
        import gymnasium  # noqa: F401
    except ImportError:
        return f"{preset}: the rl extra (gymnasium) is not installed"
    env_id = str((tree.get("env") or {}).get("id", ""))
    if any(name in env_id for name in MUJOCO_TASKS):
        try:
            import mujoco  # noqa: F401
        except ImportError:
            return f"{preset}: {env_id} needs MuJoCo (pip install -e \".[mujoco]\"), which is not installed"
    data = _component(tree.get("data", "digits"))
    if data["name"] == "demonstrations" and not data["params"].get("path"):
        from ganscape.data.demos import shipped_path
        if not shipped_path(data["params"].get("env", "CartPole-v1")).is_file():
            return "shipped demonstrations not built yet (scripts/make_demos.py)"
    return None


def shipped(preset: str) -> dict:
    """The preset's YAML as shipped (not validated: the text presets are not valid without a file)."""
    return yaml.safe_load((PRESET_DIR / f"{preset}.yaml").read_text()) or {}


def _component(c):
    if isinstance(c, str):
        return {"name": c, "params": {}}
    if isinstance(c, dict) and "name" in c:
        return {"name": c["name"], "params": c.get("params") or {}}
    return c if c is not None else {"name": "", "params": {}}


@pytest.mark.parametrize("preset", list_presets())
def test_preset_trains_samples_and_evaluates(preset, tmp_path):
    data_name = _component(shipped(preset).get("data", "digits"))["name"]
    if data_name in FILE_DATA:
        pytest.skip(f"{preset}: data set {data_name!r} reads the user's local files, not here (ganscape download "
                    f"needs the network, a pack the user's images); tests/test_scale_presets.py substitutes data")
    reason = acting_skip_reason(preset)
    if reason:
        pytest.skip(reason)
    over = tiny_overrides(preset, tmp_path)
    cfg = load_config(preset, None, over)
    run = ganscape.train(preset, overrides=over, run_dir=tmp_path / "run", progress=False)
    status = rundir.read_status(run)
    assert status["status"] == "completed" and status["step"] == 3, status
    assert (run / rundir.CHECKPOINTS / "latest.pt").exists()
    assert rundir.load_config(run).name == preset  # item 32: named after the preset

    if getattr(build_method(cfg), "data_kind", "") == "policy":  # a policy: episodes and their returns
        from ganscape.episodes import demos
        d = demos(run, tmp_path / "d.npz", episodes=1, progress=False)
        assert d["episodes"] == 1 and d["env_id"] == cfg.env.id and math.isfinite(d["mean_return"])
        rec = ganscape.evaluate(run, metrics=["return"], metric_params={"return": {"episodes": 2}})
        assert rec["results"] and all(math.isfinite(v) for v in rec["results"].values()), rec["results"]
        return

    data = DATASETS.build(cfg.data.name, ganscape.load_run(run).data.params, "test")
    x = ganscape.sample(run, n=8)
    assert tuple(x.shape) == (8, *data.shape)
    if x.is_floating_point():
        assert torch.isfinite(x).all()
    else:  # token ids inside the vocabulary
        assert 0 <= int(x.min()) and int(x.max()) < data.vocab_size

    if data.kind == "points":  # the 2-D mixtures are scored by mode coverage at the end of training
        if "centers" in data.info:
            assert "mode_coverage" in status
        else:   # the Dirac-GAN's point and the LQG game's Gaussian: their instrument is `ganscape probe
            assert data.info["name"] in ("dirac", "gaussian")   # convergence` (tests/probes)
        return
    # the preset's own metrics, else FID for images (the default set's PRDC over a whole reference
    # split, 25600 stacked digits, takes minutes) and the token defaults for sequences
    metrics = list(cfg.eval.metrics) or (["fid"] if data.kind == "image" else None)
    on_samples, _ = split_metrics(build_method(cfg), metrics, cfg.method.name)
    params = {"nll": SMALL_NLL} if "nll" in on_samples else None
    # images against the (smaller) test split: the whole train split of stacked digits is 25600 images
    rec = ganscape.evaluate(run, metrics=metrics, n=32, metric_params=params,
                            split="test" if data.kind == "image" else None)
    assert rec["results"] and all(math.isfinite(v) for v in rec["results"].values()), rec["results"]
