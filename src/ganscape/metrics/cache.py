"""Reference-feature cache.

Reference features (the real data's side of FID, KID, precision/recall ...)
are computed once and stored under a key that hashes everything that changes
them: the data set and its parameters, the split, the number of examples and
the seed that picked them, and the extractor's identity (its name, weights
SHA-256 and preprocessing). Each entry is an .npz (no pickles) plus a JSON
manifest holding the key's fields and the .npz's SHA-256; an entry whose
manifest does not match, or whose file does not hash to the recorded digest,
is recomputed, never trusted.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np

from ..fetch import cache_dir, sha256_file
from .features.base import Features

VERSION = 1


def cache_key(fields: Dict[str, Any]) -> str:
    blob = json.dumps({"version": VERSION, **fields}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


class FeatureCache:
    def __init__(self, root: Optional[Path] = None):
        self.root = Path(root) if root is not None else cache_dir() / "reference"

    def _paths(self, key: str):
        return self.root / f"{key}.npz", self.root / f"{key}.json"

    def load(self, fields: Dict[str, Any]) -> Optional[Features]:
        key = cache_key(fields)
        npz, manifest = self._paths(key)
        if not (npz.exists() and manifest.exists()):
            return None
        try:
            meta = json.loads(manifest.read_text())
            if meta.get("fields") != json.loads(json.dumps(fields, sort_keys=True, default=str)):
                raise ValueError("manifest does not match the request")
            if sha256_file(npz) != meta.get("sha256"):
                raise ValueError("file does not match its recorded SHA-256")
            with np.load(npz, allow_pickle=False) as f:
                feats = Features(features=f["features"].astype(np.float64),
                                 probs=f["probs"].astype(np.float64) if "probs" in f else None,
                                 extractor=str(meta["fields"]["extractor"]))
        except Exception as e:  # stale, corrupt or tampered: recompute
            warnings.warn(f"reference cache entry {npz.name} is unusable ({e}); recomputing", stacklevel=2)
            return None
        return feats

    def store(self, fields: Dict[str, Any], feats: Features) -> None:
        key = cache_key(fields)
        npz, manifest = self._paths(key)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = npz.with_name(npz.stem + ".tmp.npz")
        arrays = {"features": feats.features.astype(np.float32)}
        if feats.probs is not None:
            arrays["probs"] = feats.probs.astype(np.float32)
        np.savez(tmp, **arrays)
        digest = sha256_file(tmp)
        os.replace(tmp, npz)
        manifest.write_text(json.dumps({"fields": fields, "sha256": digest}, sort_keys=True, default=str, indent=1))

    def get_or_compute(self, fields: Dict[str, Any], compute: Callable[[], Features]) -> Features:
        from .. import ranks
        rank, world = ranks.eval_shard()
        feats = self.load(fields)
        if world > 1:   # a sharded evaluation: all ranks compute together, or none does
            import torch.distributed as dist
            import torch
            hit = torch.tensor([0 if feats is None else 1])
            dist.all_reduce(hit, op=dist.ReduceOp.MIN)
            feats = feats if int(hit) else None
        if feats is None:
            feats = canonical(compute())
            if rank == 0:   # one writer
                self.store(fields, feats)
        return feats


def canonical(feats: Features) -> Features:
    """Round features to float32, the precision the cache stores, so that cached
    and freshly computed reference features give identical scores."""
    return Features(features=feats.features.astype(np.float32).astype(np.float64),
                    probs=None if feats.probs is None else feats.probs.astype(np.float32).astype(np.float64),
                    extractor=feats.extractor)
