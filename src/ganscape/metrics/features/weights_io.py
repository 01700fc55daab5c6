"""Verified loading and downloading of network weight files.

Every weight file ganscape reads from outside the repository is pinned by its
SHA-256 digest: a file is hashed before it is deserialized, and a download is
hashed while it streams and only lands at its final path when the digest
matches. Nothing here touches the network unless `download_verified` is called.

Deserialization is restricted to plain tensors: ``.pth``/``.pt`` files go
through ``torch.load(weights_only=True)`` and ``.safetensors`` files through
``safetensors.torch.load_file``; no pickled code is ever executed.
"""
from __future__ import annotations

import hashlib
import os
import re
import tempfile
import urllib.request
from pathlib import Path
from typing import Dict, Optional, Union

import torch

PathLike = Union[str, os.PathLike]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK = 1 << 20  # 1 MiB: large enough to hash at disk speed, small enough to stream
TORCH_SUFFIXES = (".pth", ".pt", ".bin")
SAFETENSORS_SUFFIXES = (".safetensors",)


class WeightsIntegrityError(ValueError):
    """A weights file's SHA-256 differs from the expected (published) digest."""


def cache_dir() -> Path:
    """Root of ganscape's download cache: ``$GANSCAPE_CACHE`` if set, else
    ``~/.cache/ganscape``. The directory is not created here."""
    env = os.environ.get("GANSCAPE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ganscape"


def check_sha256(digest: str, what: str = "expected_sha256") -> str:
    """Return `digest` lower-cased if it is 64 hex characters, else raise ValueError."""
    if not isinstance(digest, str):
        raise TypeError(f"{what} must be a string of 64 hex characters, got {type(digest).__name__}")
    d = digest.strip().lower()
    if not _HEX64.match(d):
        raise ValueError(f"{what} must be a SHA-256 digest (64 hex characters), got {digest!r}")
    return d


def sha256_file(path: PathLike) -> str:
    """Lower-case hex SHA-256 of the file at `path`, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _mismatch(path: PathLike, expected: str, actual: str) -> WeightsIntegrityError:
    return WeightsIntegrityError(
        f"SHA-256 mismatch for {path}: expected {expected}, got {actual}. "
        "The file is corrupt, incomplete or a different file; delete it and "
        "download it again, or pass the digest of the file you intend to use."
    )


def load_state_dict_verified(path: PathLike, expected_sha256: str) -> Dict[str, torch.Tensor]:
    """Load a state dict (name -> tensor, on CPU) after checking its SHA-256.

    Args:
        path: a ``.pth``/``.pt``/``.bin`` file written by ``torch.save(state_dict)``
            or a ``.safetensors`` file.
        expected_sha256: 64 hex characters; the file is refused, before it is
            deserialized, when its digest differs.

    Raises:
        FileNotFoundError: no file at `path`.
        WeightsIntegrityError (a ValueError): digest mismatch; the message
            names both digests.
        ValueError: unknown suffix, unreadable (truncated/corrupt) file, or
            content that is not a flat mapping of names to tensors.
    """
    expected = check_sha256(expected_sha256)
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
        raise _mismatch(p, expected, actual)
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


def download_verified(url: str, dest: PathLike, expected_sha256: str,
                      progress: bool = True, timeout: float = 60.0) -> Path:
    """Download `url` to `dest`, installing it only if its SHA-256 matches.

    The body is streamed to a temporary file in `dest`'s directory and hashed
    on the way; on a match the temporary file is atomically renamed to `dest`
    (so readers never see a partial file), on a mismatch or any error it is
    deleted and nothing is left behind. Parent directories are created.
    Any scheme urllib understands works (https://, http://, file://).

    Returns:
        `dest` as a Path.
    Raises:
        WeightsIntegrityError: digest mismatch (names both digests).
        OSError / urllib.error.URLError: network or file-system failures.
    """
    expected = check_sha256(expected_sha256)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            total: Optional[int] = None
            length = resp.headers.get("Content-Length") if resp.headers else None
            if length and length.isdigit():
                total = int(length)
            bar = None
            if progress:
                from tqdm.auto import tqdm
                bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                           desc=f"download {dest.name}", leave=False)
            try:
                for chunk in iter(lambda: resp.read(_CHUNK), b""):
                    out.write(chunk)
                    h.update(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()
            out.flush()
            os.fsync(out.fileno())
        actual = h.hexdigest()
        if actual != expected:
            raise _mismatch(url, expected, actual)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest
