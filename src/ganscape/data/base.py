"""The one data set type every loader returns.

A data set is tensors in memory, or for images an array memory-mapped from a
pack on disk (data/pack.py); what a method sees in a batch is always:

- images: float32, shape (N, C, H, W), values in [-1, 1]. They are *stored*
  as uint8 codes wherever the source is 8-bit (files, packs, the digits), 4x
  less memory than float32, and decoded one batch at a time
  (``ArrayDataset.take``): code c means c / code_scale - 1 (127.5 for 8-bit
  pixels, so p / 127.5 - 1; 8 for the 17-level digits), then resized to
  ``size`` when that differs from the stored resolution. Synthetic renders
  (shapes) and binarized images stay float32;
- points: ``x`` float32, shape (N, D);
- tokens: ``x`` int64, shape (N, L), ids in [0, vocab_size) (sequences:
  the SeqGAN oracle's, text's characters or words; ``info["vocab"]`` holds
  the strings of text tokens, ``info["pad"]`` the padding id when there is one);
- transitions: ``x`` float32, shape (N, D): an expert's (observation, action)
  pairs flattened, ``info`` says how to split them (data/demos.py);
- none: no examples, ``x`` of shape (0, 0): a method that learns from an
  environment's reward alone;
- audio: ``x`` float32, shape (N, 1, T), waveforms in [-1, 1] (data/notes.py,
  data/audio_files.py); spectrogram: ``x`` float32, shape (N, 1, F, frames),
  SpecGAN's normalized log-magnitude in [-1, 1], ``info["audio"]`` says how to
  invert it (data/audio_files.py).

``x`` is the stored form; code that wants the values calls ``take(idx)`` (a
batch), ``floats()`` (everything: small data only) or ``chunks(n)`` (all of
it, a batch at a time).

Loaders are registered in ``ganscape.registry.DATASETS`` with the signature
``fn(params, split: str, seed: int) -> ArrayDataset`` where split is "train"
or "test".
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, Literal, Optional

import numpy as np
import torch

SPLITS = ("train", "test")
KINDS = ("image", "points", "tokens", "transitions", "none", "audio", "spectrogram")


@dataclass
class ArrayDataset:
    x: Any  # torch.Tensor; images may also be a uint8 NumPy array (a memory map of a pack)
    kind: Literal["image", "points", "tokens", "transitions", "none", "audio", "spectrogram"]
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
    code_scale: float = 127.5  # uint8 images: code c decodes to c / code_scale - 1
    size: int = 0  # uint8 images: decoded batches are resized to size x size (0: as stored)
    rows: Optional[np.ndarray] = None  # a memory map: example i is the map's row rows[i] (a split of a pack)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"dataset kind {self.kind!r} is not allowed; choose one of: {', '.join(KINDS)}")
        if isinstance(self.x, np.ndarray):
            if self.kind != "image" or self.x.dtype != np.uint8:
                raise TypeError(f"only uint8 images may be a NumPy array, got {self.kind} {self.x.dtype}")
        elif self.kind == "tokens":
            if self.x.dtype != torch.int64 or self.x.ndim != 2:
                raise TypeError(f"token data must be int64 (N, L), got {self.x.dtype} {tuple(self.x.shape)}")
            if self.vocab_size < 2:
                raise ValueError(f"token data needs vocab_size >= 2, got {self.vocab_size}")
            if len(self.x) and (int(self.x.min()) < 0 or int(self.x.max()) >= self.vocab_size):
                raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got "
                                 f"[{int(self.x.min())}, {int(self.x.max())}]")
        elif self.x.dtype != torch.float32 and not (self.kind == "image" and self.x.dtype == torch.uint8):
            raise TypeError(f"dataset x must be float32 (or uint8 images), got {self.x.dtype}")
        if self.kind == "image" and self.x.ndim != 4:
            raise ValueError(f"image data must be (N, C, H, W), got shape {tuple(self.x.shape)}")
        if self.kind in ("points", "transitions", "none") and self.x.ndim != 2:
            raise ValueError(f"point data must be (N, D), got shape {tuple(self.x.shape)}")
        if self.kind in ("audio", "spectrogram") and self.x.ndim != (3 if self.kind == "audio" else 4):
            raise ValueError(f"{self.kind} data must be " + ("(N, 1, T)" if self.kind == "audio" else
                             "(N, 1, F, frames)") + f", got shape {tuple(self.x.shape)}")
        if self.rows is not None and not isinstance(self.x, np.ndarray):
            raise ValueError("rows (a split of a memory map) needs x to be a NumPy array")
        if self.y is not None and len(self.y) != len(self):
            raise ValueError(f"{len(self.y)} labels for {len(self)} examples")
        if self.size and not self.coded:
            raise ValueError("size (resize at decode) is for uint8 images only")

    def __len__(self) -> int:
        return len(self.rows) if self.rows is not None else len(self.x)

    @property
    def coded(self) -> bool:
        """True when images are stored as uint8 codes (decoded per batch)."""
        return self.kind == "image" and (isinstance(self.x, np.ndarray) or self.x.dtype == torch.uint8)

    @property
    def on_disk(self) -> bool:
        """True when the images are a memory map of a file: batches are read from disk."""
        return isinstance(self.x, np.memmap)

    @property
    def shape(self) -> tuple:
        """Shape of one decoded example, e.g. (1, 8, 8) or (2,)."""
        shape = tuple(self.x.shape[1:])
        return (shape[0], self.size, self.size) if self.size else shape

    @property
    def nbytes(self) -> int:
        """Bytes the stored examples take (in memory, or on disk for a memory map)."""
        if isinstance(self.x, np.ndarray):
            return int(self.x[:1].nbytes) * len(self)
        return self.x.element_size() * self.x.nelement()

    def raw(self, idx) -> torch.Tensor:
        """The stored rows `idx` (a 1-D index tensor or array), as a tensor on the stored device."""
        if isinstance(self.x, np.ndarray):
            idx = np.asarray(torch.as_tensor(idx).cpu())
            if self.rows is not None:
                idx = self.rows[idx]
            if isinstance(self.x, np.memmap) and (len(idx) < 2 or bool(np.all(idx[1:] >= idx[:-1]))):
                return torch.from_numpy(read_rows(self.x, idx))   # already in file order: one copy, not two
            rows = np.empty((len(idx), *self.x.shape[1:]), dtype=np.uint8)
            order = np.argsort(idx, kind="stable")  # read in file order, then put back in the asked order
            if isinstance(self.x, np.memmap):
                rows[order] = read_rows(self.x, idx[order])
            else:
                rows[order] = self.x[idx[order]]
            return torch.from_numpy(rows)
        return self.x[idx]

    def decode(self, rows: torch.Tensor) -> torch.Tensor:
        """Stored rows -> the values a method sees (float32 images in [-1, 1] for uint8 codes)."""
        if not self.coded:
            return rows
        out = rows.float() / self.code_scale - 1.0
        if self.size:
            out = resize_images(out, self.size).clamp(-1, 1)
        return out

    def take(self, idx) -> torch.Tensor:
        """Examples `idx`, decoded: one batch."""
        return self.decode(self.raw(idx))

    def chunks(self, n: int = 1000) -> Iterator[torch.Tensor]:
        """All examples in order, decoded `n` at a time (never all of them in memory at once)."""
        for i in range(0, len(self), n):
            yield self.take(torch.arange(i, min(i + n, len(self))))

    def floats(self) -> torch.Tensor:
        """All examples decoded at once (for data small enough to hold as float32)."""
        if not self.coded:
            return self.x
        return torch.cat(list(self.chunks())) if len(self) else self.decode(self.raw(torch.zeros(0, dtype=torch.long)))

    def subset(self, idx) -> "ArrayDataset":
        """The examples `idx` (codes stay codes; a memory map is read into memory)."""
        idx = torch.as_tensor(idx)
        return dataclasses.replace(self, x=self.raw(idx), y=self.y[idx] if self.y is not None else None, rows=None)


def read_rows(mm: np.memmap, rows: np.ndarray) -> np.ndarray:
    """Rows `rows` (sorted) of a memory-mapped array, read with pread from its file, runs of adjacent
    rows in one call. Reading a pack through the map itself would leave every page touched mapped in
    the process (its resident memory would grow towards the file's size over an epoch); read this
    way, the pages stay in the kernel's page cache, shared and reclaimable."""
    import os

    if not hasattr(os, "preadv"):  # not on Windows: read through the map
        return np.asarray(mm[rows])
    row_bytes = int(np.prod(mm.shape[1:], dtype=np.int64)) * mm.dtype.itemsize
    out = np.empty((len(rows), *mm.shape[1:]), dtype=mm.dtype)
    if not len(rows):
        return out
    flat = out.reshape(len(rows), -1).view(np.uint8)
    fd = os.open(mm.filename, os.O_RDONLY)
    try:
        i = 0
        while i < len(rows):
            j = i + 1
            while j < len(rows) and rows[j] == rows[j - 1] + 1:
                j += 1
            buf = memoryview(flat[i:j]).cast("B")
            at, pos = 0, mm.offset + int(rows[i]) * row_bytes
            while at < len(buf):   # one call returns at most ~2 GiB on Linux: go on from where it stopped
                got = os.preadv(fd, [buf[at:]], pos + at)
                if got == 0:
                    raise OSError(f"{mm.filename}: read {at} of {len(buf)} bytes at row {int(rows[i])}; "
                                  "the file is truncated")
                at += got
            i = j
    finally:
        os.close(fd)
    return out


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
