"""Feature extractors, apart from metrics.

An extractor is registered in ``ganscape.registry.EXTRACTORS`` as
``fn(params) -> FeatureExtractor``. It maps images to features once per sample
set; every metric then reads the shared ``Features``.

Contract of ``FeatureExtractor.forward``:
  input  images float32 (N, C, H, W) in [-1, 1] (ganscape's image range; the
         extractor does its own resizing / channel handling / rescaling);
  output dict with "features": float32 (N, feature_dim) and, when the network
         is a classifier, "logits": float32 (N, num_classes).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import abc

import numpy as np
import torch
from torch import nn


class FeatureExtractor(nn.Module, metaclass=abc.ABCMeta):
    name: str = ""
    feature_dim: int = 0
    num_classes: int = 0  # 0 when the extractor has no class logits

    @abc.abstractmethod
    def identity(self) -> str:
        """A string that changes whenever the features would change: name,
        weights hash and preprocessing. Reference-statistic caches key on it."""

    @abc.abstractmethod
    def forward(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        """images (N, C, H, W) in [-1, 1] -> {"features": (N, D)[, "logits": (N, K)]}"""


@dataclass
class Features:
    """Features of one sample set, shared by all metrics (float64 numpy)."""
    features: np.ndarray                 # (N, D)
    probs: Optional[np.ndarray] = None   # (N, K) softmax of the logits, if any
    extractor: str = ""                  # FeatureExtractor.identity()

    def __len__(self) -> int:
        return len(self.features)


@torch.no_grad()
def extract(extractor: FeatureExtractor, images, batch_size: int = 256,
            device: Optional[str] = None, progress: bool = False) -> Features:
    """Run `extractor` over images (tensor or array, (N, C, H, W) in [-1, 1]).

    Results do not depend on batch_size beyond float32 rounding (the network is
    in eval mode; no batch statistics are used).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if hasattr(images, "batches"):  # StreamedImages: decoded and checked one batch at a time
        from ... import ranks
        rank, world = ranks.eval_shard()   # sharded: this rank decodes only its own batches
        return _extract_batches(extractor, images.batches(batch_size, keep=lambda i: i % world == rank),
                                -(-len(images) // batch_size), device, progress, check=True)
    x = images.detach() if isinstance(images, torch.Tensor) else torch.as_tensor(images)
    _check_batch(x)   # all at once: an error before any batch is extracted
    return _extract_batches(extractor, (x[i:i + batch_size] for i in range(0, len(x), batch_size)),
                            -(-len(x) // batch_size), device, progress)


def _check_batch(x: torch.Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or Inf")
    if x.min() < -1.0001 or x.max() > 1.0001:
        raise ValueError(f"images must lie in [-1, 1]; got range [{x.min():.3g}, {x.max():.3g}]")


def _extract_batches(extractor: FeatureExtractor, batches, total: int, device: Optional[str],
                     progress: bool, check: bool = False) -> Features:
    from ... import ranks
    device = device or next((p.device.type for p in extractor.parameters()), "cpu")
    extractor.eval()
    rank, world = ranks.eval_shard()
    if world > 1:
        return _extract_sharded(extractor, batches, total, device, check, rank, world)
    feats, logits = [], []
    if progress:
        from tqdm.auto import tqdm
        batches = tqdm(batches, total=total, desc=f"features ({extractor.name})", unit="batch", leave=False)
    for xb in batches:
        if xb is None:
            continue
        if check:
            _check_batch(xb)
        out = extractor(xb.to(device=device, dtype=torch.float32))
        feats.append(out["features"].double().cpu())
        if "logits" in out:
            logits.append(out["logits"].double().cpu())
    f = torch.cat(feats).numpy()
    p = torch.softmax(torch.cat(logits), dim=1).numpy() if logits else None
    return Features(features=f, probs=p, extractor=extractor.identity())


def _extract_sharded(extractor: FeatureExtractor, batches, total: int, device: str, check: bool,
                     rank: int, world: int) -> Features:
    """Under `ganscape eval` with torchrun: batch i is extracted by rank i mod world (None: a batch another
    rank extracts, not even decoded here), and every rank gets all features in order."""
    from ...train.distributed import gather_batches
    feats, logits, count = {}, {}, 0
    for i, xb in enumerate(batches):
        count += 1
        if xb is None or i % world != rank:
            continue
        if check:
            _check_batch(xb)
        out = extractor(xb.to(device=device, dtype=torch.float32))
        feats[i] = out["features"].double().cpu()
        if "logits" in out:
            logits[i] = out["logits"].double().cpu()
    f = torch.cat(gather_batches(feats, count)).numpy()
    has_logits = torch.tensor([1 if logits else 0])
    torch.distributed.all_reduce(has_logits, op=torch.distributed.ReduceOp.MAX)
    p = torch.softmax(torch.cat(gather_batches(logits, count)), dim=1).numpy() if int(has_logits) else None
    return Features(features=f, probs=p, extractor=extractor.identity())
