"""Tests of verified weight loading (no network).

Hashing, the cache folder and downloading are ganscape.fetch's (tests/test_fetch.py);
here only that weights_io re-exports them and that a downloaded file loads.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganscape import fetch
from ganscape.metrics.features import weights_io
from ganscape.metrics.features.weights_io import (
    WeightsIntegrityError,
    download_verified,
    load_state_dict_verified,
    sha256_file,
)

# SHA-256("abc"), the FIPS 180-2 test vector.
ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def _state() -> dict:
    g = torch.Generator().manual_seed(0)
    return {"a.weight": torch.randn(4, 3, generator=g), "a.bias": torch.randn(4, generator=g),
            "bn.num_batches_tracked": torch.tensor(7)}


def test_reexports_are_the_fetch_implementations():
    for name in ("cache_dir", "check_sha256", "download_verified", "sha256_file", "IntegrityError"):
        assert getattr(weights_io, name) is getattr(fetch, name)
    assert WeightsIntegrityError is fetch.IntegrityError and issubclass(WeightsIntegrityError, ValueError)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_load_verified_roundtrip(tmp_path, suffix):
    state = _state()
    p = tmp_path / f"w{suffix}"
    if suffix == ".pth":
        torch.save(state, p)
    else:
        from safetensors.torch import save_file
        save_file(state, str(p))
    loaded = load_state_dict_verified(p, sha256_file(p).upper())  # digest case does not matter
    assert set(loaded) == set(state)
    for k in state:
        assert torch.equal(loaded[k], state[k])


def test_load_verified_refuses_wrong_hash_naming_both(tmp_path):
    p = tmp_path / "w.pth"
    torch.save(_state(), p)
    wrong = "0" * 64
    with pytest.raises(WeightsIntegrityError) as e:
        load_state_dict_verified(p, wrong)
    msg = str(e.value)
    assert wrong in msg and sha256_file(p) in msg and str(p) in msg
    assert isinstance(e.value, ValueError)


def test_load_verified_truncated_file_clear_error(tmp_path):
    p = tmp_path / "w.pth"
    torch.save(_state(), p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    # The digest of the damaged bytes matches, so the failure is in reading.
    with pytest.raises(ValueError, match="truncated"):
        load_state_dict_verified(p, sha256_file(p))


def test_load_verified_other_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_state_dict_verified(tmp_path / "missing.pth", ABC_SHA256)
    p = tmp_path / "w.npz"
    p.write_bytes(b"abc")
    with pytest.raises(ValueError, match=r"unknown file type '\.npz'.*\.safetensors"):
        load_state_dict_verified(p, ABC_SHA256)
    q = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], q)
    with pytest.raises(ValueError, match="does not hold a state dict"):
        load_state_dict_verified(q, sha256_file(q))
    with pytest.raises(ValueError, match="64 hex"):
        load_state_dict_verified(q, "6726825d")


def _leftovers(d: Path) -> list:
    return sorted(x.name for x in d.iterdir())


def test_download_verified_file_url(tmp_path):
    src = tmp_path / "served" / "w.pth"
    src.parent.mkdir()
    torch.save(_state(), src)
    digest = sha256_file(src)
    dest = tmp_path / "cache" / "weights" / "w.pth"   # parents are created
    out = download_verified(src.as_uri(), dest, digest, progress=False)
    assert out == dest and dest.read_bytes() == src.read_bytes()
    assert _leftovers(dest.parent) == ["w.pth"]       # no temp file left
    assert set(load_state_dict_verified(dest, digest)) == set(_state())
