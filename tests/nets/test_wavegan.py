"""WaveGAN's and SpecGAN's nets: phase shuffle by hand, shapes, one WGAN-GP step each (their contract:
tests/test_contract.py leaves the audio kinds to this file), a bit-exact resume of each recipe, and
`ganscape eval` / `ganscape sample` of the runs."""
import math
import wave

import pytest
import torch

import ganscape
from ganscape import api
from ganscape.config import from_dict
from ganscape.methods.base import Batch
from ganscape.nets.wavegan import PhaseShuffle, phase_shuffle
from ganscape.registry import ConfigError
from ganscape.train import rundir
from ganscape.train.state import DataSpec, build_state, load_data


def test_phase_shuffle_shifts_with_reflection_by_hand():
    x = torch.arange(6.0).view(1, 1, 6).repeat(3, 2, 1)    # rows 0 1 2 3 4 5, two channels
    out = phase_shuffle(x, torch.tensor([2, 0, -2]))
    assert out[0, 0].tolist() == [2, 1, 0, 1, 2, 3]        # right by 2: x[t - 2], x[-2] = x[2], x[-1] = x[1]
    assert out[1, 1].tolist() == [0, 1, 2, 3, 4, 5]
    assert out[2, 0].tolist() == [2, 3, 4, 5, 4, 3]        # left by 2: x[t + 2], x[6] = x[4], x[7] = x[3]
    assert torch.equal(out[:, 0], out[:, 1])               # every channel of an example shifts alike
    ps = PhaseShuffle(2)
    torch.manual_seed(0)
    y = ps(torch.randn(64, 3, 40))
    assert y.shape == (64, 3, 40)
    assert torch.equal(ps.eval()(x), x)                    # off in eval mode


def _tree(arch, representation, length, steps=2, **params):
    return {"data": {"name": "notes", "params": {"n": 8, "n_test": 4, "length": length,
                                                 "representation": representation}},
            "model": {"z_dim": 8, "generator": {"arch": {"name": arch, "params": {"d": 2, **params}}, "norm": "none"},
                      "discriminator": {"arch": {"name": arch, "params": {"d": 2, **params}}, "norm": "none"}},
            "loss": "wasserstein", "penalties": [{"name": "gp", "params": {"weight": 10}}], "eval": {"metrics": []},
            "optim": {"generator": {"name": "adam", "params": {"lr": 0.001, "betas": [0.5, 0.9]}},
                      "discriminator": {"name": "adam", "params": {"lr": 0.001, "betas": [0.5, 0.9]}}},
            "train": {"steps": steps, "batch_size": 4, "n_disc": 2, "log_every": 1, "sample_every": steps,
                      "checkpoint_every": 2, "latest_every": 2, "progress": False, "num_samples": 4}}


CASES = [("wavegan", "wave", 4096, (1, 4096)), ("specgan", "spectrogram", 16384, (1, 128, 128))]


@pytest.mark.parametrize("arch,rep,length,shape", CASES)
def test_one_wgan_gp_step(arch, rep, length, shape):
    torch.manual_seed(0)
    cfg = from_dict(_tree(arch, rep, length))
    data = load_data(cfg)
    state, method = build_state(cfg, DataSpec.of(data), torch.device("cpu"))
    G, D = state.nets["G"], state.nets["D"]
    assert G.audio == ("wave" if arch == "wavegan" else "spectrogram")
    x = G(G.sample_z(4))
    assert tuple(x.shape) == (4, *shape) and float(x.detach().abs().max()) <= 1
    assert D(data.floats()[:4]).shape == (4,)
    before = {k: [p.detach().clone() for p in n.parameters()] for k, n in state.nets.items()}
    stats = method.step(state, [Batch(data.floats()[:4])] * 2, log=True)
    assert all(torch.isfinite(v).all() for v in stats.values()) and "penalty/gp" in stats
    for k, n in state.nets.items():
        assert any(not torch.equal(a, b) for a, b in zip(before[k], n.parameters())), k


