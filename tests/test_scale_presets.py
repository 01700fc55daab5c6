"""The large-scale presets (issue 19, part 5): resnet19-celebahq,
sndcgan-cifar10, resnet-cifar10 and dcgan-lsun-bedroom.

They need the user's files (a CelebA-HQ or LSUN pack, CIFAR-10) and a GPU, so
the generic preset tests skip them (tests/test_presets_smoke.py,
tests/test_config.py). Here each one:

(a) trains ONE step on CPU with everything of the preset kept but its data:
    a few random images of the preset's resolution, in the preset's own data
    set format (a pack made with `pack_arrays` for `packed`, CIFAR-10 binary
    batch files for `cifar10`), a batch of 4 and no evaluation, so the nets,
    norms, loss, penalty and optimizers are the shipped ones;
(b) pins the settings chosen from the studies (architectures, norms, loss,
    penalty, optimizer, batch, n_disc, steps, resolution, evaluation), so that
    a change to a preset is noticed here, and checks that the header's pack
    command writes where `data.params.path` reads.
"""
import re

import numpy as np
import pytest

import ganscape
from ganscape.config import PRESET_DIR, config_diff, list_presets, load_config, to_plain
from ganscape.data.pack import pack_arrays
from ganscape.train import rundir

RNG = np.random.default_rng(0)
ADAM = {"lr": 0.0002, "betas": [0.5, 0.999]}

# preset -> what it must say; side: the image side the nets are built for
EXPECTED = {
    "resnet19-celebahq": dict(
        data="packed", side=128, path="data/celebahq128", z_dim=128,
        g_arch=("resnet19", {"width": 64}), d_arch=("resnet19", {"width": 64, "pooling": "mean"}),
        g_norm=("batch", {"momentum": 0.1, "eps": 1e-5}), d_norm="spectral",
        loss="ns", penalties=[("gp", 1.0)], optim=ADAM, batch_size=64, n_disc=1, steps=200000,
        eval=dict(metrics=["fid"], every=20000, n=3000, split="test", extractor="inception-v3-fid")),
    "sndcgan-cifar10": dict(
        data="cifar10", side=32, z_dim=128,
        g_arch=("sndcgan", {"width": 64}), d_arch=("sndcgan", {"width": 64}),
        g_norm=("batch", {"momentum": 0.1, "eps": 2e-5}), d_norm="spectral",
        loss="ns", penalties=[], optim=ADAM, batch_size=64, n_disc=1, steps=200000,
        eval=dict(metrics=["fid"], every=20000, n=10000, split="test", extractor="inception-v3-fid")),
    "resnet-cifar10": dict(
        data="cifar10", side=32, z_dim=128,
        g_arch=("resnet", {"width": 256}), d_arch=("resnet", {"width": 128, "pooling": "mean"}),
        g_norm=("batch", {"momentum": 0.1, "eps": 1e-5}), d_norm="spectral",
        loss="ns", penalties=[("gp", 1.0)], optim=ADAM, batch_size=64, n_disc=5, steps=40000,
        eval=dict(metrics=["fid"], every=4000, n=10000, split="test", extractor="inception-v3-fid")),
    "dcgan-lsun-bedroom": dict(
        data="packed", side=64, path="data/lsun-bedroom64", z_dim=100,
        g_arch=("dcgan", {"width": 128, "max_width": 1024, "kernel": 5}),
        d_arch=("dcgan", {"width": 128, "max_width": 1024, "kernel": 5}),
        g_norm=("batch", {}), d_norm="batch",
        loss="ns", penalties=[], optim=dict(ADAM, weight_decay=1e-5), batch_size=128, n_disc=1, steps=118000,
        eval=dict(metrics=["fid"], every=23600, n=10000, split="test", extractor="inception-v3-fid")),
}
PRESETS = sorted(EXPECTED)

# one training step on CPU: a batch of 4, no evaluation, a sample grid of 4 at the end
ONE_STEP = ["train.steps=1", "train.batch_size=4", "eval.metrics=[]", "train.num_samples=4",
            "train.sample_every=0", "train.checkpoint_every=0", "train.latest_every=1", "train.log_every=1",
            "train.threads=2", "train.progress=false", "device=cpu"]


def header(preset: str) -> str:
    """The preset's comment header (every line before the first key)."""
    lines = (PRESET_DIR / f"{preset}.yaml").read_text().splitlines()
    return "\n".join(line for line in lines[:next(i for i, s in enumerate(lines) if not s.startswith("#"))])


