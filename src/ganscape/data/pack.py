"""The packed image format: a data set decoded once, kept as uint8 on disk and
memory-mapped by the runs that read it (`ganscape data pack`).

A pack is a folder:

    images.npy     uint8 (N, C, S, S), NumPy's .npy format (np.load(mmap_mode="r"))
    labels.npy     int64 (N,), the class index of each image, -1 without classes
    names.txt      N lines, the source name of each image (relative path or key)
    manifest.json  {"format": "ganscape-pack", "version": 1, "count", "shape",
                    "classes", "source", "files": {name: {"bytes", "sha256"}}}

It is written into a hidden sibling folder and renamed into place only when
every file is complete and flushed, so an interrupted pack leaves nothing a
run would accept (the hidden folder is removed, or ignored if the process was
killed). Readers check the manifest, the shapes and the file sizes on every
open (a truncated file is one line naming it) and the SHA-256 of every file
with `verify=True` (`ganscape data verify`; it reads everything once).

Sources: a folder of PNG/JPEG images (recursive; with `labels_from_dirs`,
each top-level subfolder is one class, as image-folder), a tar of images
(.tar, .tar.gz, .tgz; members are read in memory, never extracted, links
skipped), or an LMDB whose values are encoded images (LSUN's export; the
`lmdb` package). Every image is decoded as image-folder decodes it
(files.load_image: upright, central square, Pillow's bicubic or Lanczos
resize), so a pack and the folder it came from give the same arrays. `pack_arrays`
writes a pack from uint8 arrays a chunk at a time (synthetic data; benchmarks).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

import torch

from ..fetch import sha256_file
from ..registry import DATASETS, ConfigError
from .base import ArrayDataset, check_split
from .files import IMAGE_EXTENSIONS, DataFileError, list_images, load_image, split_indices

FORMAT, VERSION = "ganscape-pack", 1
FILES = ("images.npy", "labels.npy", "names.txt")

def _decode_errors() -> tuple:
    """What Pillow raises on an image it cannot decode (as image-folder catches)."""
    from PIL import Image
    return (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


def source_kind(src: Path) -> str:
    """'folder', 'lmdb' (a folder holding data.mdb, or the data.mdb file) or 'tar'."""
    if src.is_dir():
        return "lmdb" if (src / "data.mdb").is_file() else "folder"
    if src.name == "data.mdb":
        return "lmdb"
    if src.is_file() and src.name.lower().endswith((".tar", ".tar.gz", ".tgz")):
        return "tar"
    raise DataFileError(f"{src}: not a source to pack; give a folder of images, a .tar/.tar.gz/.tgz of images, "
                        f"or an LMDB folder (holding data.mdb)")


def _entries(src: Path, kind: str, labels_from_dirs: bool) -> Tuple[List[str], Callable[[int], Any], List[str]]:
    """(names, opener(i) -> what Image.open reads, classes) of a source, in a fixed order."""
    if kind == "folder":
        files = list_images(src)
        names = [p.relative_to(src).as_posix() for p in files]
        classes: List[str] = []
        if labels_from_dirs:
            loose = [n for n in names if "/" not in n]
            if loose:
                raise DataFileError(f"{src}: --labels-from-dirs needs every image in a class subfolder; "
                                    f"{len(loose)} lie at the top, e.g. {loose[0]}")
            classes = sorted({n.split("/")[0] for n in names})
        return names, lambda i: files[i], classes
    if labels_from_dirs:
        raise DataFileError(f"{src}: class labels come from subfolders of a folder source only")
    if kind == "tar":
        try:
            tf = tarfile.open(src)   # noqa: SIM115 (kept open for the openers; closed by the caller's process end)
            members = sorted((m for m in tf.getmembers() if m.isfile() and m.name.lower().endswith(IMAGE_EXTENSIONS)
                              and not Path(m.name).name.startswith(".")), key=lambda m: m.name)
        except (tarfile.TarError, OSError, EOFError) as e:
            raise DataFileError(f"{src}: cannot read it as a tar ({e}); the file is corrupt or truncated") from None
        return [m.name for m in members], lambda i: io.BytesIO(tf.extractfile(members[i]).read()), []
    try:
        import lmdb
    except ImportError:
        raise DataFileError("packing an LMDB needs the lmdb package: pip install 'ganscape[data]'") from None
    folder = src if src.is_dir() else src.parent
    try:
        env = lmdb.open(str(folder), readonly=True, lock=False, readahead=False, subdir=True)
        with env.begin() as txn:
            keys = sorted(k for k, _ in txn.cursor())
    except lmdb.Error as e:
        raise DataFileError(f"{src}: cannot read it as an LMDB ({e})") from None

    def open_key(i: int):
        with env.begin() as txn:
            return io.BytesIO(txn.get(keys[i]))
    return [k.decode("utf-8", "replace") for k in keys], open_key, []


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _staging(out: Path) -> Iterator[Path]:
    """A hidden sibling folder to write a pack in; removed unless the pack was sealed into `out`."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out}: exists and is not an empty folder; packs are never overwritten")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _seal(tmp: Path, out: Path, names: List[str], labels: np.ndarray, shape: Tuple[int, int, int],
          classes: List[str], source: Dict[str, Any]) -> Dict[str, Any]:
    """Write labels, names, checksums and the manifest into `tmp`, then move it to `out` in one rename:
    a run never sees a half-written pack."""
    np.save(tmp / "labels.npy", labels)
    (tmp / "names.txt").write_text("".join(n.replace("\n", " ") + "\n" for n in names), encoding="utf-8")
    files = {}
    for name in FILES:
        _fsync(tmp / name)
        files[name] = {"bytes": (tmp / name).stat().st_size, "sha256": sha256_file(tmp / name)}
    manifest = {"format": FORMAT, "version": VERSION, "count": len(names), "shape": list(shape),
                "classes": classes, "source": source, "files": files}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    _fsync(tmp / "manifest.json")
    if out.exists():
        out.rmdir()   # the empty folder the caller made
    os.replace(tmp, out)
    return manifest


