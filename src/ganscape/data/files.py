"""Real image data sets loaded from files: MNIST, Fashion-MNIST, CIFAR-10, image folders.

Nothing here touches the network: the files are expected under ``root``
(``ganscape download NAME --root ROOT`` fetches and verifies them, see
``ganscape.data.download``). Each loader validates what it reads and raises an
error naming the file when it is missing (FileNotFoundError, with the download
command to run), truncated or corrupt (DataFileError).

Formats:

- IDX (MNIST, Fashion-MNIST): a 4-byte magic number (two zero bytes, a type
  code, the number of dimensions), one big-endian uint32 per dimension, then
  the values in row-major order, big-endian. Files may be gzipped (``.gz``).
- CIFAR-10 binary version: ``data_batch_1.bin`` .. ``data_batch_5.bin`` and
  ``test_batch.bin``, each a sequence of 3073-byte records: one label byte
  (0..9) and 3072 pixel bytes, the 32 x 32 red plane, then green, then blue,
  each row-major.
- Image folders: PNG and JPEG files anywhere below ``root``.

All loaders return an ``ArrayDataset`` of float32 images in [-1, 1].
"""
from __future__ import annotations

import gzip
import hashlib
import math
import os
import struct
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..registry import DATASETS, ConfigError
from .base import ArrayDataset, check_split
from .download import DEFAULT_DATA_DIR, download_hint


class DataFileError(ValueError):
    """A data file is corrupt, truncated or not in the expected format."""


# ---------------------------------------------------------------------------
# IDX


# IDX type codes and their big-endian numpy types.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: Path) -> bytes:
    """A file's bytes, gunzipped when its name ends in .gz."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DataFileError(f"{path}: cannot read it ({e}); the file is corrupt or truncated") from None


def read_idx(path: Union[str, Path]) -> np.ndarray:
    """Read an IDX file (optionally gzipped) into a native-endian numpy array.

    Returns an array whose shape is the file's dimensions and whose dtype is
    its type code's (uint8 for MNIST). Raises DataFileError naming the file
    when the magic number is wrong, the header is cut short, or the data are
    shorter or longer than the dimensions say.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataFileError(f"{path}: {len(data)} bytes is too short for an IDX header; the file is truncated")
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise DataFileError(
            f"{path}: not an IDX file (magic number 0x{data[:4].hex()}; expected two zero bytes, a type "
            f"code in {{{', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}}} and the number of dimensions)")
    dtype, ndim = IDX_DTYPES[data[2]], data[3]
    if ndim == 0:
        raise DataFileError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFileError(f"{path}: the IDX header of {ndim} dimensions is cut short; the file is truncated")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = header + math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise DataFileError(
            f"{path}: {len(data)} bytes, but its header (dims {dims}, {dtype.itemsize}-byte values) "
            f"needs {expected}; the file {what}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find_file(root: Path, filename: str, subdirs: Sequence[str], dataset: str,
               allow_gz: bool = True) -> Path:
    """The first of root/<subdir>/<filename>[.gz] that exists."""
    candidates = [root / d / (filename + ext) for d in subdirs for ext in (("", ".gz") if allow_gz else ("",))]
    for c in candidates:
        if c.is_file():
            return c
    shown = filename + ("[.gz]" if allow_gz else "")
    where = ", ".join(str(root / d) for d in subdirs)
    raise FileNotFoundError(f"{dataset}: cannot find {shown} (looked in {where}); {download_hint(dataset, root)}")


def _root(root: str) -> Path:
    return Path(root).expanduser()


# ---------------------------------------------------------------------------
# MNIST and Fashion-MNIST

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_IDX_PREFIX = {"train": "train", "test": "t10k"}
# Besides root itself, the layouts torchvision and other tools leave behind.
_MNIST_SUBDIRS = {"mnist": (".", "raw", "MNIST/raw"), "fashion-mnist": (".", "raw", "FashionMNIST/raw")}


@dataclass(frozen=True)
class MNISTParams:
    root: str = f"{DEFAULT_DATA_DIR}/mnist"  # folder with the four IDX files (.gz or not)
    # 28 = native; 32 = zero-pad 2 px per side (exact, the DCGAN/LeNet
    # convention); 8, 16, 64 = the 32 x 32 padded image resized (antialiased
    # bilinear), so the digit keeps the same relative scale at every size.
    size: Literal[8, 16, 28, 32, 64] = 32

    def validate(self, where: str) -> None:
        if self.size not in (8, 16, 28, 32, 64):
            raise ConfigError(f"{where}.size: {self.size} is not allowed; choose 8, 16, 28, 32 or 64")


