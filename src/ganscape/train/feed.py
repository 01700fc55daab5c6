"""Real batches for the training loop (issue 19, part 1).

Batch k is a pure function of (seed, k) (`BatchOrder`), so a run resumes
bit-exactly from its batch counter alone, whichever way the data arrives:

- in memory: the stored examples (uint8 codes for 8-bit images, 4x smaller
  than float32; see data/base.py) sit on the device, and each batch is
  gathered and decoded there;
- streamed: a data set on disk (a pack made by `ganscape data pack`) larger
  than `train.data_memory_mb` is never loaded whole. DataLoader workers read
  the rows of upcoming batches from the file, decode and resize them, and
  apply the data set's transform, ahead of the step that needs them (pinned
  memory on CUDA); the loop receives them in batch order.

Under torch.distributed (train/distributed.py) every rank computes the same
global batch of indices and keeps its own contiguous slice, so the union of
the ranks' batches is the batch one process would draw.
"""
from __future__ import annotations

import dataclasses
from typing import Iterator, Optional

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..data.base import ArrayDataset, labelled_subset
from ..methods.base import Batch
from ..registry import ConfigError


class BatchOrder:
    """Which examples form real batch number k: a seeded permutation per epoch
    (the last incomplete batch of an epoch is dropped). A pure function of
    (seed, k), so resuming needs only k."""

    def __init__(self, n: int, batch_size: int, seed: int, device: torch.device = torch.device("cpu")):
        if n < batch_size:
            raise ValueError(f"data set has {n} examples, fewer than the {batch_size} real examples a "
                             "discriminator step needs (train.batch_size, times model.discriminator.pack in "
                             "pack_mode paper)")
        self.n, self.b, self.seed, self.device = n, batch_size, seed, device
        self.per_epoch = n // batch_size
        self._epoch, self._perm = -1, None

    def indices(self, k: int) -> torch.Tensor:
        epoch, i = divmod(k, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.n, generator=g).to(self.device)
            self._epoch = epoch
        return self._perm[i * self.b:(i + 1) * self.b]


