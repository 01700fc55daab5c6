"""The notes data set: deterministic draws, and the estimators recover the known pitch and timbre."""
import numpy as np
import pytest
import torch

from ganscape.data import notes as N
from ganscape.registry import ConfigError


def _clip(midi, inst, seed=0, loud=0.5):
    rng = np.random.default_rng(seed)
    env = (rng.uniform(0.005, 0.05), rng.uniform(0.05, 0.2), rng.uniform(0.3, 0.8), rng.uniform(0.5, 0.8),
           rng.uniform(0.05, 0.3))
    return N.synthesize(midi, inst, loud, 16384, 16000, env, rng.uniform(0, 2 * np.pi, 8))


def test_estimators_recover_every_pitch_and_instrument_exactly():
    clips, truth = [], []
    for i, m in enumerate(N.NOTES):
        for j, inst in enumerate(N.INSTRUMENTS):
            clips.append(_clip(m, inst, seed=8 * i + j))
            truth.append((i, j))
    x = np.stack(clips)
    pitch, inst = N.estimate_notes(x)
    assert [(int(a), int(b)) for a, b in zip(pitch, inst)] == truth
    # the fundamental to within 2 cents (the parabola refines the 0.98 Hz bins)
    midi = N.estimate_pitch(x)
    assert np.abs(midi - np.repeat(N.NOTES, 4)).max() < 0.02


def test_off_scale_and_unknown_timbre_are_rejected():
    # C#4 (61) is not in the scale; 60.5 is a quarter tone past the tolerance's edge
    x = np.stack([_clip(61, "saw"), _clip(60.5, "sine")])
    assert N.nearest_note(N.estimate_pitch(x)).tolist() == [-1, -1]
    # an organ-like tone (harmonics 1, 2, 4 at 1, 1/2, 1/2) fits none of the four recipes; a clean
    # square wave does
    t = np.arange(16384) / 16000
    f0 = float(N.midi_to_hz(64))
    organ = sum(a * np.sin(2 * np.pi * k * f0 * t) for k, a in ((1, 1), (2, 0.5), (4, 0.5)))
    square = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in (1, 3, 5, 7))
    assert N.estimate_notes(np.stack([organ, square]) * 0.3)[1].tolist() == [-1, 1]


def test_templates_by_hand():
    t = N.templates()
    # PROBE_RATIOS: 2..8, then 2.756, 5.404, 8.933
    assert t[0].tolist() == [0.0] * 10
    assert t[1].tolist() == [0, 1 / 3, 0, 1 / 5, 0, 1 / 7, 0, 0, 0, 0]
    assert t[2].tolist() == [1 / 2, 1 / 3, 1 / 4, 1 / 5, 1 / 6, 1 / 7, 1 / 8, 0, 0, 0]
    assert t[3].tolist() == [0, 0, 0, 0, 0, 0, 0, 0.6, 0.4, 0.25]


def test_adsr_and_loudness_by_hand():
    env = N.adsr(16000, 1000, attack=0.01, decay=0.1, sustain=0.5, release_at=0.5, release=0.2)
    t = lambda s: env[int(round(s * 1000))]  # noqa: E731
    assert t(0.005) == pytest.approx(0.5)            # halfway up the attack
    assert t(0.06) == pytest.approx(0.75)            # halfway down the decay, from 1 to 0.5
    assert t(0.3) == pytest.approx(0.5)              # sustain
    assert t(0.6) == pytest.approx(0.25)             # halfway through the release
    assert t(0.8) == 0.0
    assert np.abs(_clip(67, "bell", loud=0.7)).max() == pytest.approx(0.7, abs=1e-6)


def test_data_set_deterministic_ground_truth_and_labels():
    p = N.NotesParams(n=24, n_test=8, length=8192)
    a, b = N.notes(p, "train", 3), N.notes(p, "train", 3)
    assert a.kind == "audio" and tuple(a.x.shape) == (24, 1, 8192) and a.x.dtype == torch.float32
    assert torch.equal(a.x, b.x) and not torch.equal(a.x[:8], N.notes(p, "test", 3).x)
    assert not torch.equal(a.x, N.notes(p, "train", 4).x)
    assert float(a.x.abs().max()) <= 0.9
    pitch, inst = N.estimate_notes(a.x)
    assert pitch.tolist() == a.info["pitch"] and inst.tolist() == a.info["instrument"]
    assert a.y.tolist() == [4 * p_ + i for p_, i in zip(a.info["pitch"], a.info["instrument"])]
    assert a.num_classes == 32


def test_spectrogram_representation_uses_the_training_moments():
    p = N.NotesParams(n=10, n_test=4, representation="spectrogram")
    tr, te = N.notes(p, "train", 0), N.notes(p, "test", 0)
    assert tr.kind == te.kind == "spectrogram" and tuple(te.x.shape) == (4, 1, 128, 128)
    assert tr.info["audio"]["mean"] == te.info["audio"]["mean"]
    assert float(tr.x.min()) >= -1 and float(tr.x.max()) <= 1


def test_bad_params_are_one_line():
    with pytest.raises(ConfigError, match="representation: 'mel' is not allowed; choose one of: wave, spectrogram"):
        N.NotesParams(representation="mel").validate("data.params")
    with pytest.raises(ConfigError, match="length: need >= 4096"):
        N.NotesParams(length=100).validate("data.params")
