"""Config: typed, frozen, unknown keys and bad values fail with a message
naming the key and the valid choices."""
import dataclasses

import pytest

from ganscape.config import Config, from_dict, load_config, parse_override, to_plain
from ganscape.registry import ConfigError


def test_default_preset_resolves_with_all_params():
    cfg = load_config()
    assert cfg.data.name == "digits" and cfg.data.params == {"size": 8, "validation": 0, "train_limit": 0}
    assert cfg.optim.generator.params["betas"] == [0.0, 0.9]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 3


def test_overrides_convert_types():
    cfg = load_config("digits", None, ["train.steps=7", "optim.generator.params.lr=1e-3", "deterministic=true",
                                       "loss=hinge", "model.discriminator.norm=layer",
                                       "penalties=[gp, {name: r1, params: {weight: 0.5}}]",
                                       "optim.discriminator.params.betas=[0.0, 0.9]"])
    assert cfg.train.steps == 7 and isinstance(cfg.train.steps, int)
    assert cfg.optim.generator.params["lr"] == 1e-3
    assert cfg.deterministic is True
    assert cfg.loss.name == "hinge"
    assert [p.name for p in cfg.penalties] == ["gp", "r1"]
    assert cfg.penalties[1].params == {"weight": 0.5, "every": 1}
    assert cfg.optim.discriminator.params["betas"] == [0.0, 0.9]


def test_override_of_a_bare_component_param():
    cfg = load_config("dcgan-digits32", None, ["loss.params.smoothing=0.1"])
    assert cfg.loss.name == "ns" and cfg.loss.params == {"smoothing": 0.1}


@pytest.mark.parametrize("override,message", [
    ("train.stepz=5", "unknown key train.stepz; valid keys are: batch_size, channels_last, checkpoint_every"),
    ("trian.steps=5", "unknown key trian; valid keys are: data, deterministic, device"),
    ("loss=hnge", "loss: unknown loss 'hnge'; choose one of: bgan, f-gan, hinge, least-squares, minimax, ns, wasserstein"),
    ("loss={name: ns, params: {smoothing: 0.7}}", "smoothing: must be in [0, 0.5)"),
    ("train.steps=many", "train.steps: expected an integer, got 'many'"),
    ("train.steps=0", "train.steps: must be >= 1"),
    ("model.discriminator.norm=batchy", "unknown normalization 'batchy'; choose one of: batch, layer, none"),
    ("penalties=[gpp]", "penalties[0]: unknown penalty 'gpp'; choose one of: dragan, gp, l2, r1, r2"),
    ("data.params.size=12", "12 is not allowed; choose one of 8, 16, 32"),
    ("loss={name: f-gan, params: {divergence: chi}}", "'chi' is not allowed; choose one of 'kl', 'reverse-kl'"),
    ("optim.generator.params.betas=[0.5, 1.5]", "betas: each must be in [0, 1)"),
    ("model.discriminator={pack: 3, pack_mode: split}",
         "train.batch_size: 64 is not divisible by model.discriminator.pack=3"),
    ("model.generator.arch.params.widht=3", "unknown key model.generator.arch.params.widht; valid keys are: data_scale, depth, hidden_noise, input_noise, width"),
    ("deterministic=maybe", "deterministic: expected true or false"),
])
def test_errors_name_the_key_and_the_choices(override, message):
    with pytest.raises(ConfigError) as e:
        load_config("digits", None, [override])
    assert message in str(e.value)


def test_unknown_preset_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="unknown preset 'digts'; choose one of: .*digits"):
        load_config("digts")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(None, str(bad))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(None, str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_override("train.steps")


def test_yaml_file_on_top_of_preset(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train: {steps: 11}\nloss: {name: least-squares, params: {output: sigmoid}}\n")
    cfg = load_config("digits", str(f))
    assert cfg.train.steps == 11 and cfg.loss.params == {"output": "sigmoid"}
    assert cfg.model.z_dim == load_config().model.z_dim


def test_round_trip_through_plain_dicts():
    cfg = load_config("ring8")
    assert from_dict(to_plain(cfg)) == cfg
    assert isinstance(cfg, Config)


def test_invalid_combinations_fail_when_building(tmp_path):
    from ganscape.train.state import build_state
    import torch

    cfg = load_config("ring8", None, ["model.generator.arch=dcgan"])
    with pytest.raises(ConfigError, match="'dcgan' does not handle points data; architectures for points: mlp"):
        build_state(cfg, (2,), torch.device("cpu"))
    cfg = load_config("digits", None, ["model.generator.norm=spectral"])
    with pytest.raises(ConfigError, match="model.generator.norm: 'spectral' is not offered for the generator"):
        build_state(cfg, (1, 8, 8), torch.device("cpu"))


def _policy_preset_builds(cfg):
    import importlib.util

    import torch

    from ganscape.data.demos import shipped_path
    from ganscape.train.state import DataSpec, build_state, load_data
    pytest.importorskip("gymnasium", reason="the rl extra (gymnasium) is not installed")
    if any(t in cfg.env.id for t in ("Hopper", "HalfCheetah", "Walker", "Ant", "Humanoid")) \
            and importlib.util.find_spec("mujoco") is None:
        pytest.skip(f"{cfg.env.id} needs the mujoco extra")
    if cfg.data.name == "demonstrations" and not cfg.data.params["path"] \
            and not shipped_path(cfg.data.params["env"]).is_file():
        pytest.skip(f"no demonstrations are shipped for {cfg.data.params['env']} (the preset asks for a path)")
    data = load_data(cfg, "train")
    state, method = build_state(cfg, DataSpec.of(data), torch.device("cpu"))
    pi = state.sampler
    env = method.envs[0]
    obs, _ = env.reset(seed=0)
    a = pi.act(torch.as_tensor(obs, dtype=torch.float32).reshape(1, -1))
    assert a.shape[0] == 1 and (pi.discrete == hasattr(env.action_space, "n"))


@pytest.mark.parametrize("preset", __import__("ganscape.config", fromlist=["list_presets"]).list_presets())
def test_every_preset_builds(preset, tmp_path):
    import torch

    from ganscape.train.state import DataSpec, build_state, load_data
    sets = ["data.params.n=256"] if preset in ("ring8", "grid25", "stacked-digits") else []
    if preset.startswith("text-"):  # text presets need a file
        (tmp_path / "t.txt").write_text("the quick brown fox jumps over the lazy dog. " * 200)
        sets = [f"data.params.path={tmp_path / 't.txt'}"]
    if preset.endswith("-oracle"):
        sets = ["data.params.n_train=200", "data.params.n_test=50"]
    cfg = load_config(preset, None, sets)
    if cfg.data.name in ("mnist", "fashion-mnist", "cifar10", "image-folder", "packed"):
        pytest.skip(f"{preset}: data set {cfg.data.name!r} reads the user's files, which are not here; "
                    "tests/test_scale_presets.py builds and trains it on substitute data")
    if cfg.env.id:  # a recipe that acts: its policy takes the task's observations (MuJoCo: the mujoco extra)
        _policy_preset_builds(cfg)
        return
    data = load_data(cfg, "test")
    state, method = build_state(cfg, DataSpec.of(data), torch.device("cpu"))
    G = state.nets["G"]
    k = getattr(G, "num_classes", 0)  # class-conditional presets take labels
    out = G(G.sample_z(4)) if not k else G(G.sample_z(4), torch.arange(4) % k)
    assert out.shape == (4, *data.shape)
    assert out.dtype == data.floats().dtype  # token generators give ids, image generators floats
