"""Discrete images: binarized and quantized digits, for the boundary-seeking
GAN and its relaxations (methods/bgan.py).

Each data set says which values its pixels take in info["discrete"]
(see nets/discrete.py):

- binary-digits: {"mode": "channel", "values": [-1, 1]};
- quantized-digits: {"mode": "palette", "colors": [[v_0], ..., [v_{K-1}]]},
  K grey levels, evenly spaced in [-1, 1] or fitted by k-means to the
  training pixels (the BGAN paper's 16-colour quantized CelebA uses an
  adaptive palette the same way).

Binarization is fixed (grey > threshold) or dynamic: every time a training
example is drawn its pixels are drawn anew, Bernoulli(grey) (the usual
protocol of binarized MNIST likelihoods, e.g. the IWAE paper's; its NLLs
differ from fixed binarization's by 1-2 nats). Dynamic data hold the grey
probabilities and binarize each real batch through ArrayDataset.transform, a
pure function of (batch, seed, batch index), so resumed runs draw the same
pixels. The test split of dynamic data is binarized once, with seed 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Literal, Tuple

import numpy as np
import torch
from torch import Tensor

from ..registry import DATASETS, ConfigError
from .base import ArrayDataset, resize_images
from .digits import check_validation, digits_arrays


def _grey(size: int, split: str, validation: int = 0) -> Tuple[Tensor, Tensor]:
    """Digits as grey probabilities in [0, 1] (N, 1, size, size) and labels
    (split "val": the `validation` held-out training images, see data/digits.py)."""
    images, labels = digits_arrays(split, validation)
    x = torch.from_numpy(images)[:, None]
    x = resize_images(x * 2.0 - 1.0, size).clamp(-1, 1).add(1.0).mul(0.5).contiguous()
    return x, torch.from_numpy(labels)


def binarize_batch(p01: Tensor, seed: int, index: int) -> Tensor:
    """Bernoulli draws of grey probabilities in [-1, 1] form (2p - 1), as
    +-1 images: a pure function of (the batch, seed, index)."""
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + int(index) + 7)
    u = torch.rand(p01.shape, generator=g).to(p01.device)
    return torch.where(u < (p01 + 1.0) * 0.5, 1.0, -1.0)


def check_size(size: int, where: str) -> None:
    if size not in (8, 16, 32):
        raise ConfigError(f"{where}.size: {size} is not allowed; choose 8, 16 or 32")


@dataclass(frozen=True)
class BinaryDigitsParams:
    size: Literal[8, 16, 32] = 8     # resolution; the grey image is resized before binarizing
    threshold: float = 0.5           # fixed binarization: pixel = grey > threshold
    dynamic: bool = False            # resample the pixels every time an example is drawn
    validation: int = 0              # training images held out as the split "val" (data/digits.py)

    def validate(self, where: str) -> None:
        check_size(self.size, where)
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"{where}.threshold: must be in (0, 1), got {self.threshold}")
        check_validation(self.validation, where)


@DATASETS.register("binary-digits", params=BinaryDigitsParams, extractor="digits-cnn")
def binary_digits(params: BinaryDigitsParams, split: str, seed: int = 0) -> ArrayDataset:
    """The 8x8 digits binarized (fixed threshold, or dynamic Bernoulli draws each epoch), pixels in {-1, 1}."""
    p, y = _grey(params.size, split, params.validation)
    info = {"discrete": {"mode": "channel", "values": [-1.0, 1.0]},
            "binarize": "dynamic" if params.dynamic else "fixed", "levels": 2}
    if not params.dynamic:
        x = torch.where(p > params.threshold, 1.0, -1.0)
        return ArrayDataset(x=x, kind="image", y=y, num_classes=10, info=info)
    if split != "train":  # one fixed draw, so the test (and val) set is binary and the same for every run
        return ArrayDataset(x=binarize_batch(p * 2.0 - 1.0, 0, 0), kind="image", y=y, num_classes=10, info=info)
    return ArrayDataset(x=p * 2.0 - 1.0, kind="image", y=y, num_classes=10, info=info, transform=binarize_batch)


# ----------------------------------------------------------------------------- quantized

def quantize(x: Tensor, colors: Tensor) -> Tuple[Tensor, Tensor]:
    """Images (N, C, H, W) -> (index of the nearest colour per pixel (N, H, W),
    the quantized images). colors: (K, C); a pixel halfway between two
    colours takes the first."""
    colors = torch.as_tensor(colors, dtype=x.dtype, device=x.device)
    d = ((x.unsqueeze(1) - colors.view(1, len(colors), -1, 1, 1)) ** 2).sum(2)   # (N, K, H, W)
    idx = d.argmin(1)
    return idx, dequantize(idx, colors)


def dequantize(idx: Tensor, colors: Tensor) -> Tensor:
    """Colour indices (N, H, W) -> images (N, C, H, W)."""
    return torch.as_tensor(colors)[idx].movedim(-1, 1).contiguous()


def fit_palette(x: Tensor, k: int, how: str) -> List[List[float]]:
    """K colours for images x (N, C, H, W) in [-1, 1], sorted by their first channel."""
    c = x.shape[1]
    if how == "uniform":
        return [[float(v)] * c for v in np.linspace(-1.0, 1.0, k)]
    from sklearn.cluster import KMeans
    pixels = x.movedim(1, -1).reshape(-1, c).numpy().astype(np.float64)
    if len(np.unique(pixels, axis=0)) < k:
        raise ConfigError(f"quantized-digits: the images hold fewer than {k} distinct values; lower levels")
    km = KMeans(n_clusters=k, n_init=10, random_state=0).fit(pixels)
    centres = sorted(km.cluster_centers_.tolist())
    return [[float(v) for v in c_] for c_ in centres]


@dataclass(frozen=True)
class QuantizedDigitsParams:
    size: Literal[8, 16, 32] = 8
    levels: int = 4                              # K grey levels
    palette: Literal["uniform", "kmeans"] = "uniform"   # evenly spaced, or k-means on the training pixels

    def validate(self, where: str) -> None:
        check_size(self.size, where)
        if not 2 <= self.levels <= 256:
            raise ConfigError(f"{where}.levels: must be in 2..256, got {self.levels}")


@DATASETS.register("quantized-digits", params=QuantizedDigitsParams, extractor="digits-cnn")
def quantized_digits(params: QuantizedDigitsParams, split: str, seed: int = 0) -> ArrayDataset:
    """The digits quantized to K grey levels (evenly spaced, or a k-means palette of the training pixels)."""
    train, _ = _grey(params.size, "train")
    colors = fit_palette(train * 2.0 - 1.0, params.levels, params.palette)
    p, y = _grey(params.size, split)
    _, x = quantize(p * 2.0 - 1.0, torch.tensor(colors))
    return ArrayDataset(x=x.float().contiguous(), kind="image", y=y, num_classes=10,
                        info={"discrete": {"mode": "palette", "colors": colors}, "palette": params.palette})
