"""Download the public image data sets, verified against published SHA-256 sums.

``download(name, root)`` is the only function in ganscape that touches the
network for data, and only when called (``ganscape download NAME``). Each file:

1. is skipped if already present in `root` with the right SHA-256;
2. otherwise is fetched with ``ganscape.fetch.download_verified``: streamed
   from the first working mirror into a temporary file in `root`, hashed as
   it goes, and moved into place with an atomic rename only if its size and
   SHA-256 match the published values; on a mismatch the temporary file is
   deleted and the next mirror tried, and if none gives the right bytes a
   ``DownloadError`` names the file and, for every mirror, the expected and
   the received digests or the network error.

The CIFAR-10 archive is then unpacked into ``root/cifar-10-batches-bin/``
after checking every member: absolute paths, ``..`` components, links and
device files are refused before anything is written.

Digests (SHA-256 of the files as published; the same values are pinned by
TensorFlow Datasets, the Fashion-MNIST README's mirrors and many
reproductions):

- MNIST, the four gzipped IDX files from the S3 mirror torchvision uses
  (ossci-datasets), with the Google Cloud (cvdf-datasets) mirror as fallback;
- Fashion-MNIST, the four gzipped IDX files from Zalando Research's S3 bucket
  (or the copy in their GitHub repository);
- CIFAR-10, ``cifar-10-binary.tar.gz`` ("CIFAR-10 binary version (suitable for
  C programs)") from the dataset authors' page at the University of Toronto;
- SC09 (Speech Commands Zero through Nine, Donahue et al. 2019): built here
  from Speech Commands v0.01 (Warden 2018), ``speech_commands_v0.01.tar.gz``
  from TensorFlow's download bucket, with the digest torchaudio pins for it.
  The WaveGAN authors' own ``sc09.tar.gz`` has no published digest, so it is
  not used. v0.01, not v0.02: SC09's training split has 18,620 clips (the
  official score.py's ``--n 18620``), which matches v0.01's digits minus its
  validation and test lists (about 80% of 23.7k) and not v0.02's (about 39k
  digits). ``_pack_sc09`` streams the archive once, keeps only the ten digit
  folders and the two list files, and lays the clips out as the authors'
  archive does: ``sc09/{train,valid,test}/Zero_<speaker>_nohash_<k>.wav``,
  split by ``validation_list.txt`` and ``testing_list.txt``. The folders are
  read by data set ``wav-folder`` (``labels: prefix`` gives the ten classes).
  The 18,620 count is the official README's figure; it could not be checked
  here (no copy of the archive offline): ``download`` prints the counts.
"""
from __future__ import annotations

import os
import shutil
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, Union

# DownloadError is re-exported: `download` raises it and callers catch it from here.
from ..fetch import CHUNK, DownloadError, download_verified, sha256_file  # noqa: F401

