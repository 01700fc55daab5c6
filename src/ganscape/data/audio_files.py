"""Audio: WAV files, spectrograms, and the `wav-folder` data set (issue 21, part 2).

Two ways audio reaches a method (ArrayDataset kinds, data/base.py):

- "audio": waveforms, x float32 (N, 1, T) in [-1, 1] (WaveGAN's input);
- "spectrogram": SpecGAN's representation, x float32 (N, 1, F, frames) in
  [-1, 1]: the log-magnitude STFT normalized per frequency bin (below), with
  the statistics needed to invert it in ``info["audio"]``.

WAV files. Reading uses soundfile when it is installed (the optional extra
`audio`: any format libsndfile reads, e.g. FLAC, float WAV), else Python's
own ``wave`` module, which reads integer PCM WAV (8, 16, 24 or 32 bit). The
decision: every file of SC09 and of WaveGAN's other data sets is 16-bit PCM
WAV, which ``wave`` reads exactly (measured here: a 16-bit file written and
read back gives the same integers), so the data sets need no compiled
dependency; soundfile adds the other formats for users who have them.
Writing is always 16-bit PCM through ``wave`` (what WaveGAN's evaluation reads).

Spectrograms (Donahue et al. 2019, section 3.2 and their specgan.py): STFT
with 16 ms windows and 8 ms hops at 16 kHz (256 and 128 samples, Hann), the
magnitude's log (plus 1e-6), the highest frequency bin dropped, so 16384
samples give 128 bins x 128 frames; each bin normalized to zero mean and unit
variance with the training set's per-bin moments, clipped at 3 standard
deviations and divided by 3 into [-1, 1]. Inversion: Griffin-Lim (16
iterations as in the paper) with torch.stft / torch.istft.
Deviation: the official code frames with TensorFlow's ``pad_end`` (zeros after
the last sample); here torch.stft's centred frames (reflect padding) are used
and the 129th frame dropped, so inversion can use torch.istft's exact
overlap-add; the two framings are 128 samples apart at the ends only.
"""
from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from ..registry import DATASETS, ConfigError
from .base import ArrayDataset, check_split

SAMPLE_RATE = 16000
LENGTH = 16384
N_FFT = 256
HOP = 128
LOG_EPS = 1e-6
CLIP_STD = 3.0
GRIFFIN_LIM_ITERS = 16
REPRESENTATIONS = ("wave", "spectrogram")


# ---------------------------------------------------------------- WAV files

def read_wav(path) -> Tuple[np.ndarray, int]:
    """(samples float32 (T,) in [-1, 1], sample rate) of a WAV file; channels are averaged to mono."""
    path = Path(path)
    try:
        import soundfile  # optional extra `audio`
    except ImportError:
        soundfile = None
    if soundfile is not None:
        data, sr = soundfile.read(str(path), dtype="float32", always_2d=True)
        return data.mean(axis=1).astype(np.float32), int(sr)
    try:
        with wave.open(str(path), "rb") as w:
            width, channels, sr, n = w.getsampwidth(), w.getnchannels(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except (wave.Error, EOFError) as e:
        raise ValueError(f"{path}: not a PCM WAV file that Python's wave module reads ({e}); install the "
                         f"`audio` extra (soundfile) for other formats") from None
    if width == 1:     # 8-bit WAV is unsigned
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 3:   # 24-bit little-endian: widen to 32 bits
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        v = (b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8) | (b[:, 2].astype(np.int32) << 16))
        x = (np.where(v >= 1 << 23, v - (1 << 24), v)).astype(np.float32) / float(1 << 23)
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / float(1 << 31)
    else:
        raise ValueError(f"{path}: {8 * width}-bit samples; the wave module path reads 8, 16, 24 or 32-bit PCM")
    return x.reshape(-1, channels).mean(axis=1).astype(np.float32), int(sr)