@dataclass(frozen=True)
class FashionMNISTParams(MNISTParams):
    root: str = f"{DEFAULT_DATA_DIR}/fashion-mnist"


def load_mnist_arrays(root: Union[str, Path], split: str, dataset: str = "mnist") -> Tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) of an MNIST-format split under `root`.

    dataset: "mnist" or "fashion-mnist" (which folder layouts to search and
    which download command to suggest).
    """
    check_split(split)
    root = _root(str(root))
    subdirs = _MNIST_SUBDIRS[dataset]
    prefix = _IDX_PREFIX[split]
    img_path = _find_file(root, f"{prefix}-images-idx3-ubyte", subdirs, dataset)
    lbl_path = _find_file(root, f"{prefix}-labels-idx1-ubyte", subdirs, dataset)
    images, labels = read_idx(img_path), read_idx(lbl_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataFileError(f"{img_path}: expected uint8 images of shape (N, 28, 28), "
                            f"got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataFileError(f"{lbl_path}: expected a 1-D uint8 label vector, got {labels.dtype} {labels.shape}")
    if len(labels) != len(images):
        raise DataFileError(f"{lbl_path}: {len(labels)} labels for the {len(images)} images of {img_path}")
    if len(labels) and labels.max() > 9:
        raise DataFileError(f"{lbl_path}: label {labels.max()} is out of range; labels must be 0..9")
    return images, labels.astype(np.int64)


def _mnist_codes(images: np.ndarray, size: int) -> torch.Tensor:
    """uint8 (N, 1, 28, 28), or (N, 1, 32, 32) with a 2-pixel black border when it is resized (to `size`,
    at decode)."""
    x = torch.from_numpy(images[:, None])
    return x if size == 28 else F.pad(x, (2, 2, 2, 2), value=0)


def _mnist_like(params: MNISTParams, split: str, dataset: str, classes: Tuple[str, ...]) -> ArrayDataset:
    images, labels = load_mnist_arrays(params.root, split, dataset)
    return ArrayDataset(x=_mnist_codes(images, params.size), kind="image", y=torch.from_numpy(labels),
                        num_classes=10, info={"classes": classes}, size=0 if params.size == 28 else params.size)


@DATASETS.register("mnist", params=MNISTParams)
def mnist(params: MNISTParams, split: str, seed: int = 0) -> ArrayDataset:
    """MNIST handwritten digits from IDX files (60000 train / 10000 test, 1 channel)."""
    return _mnist_like(params, split, "mnist", MNIST_CLASSES)


@DATASETS.register("fashion-mnist", params=FashionMNISTParams)
def fashion_mnist(params: FashionMNISTParams, split: str, seed: int = 0) -> ArrayDataset:
    """Fashion-MNIST clothing images from IDX files (60000 train / 10000 test, 1 channel)."""
    return _mnist_like(params, split, "fashion-mnist", FASHION_MNIST_CLASSES)


# ---------------------------------------------------------------------------
# CIFAR-10

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
CIFAR_RECORD_BYTES = 1 + 3 * 32 * 32
CIFAR_FILES = {"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)}
_CIFAR_SUBDIRS = ("cifar-10-batches-bin", ".")


@dataclass(frozen=True)
class CIFAR10Params:
    root: str = f"{DEFAULT_DATA_DIR}/cifar10"  # folder holding cifar-10-batches-bin/ (or the .bin files)
    size: Literal[8, 16, 32, 64] = 32  # 32 = native; others are antialiased bilinear resizes

    def validate(self, where: str) -> None:
        if self.size not in (8, 16, 32, 64):
            raise ConfigError(f"{where}.size: {self.size} is not allowed; choose 8, 16, 32 or 64")


def read_cifar_batch(path: Union[str, Path]) -> Tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) from one CIFAR-10 binary batch file."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) == 0 or len(data) % CIFAR_RECORD_BYTES:
        raise DataFileError(
            f"{path}: {len(data)} bytes is not a whole number of {CIFAR_RECORD_BYTES}-byte CIFAR-10 records "
            f"(1 label byte + 3072 pixel bytes); the file is truncated or not a CIFAR-10 binary batch")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, CIFAR_RECORD_BYTES)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        bad = int(np.argmax(labels > 9))
        raise DataFileError(
            f"{path}: record {bad} has label {labels[bad]}; CIFAR-10 labels are 0..9 (is this a CIFAR-100 "
            f"file, whose records hold two label bytes?)")
    images = records[:, 1:].reshape(-1, 3, 32, 32).copy()
    return images, labels


def load_cifar10_arrays(root: Union[str, Path], split: str) -> Tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) of a CIFAR-10 split under `root`."""
    check_split(split)
    root = _root(str(root))
    parts = [read_cifar_batch(_find_file(root, f, _CIFAR_SUBDIRS, "cifar10", allow_gz=False))
             for f in CIFAR_FILES[split]]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