def substitute_data(preset: str, tmp_path) -> list:
    """Overrides that point the preset's own data set at a few random images of its resolution."""
    e = EXPECTED[preset]
    side = e["side"]
    if e["data"] == "packed":
        images = RNG.integers(0, 256, (12, 3, side, side), dtype=np.uint8)
        pack_arrays(tmp_path / "pack", [images], len(images), (3, side, side))
        return [f"data.params.path={tmp_path / 'pack'}"]
    assert e["data"] == "cifar10" and side == 32
    root = tmp_path / "cifar" / "cifar-10-batches-bin"
    root.mkdir(parents=True)
    for name, n in [(f"data_batch_{i}.bin", 4) for i in range(1, 6)] + [("test_batch.bin", 4)]:
        labels = RNG.integers(0, 10, (n, 1), dtype=np.uint8)
        pixels = RNG.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)
        (root / name).write_bytes(np.concatenate([labels, pixels], axis=1).tobytes())
    return [f"data.params.root={tmp_path / 'cifar'}"]


def test_the_four_are_listed():
    assert set(PRESETS) <= set(list_presets())


@pytest.mark.parametrize("preset", PRESETS)
def test_scale_preset_trains_one_step_on_substitute_data(preset, tmp_path):
    over = substitute_data(preset, tmp_path) + ONE_STEP
    run = ganscape.train(preset, overrides=over, run_dir=tmp_path / "run", progress=False)
    status = rundir.read_status(run)
    assert status["status"] == "completed" and status["step"] == 1, status
    assert (run / rundir.CHECKPOINTS / "latest.pt").exists()

    # the run is the preset: only the data's location and the test-sizing keys differ
    changed = {k for k, _, _ in config_diff(to_plain(load_config(preset)), to_plain(rundir.load_config(run)))}
    allowed = {o.split("=", 1)[0] for o in over}
    assert changed <= allowed, changed - allowed

    side = EXPECTED[preset]["side"]
    x = ganscape.sample(run, n=2)
    assert tuple(x.shape) == (2, 3, side, side) and bool(x.isfinite().all())
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0


@pytest.mark.parametrize("preset", PRESETS)
def test_scale_preset_settings(preset):
    e, cfg = EXPECTED[preset], load_config(preset)
    assert cfg.name == preset and cfg.data.name == e["data"]
    assert cfg.model.z_dim == e["z_dim"]
    for role, arch, norm in (("generator", e["g_arch"], e["g_norm"]), ("discriminator", e["d_arch"], e["d_norm"])):
        net = getattr(cfg.model, role)
        assert net.arch.name == arch[0], role
        assert {k: net.arch.params[k] for k in arch[1]} == arch[1], role
        name, params = norm if isinstance(norm, tuple) else (norm, {})
        assert net.norm.name == name, role
        assert {k: net.norm.params[k] for k in params} == pytest.approx(params), role
        assert net.pack == 1 and net.cond == "none" and net.minibatch_features == 0, role
    assert cfg.loss.name == e["loss"] and cfg.method.name == "gan"
    assert [(p.name, p.params["weight"]) for p in cfg.penalties] == e["penalties"]
    for role in ("generator", "discriminator"):
        opt = getattr(cfg.optim, role)
        assert opt.name == "adam"
        assert opt.params["lr"] == pytest.approx(e["optim"]["lr"])
        assert list(opt.params["betas"]) == pytest.approx(e["optim"]["betas"])
        assert opt.params["weight_decay"] == pytest.approx(e["optim"].get("weight_decay", 0.0))
    t = cfg.train
    assert (t.batch_size, t.n_disc, t.steps) == (e["batch_size"], e["n_disc"], e["steps"])
    assert t.ema_decay == 0.0 and t.lr_schedule == "constant"
    # fp32 as the studies ran; the header names the faster settings for a GPU
    assert t.precision == "fp32" and not t.channels_last
    assert "--set train.precision=bf16 --set train.channels_last=true" in header(preset)
    # evaluation: FID of the study's sample count on the held-out split, best.pt by FID
    ev = cfg.eval
    assert (list(ev.metrics), ev.every, ev.n, ev.split, ev.extractor, ev.best) == (
        e["eval"]["metrics"], e["eval"]["every"], e["eval"]["n"], e["eval"]["split"], e["eval"]["extractor"], "fid")
    assert t.steps % ev.every == 0 and t.checkpoint_every and t.steps % t.checkpoint_every == 0
    assert "GPU" in header(preset)


@pytest.mark.parametrize("preset", PRESETS)
def test_scale_preset_files_and_resolution(preset):
    """The resolution is the data's: the header's pack command writes the pack the preset reads, at the
    side the nets are pinned to; CIFAR-10 is read at its native 32."""
    e, cfg, text = EXPECTED[preset], load_config(preset), header(preset)
    if e["data"] == "packed":
        cmds = re.findall(r"ganscape data pack (\S+) --size (\d+) --out (\S+)", text)
        assert cmds, "the header gives no `ganscape data pack` command"
        assert {(int(size), out) for _, size, out in cmds} == {(e["side"], e["path"])}
        assert cfg.data.params["path"] == e["path"]
        assert 0.0 < cfg.data.params["test_fraction"] < 1.0      # a held-out split for the FID reference
    else:
        assert cfg.data.params["size"] == e["side"] == 32
        assert "ganscape download cifar10" in text
    assert "ganscape download inception-v3-fid" in text
    assert f"ganscape train --preset {preset}" in text