DEFAULT_DATA_DIR = "~/.cache/ganscape/datasets"


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the target folder or is not a plain file."""


@dataclass(frozen=True)
class RemoteFile:
    filename: str  # name in the data set's root folder
    urls: Tuple[str, ...]  # mirrors, tried in order
    sha256: str  # published SHA-256 of the file's bytes, lowercase hex; "" = not known (download refuses)
    size: Optional[int]  # published size in bytes; None = not known


@dataclass(frozen=True)
class RemoteDataset:
    name: str
    files: Tuple[RemoteFile, ...]
    # Archive to unpack after download, and the (path, size) of the files it
    # holds: when all are present with those sizes it is not unpacked again.
    extract: Optional[str] = None
    extracted: Tuple[Tuple[str, int], ...] = ()
    # Instead of unpacking `extract` whole: unpack(archive, root) writes what the loader reads and
    # returns a one-line summary (it is not called once `built` exists).
    unpack: Optional[Callable[[Path, Path], str]] = None
    # a file under root that `unpack` writes last: when present, nothing is downloaded or unpacked again
    # (the archive may have been deleted after the build)
    built: Optional[str] = None


def _mirrors(filename: str, *bases: str) -> Tuple[str, ...]:
    return tuple(f"{b.rstrip('/')}/{filename}" for b in bases)


_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist",
                  "https://storage.googleapis.com/cvdf-datasets/mnist")
# Zalando Research's bucket (the HTTPS REST endpoint, then the HTTP website
# endpoint the project README links), then the copy in their GitHub repository.
_FASHION_MIRRORS = ("https://fashion-mnist.s3.eu-central-1.amazonaws.com",
                    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion")

SC09_DONE = "COMPLETE"   # written last into root/sc09 by _pack_sc09, with the split counts

SOURCES: Dict[str, RemoteDataset] = {
    "mnist": RemoteDataset("mnist", tuple(
        RemoteFile(f, _mirrors(f, *_MNIST_MIRRORS), sha, size) for f, sha, size in (
            ("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
            ("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
            ("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
            ("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
        ))),
    "fashion-mnist": RemoteDataset("fashion-mnist", tuple(
        RemoteFile(f, _mirrors(f, *_FASHION_MIRRORS), sha, size) for f, sha, size in (
            ("train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
            ("train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
            ("t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
            ("t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
        ))),
    "cifar10": RemoteDataset(
        "cifar10",
        (RemoteFile("cifar-10-binary.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
                    "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", 170052171),),
        extract="cifar-10-binary.tar.gz",
        # Each batch holds 10000 records of 1 label byte + 3072 pixel bytes.
        extracted=tuple((f"cifar-10-batches-bin/{f}", 30730000) for f in (
            "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
            "data_batch_5.bin", "test_batch.bin")),
    ),
    # Speech Commands v0.01's digest as torchaudio pins it (datasets/speechcommands.py, _CHECKSUMS); the
    # size is not published, so it is not checked (the digest is)
    "sc09": RemoteDataset(
        "sc09", (RemoteFile("speech_commands_v0.01.tar.gz", _mirrors(
            "speech_commands_v0.01.tar.gz", "https://storage.googleapis.com/download.tensorflow.org/data",
            "http://download.tensorflow.org/data"),
            "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d", None),),
        extract="speech_commands_v0.01.tar.gz", unpack=lambda archive, root: _pack_sc09(archive, root),
        built=f"sc09/{SC09_DONE}"),
}


def available() -> List[str]:
    """Names `download` accepts."""
    return sorted(SOURCES)


def default_root(name: str) -> Path:
    """Where data set `name` lives unless told otherwise: ~/.cache/ganscape/datasets/<name>."""
    return Path(DEFAULT_DATA_DIR).expanduser() / name


def download_hint(name: str, root: Union[str, Path]) -> str:
    """The sentence error messages use to tell the user how to get the files."""
    return f"run `ganscape download {name} --root {root}` to fetch and verify them"


def _check_member(member: tarfile.TarInfo, root: Path) -> None:
    name = member.name
    parts = Path(name).parts
    if os.path.isabs(name) or name.startswith(("/", "\\")) or (parts and ":" in parts[0]):
        raise UnsafeArchiveError(f"archive member {name!r} has an absolute path")
    if ".." in parts or ".." in name.replace("\\", "/").split("/"):
        raise UnsafeArchiveError(f"archive member {name!r} climbs out of the target folder with '..'")
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(f"archive member {name!r} is not a regular file or folder (links and "
                                 f"devices are refused)")
    target = (root / name).resolve()
    if os.path.commonpath([str(target), str(root)]) != str(root):
        raise UnsafeArchiveError(f"archive member {name!r} would be written outside {root}")


def extract_tar_safely(archive: Union[str, Path], root: Union[str, Path]) -> List[Path]:
    """Unpack a (gzipped) tar into `root`, refusing anything that could escape it.

    Every member is checked before anything is written: absolute paths, '..'
    components, symbolic and hard links, devices and FIFOs raise
    UnsafeArchiveError. Files are written through a temporary name and renamed
    into place. Returns the paths of the extracted files.
    """
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    written = []
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for m in members:
            _check_member(m, root)
        for m in members:
            target = root / m.name
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tar.extractfile(m)
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
            try:
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
                os.replace(tmp_name, target)
            finally:
                Path(tmp_name).unlink(missing_ok=True)
            written.append(target)
    return written


def download(name: str, root: Union[str, Path, None] = None, progress: bool = True) -> List[Path]:
    """Fetch data set `name` into `root` (default ~/.cache/ganscape/datasets/<name>).

    name: one of available() ("cifar10", "fashion-mnist", "mnist", "sc09").
    Files already present with the published SHA-256 are kept; others are
    downloaded, verified and atomically moved into place (see the module
    docstring); an archive is then unpacked into root. Returns the paths of
    the verified files; root is then ready for the matching loader's ``root``
    parameter. Raises DownloadError when no mirror gives the published bytes
    and UnsafeArchiveError for a malicious archive.
    """
    if name not in SOURCES:
        raise ValueError(f"unknown download {name!r}; choose one of: {', '.join(available())}")
    source = SOURCES[name]
    root = Path(root).expanduser() if root is not None else default_root(name)
    root.mkdir(parents=True, exist_ok=True)
    say = (lambda msg: print(msg, file=sys.stderr)) if progress else (lambda msg: None)
    if source.built is not None and (root / source.built).is_file():
        say(f"{root / source.built}: {name} is already built; delete that folder to build it again")
        return [root / source.built]
    verified = []
    unpinned = [spec.filename for spec in source.files if not spec.sha256]
    if unpinned:
        raise DownloadError(f"{name}: the SHA-256 of {', '.join(unpinned)} is not pinned in ganscape "
                            f"(data/download.py), so it is not downloaded unverified; fetch "
                            f"{source.files[0].urls[0]} yourself, check it, unpack it and read the folder "
                            f"with data set wav-folder")
    for spec in source.files:
        dest = root / spec.filename
        verified.append(dest)
        if dest.is_file() and spec.size in (None, dest.stat().st_size) and sha256_file(dest) == spec.sha256:
            say(f"{dest}: present, SHA-256 verified")
            continue
        if dest.exists():
            say(f"{dest}: present but its SHA-256 does not match; downloading it again")
        say(f"downloading {spec.filename}" + (f" ({spec.size / 1e6:.1f} MB)" if spec.size else ""))
        download_verified(spec.urls, dest, spec.sha256, size=spec.size, progress=progress)
        say(f"{dest}: SHA-256 verified")
    if source.unpack is not None:
        say(source.unpack(root / source.extract, root))
    elif source.extract is not None:
        unpacked = bool(source.extracted) and all(
            (root / f).is_file() and (root / f).stat().st_size == size for f, size in source.extracted)
        if unpacked:
            say(f"{root}: {source.extract} already unpacked")
        else:
            say(f"unpacking {source.extract}")
            extract_tar_safely(root / source.extract, root)
    return verified


SC09_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _pack_sc09(archive: Path, root: Path) -> str:
    """Lay Speech Commands v0.01's digit clips out as SC09: root/sc09/{train,valid,test}/Zero_<name>.wav.

    One streaming pass over the archive (no seeks: a 1.4 GB gzip) writes the digit clips under a staging
    folder and reads the two list files; the clips are then renamed into staging/sc09/<split>/, a file
    COMPLETE with the counts is written there, and the whole folder is moved to root/sc09 in one rename:
    an interrupted or refused build leaves no sc09 folder and no staging folder. Members that are written
    are checked as extract_tar_safely checks them; the rest are never written.
    """
    out = root / "sc09"
    staging = root / ".sc09-staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        counts = _stage_and_split_sc09(archive, staging / "clips", staging / "sc09")
        summary = ", ".join(f"{k} {v}" for k, v in counts.items())
        (staging / "sc09" / SC09_DONE).write_text(summary + "\n")
        shutil.rmtree(out, ignore_errors=True)    # a folder left by hand or by an older build
        os.replace(staging / "sc09", out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return f"{out}: SC09 built from {archive.name} ({summary} clips; read it with data set wav-folder)"


def _stage_and_split_sc09(archive: Path, staging: Path, out: Path) -> Dict[str, int]:
    """The one pass over the archive, then the renames into out/{train,valid,test}; returns the counts."""
    staging.mkdir(parents=True)
    lists: Dict[str, set] = {}
    staged: List[str] = []
    with tarfile.open(archive, "r|*") as tar:
        for m in tar:
            name = m.name[2:] if m.name.startswith("./") else m.name
            parts = name.split("/")
            if name in ("validation_list.txt", "testing_list.txt") and m.isfile():
                lists[name] = set(tar.extractfile(m).read().decode("utf-8").split())
            elif len(parts) == 2 and parts[0] in SC09_WORDS and parts[1].endswith(".wav"):
                _check_member(m, staging.resolve())
                target = staging / name
                target.parent.mkdir(exist_ok=True)
                with open(target, "wb") as f:
                    shutil.copyfileobj(tar.extractfile(m), f, CHUNK)
                staged.append(name)
    missing = [n for n in ("validation_list.txt", "testing_list.txt") if n not in lists]
    if missing or not staged:
        what = f"no {' or '.join(missing)}" if missing else "no digit clips (zero/ ... nine/)"
        raise DownloadError(f"{archive.name} holds {what}: it is not Speech Commands v0.01")
    counts = {"train": 0, "valid": 0, "test": 0}
    for name in staged:
        split = ("valid" if name in lists["validation_list.txt"] else
                 "test" if name in lists["testing_list.txt"] else "train")
        word, clip = name.split("/")
        (out / split).mkdir(parents=True, exist_ok=True)
        os.replace(staging / name, out / split / f"{word.capitalize()}_{clip}")
        counts[split] += 1
    return counts