def pack(src: Union[str, Path], out: Union[str, Path], size: int, channels: int = 3, resample: str = "bicubic",
         labels_from_dirs: bool = False, skip_bad: bool = False, max_images: Optional[int] = None,
         progress: Optional[Callable[[Iterator[int], int], Iterator[int]]] = None) -> Dict[str, Any]:
    """Decode every image of `src` into the pack `out` (a new folder); returns its manifest."""
    src, out = Path(src).expanduser(), Path(out).expanduser()
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such file or folder")
    if size < 1 or channels not in (1, 3):
        raise ValueError(f"need size >= 1 and channels 1 or 3, got {size} and {channels}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out}: exists and is not an empty folder; packs are never overwritten")
    kind = source_kind(src)
    names, opener, classes = _entries(src, kind, labels_from_dirs)
    if max_images is not None:
        names = names[:max_images]
    if not names:
        raise DataFileError(f"{src}: no {'/'.join(IMAGE_EXTENSIONS)} images found" if kind != "lmdb"
                            else f"{src}: the LMDB holds no entries")
    with _staging(out) as tmp:
        images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                           shape=(len(names), channels, size, size))
        labels = np.full(len(names), -1, dtype=np.int64)
        kept, skipped = [], []
        bad = _decode_errors()
        class_index = {c: k for k, c in enumerate(classes)}
        steps = range(len(names)) if progress is None else progress(iter(range(len(names))), len(names))
        for i in steps:
            try:
                images[len(kept)] = load_image(opener(i), size, channels, resample)
            except bad as e:
                if not skip_bad:
                    raise DataFileError(f"{src}: cannot decode {names[i]} ({e}); --skip-bad leaves such images "
                                        f"out") from None
                skipped.append(names[i])
                continue
            if classes:
                labels[len(kept)] = class_index[names[i].split("/")[0]]
            kept.append(names[i])
        if not kept:
            raise DataFileError(f"{src}: none of its {len(names)} images could be decoded")
        images.flush()
        del images
        if len(kept) < len(names):   # rewrite the header for the shorter array: copy the kept rows
            full = np.load(tmp / "images.npy", mmap_mode="r")
            short = np.lib.format.open_memmap(tmp / "images.tmp.npy", mode="w+", dtype=np.uint8,
                                              shape=(len(kept), channels, size, size))
            for a in range(0, len(kept), 4096):
                b = min(a + 4096, len(kept))
                short[a:b] = full[a:b]
            short.flush()
            del short, full
            os.replace(tmp / "images.tmp.npy", tmp / "images.npy")
        return _seal(tmp, out, kept, labels[:len(kept)], (channels, size, size), classes,
                     {"path": str(src), "kind": kind, "resample": resample, "skipped": skipped})


