"""Synthetic notes: 1-second audio clips with known ground truth (issue 21, part 2).

Every clip is one note, 16384 samples at 16 kHz (WaveGAN's clip), drawn
deterministically from (seed, split) like `shapes`:

- pitch: one of NOTES, the C major scale C4..C5 (MIDI 60..72), equal
  temperament, f0 = 440 * 2^((m - 69) / 12);
- instrument: a harmonic recipe, a list of (frequency ratio, amplitude)
  partials: sine (the fundamental alone), square (odd harmonics 1, 3, 5, 7 at
  1/k), saw (harmonics 1..8 at 1/k) and bell (inharmonic partials at the
  free-free bar's mode ratios 1, 2.756, 5.404, 8.933 with amplitudes 1, 0.6,
  0.4, 0.25); each partial starts at a random phase; every partial lies below
  4.7 kHz, far from the 8 kHz Nyquist frequency, so nothing aliases;
- ADSR envelope: attack 5..50 ms, decay 50..200 ms to a sustain level
  0.3..0.8, key released at 0.5..0.8 s, release 50..300 ms (all uniform);
  one envelope for all partials, so the partials' amplitude ratios are
  exactly the recipe's;
- loudness: the clip's peak amplitude, uniform in [0.2, 0.9].

The estimators below recover pitch and instrument from a clip alone (the
metrics of metrics/audio.py): the spectrum's strongest peak is the
fundamental (every recipe's largest partial), read to a fraction of a
semitone; the partials' amplitudes relative to it, read at the harmonic and
bell ratios, are matched to the recipes' templates.

Labels: y = pitch index * 4 + instrument index (32 classes).
"""
from __future__ import annotations

import copy
import dataclasses
import functools
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import torch

from ..registry import DATASETS, ConfigError
from .audio_files import REPRESENTATIONS, SAMPLE_RATE, spectrogram_moments, to_representation
from .base import ArrayDataset, split_count, split_rng

NOTES: Tuple[int, ...] = (60, 62, 64, 65, 67, 69, 71, 72)
INSTRUMENTS: Tuple[str, ...] = ("sine", "square", "saw", "bell")
BELL_RATIOS = (1.0, 2.756, 5.404, 8.933)
RECIPES = {
    "sine": ((1.0, 1.0),),
    "square": tuple((float(k), 1.0 / k) for k in (1, 3, 5, 7)),
    "saw": tuple((float(k), 1.0 / k) for k in range(1, 9)),
    "bell": tuple(zip(BELL_RATIOS, (1.0, 0.6, 0.4, 0.25))),
}
# where the estimator reads partial amplitudes: harmonics 2..8, then the bell's three upper partials
PROBE_RATIOS: Tuple[float, ...] = (2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0) + BELL_RATIOS[1:]
PITCH_TOLERANCE = 0.25     # semitones: an estimate within a quarter tone of a scale note counts as that note
TIMBRE_TOLERANCE = 0.15    # largest allowed distance between a clip's partial profile and its recipe's
PROMINENCE = 30.0          # a tone: the strongest peak at least this many times the spectrum's median magnitude
_SALT = 0x40E5


def midi_to_hz(m) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(m, dtype=np.float64) - 69.0) / 12.0)


def hz_to_midi(f) -> np.ndarray:
    return 69.0 + 12.0 * np.log2(np.asarray(f, dtype=np.float64) / 440.0)


def templates() -> np.ndarray:
    """(4, len(PROBE_RATIOS)): each recipe's partial amplitudes at PROBE_RATIOS, relative to its fundamental."""
    out = np.zeros((len(INSTRUMENTS), len(PROBE_RATIOS)))
    for i, name in enumerate(INSTRUMENTS):
        for r, a in RECIPES[name][1:]:
            out[i, PROBE_RATIOS.index(r)] = a
    return out


def adsr(n: int, sr: int, attack: float, decay: float, sustain: float, release_at: float,
         release: float) -> np.ndarray:
    """The envelope (n,): linear attack to 1, linear decay to `sustain`, held, linear release to 0."""
    t = np.arange(n) / sr
    env = np.where(t < attack, t / attack,
                   np.where(t < attack + decay, 1.0 - (1.0 - sustain) * (t - attack) / decay, sustain))
    env = np.where(t >= release_at, env * np.clip(1.0 - (t - release_at) / release, 0.0, 1.0), env)
    return env