def test_wavegan_layers_follow_the_paper():
    cfg = from_dict(_tree("wavegan", "wave", 16384, d=4))
    state, _ = build_state(cfg, DataSpec((1, 16384), 0, "audio"), torch.device("cpu"))
    convs = [m for m in state.nets["G"].modules() if isinstance(m, torch.nn.ConvTranspose1d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]) for m in convs] == \
        [(64, 32, 25, 4), (32, 16, 25, 4), (16, 8, 25, 4), (8, 4, 25, 4), (4, 1, 25, 4)]
    d_convs = [m for m in state.nets["D"].modules() if isinstance(m, torch.nn.Conv1d)]
    assert [m.out_channels for m in d_convs] == [4, 8, 16, 32, 64]
    shuffles = [m for m in state.nets["D"].modules() if isinstance(m, PhaseShuffle)]
    assert len(shuffles) == 4 and all(m.n == 2 for m in shuffles)   # after every layer but the last


def test_refusals_are_one_line():
    with pytest.raises(ConfigError, match="'wavegan' does not handle spectrogram data; architectures for "
                                          "spectrogram: specgan"):
        cfg = from_dict(_tree("wavegan", "spectrogram", 16384))
        build_state(cfg, DataSpec.of(load_data(cfg)), torch.device("cpu"))
    with pytest.raises(ConfigError, match="16 \\* 4\\^k samples"):
        cfg = from_dict(_tree("wavegan", "wave", 5000))
        build_state(cfg, DataSpec.of(load_data(cfg)), torch.device("cpu"))


@pytest.mark.parametrize("arch,rep,length,shape", CASES)
def test_trains_and_resumes_bit_exactly(arch, rep, length, shape, tmp_path, same_checkpoints):
    full = ganscape.train(from_dict(_tree(arch, rep, length, steps=4)), run_dir=tmp_path / "full")
    stats = rundir.read_jsonl(full / "stats.jsonl")
    assert len(stats) == 4 and all(math.isfinite(v) for r in stats for v in r.values())
    assert list((full / "samples").glob("step_000004.png"))   # audio: the grid of spectrograms
    half = ganscape.train(from_dict(_tree(arch, rep, length, steps=2)), run_dir=tmp_path / "half")
    ganscape.resume(half, steps=4)
    same_checkpoints(full, half)
    # `ganscape eval RUN`: the data set's default metrics, on waveforms (SpecGAN's by Griffin-Lim)
    rec = ganscape.evaluate(full, n=16)
    assert {"pitch_accuracy", "instrument_accuracy", "fid", "is"} <= set(rec["results"])
    assert all(math.isfinite(v) for v in rec["results"].values()) and rec["heldout_real"].get("skipped")
    # `ganscape sample RUN -n 3 --out DIR`: DIR/00000k.wav and the spectrograms in DIR.png
    out, count = api.write_samples(full, tmp_path / "notes", n=3)
    assert count == 3 and sorted(p.name for p in out.iterdir()) == ["000000.wav", "000001.wav", "000002.wav"]
    assert api.grid_path(out).is_file()
    with wave.open(str(out / "000000.wav"), "rb") as w:
        assert (w.getframerate(), w.getnframes()) == (16000, length)


def test_evaluates_during_training(tmp_path):
    # SpecGAN's samples are (1, 128, 128) pictures, yet its extractor takes waveforms: the loop's
    # evaluator must not try the extractor on blank pictures (metrics/audio.py turns them into sound)
    tree = _tree("specgan", "spectrogram", 16384, steps=1)
    tree["eval"] = {"metrics": ["pitch-accuracy", "fid"], "n": 16, "best": "fid"}
    run = ganscape.train(from_dict(tree), run_dir=tmp_path / "run")
    rec = rundir.read_jsonl(run / "metrics.jsonl")[-1]
    assert {"pitch_accuracy", "fid"} <= set(rec["results"])
