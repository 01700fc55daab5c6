"""scikit-learn's bundled 8x8 handwritten digits: the embedded real data set.

1797 grey images with 17 intensity levels (0..16) and labels 0..9. The split is
fixed: a seeded (seed 0) stratified-by-shuffle permutation, the first 1497
images are "train" and the last 300 "test", so every part of ganscape (the
training data, the digits classifier, the reference statistics) agrees on it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ..registry import DATASETS, ConfigError
from .base import ArrayDataset, check_split, resize_images

N_TEST = 300


def digits_arrays(split: str):
    """(images float32 (N, 8, 8) in [0, 1], labels int64 (N,)) for the fixed split."""
    check_split(split)
    from sklearn.datasets import load_digits

    d = load_digits()
    images = d.images.astype(np.float32) / 16.0
    labels = d.target.astype(np.int64)
    perm = np.random.RandomState(0).permutation(len(images))
    idx = perm[:-N_TEST] if split == "train" else perm[-N_TEST:]
    return images[idx], labels[idx]


@dataclass(frozen=True)
class DigitsParams:
    size: Literal[8, 16, 32] = 8  # output resolution; >8 is bilinear upsampling

    def validate(self, where: str) -> None:
        if self.size not in (8, 16, 32):
            raise ConfigError(f"{where}.size: {self.size} is not allowed; choose 8, 16 or 32")


@DATASETS.register("digits", params=DigitsParams, extractor="digits-cnn")
def digits(params: DigitsParams, split: str, seed: int = 0) -> ArrayDataset:
    """scikit-learn's 8x8 digits (1497 train / 300 test), 1 channel, optionally resized."""
    images, labels = digits_arrays(split)
    x = torch.from_numpy(images)[:, None] * 2.0 - 1.0
    x = resize_images(x, params.size).clamp(-1, 1).contiguous()
    # At the native 8 px the pixels are on a 17-level grid (2 v / 16 - 1): the
    # likelihood metrics score them as discrete 17-level images.
    info = {"levels": 17} if params.size == 8 else {}
    return ArrayDataset(x=x, kind="image", y=torch.from_numpy(labels), num_classes=10, info=info)
