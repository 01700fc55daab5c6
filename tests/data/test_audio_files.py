"""WAV files, spectrograms, Griffin-Lim, the wav-folder data set and the sc09 download entry."""
import hashlib
import tarfile
import wave

import numpy as np
import pytest
import torch

from ganscape.data import audio_files as A
from ganscape.data import download as dl
from ganscape.fetch import DownloadError
from ganscape.registry import DATASETS, ConfigError


def _raw_wav(path, frames: bytes, width: int, channels: int = 1, sr: int = 16000):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(sr)
        w.writeframes(frames)


def test_wav_round_trip_is_16_bit_pcm(tmp_path):
    x = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 0.25, 2.0], dtype=np.float32)
    A.write_wav(tmp_path / "a.wav", torch.from_numpy(x).view(1, -1), 16000)
    with wave.open(str(tmp_path / "a.wav"), "rb") as w:   # the integers written, read by the wave module
        assert (w.getsampwidth(), w.getnchannels(), w.getframerate()) == (2, 1, 16000)
        ints = np.frombuffer(w.readframes(10), "<i2").tolist()
    assert ints == [0, 16384, -16384, 32767, -32767, 8192, 32767]   # round(x * 32767), clipped
    y, sr = A.read_wav(tmp_path / "a.wav")
    assert sr == 16000 and y.tolist() == [i / 32768 for i in ints]


def test_reads_8_24_bit_and_stereo(tmp_path):
    _raw_wav(tmp_path / "u8.wav", bytes([128, 192, 64]), 1)
    assert A.read_wav(tmp_path / "u8.wav")[0].tolist() == [0.0, 0.5, -0.5]
    ints = [0, 1 << 22, -(1 << 22)]
    _raw_wav(tmp_path / "s24.wav", b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints), 3)
    assert A.read_wav(tmp_path / "s24.wav")[0].tolist() == [0.0, 0.5, -0.5]
    _raw_wav(tmp_path / "st.wav", np.array([16384, 0, -16384, -16384], "<i2").tobytes(), 2, channels=2)
    assert A.read_wav(tmp_path / "st.wav")[0].tolist() == [0.25, -0.5]   # channels averaged


def test_spectrogram_shape_moments_and_inverse():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(3, 1, 16384, generator=g) - 0.5) * 0.2
    lm = A.log_magnitude(x)
    assert tuple(lm.shape) == (3, 128, 128)
    # against numpy: bin 5 of frame 10 is the Hann-windowed DFT of samples centred on 10 * 128
    seg = np.pad(x[0, 0].numpy().astype(np.float64), 128, mode="reflect")[10 * 128:10 * 128 + 256]
    ref = np.abs(np.fft.rfft(seg * np.hanning(257)[:-1]))[5]
    assert float(lm[0, 5, 10]) == pytest.approx(np.log(ref + 1e-6), rel=1e-4)
    mean, std = A.spectrogram_moments(x, batch=2)
    flat = lm.permute(1, 0, 2).reshape(128, -1).double().numpy()
    assert np.allclose(mean, flat.mean(1), rtol=1e-6) and np.allclose(std, flat.std(1), rtol=1e-5)
    s = A.normalize_spectrogram(x, mean, std)
    assert tuple(s.shape) == (3, 1, 128, 128) and float(s.abs().max()) <= 1
    inside = s.abs() < 1   # where nothing was clipped, the normalization inverts exactly
    back = A.denormalize_spectrogram(s, mean, std)
    assert torch.allclose(back[inside[:, 0]], A.stft_magnitude(x)[inside[:, 0]], rtol=1e-3, atol=1e-6)


def test_griffin_lim_approaches_the_target_magnitude():
    t = torch.arange(16384) / 16000.0
    x = (0.5 * torch.sin(2 * np.pi * 440 * t) * torch.exp(-3 * t)).view(1, 1, -1)
    mag = A.stft_magnitude(x)
    err = lambda y: float((A.stft_magnitude(y) - mag).norm() / mag.norm())  # noqa: E731
    e0, e16 = err(A.griffin_lim(mag, 16384, iters=0)), err(A.griffin_lim(mag, 16384, iters=16))
    assert e16 < 0.5 * e0
    assert A.display_spectrograms(x).shape == (1, 1, 128, 128)


def _folder(root, names, sr=16000, n=4000):
    root.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        A.write_wav(root / name, 0.1 * (i + 1) * np.sin(np.arange(n) * 0.05), sr)
    return root


def test_wav_folder_splits_labels_and_resamples(tmp_path):
    names = [f"{d}_{i:02d}.wav" for d in ("One", "Two") for i in range(5)]
    root = _folder(tmp_path / "w", names)
    p = {"path": str(root), "length": 4096, "labels": "prefix", "test_fraction": 0.2}
    tr, te = DATASETS.build("wav-folder", p, "train", 0), DATASETS.build("wav-folder", p, "test", 0)
    assert tr.kind == "audio" and tuple(tr.x.shape) == (8, 1, 4096) and len(te) == 2
    assert te.info["files"][0].endswith("One_04.wav") and te.y.tolist() == [0, 1] and te.info["classes"] == ["One", "Two"]
    assert float(tr.x[0, 0, 4000:].abs().max()) == 0.0      # zero-padded after the end
    _folder(tmp_path / "r", ["a.wav", "b.wav"], sr=8000, n=2000)
    r = DATASETS.build("wav-folder", {"path": str(tmp_path / "r"), "length": 4096, "test_fraction": 0.5}, "train", 0)
    assert float(r.x[0, 0, 3990:].abs().max()) > 0 and float(r.x[0, 0, 4010:].abs().max()) == 0  # 2000 -> 4000
    with pytest.raises(ConfigError, match="representation: 'mel' is not allowed"):
        DATASETS.params("wav-folder", {"path": str(root), "representation": "mel"})


def test_sc09_refuses_without_a_pinned_digest(tmp_path):
    with pytest.raises(DownloadError, match="SHA-256 of sc09.tar.gz is not pinned"):
        dl.download("sc09", tmp_path, progress=False)
    assert not any(tmp_path.iterdir())   # nothing fetched


def test_sc09_machinery_on_an_archive_built_here(tmp_path, monkeypatch):
    src = _folder(tmp_path / "src" / "sc09" / "train", ["Zero_a.wav", "Zero_b.wav", "Nine_a.wav", "Nine_b.wav"])
    archive = tmp_path / "sc09.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src.parent, arcname="sc09")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    entry = dl.RemoteFile("sc09.tar.gz", (archive.as_uri(),), digest, archive.stat().st_size)
    monkeypatch.setitem(dl.SOURCES, "sc09", dl.RemoteDataset("sc09", (entry,), extract="sc09.tar.gz"))
    root = tmp_path / "data"
    dl.download("sc09", root, progress=False)
    d = DATASETS.build("wav-folder", {"path": str(root / "sc09" / "train"), "length": 4096, "labels": "prefix",
                                      "test_fraction": 0.5}, "train", 0)
    assert len(d) == 2 and d.info["classes"] == ["Nine", "Zero"]
    bad = dl.RemoteFile("sc09.tar.gz", (archive.as_uri(),), "0" * 64, None)
    monkeypatch.setitem(dl.SOURCES, "sc09", dl.RemoteDataset("sc09", (bad,), extract="sc09.tar.gz"))
    with pytest.raises(DownloadError, match="sc09.tar.gz"):
        dl.download("sc09", tmp_path / "other", progress=False)
