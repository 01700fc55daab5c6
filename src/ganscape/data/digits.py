"""scikit-learn's bundled 8x8 handwritten digits: the embedded real data set.

1797 grey images with 17 intensity levels (0..16) and labels 0..9. The split is
fixed: a seeded (seed 0) stratified-by-shuffle permutation, the first 1497
images are "train" and the last 300 "test", so every part of ganscape (the
training data, the digits classifier, the reference statistics) agrees on it.

A validation split for choosing settings and checkpoints without touching
the test split: with the parameter `validation: N` the last N of the 1497
training images become the split "val" and "train" keeps the first 1497 - N
(the same permutation, so "val" is always the same images). Only the digits
families take "val" (digits, binary-digits); other data sets have train and
test.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ..registry import DATASETS, ConfigError
from .base import ArrayDataset, check_split

N_TEST = 300
N_TRAIN = 1497
VAL = "val"


def check_validation(validation: int, where: str) -> None:
    """The `validation` parameter of the digits data sets: 0 <= N < 1497."""
    if isinstance(validation, bool) or not isinstance(validation, int) or not 0 <= validation < N_TRAIN:
        raise ConfigError(f"{where}.validation: training images held out as the split 'val' must be an "
                          f"integer in [0, {N_TRAIN - 1}], got {validation!r}")


def digits_arrays(split: str, validation: int = 0):
    """(images float32 (N, 8, 8) in [0, 1], labels int64 (N,)) for the fixed
    split: "train", "test", or "val" (the last `validation` training images,
    which "train" then leaves out)."""
    if split == VAL:
        if not validation:
            raise ConfigError("split 'val' is the training images held out by the data parameter "
                              "validation: N (e.g. --set data.params.validation=200); this data has none")
    else:
        check_split(split)
    check_validation(validation, "data.params")
    from sklearn.datasets import load_digits

    d = load_digits()
    images = d.images.astype(np.float32) / 16.0
    labels = d.target.astype(np.int64)
    perm = np.random.RandomState(0).permutation(len(images))
    train = perm[:-N_TEST]
    idx = {"train": train[:len(train) - validation], VAL: train[len(train) - validation:],
           "test": perm[-N_TEST:]}[split]
    return images[idx], labels[idx]


@dataclass(frozen=True)
class DigitsParams:
    size: Literal[8, 16, 32] = 8  # output resolution; >8 is bilinear upsampling
    validation: int = 0           # training images held out as the split "val" (not trained on)
    # Train on only the first `train_limit` training images (0: all 1497 less validation); the test and
    # val splits are unchanged. A small set is how memorization is provoked (the doctor's benchmark).
    train_limit: int = 0

    def validate(self, where: str) -> None:
        if self.size not in (8, 16, 32):
            raise ConfigError(f"{where}.size: {self.size} is not allowed; choose 8, 16 or 32")
        check_validation(self.validation, where)
        if self.train_limit < 0:
            raise ConfigError(f"{where}.train_limit: must be >= 0 (0: every training image), got {self.train_limit}")


@DATASETS.register("digits", params=DigitsParams, extractor="digits-cnn")
def digits(params: DigitsParams, split: str, seed: int = 0) -> ArrayDataset:
    """scikit-learn's 8x8 digits (1497 train / 300 test; `validation` of the train images as split "val"),
    1 channel, optionally resized."""
    images, labels = digits_arrays(split, params.validation)
    if split == "train" and params.train_limit:
        images, labels = images[:params.train_limit], labels[:params.train_limit]
    # Stored as the 17 levels v in 0..16 (uint8), decoded as v / 8 - 1 = 2 v / 16 - 1 and resized
    # per batch. At the native 8 px the likelihood metrics score them as discrete 17-level images.
    codes = torch.from_numpy(np.rint(images * 16.0).astype(np.uint8))[:, None]
    info = {"levels": 17} if params.size == 8 else {}
    return ArrayDataset(x=codes, kind="image", y=torch.from_numpy(labels), num_classes=10, info=info,
                        code_scale=8.0, size=0 if params.size == 8 else params.size)
