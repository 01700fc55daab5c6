"""Stacked digits: three digit images as the three channels of one image.

The Stacked MNIST mode-collapse benchmark (Metz et al. 2017; used by VEEGAN and
PacGAN) stacks three independently drawn MNIST digits into the R, G and B
channels, which gives 10^3 = 1000 modes: the label of a stacked image is
``100 * d0 + 10 * d1 + d2`` where ``d_c`` is the class of the digit in channel
``c``. A generator that covers the data distribution hits all 1000 modes about
equally; a collapsed one hits few of them.

Here the digits come from scikit-learn's bundled 8x8 digits (the embedded,
download-free data set, see ``ganscape.data.digits``), so the benchmark runs
offline. Each channel is drawn uniformly at random (with replacement) from the
images of the requested split, exactly as the original protocol draws from
MNIST; since sklearn's digit classes are nearly balanced (174 to 183 images
each of 1797), the mode distribution is nearly uniform. The train split draws
only train digits, the test split only test digits, so the two never share a
digit image.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np
import torch

from ..registry import DATASETS, ConfigError
from .base import ArrayDataset
from .base import split_count
from .base import split_rng as base_split_rng
from .digits import digits_arrays

NUM_MODES = 1000
DEFAULT_N = 25600

# Salt mixed into the seed so that stacked-digits draws never coincide with
# another data set's draws made from the same run seed.
_SALT = 0x57AC


@dataclass(frozen=True)
class StackedDigitsParams:
    size: Literal[8, 16, 32] = 8  # output resolution; >8 is bilinear upsampling
    n: int = DEFAULT_N  # number of stacked images in the train split
    n_test: Optional[int] = None  # number in the test split; None means n // 5

    def validate(self, where: str) -> None:
        if self.size not in (8, 16, 32):
            raise ConfigError(f"{where}.size: {self.size} is not allowed; choose 8, 16 or 32")
        if self.n < 1:
            raise ConfigError(f"{where}.n: must be a positive number of images, got {self.n}")
        if self.n_test is not None and self.n_test < 1:
            raise ConfigError(f"{where}.n_test: must be a positive number of images or null, got {self.n_test}")
        if self.n_test is None and self.n // 5 < 1:
            raise ConfigError(f"{where}.n: n // 5 test images would be none; use n >= 5 or set n_test")

    def count(self, split: str) -> int:
        """Number of stacked images in `split`."""
        return split_count(self.n, self.n_test, split)


def split_rng(seed: int, split: str) -> np.random.Generator:
    """This data set's stream for `split` (see data.base.split_rng)."""
    return base_split_rng(_SALT, seed, split)


def stacked_digits_arrays(n: int, split: str, seed: int):
    """Draw `n` stacked-digit images from the digits of `split`.

    Returns (images float32 (n, 3, 8, 8) in [0, 1], digit labels int64 (n, 3),
    indices int64 (n, 3)) where channel c of image i is the digit image
    ``digits_arrays(split)[0][indices[i, c]]`` whose class is ``digit_labels[i, c]``.
    """
    images, labels = digits_arrays(split)
    idx = split_rng(seed, split).integers(0, len(images), size=(n, 3))
    return images[idx], labels[idx], idx


def mode_labels(digit_labels: np.ndarray) -> np.ndarray:
    """Mode index 100*d0 + 10*d1 + d2 in [0, 1000) from (N, 3) per-channel classes."""
    d = np.asarray(digit_labels, dtype=np.int64)
    if d.ndim != 2 or d.shape[1] != 3:
        raise ValueError(f"expected per-channel digit labels of shape (N, 3), got {d.shape}")
    if d.size and (d.min() < 0 or d.max() > 9):
        raise ValueError("digit labels must lie in 0..9")
    return d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]


@DATASETS.register("stacked-digits", params=StackedDigitsParams, extractor="digits-cnn",
                   metrics=("fid", "kid", "prdc", "stacked-modes"))
def stacked_digits(params: StackedDigitsParams, split: str, seed: int = 0) -> ArrayDataset:
    """Three sklearn digits stacked as 3 channels: 1000 modes (label 100*d0 + 10*d1 + d2)."""
    images, digit_labels, idx = stacked_digits_arrays(params.count(split), split, seed)
    codes = torch.from_numpy(np.rint(images * 16.0).astype(np.uint8))  # the digits' 17 levels, as digits.py
    y = torch.from_numpy(mode_labels(digit_labels))
    return ArrayDataset(
        x=codes, kind="image", y=y, num_classes=NUM_MODES, code_scale=8.0, size=0 if params.size == 8 else params.size,
        info={"digit_labels": digit_labels, "digit_indices": idx},
    )
