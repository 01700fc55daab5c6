"""Hashing and verified downloading: the one place ganscape fetches files.

Every file ganscape reads from outside the repository (data sets, network
weights) is pinned by its SHA-256 digest. `download_verified` streams a URL to
a temporary file next to its destination, hashing as it goes, and moves it
into place with an atomic rename only when the size (if known) and the digest
match; otherwise the temporary file is deleted and the next mirror tried.
Nothing here touches the network unless `download_verified` is called.

Error rule, the same for one URL or many: when no URL yields a verified copy,
`DownloadError` is raised, its message lists every URL with what went wrong
(a network error, or the received size/digest next to the expected ones),
its ``failures`` attribute holds the (url, exception) pairs (an
`IntegrityError` for wrong bytes, an OSError for network failures), and it is
chained from the last failure.
"""
from __future__ import annotations

import hashlib
import os
import re
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import BinaryIO, List, Optional, Sequence, Tuple, Union

from tqdm import tqdm

PathLike = Union[str, os.PathLike]

CHUNK = 1 << 20  # 1 MiB: large enough to hash at disk speed, small enough to stream
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class DownloadError(RuntimeError):
    """No URL gave a copy of a file with the expected size and SHA-256.

    ``failures`` lists (url, exception) for every URL tried, in order.
    """

    def __init__(self, message: str, failures: Sequence[Tuple[str, BaseException]] = ()):
        super().__init__(message)
        self.failures: List[Tuple[str, BaseException]] = list(failures)


class IntegrityError(ValueError):
    """A file's bytes (size or SHA-256) differ from the expected, published ones."""


def cache_dir() -> Path:
    """Root of ganscape's download cache: ``$GANSCAPE_CACHE`` if set, else
    ``~/.cache/ganscape``. The directory is not created here."""
    env = os.environ.get("GANSCAPE_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ganscape"


def check_sha256(digest: str, what: str = "sha256") -> str:
    """Return `digest` stripped and lower-cased if it is 64 hex characters.

    Raises TypeError for a non-string and ValueError otherwise, naming `what`.
    """
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
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _open_url(url: str, timeout: float) -> BinaryIO:
    """Open `url` for reading (any scheme urllib knows: https, http, file)."""
    request = urllib.request.Request(url, headers={"User-Agent": "ganscape"})
    return urllib.request.urlopen(request, timeout=timeout)


def _content_length(response) -> Optional[int]:
    """The response's Content-Length when it states one (progress-bar total only)."""
    headers = getattr(response, "headers", None)
    length = headers.get("Content-Length") if headers else None
    return int(length) if length and length.isdigit() else None


def _fetch_one(url: str, dest: Path, sha256: str, size: Optional[int], progress: bool,
               timeout: float) -> None:
    """Stream `url` into a temporary file beside `dest`; rename it to `dest` if verified.

    Raises IntegrityError for wrong bytes and OSError (URLError, HTTPError,
    socket timeouts, disk errors) otherwise; the temporary file never survives.
    """
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        h, n = hashlib.sha256(), 0
        # With a known size, read at most one byte past it: enough to tell a
        # longer file, and a misbehaving server cannot fill the disk.
        limit = size + 1 if size is not None else None
        with os.fdopen(fd, "wb") as out, _open_url(url, timeout) as src:
            total = size if size is not None else _content_length(src)
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=dest.name,
                      file=sys.stderr, leave=False, disable=not progress) as bar:
                while limit is None or n < limit:
                    block = src.read(CHUNK if limit is None else min(CHUNK, limit - n))
                    if not block:
                        break
                    h.update(block)
                    out.write(block)
                    n += len(block)
                    bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        digest = h.hexdigest()
        if size is not None and n > size:
            # The digest of a prefix says nothing, so only the size is reported.
            raise IntegrityError(f"got more than {size} bytes, expected {size} bytes with SHA-256 {sha256}")
        if (size is not None and n != size) or digest != sha256:
            expected = f"{size} bytes with SHA-256 {sha256}" if size is not None else f"SHA-256 {sha256}"
            raise IntegrityError(f"got {n} bytes with SHA-256 {digest}, expected {expected}")
        os.replace(tmp, dest)  # atomic on one file system: dest is never half-written
    finally:
        tmp.unlink(missing_ok=True)  # a no-op after the rename


def download_verified(urls: Union[str, Sequence[str]], dest: PathLike, sha256: str,
                      size: Optional[int] = None, progress: bool = True,
                      timeout: float = 60.0) -> Path:
    """Download a file to `dest`, installing it only if its bytes are the expected ones.

    Args:
        urls: one URL or mirrors tried in order until one gives a verified copy;
            any scheme urllib understands (https://, http://, file://).
        dest: final path; parent folders are created. An existing file there is
            only replaced by a verified copy.
        sha256: expected SHA-256, 64 hex characters (any case).
        size: expected size in bytes, if published; reading then stops one byte
            past it, and a different size fails the URL.
        progress: show a tqdm byte bar on stderr.
        timeout: seconds to wait on each connection or read.

    Returns:
        `dest` as a Path.
    Raises:
        DownloadError (a RuntimeError): no URL gave a verified copy; the message
            lists every URL's failure (received and expected size/digest for
            wrong bytes), ``failures`` holds the (url, exception) pairs.
        ValueError / TypeError: bad arguments.
    """
    url_list = [urls] if isinstance(urls, str) else list(urls)
    if not url_list or not all(isinstance(u, str) and u for u in url_list):
        raise ValueError(f"urls must be a URL or a non-empty sequence of URLs, got {urls!r}")
    expected = check_sha256(sha256)
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise ValueError(f"size must be None or a non-negative int (bytes), got {size!r}")
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures: List[Tuple[str, BaseException]] = []
    for url in url_list:
        try:
            _fetch_one(url, dest, expected, size, progress, timeout)
            return dest
        except (IntegrityError, OSError) as e:  # URLError and HTTPError are OSErrors
            failures.append((url, e))
    lines = "\n  ".join(f"{url}: {e}" for url, e in failures)
    raise DownloadError(f"could not download a verified copy of {dest.name}:\n  {lines}",
                        failures) from failures[-1][1]