def write_wav(path, x, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write mono samples (T,) or (1, T) in [-1, 1] as 16-bit PCM WAV (clipped, rounded)."""
    a = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64).reshape(-1)
    pcm = np.clip(np.round(a * 32767.0), -32768, 32767).astype("<i2")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())
    return path


def write_wavs(waves: torch.Tensor, folder, sample_rate: int = SAMPLE_RATE) -> List[Path]:
    """Clips (N, 1, T) -> folder/000000.wav, 000001.wav, ... (16-bit PCM); returns the paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [write_wav(folder / f"{i:06d}.wav", w, sample_rate) for i, w in enumerate(waves)]


def fit_length(x: np.ndarray, length: int) -> np.ndarray:
    """Crop to `length` samples or pad with zeros after the end (as WaveGAN's loader pads short clips)."""
    if len(x) >= length:
        return x[:length]
    return np.concatenate([x, np.zeros(length - len(x), dtype=x.dtype)])


# ---------------------------------------------------------------- spectrograms

def _window(device=None) -> torch.Tensor:
    return torch.hann_window(N_FFT, device=device)


def stft_magnitude(x: torch.Tensor) -> torch.Tensor:
    """Waveforms (N, 1, T) or (N, T) -> |STFT| (N, N_FFT / 2, T / HOP): the top bin and last frame dropped."""
    x = x.reshape(len(x), -1).float()
    spec = torch.stft(x, N_FFT, HOP, window=_window(x.device), center=True, return_complex=True)
    return spec.abs()[:, :-1, :x.shape[-1] // HOP]


def log_magnitude(x: torch.Tensor) -> torch.Tensor:
    """Waveforms -> log(|STFT| + 1e-6), (N, 128, frames)."""
    return torch.log(stft_magnitude(x) + LOG_EPS)


def spectrogram_moments(waves: torch.Tensor, batch: int = 500) -> Tuple[np.ndarray, np.ndarray]:
    """Per-frequency mean and standard deviation of the log-magnitude over all frames of `waves`."""
    s = s2 = 0.0
    count = 0
    for i in range(0, len(waves), batch):
        lm = log_magnitude(waves[i:i + batch]).double()
        s = s + lm.sum(dim=(0, 2))
        s2 = s2 + (lm ** 2).sum(dim=(0, 2))
        count += lm.shape[0] * lm.shape[2]
    mean = s / count
    std = (s2 / count - mean ** 2).clamp_min(1e-12).sqrt()
    return mean.numpy(), std.numpy()


def normalize_spectrogram(x: torch.Tensor, mean, std) -> torch.Tensor:
    """Waveforms (N, 1, T) -> SpecGAN's normalized log-magnitude (N, 1, 128, frames) in [-1, 1]."""
    lm = log_magnitude(x)
    m = torch.as_tensor(np.asarray(mean), dtype=lm.dtype)[:, None]
    s = torch.as_tensor(np.asarray(std), dtype=lm.dtype)[:, None]
    return ((lm - m) / s / CLIP_STD).clamp(-1.0, 1.0).unsqueeze(1)


def denormalize_spectrogram(s: torch.Tensor, mean, std) -> torch.Tensor:
    """normalize_spectrogram's inverse on its range: (N, 1, 128, frames) -> |STFT| (N, 128, frames)."""
    s = s.reshape(len(s), s.shape[-2], s.shape[-1]).double()
    m = torch.as_tensor(np.asarray(mean), dtype=s.dtype)[:, None]
    sd = torch.as_tensor(np.asarray(std), dtype=s.dtype)[:, None]
    return (torch.exp(s * CLIP_STD * sd + m) - LOG_EPS).clamp_min(0.0).float()


def griffin_lim(magnitude: torch.Tensor, length: int, iters: int = GRIFFIN_LIM_ITERS,
                seed: int = 0) -> torch.Tensor:
    """|STFT| (N, 128, frames) as stft_magnitude gives it -> waveforms (N, 1, length) by Griffin-Lim
    (Griffin & Lim 1984): alternate projections between the consistent spectrograms and the given
    magnitude, from random phases (seeded). The dropped top bin and last frame are put back as zeros."""
    n, bins, frames = magnitude.shape
    mag = torch.zeros(n, bins + 1, length // HOP + 1, dtype=torch.float32)
    mag[:, :bins, :frames] = magnitude.float()
    g = torch.Generator().manual_seed(int(seed))
    phase = torch.polar(torch.ones_like(mag), 2 * np.pi * torch.rand(mag.shape, generator=g))
    win = _window()
    x = torch.istft(mag * phase, N_FFT, HOP, window=win, center=True, length=length)
    for _ in range(iters):
        spec = torch.stft(x, N_FFT, HOP, window=win, center=True, return_complex=True)
        phase = spec / spec.abs().clamp_min(1e-12)
        x = torch.istft(mag * phase, N_FFT, HOP, window=win, center=True, length=length)
    return x.clamp(-1.0, 1.0).unsqueeze(1)


def spectrogram_to_wave(s: torch.Tensor, audio_info: Dict[str, Any], iters: int = GRIFFIN_LIM_ITERS) -> torch.Tensor:
    """SpecGAN samples (N, 1, 128, frames) -> waveforms (N, 1, T), with the data's moments (info["audio"])."""
    mag = denormalize_spectrogram(s, audio_info["mean"], audio_info["std"])
    return griffin_lim(mag, int(audio_info["length"]), iters)


def as_waves(x: torch.Tensor, info: Dict[str, Any]) -> torch.Tensor:
    """Samples of an audio data set as waveforms (N, 1, T): spectrograms are inverted (Griffin-Lim)."""
    if x.ndim == 4:
        return spectrogram_to_wave(x, info["audio"])
    if x.ndim != 3:
        raise ValueError(f"expected waveforms (N, 1, T) or spectrograms (N, 1, F, frames), got {tuple(x.shape)}")
    return x


def display_spectrograms(waves: torch.Tensor, floor_db: float = 80.0) -> torch.Tensor:
    """Waveforms (N, 1, T) -> pictures (N, 1, 128, frames) in [-1, 1] for a grid: dB of |STFT|,
    the top `floor_db` dB of each clip, low frequencies at the bottom."""
    db = 20.0 * torch.log10(stft_magnitude(waves) + 1e-5)
    top = db.amax(dim=(1, 2), keepdim=True)
    img = ((db - top + floor_db) / floor_db).clamp(0, 1) * 2 - 1
    return img.flip(1).unsqueeze(1)


def to_representation(waves: torch.Tensor, representation: str, info: Dict[str, Any],
                      moments: Optional[Tuple[np.ndarray, np.ndarray]] = None,
                      y: Optional[torch.Tensor] = None, num_classes: int = 0) -> ArrayDataset:
    """An ArrayDataset of waveforms (kind audio) or of SpecGAN's spectrograms (kind spectrogram, with
    `moments` (mean, std) per bin, from the training split); info["audio"] says which and how to invert."""
    audio = {"representation": representation, "sample_rate": int(info.get("sample_rate", SAMPLE_RATE)),
             "length": int(waves.shape[-1])}
    if representation == "wave":
        return ArrayDataset(x=waves, kind="audio", y=y, num_classes=num_classes, info={**info, "audio": audio})
    if representation != "spectrogram":
        raise ConfigError(f"data.params.representation: {representation!r} is not allowed; choose one of: "
                          f"{', '.join(REPRESENTATIONS)}")
    if waves.shape[-1] % HOP:
        raise ConfigError(f"data.params.length: spectrograms need a multiple of {HOP} samples, got {waves.shape[-1]}")
    mean, std = moments
    audio.update(mean=[float(v) for v in mean], std=[float(v) for v in std])
    x = torch.cat([normalize_spectrogram(waves[i:i + 500], mean, std) for i in range(0, len(waves), 500)])
    return ArrayDataset(x=x.contiguous(), kind="spectrogram", y=y, num_classes=num_classes,
                        info={**info, "audio": audio})


# ---------------------------------------------------------------- the wav-folder data set

@dataclass(frozen=True)
class WavFolderParams:
    path: str = ""                   # a folder of .wav files (searched recursively)
    length: int = LENGTH             # samples per clip: cropped or zero-padded to it
    sample_rate: int = SAMPLE_RATE   # files at another rate are resampled (scipy's resample_poly)
    representation: str = "wave"     # wave (WaveGAN) or spectrogram (SpecGAN)
    test_fraction: float = 0.1       # files held out as the test split (every k-th in sorted order)
    labels: str = "none"             # none | prefix (the file name before its first "_", as SC09's "Zero_...")
    max_files: int = 0               # 0: all

    def validate(self, where: str) -> None:
        if not self.path:
            raise ConfigError(f"{where}.path: give a folder of .wav files")
        if self.length < HOP or self.sample_rate < 1:
            raise ConfigError(f"{where}: need length >= {HOP} and sample_rate >= 1")
        if self.representation not in REPRESENTATIONS:
            raise ConfigError(f"{where}.representation: {self.representation!r} is not allowed; choose one of: "
                              f"{', '.join(REPRESENTATIONS)}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(f"{where}.test_fraction: need a fraction in (0, 1), got {self.test_fraction}")
        if self.labels not in ("none", "prefix"):
            raise ConfigError(f"{where}.labels: {self.labels!r} is not allowed; choose none or prefix")
        if self.max_files < 0:
            raise ConfigError(f"{where}.max_files: need >= 0 (0: all)")


def _load_clip(path: Path, p: WavFolderParams) -> np.ndarray:
    x, sr = read_wav(path)
    if sr != p.sample_rate:
        from math import gcd

        from scipy.signal import resample_poly
        k = gcd(sr, p.sample_rate)
        x = resample_poly(x, p.sample_rate // k, sr // k).astype(np.float32)
    return fit_length(np.clip(x, -1.0, 1.0), p.length)


def wav_files(p: WavFolderParams) -> List[Path]:
    root = Path(p.path).expanduser()
    if not root.is_dir():
        raise ConfigError(f"data.params.path: {root} is not a folder")
    files = sorted(f for f in root.rglob("*") if f.suffix.lower() == ".wav" and f.is_file())
    if len(files) < 2:
        raise ConfigError(f"data.params.path: {root} holds {len(files)} .wav files; need at least 2")
    return files[:p.max_files] if p.max_files else files


def _split_waves(p: WavFolderParams, files: List[Path], split: str):
    every = max(2, int(round(1.0 / p.test_fraction)))
    chosen = [f for i, f in enumerate(files) if (i % every == every - 1) == (split == "test")]
    waves = torch.from_numpy(np.stack([_load_clip(f, p) for f in chosen])).unsqueeze(1)
    return chosen, waves


@DATASETS.register("wav-folder", params=WavFolderParams, kinds=("audio", "spectrogram"), extractor="audio-cnn",
                   metrics=("fid",))
def wav_folder(p: WavFolderParams, split: str, seed: int = 0) -> ArrayDataset:
    """A folder of WAV files as 1-D clips of `length` samples (every k-th file in sorted order is test)."""
    check_split(split)
    files = wav_files(p)
    chosen, waves = _split_waves(p, files, split)
    y, classes = None, []
    if p.labels == "prefix":
        names = [f.name.split("_")[0] for f in files]
        classes = sorted(set(names))
        y = torch.tensor([classes.index(f.name.split("_")[0]) for f in chosen], dtype=torch.int64)
    info = {"name": "wav-folder", "sample_rate": p.sample_rate, "files": [str(f) for f in chosen],
            "classes": classes}
    moments = None
    if p.representation == "spectrogram":   # the training split's moments, for both splits
        train = waves if split == "train" else _split_waves(p, files, "train")[1]
        moments = spectrogram_moments(train)
    return to_representation(waves, p.representation, info, moments, y, len(classes))