def pack_arrays(out: Union[str, Path], chunks: Iterable[np.ndarray], count: int, shape: Tuple[int, int, int],
                labels: Optional[np.ndarray] = None, classes: Sequence[str] = (),
                names: Optional[Sequence[str]] = None, source: str = "arrays") -> Dict[str, Any]:
    """A pack of `count` uint8 images of `shape` (C, H, W) given as chunks (N_i, C, H, W), written a chunk
    at a time (a pack larger than memory: synthetic data, another reader's output); names default to
    "000000.png"-style names, which the hash split reads like a folder's. Returns the manifest."""
    out = Path(out).expanduser()
    names = list(names) if names is not None else [f"{i:08d}.png" for i in range(count)]
    if len(names) != count or (labels is not None and len(labels) != count):
        raise ValueError(f"{count} images need {count} names and labels, got {len(names)} and "
                         f"{None if labels is None else len(labels)}")
    with _staging(out) as tmp:
        images = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8, shape=(count, *shape))
        at = 0
        for chunk in chunks:
            chunk = np.asarray(chunk)
            if chunk.dtype != np.uint8 or chunk.shape[1:] != tuple(shape) or at + len(chunk) > count:
                raise ValueError(f"chunk of {chunk.dtype} {chunk.shape} at image {at}: need uint8 "
                                 f"(N, {', '.join(map(str, shape))}) and {count} images in all")
            images[at:at + len(chunk)] = chunk
            at += len(chunk)
        if at != count:
            raise ValueError(f"the chunks held {at} images, not {count}")
        images.flush()
        del images
        lab = np.full(count, -1, dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
        return _seal(tmp, out, names, lab, tuple(shape), list(classes), {"path": source, "kind": "arrays"})


def open_pack(path: Union[str, Path], verify: bool = False) -> Tuple[np.ndarray, np.ndarray, List[str], Dict[str, Any]]:
    """(images memmap uint8 (N, C, S, S), labels int64 (N,), names, manifest) of a pack, checked
    (shapes and sizes always; every file's SHA-256 with verify)."""
    path = Path(path).expanduser()
    mpath = path / "manifest.json"
    if not mpath.is_file():
        raise DataFileError(f"{path}: not a ganscape pack (no manifest.json); make one with `ganscape data pack`")
    try:
        manifest = json.loads(mpath.read_text())
        ok = manifest.get("format") == FORMAT and isinstance(manifest.get("files"), dict)
    except (ValueError, AttributeError):
        ok = False
    if not ok:
        raise DataFileError(f"{mpath}: not a {FORMAT} manifest; the pack is corrupt")
    if manifest.get("version") != VERSION:
        raise DataFileError(f"{mpath}: pack version {manifest.get('version')}; this ganscape reads version {VERSION}")
    for name in FILES:
        f, want = path / name, manifest["files"].get(name, {})
        if not f.is_file():
            raise DataFileError(f"{f}: missing from the pack")
        if f.stat().st_size != want.get("bytes"):
            raise DataFileError(f"{f}: {f.stat().st_size} bytes, the manifest says {want.get('bytes')}; "
                                f"the file is truncated or was changed")
        if verify and sha256_file(f) != want.get("sha256"):
            raise DataFileError(f"{f}: SHA-256 differs from the manifest's; the file is corrupt")
    try:
        images = np.load(path / "images.npy", mmap_mode="r", allow_pickle=False)
        labels = np.load(path / "labels.npy", allow_pickle=False)
    except ValueError as e:
        raise DataFileError(f"{path}: cannot read its arrays ({e}); the pack is corrupt") from None
    n, shape = manifest["count"], tuple(manifest["shape"])
    if images.dtype != np.uint8 or images.shape != (n, *shape) or labels.shape != (n,):
        raise DataFileError(f"{path}: arrays of shape {images.shape} / {labels.shape}, the manifest says "
                            f"({n}, {', '.join(map(str, shape))}) / ({n},)")
    names = (path / "names.txt").read_text(encoding="utf-8").splitlines()
    if len(names) != n:
        raise DataFileError(f"{path / 'names.txt'}: {len(names)} names for {n} images")
    return images, labels, names, manifest


@dataclass(frozen=True)
class PackedParams:
    path: str  # a folder made by `ganscape data pack`
    test_fraction: float = 0.1  # share of the images held out as the test split (image-folder's rule)
    split_seed: int = 0  # which images are held out; fixed so every run agrees on the split
    max_images: Optional[int] = None  # use at most this many images of the split
    verify: bool = False  # check every file's SHA-256 when a run opens the pack (reads it all once)

    def validate(self, where: str) -> None:
        if not self.path:
            raise ConfigError(f"{where}.path: packed needs path, a folder made by `ganscape data pack`")
        if not 0.0 <= self.test_fraction < 1.0:
            raise ConfigError(f"{where}.test_fraction: must lie in [0, 1), got {self.test_fraction}")
        if self.max_images is not None and self.max_images < 1:
            raise ConfigError(f"{where}.max_images: must be a positive number or null, got {self.max_images}")


@DATASETS.register("packed", params=PackedParams)
def packed(params: PackedParams, split: str, seed: int = 0) -> ArrayDataset:
    """Images packed by `ganscape data pack` (uint8 on disk, memory-mapped); the split is image-folder's
    (by a hash of each image's source name), so a pack of a folder splits as the folder does."""
    check_split(split)
    images, labels, names, manifest = open_pack(params.path, params.verify)
    idx = split_indices(names, params, split, f"packed: the {split} split of {params.path}")
    classes = tuple(manifest.get("classes") or ())
    # The memory map itself: the training loop reads it into memory when it fits train.data_memory_mb,
    # and streams batches from it through DataLoader workers when it does not (train/feed.py).
    return ArrayDataset(x=images, rows=np.asarray(idx, dtype=np.int64), kind="image",
                        y=torch.from_numpy(labels[idx]) if classes else None, num_classes=len(classes),
                        info={"root": str(params.path), "files": [names[i] for i in idx], "classes": classes})
