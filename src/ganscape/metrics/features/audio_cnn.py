"""A small CNN classifier of the synthetic notes (data/notes.py): the feature space of the audio
FID and the classifier of the audio inception score (issue 21, part 2).

As WaveGAN's paper scores SC09 with a speech-digit classifier trained on SC09
(Donahue et al. 2019, section 5.1), ganscape scores its notes with a classifier
of their 32 classes (8 pitches x 4 instruments) trained here by
``scripts/train_audio_classifier.py`` on the notes *train* split (seed 0) and
shipped as ``ganscape/weights/audio-cnn.safetensors`` with a sidecar
``audio-cnn.json`` (SHA-256, seed, accuracies, the command). The file's
SHA-256 is checked against ``WEIGHTS_SHA256`` below before it is loaded.

Input: waveforms float32 (N, 1, T) in [-1, 1] at 16 kHz; clips are cropped or
zero-padded to 16384 samples. Preprocessing: the log-magnitude STFT of
data/audio_files.py (256-sample Hann windows, hop 128: 128 bins x 128 frames),
then a fixed affine map (log|X| + 4) / 4 (data-independent, unlike SpecGAN's
per-bin normalization, so every run is judged on the same scale).

Architecture (no batch norm, so features never depend on the batch)::

    1x128x128 -> conv3x3 s2 (16) ReLU -> conv3x3 s2 (32) ReLU
              -> conv3x3 s2 (64) ReLU -> conv3x3 s2 (64) ReLU       (64 x 8 bins x 8 frames)
              -> mean over frames -> flatten (512)
              -> fc(128) ReLU  = features (penultimate layer)
              -> fc(32)        = logits

The mean over frames makes the features a function of which frequencies sound,
not of when: what pitch and timbre are.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ...data.audio_files import LENGTH, log_magnitude
from ...fetch import IntegrityError, sha256_file
from ...registry import EXTRACTORS, ConfigError
from .base import FeatureExtractor

FEATURE_DIM = 128
NUM_CLASSES = 32
WEIGHTS_FILE = "audio-cnn.safetensors"
LOG_CENTER = -4.0
LOG_SCALE = 4.0

# SHA-256 of the shipped weights file (scripts/train_audio_classifier.py prints it after training).
WEIGHTS_SHA256 = "b711a28a2a724874b48537217146b8f5fe5a7c5ee5cdf5b40384d0e4cc8fabac"


class AudioCnn(nn.Module):
    """waveforms (N, 1, T) -> (features (N, 128) >= 0, logits (N, 32)); see the module docstring."""

    def __init__(self, dropout: float = 0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 2, 1)
        self.conv2 = nn.Conv2d(16, 32, 3, 2, 1)
        self.conv3 = nn.Conv2d(32, 64, 3, 2, 1)
        self.conv4 = nn.Conv2d(64, 64, 3, 2, 1)
        self.fc1 = nn.Linear(64 * 8, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, NUM_CLASSES)
        self.drop = nn.Dropout(dropout)

    def forward(self, waves: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        h = spectrogram_input(waves)
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4):
            h = F.relu(conv(h))
        feats = F.relu(self.fc1(self.drop(h.mean(dim=3).flatten(1))))
        return feats, self.fc2(self.drop(feats))


def spectrogram_input(waves: torch.Tensor) -> torch.Tensor:
    """(N, 1, T) waveforms -> (N, 1, 128, 128) scaled log-magnitudes (clips cropped / padded to 16384)."""
    if waves.ndim != 3 or waves.shape[1] != 1:
        raise ValueError(f"audio-cnn expects waveforms (N, 1, T), got shape {tuple(waves.shape)}")
    x = waves.float()
    if x.shape[-1] != LENGTH:
        x = F.pad(x, (0, LENGTH - x.shape[-1])) if x.shape[-1] < LENGTH else x[..., :LENGTH]
    return ((log_magnitude(x) - LOG_CENTER) / LOG_SCALE).unsqueeze(1)


def default_weights_path() -> Path:
    return Path(str(resources.files("ganscape").joinpath("weights", WEIGHTS_FILE)))


def load_audio_cnn(path: Optional[str] = None) -> Tuple[AudioCnn, str]:
    """The classifier from a safetensors file, its SHA-256 checked first (the pinned one for the shipped
    file, else the sidecar json's when there is one). Returns (net in eval mode, frozen; hex digest)."""
    from safetensors.torch import load_file

    shipped = path is None
    p = default_weights_path() if shipped else Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"audio-cnn weights not found at {p}"
                                + ("; run scripts/train_audio_classifier.py --out src/ganscape/weights/"
                                   if shipped else ""))
    digest = sha256_file(p)
    expected = WEIGHTS_SHA256 if shipped else None
    sidecar = p.with_suffix(".json")
    if not shipped and sidecar.is_file():
        expected = str(json.loads(sidecar.read_text()).get("sha256", "")) or None
    if expected is not None and digest != expected.lower():
        raise IntegrityError(f"SHA-256 mismatch for audio-cnn weights {p}: file has {digest}, expected {expected}; "
                             f"restore the file or retrain with scripts/train_audio_classifier.py")
    net = AudioCnn()
    try:
        net.load_state_dict(load_file(str(p)), strict=True)
    except Exception as e:  # a bad header (safetensors' own error type) or the wrong tensors
        raise ValueError(f"{p} does not hold AudioCnn weights ({type(e).__name__}: {e})") from None
    net.eval().requires_grad_(False)
    return net, digest


class AudioCnnExtractor(FeatureExtractor):
    """Features and logits of the shipped notes classifier (see the module docstring)."""

    name = "audio-cnn"
    feature_dim = FEATURE_DIM
    num_classes = NUM_CLASSES

    def __init__(self, net: AudioCnn, sha256: str):
        super().__init__()
        self.net = net
        self.sha256 = sha256

    def identity(self) -> str:
        return f"audio-cnn(sha256={self.sha256},logmag-256-128,crop-or-pad-16384,features=fc1-relu)"

    def forward(self, waves: torch.Tensor) -> Dict[str, torch.Tensor]:
        """waveforms (N, 1, T) in [-1, 1] -> {"features": (N, 128), "logits": (N, 32)}."""
        feats, logits = self.net(waves.to(self.net.fc1.weight.device))
        return {"features": feats, "logits": logits}


@dataclass(frozen=True)
class AudioCnnParams:
    weights: Optional[str] = None   # a safetensors file from scripts/train_audio_classifier.py; None: shipped

    def validate(self, where: str) -> None:
        if self.weights is not None and not self.weights.strip():
            raise ConfigError(f"{where}.weights: empty path; give a safetensors file or leave it unset")


@EXTRACTORS.register("audio-cnn", params=AudioCnnParams)
def audio_cnn(params: AudioCnnParams) -> AudioCnnExtractor:
    """Shipped notes classifier on log-magnitude spectrograms: 128-d features, 32 logits (waveforms in)."""
    net, digest = load_audio_cnn(params.weights)
    return AudioCnnExtractor(net, digest)
