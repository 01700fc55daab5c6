"""WAV files, spectrograms, Griffin-Lim, the wav-folder data set and the sc09 download entry."""
import dataclasses
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


def _speech_commands_tar(tmp_path, extra=()):
    """A miniature speech_commands_v0.01.tar.gz: two digits, a non-digit word, noise, the two lists."""
    src = tmp_path / "sc"
    for word, names in (("zero", ["a_nohash_0", "b_nohash_0", "c_nohash_1"]), ("nine", ["a_nohash_0", "d_nohash_0"]),
                        ("cat", ["a_nohash_0"]), ("_background_noise_", ["white"])):
        _folder(src / word, [f"{n}.wav" for n in names])
    (src / "validation_list.txt").write_text("zero/b_nohash_0.wav\ncat/a_nohash_0.wav\n")
    (src / "testing_list.txt").write_text("nine/d_nohash_0.wav\n")
    archive = tmp_path / "speech_commands_v0.01.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for item in sorted(src.iterdir()):       # the lists come after the clips, as in a stream
            tar.add(item, arcname=f"./{item.name}")
        for info in extra:
            tar.addfile(info)
    return archive


def _use_archive(monkeypatch, archive, digest=None):
    entry = dl.RemoteFile(archive.name, (archive.as_uri(),),
                          digest or hashlib.sha256(archive.read_bytes()).hexdigest(), None)
    monkeypatch.setitem(dl.SOURCES, "sc09", dataclasses.replace(dl.SOURCES["sc09"], files=(entry,)))


def test_sc09_is_built_from_speech_commands_by_its_lists(tmp_path, monkeypatch, capsys):
    archive = _speech_commands_tar(tmp_path)
    _use_archive(monkeypatch, archive)
    root = tmp_path / "data"
    # a half-built folder (from a build interrupted before COMPLETE) is replaced whole
    (root / "sc09" / "train").mkdir(parents=True)
    (root / "sc09" / "train" / "Zero_partial.wav").write_bytes(b"")
    dl.download("sc09", root, progress=True)
    assert "train 3, valid 1, test 1" in capsys.readouterr().err
    files = {p.relative_to(root / "sc09").as_posix() for p in (root / "sc09").rglob("*.wav")}
    assert files == {"train/Zero_a_nohash_0.wav", "train/Zero_c_nohash_1.wav", "train/Nine_a_nohash_0.wav",
                     "valid/Zero_b_nohash_0.wav", "test/Nine_d_nohash_0.wav"}   # no cat, no noise
    assert not (root / ".sc09-staging").exists()
    d = DATASETS.build("wav-folder", {"path": str(root / "sc09" / "train"), "length": 4096, "labels": "prefix",
                                      "test_fraction": 0.34}, "train", 0)
    assert d.info["classes"] == ["Nine", "Zero"]
    # built once: neither fetched (the archive deleted, the URL gone) nor unpacked again
    (root / archive.name).unlink()
    _use_archive(monkeypatch, tmp_path / "gone.tar.gz", digest="1" * 64)
    (root / "sc09" / "train" / "Zero_a_nohash_0.wav").unlink()
    dl.download("sc09", root, progress=True)
    assert "sc09 is already built" in capsys.readouterr().err
    assert not (root / "sc09" / "train" / "Zero_a_nohash_0.wav").exists()
    assert (root / "sc09" / "COMPLETE").read_text() == "train 3, valid 1, test 1\n"


def test_sc09_refuses_wrong_bytes_a_foreign_archive_and_an_escaping_member(tmp_path, monkeypatch):
    archive = _speech_commands_tar(tmp_path)
    _use_archive(monkeypatch, archive, digest="0" * 64)
    with pytest.raises(DownloadError, match="speech_commands_v0.01.tar.gz"):
        dl.download("sc09", tmp_path / "a", progress=False)
    assert not (tmp_path / "a" / "sc09").exists()
    foreign = tmp_path / "f" / "speech_commands_v0.01.tar.gz"
    foreign.parent.mkdir()
    with tarfile.open(foreign, "w:gz") as tar:
        tar.add(_folder(tmp_path / "x" / "zero", ["a.wav"]), arcname="zero")
    _use_archive(monkeypatch, foreign)
    with pytest.raises(DownloadError, match="no validation_list.txt or testing_list.txt"):
        dl.download("sc09", tmp_path / "b", progress=False)
    link = tarfile.TarInfo("zero/evil.wav")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    (tmp_path / "e").mkdir()
    _use_archive(monkeypatch, _speech_commands_tar(tmp_path / "e", extra=[link]))
    with pytest.raises(dl.UnsafeArchiveError, match="zero/evil.wav"):
        dl.download("sc09", tmp_path / "c", progress=False)
    assert not (tmp_path / "c" / "sc09").exists() and not (tmp_path / "c" / ".sc09-staging").exists()


def test_sc09_entry_pins_speech_commands_v001():
    f = dl.SOURCES["sc09"].files[0]
    # the digest torchaudio publishes for this archive (datasets/speechcommands.py)
    assert f.sha256 == "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d"
    assert all(u.endswith("/data/speech_commands_v0.01.tar.gz") for u in f.urls)
