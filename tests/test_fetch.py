"""Hashing and verified downloading (ganscape.fetch), without a network: file:// URLs only."""
from __future__ import annotations

import hashlib
import urllib.error
from pathlib import Path

import pytest

from ganscape import fetch
from ganscape.fetch import (DownloadError, IntegrityError, cache_dir, check_sha256, download_verified,
                            sha256_file)

# SHA-256("abc") and SHA-256(""), the FIPS 180-2 test vectors.
ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


# every test here fails if it opens a socket (conftest.no_network)
pytestmark = pytest.mark.usefixtures("no_network")


def serve(tmp_path: Path, name: str, data: bytes) -> str:
    """Write `data` under tmp_path/server and return its file:// URL."""
    path = tmp_path / "server" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path.as_uri()


def listing(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir())


class FakeStream:
    """A response body of `length` bytes (endless when None) that counts what it served
    and raises `exc` once `fail_after` bytes have been served."""

    headers = None

    def __init__(self, length=None, fail_after=None, exc=None):
        self.length, self.fail_after, self.exc, self.served = length, fail_after, exc, 0

    def read(self, n: int) -> bytes:
        if self.fail_after is not None and self.served >= self.fail_after:
            raise self.exc
        if self.length is not None:
            n = min(n, self.length - self.served)
        self.served += n
        return b"x" * n

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --- hashing, digests, cache folder ---------------------------------------------------------------

def test_sha256_file_matches_published_test_vectors(tmp_path):
    (tmp_path / "abc").write_bytes(b"abc")
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "abc") == ABC_SHA256
    assert sha256_file(str(tmp_path / "empty")) == EMPTY_SHA256


def test_sha256_file_streams_multiple_chunks(tmp_path):
    data = bytes(range(256)) * 20_000  # ~5 MB: several 1 MiB chunks plus a partial one
    p = tmp_path / "big.bin"
    p.write_bytes(data)
    assert len(data) % fetch.CHUNK != 0 and len(data) > 4 * fetch.CHUNK
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()


def test_check_sha256_normalizes_and_rejects():
    assert check_sha256("  " + ABC_SHA256.upper() + "\n") == ABC_SHA256
    with pytest.raises(ValueError, match=r"weights\.sha256 must be a SHA-256 digest \(64 hex"):
        check_sha256("6726825d", "weights.sha256")
    with pytest.raises(ValueError, match="64 hex"):
        check_sha256("g" * 64)
    with pytest.raises(TypeError, match="sha256 must be a string.*got int"):
        check_sha256(12)