@DATASETS.register("cifar10", params=CIFAR10Params)
def cifar10(params: CIFAR10Params, split: str, seed: int = 0) -> ArrayDataset:
    """CIFAR-10 from the binary version (50000 train / 10000 test, 32x32 RGB)."""
    images, labels = load_cifar10_arrays(params.root, split)
    return ArrayDataset(x=torch.from_numpy(images), kind="image", y=torch.from_numpy(labels), num_classes=10,
                        size=0 if params.size == 32 else params.size,
                        info={"classes": CIFAR10_CLASSES})


# ---------------------------------------------------------------------------
# Image folders

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


FOLDER_SIZES = tuple(2 ** k for k in range(3, 9))
# Pillow modes without colour: 1-bit, 8-bit grey (with alpha), 16/32-bit grey, float grey.
GREY_MODES = ("1", "L", "LA", "I", "F", "I;16", "I;16B", "I;16L", "I;16N")
INFER_SCAN = 1000  # images whose headers decide an inferred size and channels


def infer_image_format(root: Union[str, Path]) -> Tuple[int, int, int]:
    """(size, channels, images scanned) for a folder whose config leaves them unset.

    Reads only the headers of the first INFER_SCAN images in sorted order
    (so the choice is the same on every machine and split). size: the
    largest of 8, 16, ..., 256 not above the median shorter side (images
    are shrunk, not blown up; a few thumbnails do not decide); channels: 1
    when every scanned image is greyscale, else 3.
    """
    from PIL import Image

    root = _root(str(root))
    files = list_images(root)[:INFER_SCAN] if root.is_dir() else []
    if not files:
        raise FileNotFoundError(f"image-folder: no {'/'.join(IMAGE_EXTENSIONS)} files below {root}")
    sides, grey = [], True
    for f in files:
        try:
            with Image.open(f) as im:  # lazy: the header only
                sides.append(min(im.size))
                grey = grey and im.mode in GREY_MODES
        except Exception:  # an unreadable file is reported (or skipped) when the images are loaded
            continue
    if not sides:
        raise DataFileError(f"image-folder: none of the first {len(files)} images under {root} can be read")
    median = sorted(sides)[len(sides) // 2]
    size = max([s for s in FOLDER_SIZES if s <= median], default=FOLDER_SIZES[0])
    return size, 1 if grey else 3, len(sides)


def resolve_image_folder(params: Dict[str, Any]) -> Tuple[Dict[str, Any], str]:
    """`params` with an unset size / channels filled in from the images, and
    a note saying what was chosen ('' when both were given). Run before a
    run is created, so that config.json records the values its nets were
    built for (the folder may change later)."""
    if params.get("size") is not None and params.get("channels") is not None:
        return dict(params), ""
    if not params.get("root"):
        raise ConfigError("data.params.root: image-folder needs root, the folder of your images "
                          "(--set data.params.root=DIR)")
    size, channels, scanned = infer_image_format(params["root"])
    chosen = {k: v for k, v in (("size", size), ("channels", channels)) if params.get(k) is None}
    note = (f"image-folder: {', '.join(f'{k} {v}' for k, v in chosen.items())} inferred from {scanned} images "
            f"under {params['root']} ({'all greyscale' if channels == 1 else 'some in colour'}, "
            f"median shorter side -> the largest power of two not above it); set "
            f"{' and '.join(f'data.params.{k}' for k in chosen)} to choose")
    return {**params, **chosen}, note


LABELS_HINT = ("image-folder takes class labels from subfolders only with data.params.labels_from_dirs=true "
               "(each top-level subfolder of root is one class)")


@dataclass(frozen=True)
class ImageFolderParams:
    root: str  # folder searched recursively for .png/.jpg/.jpeg files
    size: Optional[int] = None  # output side, a power of two from 8 to 256; null: inferred (infer_image_format)
    channels: Optional[Literal[1, 3]] = None  # 1 = greyscale (Pillow "L"), 3 = RGB; null: inferred
    labels_from_dirs: bool = False  # class = top-level subfolder, classes in sorted order
    test_fraction: float = 0.1  # share of the files held out as the test split
    split_seed: int = 0  # which files are held out; fixed so every run agrees on the split
    skip_bad: bool = False  # skip unreadable images with one warning instead of failing
    resample: Literal["bicubic", "lanczos"] = "bicubic"  # Pillow filter for the resize
    max_images: Optional[int] = None  # use at most this many images of the split
    # multi-label attribute file (CelebA's list_attr_celeba.txt layout: a count line, a names line, then
    # "FILE 1 -1 ..." per image, matched to the images by file name): each image is labelled with its
    # attribute combination and captioned with its attributes' names, for method gancls (text-to-image;
    # method.params.encoder=attributes conditions on the multi-hot vector itself)
    attributes: Optional[str] = None

    def validate(self, where: str) -> None:
        if self.size is not None and self.size not in FOLDER_SIZES:
            raise ConfigError(f"{where}.size: {self.size} is not allowed; choose 8, 16, 32, 64, 128 or 256 "
                              f"(or leave it unset to infer it from the images)")
        if self.channels is not None and self.channels not in (1, 3):
            raise ConfigError(f"{where}.channels: {self.channels} is not allowed; choose 1 or 3 "
                              f"(or leave it unset to infer it from the images)")
        if not 0.0 <= self.test_fraction < 1.0:
            raise ConfigError(f"{where}.test_fraction: must lie in [0, 1), got {self.test_fraction}")
        if self.max_images is not None and self.max_images < 1:
            raise ConfigError(f"{where}.max_images: must be a positive number or null, got {self.max_images}")
        if self.attributes is not None and self.labels_from_dirs:
            raise ConfigError(f"{where}: attributes and labels_from_dirs both label the images; set one of them")


def list_images(root: Union[str, Path]) -> List[Path]:
    """All PNG/JPEG files below `root` (recursive), sorted by their path relative to root."""
    root = Path(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith("."):
                found.append(Path(dirpath) / f)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def holdout_split(relpaths: Sequence[str], test_fraction: float, split_seed: int) -> Tuple[List[int], List[int]]:
    """(train indices, test indices) into `relpaths`, each sorted.

    Files are ranked by SHA-256 of "<split_seed>:<relative path>" and the first
    round(test_fraction * N) (at least 1 when test_fraction > 0 and N > 1) are
    held out. Ranking by a hash of the name, not by listing order, keeps the
    split the same on every machine, and adding files moves few others.
    """
    n = len(relpaths)
    n_test = int(round(test_fraction * n))
    if test_fraction > 0 and n > 1:
        n_test = min(max(n_test, 1), n - 1)
    keys = [hashlib.sha256(f"{split_seed}:{p}".encode()).digest() for p in relpaths]
    order = sorted(range(n), key=keys.__getitem__)
    return sorted(order[n_test:]), sorted(order[:n_test])


def split_indices(names: Sequence[str], params, split: str, what: str) -> List[int]:
    """The indices of `split` among `names` by holdout_split with params.test_fraction and
    params.split_seed, cut to params.max_images; `what` names the split in the error when empty."""
    train_idx, test_idx = holdout_split(names, params.test_fraction, params.split_seed)
    idx = train_idx if split == "train" else test_idx
    if not idx:
        raise ValueError(f"{what} is empty ({len(names)} images, test_fraction {params.test_fraction})")
    return idx if params.max_images is None else idx[:params.max_images]


def load_image(path: Union[str, Path], size: int, channels: int = 3, resample: str = "bicubic") -> np.ndarray:
    """Decode one image and return uint8 (channels, size, size).

    The image is turned upright by its EXIF orientation, converted to RGB or
    L (alpha is dropped; 16-bit greyscale is scaled to 8 bits), its central
    square (side = the shorter side) is cut out and resized to size x size with
    Pillow's bicubic or Lanczos filter, which widen with the reduction factor
    and so antialias. This equals resizing the shorter side to `size` and
    centre-cropping, without rounding the intermediate size. Raises OSError,
    ValueError, SyntaxError or Image.DecompressionBombError when the file
    cannot be decoded.
    """
    from PIL import Image, ImageOps

    filters = {"bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}
    with Image.open(path) as im:
        im.load()  # decode now: truncated or corrupt files fail here, not later
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I", "F") or im.mode.startswith("I;16"):
            # Wide greyscale (16-bit PNG): scale 0..65535 to 0..255 rather than clip.
            wide = np.asarray(im, dtype=np.float64)
            im = Image.fromarray(np.clip(np.round(wide / 257.0), 0, 255).astype(np.uint8))  # 2-D uint8: "L"
        im = im.convert("RGB" if channels == 3 else "L")
        w, h = im.size
        side = min(w, h)
        box = ((w - side) / 2.0, (h - side) / 2.0, (w + side) / 2.0, (h + side) / 2.0)
        im = im.resize((size, size), resample=filters[resample], box=box)
        arr = np.asarray(im, dtype=np.uint8)
    return arr[None].copy() if channels == 1 else arr.transpose(2, 0, 1).copy()


def _class_of(relpath: str) -> Optional[str]:
    parts = relpath.split("/")
    return parts[0] if len(parts) > 1 else None


@DATASETS.register("image-folder", params=ImageFolderParams, resolve=resolve_image_folder, labels_hint=LABELS_HINT)
def image_folder(params: ImageFolderParams, split: str, seed: int = 0) -> ArrayDataset:
    """Any folder of PNG/JPEG images (recursive), centre-cropped and resized; optional class subfolders."""
    from PIL import Image

    check_split(split)
    root = _root(params.root)
    if not root.is_dir():
        raise FileNotFoundError(f"image-folder: root {root} is not a folder")
    files = list_images(root)
    if not files:
        raise FileNotFoundError(f"image-folder: no {'/'.join(IMAGE_EXTENSIONS)} files below {root}")
    rel = [p.relative_to(root).as_posix() for p in files]
    size, channels = params.size, params.channels
    if size is None or channels is None:
        inferred_size, inferred_channels, _ = infer_image_format(root)
        size = inferred_size if size is None else size
        channels = inferred_channels if channels is None else channels

    classes: Tuple[str, ...] = ()
    if params.labels_from_dirs:
        loose = [r for r in rel if _class_of(r) is None]
        if loose:
            raise DataFileError(
                f"image-folder: labels_from_dirs is true but {root / loose[0]} (and {len(loose) - 1} more) lie "
                f"directly in root; put every image in a class subfolder")
        classes = tuple(sorted({_class_of(r) for r in rel}))

    idx = split_indices(rel, params, split, f"image-folder: the {split} split of {root}")

    def load(i: int):
        try:
            return load_image(files[i], size, channels, params.resample)
        except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as e:
            return e

    # Pillow releases the GIL while decoding, so threads give real parallelism.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = list(pool.map(load, idx))

    kept, skipped = [], []
    for i, r in zip(idx, results):
        if isinstance(r, Exception):
            if not params.skip_bad:
                raise DataFileError(f"image-folder: cannot decode {files[i]}: {r} "
                                    f"(set skip_bad: true to skip unreadable images)") from r
            skipped.append(rel[i])
        else:
            kept.append(i)
    if skipped:
        warnings.warn(f"image-folder: skipped {len(skipped)} unreadable image(s) of the {split} split "
                      f"under {root}, e.g. {skipped[0]}", RuntimeWarning, stacklevel=2)
    if not kept:
        raise DataFileError(f"image-folder: none of the {len(idx)} images of the {split} split could be read")

    images = np.stack([r for r in results if not isinstance(r, Exception)])
    y = None
    info = {"root": str(root), "files": [rel[i] for i in kept], "classes": classes, "skipped": skipped}
    num_classes = len(classes)
    if params.labels_from_dirs:
        index = {c: k for k, c in enumerate(classes)}
        y = torch.tensor([index[_class_of(rel[i])] for i in kept], dtype=torch.int64)
    if params.attributes is not None:
        y, info["captions"] = _attribute_labels(params.attributes, [rel[i] for i in kept])
        num_classes = len(info["captions"]["attributes"])
        info["sample_labels"] = "data"   # evaluation conditions samples on the real labels (metrics/evaluate.py)
    return ArrayDataset(x=torch.from_numpy(images), kind="image", y=y, num_classes=num_classes, info=info)


def _attribute_labels(path: str, rel: Sequence[str]):
    """(y (N,), captions table) of the images `rel` from a multi-label attribute file: data/captions.py's
    attribute_captions over every row of the file (so that both splits share one table), then each image's
    row found by its file name."""
    from .captions import attribute_captions, read_attribute_file
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"image-folder: the attributes file {file} does not exist")
    parsed = read_attribute_file(file)
    y_all, table = attribute_captions(parsed["attributes"], parsed["names"])
    row = {name: i for i, name in enumerate(parsed["files"])}
    missing = [r for r in rel if Path(r).name not in row]
    if missing:
        raise DataFileError(f"image-folder: {len(missing)} image(s) have no row in {file}, e.g. {missing[0]} "
                            f"(rows are matched by file name)")
    return torch.from_numpy(y_all[[row[Path(r).name] for r in rel]]), table
