"""A SHA-256 digest of a checkpoint's content, stored in the checkpoint.

torch's zip reader checks no checksum, so bytes overwritten inside a tensor's
data (a bad disk block, a stray write) load silently: an optimizer moment
becomes 3.4e38 and training goes on from it. The digest is taken over the
loaded objects rather than the file's bytes, because the digest has to live
inside the file it describes: every tensor's dtype, shape and bytes and every
plain value, walked in the dicts' own order (pickle keeps it), each with a
type tag and a length so that no two different payloads feed the hash the
same bytes. Computing it costs one pass over the tensors, once per write and
once per load.
"""
from __future__ import annotations

import hashlib
import struct
from typing import Any

import torch

ALGORITHM = "sha256"


def _tag(h, tag: bytes, data: bytes = b"") -> None:
    h.update(tag + struct.pack("<Q", len(data)) + data)


def _feed(h, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        t = t.contiguous()
        _tag(h, b"T", f"{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    elif isinstance(obj, dict):
        _tag(h, b"D", struct.pack("<Q", len(obj)))
        for k, v in obj.items():
            _feed(h, k)
            _feed(h, v)
    elif isinstance(obj, (list, tuple)):
        _tag(h, b"L" if isinstance(obj, list) else b"U", struct.pack("<Q", len(obj)))
        for v in obj:
            _feed(h, v)
    elif obj is None or isinstance(obj, bool):
        _tag(h, b"N" if obj is None else b"B", repr(obj).encode())
    elif isinstance(obj, int):
        _tag(h, b"I", str(obj).encode())
    elif isinstance(obj, float):
        _tag(h, b"F", obj.hex().encode())
    elif isinstance(obj, str):
        _tag(h, b"S", obj.encode("utf-8", "surrogatepass"))
    elif isinstance(obj, (bytes, bytearray)):
        _tag(h, b"Y", bytes(obj))
    elif isinstance(obj, (complex, torch.dtype, torch.device)):
        _tag(h, b"R", f"{type(obj).__name__}:{obj!r}".encode())
    else:  # a type a weights_only load cannot return either: refuse to write it
        raise TypeError(f"a checkpoint cannot hold a {type(obj).__name__}; use tensors and plain values")


def payload_digest(payload: Any) -> str:
    """"sha256:<hex>" of `payload` (nested dicts, lists, tuples, tensors and
    plain values)."""
    h = hashlib.new(ALGORITHM)
    _feed(h, payload)
    return f"{ALGORITHM}:{h.hexdigest()}"
