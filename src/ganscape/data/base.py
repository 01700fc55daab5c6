"""The one in-memory data set type every loader returns.

All data sets in ganscape are small enough to hold in memory (the largest,
CIFAR-10, is 150 MB as uint8), so a data set is just tensors:

- images: ``x`` float32, shape (N, C, H, W), values in [-1, 1]
  (uint8 pixels p map to p / 127.5 - 1);
- points: ``x`` float32, shape (N, D);
- tokens: ``x`` int64, shape (N, L), ids in [0, vocab_size) (sequences:
  the SeqGAN oracle's, text's characters or words; ``info["vocab"]`` holds
  the strings of text tokens, ``info["pad"]`` the padding id when there is one);
- transitions: ``x`` float32, shape (N, D): an expert's (observation, action)
  pairs flattened, ``info`` says how to split them (data/demos.py);
- none: no examples, ``x`` of shape (0, 0): a method that learns from an
  environment's reward alone.

Loaders are registered in ``ganscape.registry.DATASETS`` with the signature
``fn(params, split: str, seed: int) -> ArrayDataset`` where split is "train"
or "test".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Literal, Optional

import numpy as np
import torch

SPLITS = ("train", "test")
KINDS = ("image", "points", "tokens", "transitions", "none")


@dataclass
class ArrayDataset:
    x: torch.Tensor
    kind: Literal["image", "points", "tokens", "transitions", "none"]
    y: Optional[torch.Tensor] = None  # int64 class labels, shape (N,)
    num_classes: int = 0
    vocab_size: int = 0  # tokens: the number of token ids (0 for images and points)
    # Applied by the training loop to each real batch: transform(x_batch, seed,
    # batch_index) -> x_batch. It must be a pure function of its arguments
    # (resumed runs redraw the same batches); e.g. dynamic binarization.
    transform: Optional[Callable[[torch.Tensor, int, int], torch.Tensor]] = None
    # Anything a metric needs about the ground truth: mode centres and sigma
    # for the 2-D mixtures, per-image shape parameters for synthetic shapes.
    info: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"dataset kind {self.kind!r} is not allowed; choose one of: {', '.join(KINDS)}")
        if self.kind == "tokens":
            if self.x.dtype != torch.int64 or self.x.ndim != 2:
                raise TypeError(f"token data must be int64 (N, L), got {self.x.dtype} {tuple(self.x.shape)}")
            if self.vocab_size < 2:
                raise ValueError(f"token data needs vocab_size >= 2, got {self.vocab_size}")
            if len(self.x) and (int(self.x.min()) < 0 or int(self.x.max()) >= self.vocab_size):
                raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got "
                                 f"[{int(self.x.min())}, {int(self.x.max())}]")
        elif self.x.dtype != torch.float32:
            raise TypeError(f"dataset x must be float32, got {self.x.dtype}")
        if self.kind == "image" and self.x.ndim != 4:
            raise ValueError(f"image data must be (N, C, H, W), got shape {tuple(self.x.shape)}")
        if self.kind in ("points", "transitions", "none") and self.x.ndim != 2:
            raise ValueError(f"point data must be (N, D), got shape {tuple(self.x.shape)}")
        if self.y is not None and len(self.y) != len(self.x):
            raise ValueError(f"{len(self.y)} labels for {len(self.x)} examples")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def shape(self) -> tuple:
        """Shape of one example, e.g. (1, 8, 8) or (2,)."""
        return tuple(self.x.shape[1:])


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")


def split_count(n: int, n_test: Optional[int], split: str) -> int:
    """Examples in `split` for data sets drawn on demand: n for train, n_test
    (default n // 5) for test."""
    check_split(split)
    if split == "train":
        return n
    return n_test if n_test is not None else n // 5


def split_rng(salt: int, seed: int, split: str) -> np.random.Generator:
    """The random stream of one data set's `split` draws: train and test get
    independent streams for every seed; `salt` keeps data sets apart."""
    check_split(split)
    return np.random.default_rng([int(salt), int(seed), 0 if split == "train" else 1])


def uint8_to_float(images: np.ndarray) -> torch.Tensor:
    """uint8 array (N, C, H, W) -> float32 tensor in [-1, 1]."""
    if images.dtype != np.uint8:
        raise TypeError(f"expected uint8 images, got {images.dtype}")
    return torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0)


def float_to_uint8(images: torch.Tensor) -> np.ndarray:
    """float tensor in [-1, 1] (N, C, H, W) -> uint8 array, rounded and clipped."""
    x = (images.detach().float().cpu() + 1.0) * 127.5
    return x.round().clamp(0, 255).to(torch.uint8).numpy()


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (N, C, H, W) float images to size x size, antialiased bilinear."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    antialias = size < x.shape[-1]
    return torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear",
                                           align_corners=False, antialias=antialias)


def labelled_subset(y: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """bool mask (N,) keeping `per_class` examples of every class, chosen with
    `seed` (the same examples for the same seed); the semi-supervised split."""
    y = torch.as_tensor(y)
    mask = torch.zeros(len(y), dtype=torch.bool)
    g = torch.Generator().manual_seed(int(seed) * 7919 + 17)
    for c in torch.unique(y).tolist():
        idx = (y == c).nonzero().flatten()
        if len(idx) < per_class:
            raise ValueError(f"train.labelled_per_class: {per_class} labelled examples per class, but class {c} "
                             f"has only {len(idx)} training examples")
        mask[idx[torch.randperm(len(idx), generator=g)[:per_class]]] = True
    return mask