def synthesize(pitch: int, instrument: str, loudness: float = 0.8, length: int = 16384, sr: int = SAMPLE_RATE,
               envelope: Tuple[float, float, float, float, float] = (0.01, 0.1, 0.6, 0.7, 0.1),
               phases: Optional[np.ndarray] = None) -> np.ndarray:
    """One clip (length,) float32: `instrument`'s partials at MIDI `pitch`, shaped by the ADSR
    `envelope` (attack, decay, sustain, release_at, release), scaled to peak amplitude `loudness`."""
    t = np.arange(length) / sr
    f0 = float(midi_to_hz(pitch))
    partials = RECIPES[instrument]
    phases = np.zeros(len(partials)) if phases is None else phases
    s = sum(a * np.sin(2 * np.pi * r * f0 * t + ph) for (r, a), ph in zip(partials, phases))
    s = s * adsr(length, sr, *envelope)
    return (loudness * s / np.max(np.abs(s))).astype(np.float32)


def _spectrum(x: np.ndarray) -> np.ndarray:
    """|rFFT| of the Hann-windowed clips (N, T // 2 + 1)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return np.abs(np.fft.rfft(x * np.hanning(x.shape[1]), axis=1))


def estimate_pitch(x, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Clips (N, T) or (N, 1, T) -> the fundamental as a (fractional) MIDI number (N,): the strongest
    spectral peak above 50 Hz, located to a fraction of a bin by a parabola through the log magnitudes
    of the peak bin and its two neighbours."""
    x = np.asarray(x).reshape(len(x), -1)
    mag = _spectrum(x)
    df = sr / x.shape[1]
    lo = int(np.ceil(50.0 / df))
    k = lo + np.argmax(mag[:, lo:-1], axis=1)
    rows = np.arange(len(x))
    a, b, c = (np.log(mag[rows, k + d] + 1e-12) for d in (-1, 0, 1))
    den = a - 2 * b + c
    offset = np.where(np.abs(den) > 1e-12, 0.5 * (a - c) / np.where(den == 0, 1, den), 0.0)
    return hz_to_midi((k + np.clip(offset, -0.5, 0.5)) * df)


def nearest_note(midi: np.ndarray) -> np.ndarray:
    """The scale note (index into NOTES) within PITCH_TOLERANCE semitones of each estimate, else -1."""
    notes = np.asarray(NOTES, dtype=np.float64)
    dist = np.abs(np.asarray(midi, dtype=np.float64)[:, None] - notes[None, :])
    idx = np.argmin(dist, axis=1)
    return np.where(dist[np.arange(len(idx)), idx] <= PITCH_TOLERANCE, idx, -1)


