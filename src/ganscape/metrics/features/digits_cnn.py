"""A small CNN classifier for scikit-learn's 8x8 digits, used as the feature
space of FID / KID / precision-recall on digits and as the mode labeller of
stacked digits.

The network is trained by ``scripts/train_digits_classifier.py`` on the digits
*train* split only (1497 images) and shipped with the package as
``ganscape/weights/digits_cnn.safetensors`` (float32, about 360 KB), with a
sidecar ``digits_cnn.json`` recording its SHA-256, seed, accuracies and the
command that made it. The file's SHA-256 is checked against
``WEIGHTS_SHA256`` below before it is loaded, so a corrupted or swapped file
fails loudly instead of silently changing every metric.

Architecture (no batch norm, so features never depend on the batch)::

    1x8x8 -> conv3x3(32) ReLU -> conv3x3(64) ReLU -> maxpool2       (64x4x4)
          -> conv3x3(64) ReLU -> maxpool2                           (64x2x2)
          -> flatten(256) -> fc(128) ReLU  = features (penultimate layer)
          -> fc(10)                        = logits

The features are the post-ReLU penultimate activations, the analogue of
InceptionV3's pool3 features (also post-ReLU) used by standard FID.

Input handling:

- images float32 (N, C, H, W) in [-1, 1] with H == W in {8, 16, 32}: the sizes
  the ``digits`` data set produces. 16x16 and 32x32 inputs are downsampled to
  8x8 with antialiased bilinear interpolation (``F.interpolate(...,
  antialias=True)``) before the network sees them, so a generator trained on
  upsampled digits is judged at the classifier's native resolution.
- C == 1: one digit per image; ``forward`` returns 128-d features and 10 logits.
- C > 1 (stacked digits, one digit per channel): every channel is classified
  on its own. ``forward`` returns the per-channel features concatenated in
  channel order, shape (N, 128 * C), and *no* "logits" key, because the joint
  label of a stacked image is a tuple, not one of 10 classes; use
  ``channel_logits`` for the per-channel logits, shape (N, C, 10).
  ``feature_dim`` (128) is therefore the dimension *per channel*.
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

# sha256_file stays importable from here: scripts/train_digits_classifier.py uses it.
from ...fetch import IntegrityError, sha256_file
from ...registry import EXTRACTORS, ConfigError
from .base import FeatureExtractor

NATIVE_SIZE = 8
ALLOWED_SIZES = (8, 16, 32)
FEATURE_DIM = 128
NUM_CLASSES = 10
WEIGHTS_FILE = "digits_cnn.safetensors"

# SHA-256 of the shipped weights file, pinned here (not only in the sidecar
# json) so that replacing the file *and* its json still cannot pass unnoticed.
# Retraining with scripts/train_digits_classifier.py prints the new digest.
WEIGHTS_SHA256 = "b535767712efed0c6cb7a74b1d9d218519497e902c52280cf4291f4d97c80844"


class DigitsCnn(nn.Module):
    """The bare classifier: (N, 1, 8, 8) in [-1, 1] -> features (N, 128), logits (N, 10).

    Shared by the extractor and by the training script, so the parameter
    names in the safetensors file are exactly this module's state-dict keys.
    """

    def __init__(self, dropout: float = 0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 2 * 2, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, NUM_CLASSES)
        # Dropout only acts in train mode (regularization during training);
        # it holds no parameters, so the shipped file does not depend on it.
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """x (N, 1, 8, 8) in [-1, 1] -> (features (N, 128) >= 0, logits (N, 10))."""
        h = F.relu(self.conv1(x))
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        h = F.max_pool2d(F.relu(self.conv3(h)), 2)
        feats = F.relu(self.fc1(self.drop(h.flatten(1))))
        return feats, self.fc2(self.drop(feats))


def to_native(images: torch.Tensor) -> torch.Tensor:
    """(N, C, S, S) with S in {8, 16, 32} -> (N, C, 8, 8), antialiased bilinear.

    8x8 input is returned unchanged. Raises ValueError for other shapes.
    """
    if images.ndim != 4:
        raise ValueError(f"digits-cnn expects images (N, C, H, W), got shape {tuple(images.shape)}")
    h, w = images.shape[-2:]
    if h != w or h not in ALLOWED_SIZES:
        raise ValueError(
            f"digits-cnn expects square images of size 8, 16 or 32 (the digits data set's "
            f"sizes), got {h}x{w}")
    if h == NATIVE_SIZE:
        return images
    return F.interpolate(images, size=(NATIVE_SIZE, NATIVE_SIZE), mode="bilinear",
                         align_corners=False, antialias=True)


def default_weights_path() -> Path:
    """Path of the weights shipped inside the installed package."""
    return Path(str(resources.files("ganscape").joinpath("weights", WEIGHTS_FILE)))


def _expected_sha256(path: Path, shipped: bool) -> Optional[str]:
    """The digest `path` must have: the pinned constant for the shipped file,
    else the "sha256" of a sidecar ``<stem>.json`` if one exists, else None."""
    if shipped:
        return WEIGHTS_SHA256
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return None
    try:
        digest = json.loads(sidecar.read_text())["sha256"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{sidecar}: cannot read a 'sha256' entry ({e})") from None
    return str(digest)


def load_digits_cnn(path: Optional[str] = None) -> Tuple[DigitsCnn, str]:
    """Load the classifier from a safetensors file, verifying its SHA-256 first.

    path: None for the shipped weights (checked against ``WEIGHTS_SHA256``);
    otherwise a file written by ``scripts/train_digits_classifier.py``, checked
    against the sha256 in its sidecar ``<stem>.json`` when that exists (a file
    without a sidecar is loaded unchecked; its digest still enters identity()).
    Returns (network in eval mode with frozen parameters, hex SHA-256).
    Raises ganscape.fetch.IntegrityError (a ValueError) on a digest mismatch.
    """
    from safetensors.torch import load_file

    shipped = path is None
    p = default_weights_path() if shipped else Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(
            f"digits-cnn weights not found at {p}"
            + ("; reinstall ganscape or run scripts/train_digits_classifier.py --out src/ganscape/weights/"
               if shipped else ""))
    digest = sha256_file(p)
    expected = _expected_sha256(p, shipped)
    if expected is not None and digest != expected.lower():
        raise IntegrityError(
            f"SHA-256 mismatch for digits-cnn weights {p}: file has {digest}, expected {expected}. "
            f"The file is corrupted or was replaced; restore it or retrain with "
            f"scripts/train_digits_classifier.py")
    net = DigitsCnn()
    try:
        state = load_file(str(p))
    except Exception as e:  # safetensors raises its own error type (not a ValueError) on a bad header
        raise ValueError(f"{p} is not a readable safetensors file of digits-cnn weights "
                         f"({type(e).__name__}: {e})") from None
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(f"{p} does not hold DigitsCnn weights: {e}") from None
    net.eval().requires_grad_(False)
    return net, digest


class DigitsCnnExtractor(FeatureExtractor):
    """Features and logits of the shipped digits classifier (see module docstring)."""

    name = "digits-cnn"
    feature_dim = FEATURE_DIM  # per channel: C-channel input gives 128 * C features
    num_classes = NUM_CLASSES

    def __init__(self, net: DigitsCnn, sha256: str):
        super().__init__()
        self.net = net
        self.sha256 = sha256

    def identity(self) -> str:
        return f"digits-cnn(sha256={self.sha256},resize=bilinear-antialias-to-8,features=fc1-relu)"

    def _per_channel(self, images: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(N, C, H, W) -> features (N, C, 128), logits (N, C, 10), each channel alone."""
        x = to_native(images.to(self.net.fc1.weight.dtype))
        n, c = x.shape[:2]
        feats, logits = self.net(x.reshape(n * c, 1, NATIVE_SIZE, NATIVE_SIZE))
        return feats.reshape(n, c, FEATURE_DIM), logits.reshape(n, c, NUM_CLASSES)

    def forward(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        """images (N, C, H, W) in [-1, 1], H == W in {8, 16, 32} ->
        C == 1: {"features": (N, 128), "logits": (N, 10)};
        C > 1:  {"features": (N, 128 * C)} (per-channel features, concatenated)."""
        feats, logits = self._per_channel(images)
        if feats.shape[1] == 1:
            return {"features": feats[:, 0], "logits": logits[:, 0]}
        return {"features": feats.flatten(1)}

    def channel_logits(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, C, H, W) in [-1, 1] -> logits (N, C, 10), each channel
        classified as a single digit (the stacked-digits mode labeller)."""
        return self._per_channel(images)[1]


@dataclass(frozen=True)
class DigitsCnnParams:
    # Path of a safetensors file from scripts/train_digits_classifier.py;
    # None uses the weights shipped with ganscape.
    weights: Optional[str] = None

    def validate(self, where: str) -> None:
        if self.weights is not None and not self.weights.strip():
            raise ConfigError(f"{where}.weights: empty path; give a safetensors file or leave it unset")


@EXTRACTORS.register("digits-cnn", params=DigitsCnnParams)
def digits_cnn(params: DigitsCnnParams) -> DigitsCnnExtractor:
    """Shipped 8x8-digits CNN: 128-d penultimate features, 10 logits (per channel)."""
    net, digest = load_digits_cnn(params.weights)
    return DigitsCnnExtractor(net, digest)
