"""Verified loading and downloading of network weight files.

Every weight file ganscape reads from outside the repository is pinned by its
SHA-256 digest: a file is hashed before it is deserialized, and a download is
hashed while it streams and only lands at its final path when the digest
matches (``ganscape.fetch.download_verified``, re-exported here). Nothing here
touches the network unless `download_verified` is called.

Deserialization is restricted to plain tensors: ``.pth``/``.pt`` files go
through ``torch.load(weights_only=True)`` and ``.safetensors`` files through
``safetensors.torch.load_file``; no pickled code is ever executed.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, Union

import torch

# Hashing, the cache folder and downloading live in ganscape.fetch; they are
# re-exported here because the extractors and the reference cache import them
# from this module.
from ...fetch import (  # noqa: F401
    IntegrityError,
    cache_dir,
    check_sha256,
    download_verified,
    sha256_file,
)

PathLike = Union[str, os.PathLike]

TORCH_SUFFIXES = (".pth", ".pt", ".bin")
SAFETENSORS_SUFFIXES = (".safetensors",)

# The historical name of a weights file's digest mismatch; the same class.
WeightsIntegrityError = IntegrityError


def load_state_dict_verified(path: PathLike, expected_sha256: str) -> Dict[str, torch.Tensor]:
    """Load a state dict (name -> tensor, on CPU) after checking its SHA-256.

    Args:
        path: a ``.pth``/``.pt``/``.bin`` file written by ``torch.save(state_dict)``
            or a ``.safetensors`` file.
        expected_sha256: 64 hex characters; the file is refused, before it is
            deserialized, when its digest differs.

    Raises:
        FileNotFoundError: no file at `path`.
        IntegrityError (alias WeightsIntegrityError, a ValueError): digest
            mismatch; the message names both digests.
        ValueError: unknown suffix, unreadable (truncated/corrupt) file, or
            content that is not a flat mapping of names to tensors.
    """
    expected = check_sha256(expected_sha256, "expected_sha256")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"weights file not found: {p}")
    suffix = p.suffix.lower()
    if suffix not in TORCH_SUFFIXES + SAFETENSORS_SUFFIXES:
        raise ValueError(
            f"cannot load weights from {p}: unknown file type {suffix or '(none)'!r}; "
            f"allowed: {', '.join(TORCH_SUFFIXES + SAFETENSORS_SUFFIXES)}"
        )
    actual = sha256_file(p)
    if actual != expected:
        raise IntegrityError(
            f"SHA-256 mismatch for {p}: expected {expected}, got {actual}. "
            "The file is corrupt, incomplete or a different file; delete it and "
            "download it again, or pass the digest of the file you intend to use."
        )
    try:
        if suffix in SAFETENSORS_SUFFIXES:
            from safetensors.torch import load_file
            state = load_file(str(p), device="cpu")
        else:
            state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # torch/safetensors raise several types for damaged files
        raise ValueError(
            f"could not read weights file {p} ({p.stat().st_size} bytes): it is truncated, "
            f"corrupt or not a {suffix} state dict ({type(e).__name__}: {e})"
        ) from e
    if not isinstance(state, dict):
        raise ValueError(f"{p} does not hold a state dict (a mapping of names to tensors), "
                         f"it holds a {type(state).__name__}")
    bad = [k for k, v in state.items() if not (isinstance(k, str) and isinstance(v, torch.Tensor))]
    if bad:
        raise ValueError(f"{p} is not a flat state dict: entry {bad[0]!r} is not a named tensor")
    return state