def rank_slice(idx: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """Rank `rank`'s contiguous share of a global batch of indices."""
    per = len(idx) // world
    return idx[rank * per:(rank + 1) * per]


class _Batches(Dataset):
    """Batch k of a streamed data set, read and decoded in a DataLoader worker."""

    def __init__(self, data: ArrayDataset, order: BatchOrder, seed: int, rank: int, world: int):
        self.data, self.order, self.seed, self.rank, self.world = data, order, seed, rank, world

    def __len__(self) -> int:  # batches are numbered without end; the sampler says which
        return 2 ** 62

    def __getitem__(self, k: int):
        return global_then_slice(self.data, self.order.indices(k), self.data.take, self.seed, k, self.rank,
                                 self.world)

    def __getstate__(self):
        # a worker started by spawn or forkserver (macOS, Python >= 3.14) gets the file's name, not a
        # pickled copy of the whole memory map (which would also lose its file name)
        state = dict(self.__dict__)
        x = self.data.x
        if isinstance(x, np.memmap):
            state["data"] = dataclasses.replace(self.data, x=np.zeros((0, *x.shape[1:]), np.uint8),
                                                rows=np.zeros(0, np.int64))
            state["_map"] = (x.filename, x.offset, x.shape, self.data.rows)
        return state

    def __setstate__(self, state):
        where = state.pop("_map", None)
        self.__dict__.update(state)
        if where is not None:
            filename, offset, shape, rows = where
            self.data = dataclasses.replace(self.data, x=np.memmap(filename, np.uint8, "r", offset, shape),
                                            rows=rows)


def global_then_slice(data: ArrayDataset, idx: torch.Tensor, take, seed: int, k: int, rank: int, world: int):
    """(this rank's indices, their decoded examples) of global batch `idx`. A data set with a
    per-batch transform (dynamic binarization draws its noise for the whole batch from (seed, k)) is
    transformed as the whole global batch and then sliced, so rank r's rows are the one process's."""
    if data.transform is None or world == 1:
        mine = rank_slice(idx, rank, world)
        x = take(mine)
        return mine, x if data.transform is None else data.transform(x, seed, k)
    x = data.transform(take(idx), seed, k)
    return rank_slice(idx, rank, world), rank_slice(x, rank, world)


class _From(Sampler):
    """Batch numbers start, start + 1, ... for ever."""

    def __init__(self, start: int):
        self.start = start

    def __iter__(self) -> Iterator[int]:
        k = self.start
        while True:
            yield k
            k += 1


class Feed:
    """`feed(k)` is real batch k, for this rank, on the run's device.

    cfg: the run's config (train.batch_size and the discriminator's pack set
    the global batch; train.data_memory_mb and train.data_workers decide
    streaming); labelled: the semi-supervised labelled mask or None."""

    def __init__(self, cfg, data: ArrayDataset, device: torch.device, rank: int = 0, world: int = 1,
                 layout=lambda x: x):
        tc = cfg.train
        self.data, self.device, self.seed, self.rank, self.world, self.layout = \
            data, device, cfg.seed, rank, world, layout
        self.global_batch = cfg.real_batch_size
        if self.global_batch % world:
            raise ConfigError(f"train.batch_size: the global batch of {self.global_batch} real examples does not "
                              f"split evenly over {world} processes; make it a multiple of {world}")
        self.streamed = data.on_disk and data.nbytes > tc.data_memory_mb * 2 ** 20
        self.y = data.y.to(device) if data.y is not None else None
        self.labelled = None
        if tc.labelled_per_class:
            self.labelled = labelled_subset(data.y, tc.labelled_per_class, cfg.seed).to(device)
        self.x = None if self.streamed else (data.raw(torch.arange(len(data))) if data.on_disk else data.x).to(device)
        self.order = BatchOrder(len(data), self.global_batch, cfg.seed, torch.device("cpu") if self.streamed
                                else device)
        self.labelled_order = None
        if tc.labelled_batch_size:
            self.labelled_idx = self.labelled.nonzero().flatten()
            if tc.labelled_batch_size % world:
                raise ConfigError(f"train.labelled_batch_size: {tc.labelled_batch_size} does not split evenly over "
                                  f"{world} processes; make it a multiple of {world}")
            if tc.labelled_batch_size > len(self.labelled_idx):
                raise ConfigError(f"train.labelled_batch_size: {tc.labelled_batch_size} is more than the "
                                  f"{len(self.labelled_idx)} labelled examples (train.labelled_per_class "
                                  f"{tc.labelled_per_class} x {data.num_classes} classes)")
            # its own seeded permutations, a pure function of the batch number like `order`
            self.labelled_order = BatchOrder(len(self.labelled_idx), tc.labelled_batch_size, cfg.seed + 104_729,
                                             device)
        self.workers = tc.data_workers
        self._stream: Optional[Iterator] = None
        self._next = -1

    def _streamed(self, k: int):
        if k != self._next:  # the first batch, or a jump (a resume): restart the workers at k
            self.close()
            # the workers get the images and how to decode them, not the labels and metadata: a forked
            # worker that walks a list of a million file names copies its pages (copy-on-write)
            slim = dataclasses.replace(self.data, y=None, info={})
            loader = DataLoader(_Batches(slim, self.order, self.seed, self.rank, self.world),
                                batch_size=None, sampler=_From(k), num_workers=self.workers,
                                pin_memory=self.device.type == "cuda",
                                prefetch_factor=4 if self.workers else None,
                                # its own generator: starting workers must not draw from the global RNG
                                # (the run's noise), or a streamed run would differ from one in memory
                                generator=torch.Generator().manual_seed(self.seed))
            self._stream = iter(loader)
        self._next = k + 1
        idx, x = next(self._stream)
        return idx.to(self.device), x.to(self.device, non_blocking=True)

    def __call__(self, k: int) -> Batch:
        if self.streamed:
            idx, xb = self._streamed(k)
        else:   # the data set's transform (e.g. dynamic binarization) applied as in a stream
            idx, xb = global_then_slice(self.data, self.order.indices(k), lambda i: self.data.decode(self.x[i]),
                                        self.seed, k, self.rank, self.world)
        extra = None
        if self.labelled_order is not None:
            li = self.labelled_idx[rank_slice(self.labelled_order.indices(k), self.rank, self.world)]
            xl = self.data.take(li.cpu()).to(self.device) if self.x is None else self.data.decode(self.x[li])
            extra = Batch(self.layout(xl), self.y[li])
        return Batch(self.layout(xb), self.y[idx] if self.y is not None else None,
                     self.labelled[idx] if self.labelled is not None else None, extra)

    def close(self) -> None:
        """Stop the stream's workers (a no-op in memory)."""
        stream, self._stream, self._next = self._stream, None, -1
        if stream is not None and hasattr(stream, "_shutdown_workers"):
            stream._shutdown_workers()
