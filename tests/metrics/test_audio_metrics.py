"""Audio metrics: the notes' estimators as metrics, the shipped notes classifier (audio FID, IS).
`ganscape eval` and `ganscape sample` of audio runs: tests/nets/test_wavegan.py (on the runs it trains)."""
import json
import shutil

import pytest
import torch

from ganscape.data.notes import NotesParams, notes
from ganscape.fetch import IntegrityError
from ganscape.metrics.audio import notes_scores, score_waves
from ganscape.metrics.features.audio_cnn import AudioCnnParams, audio_cnn, default_weights_path
from ganscape.registry import ConfigError

_DATA = {}


def _notes(split, n=200, seed=0):
    key = (split, n, seed)
    if key not in _DATA:
        _DATA[key] = notes(NotesParams(n=n), split, seed)
    return _DATA[key]


def test_real_notes_score_perfectly_and_noise_does_not():
    d = _notes("test", seed=5)
    s = notes_scores(d.x)
    assert s["pitch_accuracy"] == s["instrument_accuracy"] == s["note_accuracy"] == 1.0
    assert s["notes_classes_covered"] == len(torch.unique(d.y))      # the ground truth's own count
    noise = 0.3 * torch.randn(40, 1, 16384, generator=torch.Generator().manual_seed(0))
    s = notes_scores(noise)
    assert s["pitch_accuracy"] == s["instrument_accuracy"] == s["note_accuracy"] == 0.0   # no tone in noise


def test_shipped_classifier_is_pinned_and_accurate():
    ext = audio_cnn(AudioCnnParams())
    d = _notes("test", seed=7)       # another seed than the classifier was trained on
    out = ext(d.x)
    assert out["features"].shape == (40, 128) and float(out["features"].min()) >= 0
    assert float((out["logits"].argmax(1) == d.y).float().mean()) >= 0.95
    with pytest.raises(ValueError, match="audio-cnn expects waveforms \\(N, 1, T\\)"):
        ext(torch.zeros(2, 1, 8, 8))
    rec = json.loads(default_weights_path().with_suffix(".json").read_text())
    assert rec["sha256"] == ext.sha256 and rec["test_accuracy"] >= 0.99


def test_altered_weights_are_refused(tmp_path):
    bad = tmp_path / "audio-cnn.safetensors"
    shutil.copy(default_weights_path(), bad)
    shutil.copy(default_weights_path().with_suffix(".json"), tmp_path / "audio-cnn.json")
    raw = bytearray(bad.read_bytes())
    raw[-1] ^= 1
    bad.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError, match="SHA-256 mismatch for audio-cnn"):
        audio_cnn(AudioCnnParams(weights=str(bad)))


def test_audio_fid_and_is_separate_real_from_noise():
    real, ref = _notes("test", seed=3).x, _notes("train")
    noise = (0.3 * torch.randn(40, 1, 16384, generator=torch.Generator().manual_seed(1))).clamp(-1, 1)
    good = score_waves(real, ref.x, ["fid", "is", "pitch-accuracy"], ref.info)["results"]
    bad = score_waves(noise, ref.x, ["fid", "is", "pitch-accuracy"], ref.info)["results"]
    assert good["fid"] < 0.1 * bad["fid"] and good["is"] > 3 * bad["is"]
    assert good["pitch_accuracy"] == 1.0 and good["notes_classes_covered"] > 20
    with pytest.raises(ConfigError, match="metric 'msssim' scores images; for audio choose from"):
        score_waves(real, ref.x, ["msssim"], ref.info)