def partial_profile(x, f0_hz: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Clips (N, T) -> amplitudes at f0 * PROBE_RATIOS relative to the amplitude at f0 (N, len(PROBE_RATIOS)):
    each read as the largest magnitude within 2 bins of the nearest bin."""
    x = np.asarray(x).reshape(len(x), -1)
    mag = _spectrum(x)
    df = sr / x.shape[1]
    rows = np.arange(len(x))[:, None]

    def peak(freqs: np.ndarray) -> np.ndarray:
        centre = np.rint(freqs / df).astype(np.int64)
        idx = np.clip(centre[..., None] + np.arange(-2, 3), 0, mag.shape[1] - 1)
        return mag[rows[..., None], idx].max(axis=-1)

    f0_hz = np.asarray(f0_hz, dtype=np.float64)
    base = peak(f0_hz[:, None])
    return peak(f0_hz[:, None] * np.asarray(PROBE_RATIOS)[None, :]) / np.maximum(base, 1e-12)


def estimate_instrument(x, sr: int = SAMPLE_RATE) -> Tuple[np.ndarray, np.ndarray]:
    """Clips -> (instrument index (N,), distance to that recipe's template (N,)): the nearest template
    (Euclidean) to the partial profile read at the estimated fundamental. A distance above
    TIMBRE_TOLERANCE means no recipe fits (estimate_notes gives -1 then)."""
    f0 = midi_to_hz(estimate_pitch(x, sr))
    prof = partial_profile(x, f0, sr)
    d = np.linalg.norm(prof[:, None, :] - templates()[None], axis=2)
    idx = np.argmin(d, axis=1)
    return idx, d[np.arange(len(idx)), idx]


def prominence(x) -> np.ndarray:
    """Clips (N, T) -> the strongest spectral peak over the median magnitude (N,): a note's is in the
    thousands, white noise's about 4 (the largest of ~8000 Rayleigh draws over their median)."""
    mag = _spectrum(np.asarray(x).reshape(len(x), -1))
    return mag.max(axis=1) / np.maximum(np.median(mag, axis=1), 1e-12)


def estimate_notes(x, sr: int = SAMPLE_RATE) -> Tuple[np.ndarray, np.ndarray]:
    """Clips -> (pitch index into NOTES or -1, instrument index or -1) for each clip; a clip without a
    clear tone (prominence below PROMINENCE) gets -1 for both."""
    x = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x).reshape(len(x), -1)
    tonal = prominence(x) >= PROMINENCE
    pitch = np.where(tonal, nearest_note(estimate_pitch(x, sr)), -1)
    inst, dist = estimate_instrument(x, sr)
    return pitch, np.where(tonal & (dist <= TIMBRE_TOLERANCE), inst, -1)


@dataclass(frozen=True)
class NotesParams:
    n: int = 2000                    # training clips
    n_test: Optional[int] = None     # test clips (default n // 5)
    length: int = 16384              # samples per clip (16384: WaveGAN's 1.024 s at 16 kHz)
    representation: str = "wave"     # wave (WaveGAN) or spectrogram (SpecGAN)

    def validate(self, where: str) -> None:
        if self.n < 2 or (self.n_test is not None and self.n_test < 2):
            raise ConfigError(f"{where}: need n >= 2 and n_test >= 2")
        if self.length < 4096:
            raise ConfigError(f"{where}.length: need >= 4096 samples (a quarter second: the note's envelope "
                              f"and release fit), got {self.length}")
        if self.representation not in REPRESENTATIONS:
            raise ConfigError(f"{where}.representation: {self.representation!r} is not allowed; choose one of: "
                              f"{', '.join(REPRESENTATIONS)}")


def draw_notes(p: NotesParams, split: str, seed: int):
    """(waves (N, 1, T) float32, pitch indices (N,), instrument indices (N,), info) of one split."""
    waves, pitch, inst, info = _draw(p.n, p.n_test, p.length, split, int(seed))
    # the cache's arrays stay untouched: each caller gets its own copy
    return waves.clone(), pitch.copy(), inst.copy(), copy.deepcopy(info)


@functools.lru_cache(maxsize=2)   # a run draws its splits several times (train, eval, reference, moments)
def _draw(n_train: int, n_test: Optional[int], length: int, split: str, seed: int):
    p = NotesParams(n=n_train, n_test=n_test, length=length)
    n = split_count(p.n, p.n_test, split)
    rng = split_rng(_SALT, seed, split)
    pitch = rng.integers(0, len(NOTES), n)
    inst = rng.integers(0, len(INSTRUMENTS), n)
    loud = rng.uniform(0.2, 0.9, n)
    env = np.stack([rng.uniform(0.005, 0.05, n), rng.uniform(0.05, 0.2, n), rng.uniform(0.3, 0.8, n),
                    rng.uniform(0.5, 0.8, n), rng.uniform(0.05, 0.3, n)], axis=1)
    phases = rng.uniform(0, 2 * np.pi, (n, 8))
    waves = np.stack([synthesize(NOTES[pitch[i]], INSTRUMENTS[inst[i]], loud[i], p.length, SAMPLE_RATE,
                                 tuple(env[i]), phases[i]) for i in range(n)])
    info = {"name": "notes", "sample_rate": SAMPLE_RATE, "notes": list(NOTES), "instruments": list(INSTRUMENTS),
            "pitch": pitch.tolist(), "instrument": inst.tolist(), "loudness": loud.tolist(),
            "envelope": env.tolist()}
    return torch.from_numpy(waves).unsqueeze(1), pitch, inst, info


@DATASETS.register("notes", params=NotesParams, kinds=("audio", "spectrogram"), extractor="audio-cnn",
                   metrics=("pitch-accuracy", "instrument-accuracy", "fid", "is"))
def notes(p: NotesParams, split: str, seed: int = 0) -> ArrayDataset:
    """Synthetic notes: 8 pitches x 4 timbres with ADSR envelopes, 16 kHz; pitch and timbre known."""
    waves, pitch, inst, info = draw_notes(p, split, seed)
    y = torch.from_numpy(pitch * len(INSTRUMENTS) + inst).long()
    if p.representation == "wave":
        return to_representation(waves, "wave", info, None, y, len(NOTES) * len(INSTRUMENTS))
    spec = _spectrograms(p.n, p.n_test, p.length, split, int(seed))
    return dataclasses.replace(spec, x=spec.x.clone(), y=y, info=copy.deepcopy(spec.info))


@functools.lru_cache(maxsize=2)
def _spectrograms(n_train: int, n_test: Optional[int], length: int, split: str, seed: int) -> ArrayDataset:
    """SpecGAN's representation of a split, the training split's moments serving both (cached: one pass
    of STFTs, not one per load)."""
    waves, _, _, info = _draw(n_train, n_test, length, split, seed)
    moments = _moments(n_train, n_test, length, seed)
    return to_representation(waves, "spectrogram", info, moments, None, len(NOTES) * len(INSTRUMENTS))


@functools.lru_cache(maxsize=2)
def _moments(n_train: int, n_test: Optional[int], length: int, seed: int):
    """The training split's per-bin log-magnitude moments (SpecGAN's normalization)."""
    return spectrogram_moments(_draw(n_train, n_test, length, "train", seed)[0])