def test_cache_dir_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv("GANSCAPE_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("GANSCAPE_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "ganscape"


def test_error_types():
    assert issubclass(IntegrityError, ValueError)
    assert issubclass(DownloadError, RuntimeError)


# --- download_verified ----------------------------------------------------------------------------

@pytest.mark.parametrize("size", [None, 3])
def test_download_installs_verified_file(tmp_path, size):
    url = serve(tmp_path, "abc.bin", b"abc")
    dest = tmp_path / "cache" / "weights" / "abc.bin"  # parents are created
    assert download_verified(url, dest, ABC_SHA256.upper(), size=size, progress=False) == dest
    assert dest.read_bytes() == b"abc"
    assert listing(dest.parent) == ["abc.bin"]  # no temporary file left


def test_download_empty_file_and_progress_bar(tmp_path):
    url = serve(tmp_path, "empty.bin", b"")
    dest = download_verified([url], str(tmp_path / "d" / "empty.bin"), EMPTY_SHA256, size=0, progress=True)
    assert dest == tmp_path / "d" / "empty.bin" and dest.read_bytes() == b""


def test_wrong_hash_is_refused_naming_both_digests(tmp_path):
    url = serve(tmp_path, "abc.bin", b"abc")
    wrong = "f" * 64
    with pytest.raises(DownloadError) as e:
        download_verified(url, tmp_path / "cache" / "w.bin", wrong, progress=True)
    msg = str(e.value)
    assert "w.bin" in msg and url in msg and wrong in msg and ABC_SHA256 in msg
    [(failed_url, cause)] = e.value.failures
    assert failed_url == url and isinstance(cause, IntegrityError) and e.value.__cause__ is cause
    assert listing(tmp_path / "cache") == []


def test_mismatch_keeps_existing_dest(tmp_path):
    url = serve(tmp_path, "new.bin", b"new")
    dest = tmp_path / "w.bin"
    dest.write_bytes(b"old")
    with pytest.raises(DownloadError):
        download_verified(url, dest, ABC_SHA256, progress=False)
    assert dest.read_bytes() == b"old" and listing(tmp_path) == ["server", "w.bin"]


def test_missing_source_is_reported_and_leaves_nothing(tmp_path):
    url = (tmp_path / "nope.bin").as_uri()
    with pytest.raises(DownloadError, match="nope.bin") as e:
        download_verified(url, tmp_path / "cache" / "w.bin", ABC_SHA256, progress=False)
    assert isinstance(e.value.failures[0][1], urllib.error.URLError)
    assert listing(tmp_path / "cache") == []


def test_wrong_size_is_refused(tmp_path):
    url = serve(tmp_path, "abc.bin", b"abc")
    with pytest.raises(DownloadError, match=f"got 3 bytes with SHA-256 {ABC_SHA256}, expected 4 bytes"):
        download_verified(url, tmp_path / "d" / "w.bin", ABC_SHA256, size=4, progress=False)
    with pytest.raises(DownloadError, match="got more than 2 bytes"):
        download_verified(url, tmp_path / "d" / "w.bin", ABC_SHA256, size=2, progress=False)
    assert listing(tmp_path / "d") == []


def test_reading_stops_one_byte_past_the_known_size(tmp_path, monkeypatch):
    """An endless body is cut off at size + 1 bytes instead of filling the disk."""
    stream = FakeStream(length=None)
    monkeypatch.setattr(fetch, "_open_url", lambda url, timeout: stream)
    size = 3 * fetch.CHUNK + 5
    with pytest.raises(DownloadError, match=f"got more than {size} bytes"):
        download_verified("https://example.invalid/x", tmp_path / "x", ABC_SHA256, size=size,
                          progress=False)
    assert stream.served == size + 1
    assert listing(tmp_path) == []


def test_interrupt_propagates_and_removes_temp_file(tmp_path, monkeypatch):
    stream = FakeStream(length=10 * fetch.CHUNK, fail_after=fetch.CHUNK, exc=KeyboardInterrupt())
    monkeypatch.setattr(fetch, "_open_url", lambda url, timeout: stream)
    with pytest.raises(KeyboardInterrupt):  # not turned into a DownloadError, mirrors not tried
        download_verified(["https://a.invalid/x", "https://b.invalid/x"], tmp_path / "x", ABC_SHA256,
                          progress=False)
    assert listing(tmp_path) == []


def test_falls_back_to_the_next_mirror(tmp_path):
    data = b"mirror three"
    sha = hashlib.sha256(data).hexdigest()
    good = serve(tmp_path, "good.bin", data)
    bad = serve(tmp_path, "bad.bin", b"wrong bytes at mirror two")
    missing = (tmp_path / "server" / "missing.bin").as_uri()
    dest = tmp_path / "root" / "f.bin"
    assert download_verified((missing, bad, good), dest, sha, size=len(data), progress=False) == dest
    assert dest.read_bytes() == data and listing(dest.parent) == ["f.bin"]

    with pytest.raises(DownloadError) as e:
        download_verified([missing, bad], tmp_path / "root" / "g.bin", sha, size=len(data), progress=False)
    msg = str(e.value)
    assert "missing.bin" in msg and "bad.bin" in msg and sha in msg  # every failure reported
    assert [type(c) for _, c in e.value.failures] == [urllib.error.URLError, IntegrityError]
    assert listing(tmp_path / "root") == ["f.bin"]


@pytest.mark.parametrize("kwargs, match", [
    (dict(urls=[]), "non-empty sequence of URLs"),
    (dict(urls=["file:///x", ""]), "non-empty sequence of URLs"),
    (dict(sha256="abc"), "64 hex"),
    (dict(size=-1), "non-negative int"),
    (dict(size=2.5), "non-negative int"),
])
def test_bad_arguments(tmp_path, kwargs, match):
    args = dict(urls="file:///x", dest=tmp_path / "x", sha256=ABC_SHA256)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        download_verified(**args, progress=False)
    assert listing(tmp_path) == []
