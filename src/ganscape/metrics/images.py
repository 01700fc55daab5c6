"""The one gate every evaluated image passes: arrays, tensors, .npz files and
image folders -> float32 (N, C, H, W) in [-1, 1], with one-line errors that
name the input."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch

PathLike = Union[str, Path]


# How the float images of an input are read (see as_images): None = they must
# be in [-1, 1], and data lying wholly in [0, 1] are refused as ambiguous;
# "01" = they are in [0, 1] and are mapped to [-1, 1] by 2x - 1; "11" = they
# are in [-1, 1] even if they happen to lie in [0, 1].
VALUE_RANGES = ("01", "11")


def as_images(x, what: str, value_range: Optional[str] = None) -> torch.Tensor:
    """Images (N, C, H, W), N >= 1, as float32 in [-1, 1]: the one gate every
    evaluated array passes.

    x: tensor or array, uint8 in [0, 255] or float (see VALUE_RANGES for
    value_range). bool, complex and other integer dtypes are refused: there is
    no single right way to read them as images. Errors name `what`.
    """
    if value_range is not None and value_range not in VALUE_RANGES:
        raise ValueError(f"value_range must be one of None, '01' (floats in [0, 1], converted) or '11' "
                         f"(floats in [-1, 1]); got {value_range!r}")
    t = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim != 4:
        raise ValueError(f"{what}: expected images (N, C, H, W), got shape {tuple(t.shape)}")
    if len(t) == 0:
        raise ValueError(f"{what}: no images (shape {tuple(t.shape)})")
    if t.dtype == torch.uint8:
        return t.float() / 127.5 - 1.0
    if not t.is_floating_point():
        dtype = str(t.dtype).replace("torch.", "")
        raise ValueError(f"{what}: dtype {dtype} is not an image type; give float images in [-1, 1] "
                         f"(or [0, 1] with --range 01 / value_range='01') or uint8 in [0, 255]")
    t = t.float()
    if not torch.isfinite(t).all():
        raise ValueError(f"{what}: contains NaN or Inf")
    lo, hi = float(t.min()), float(t.max())
    if value_range == "01":
        if lo < -1e-4 or hi > 1.0001:
            raise ValueError(f"{what}: value_range '01' says the values lie in [0, 1], but they are outside "
                             f"[0, 1] (range [{lo:.3g}, {hi:.3g}])")
        return t * 2.0 - 1.0
    if value_range is None and lo >= 0.0 and hi <= 1.0:
        # Rule: float data with min >= 0 and max <= 1 are most likely [0, 1]
        # images (torchvision's ToTensor, PIL / 255), which scored as [-1, 1]
        # would give silently wrong numbers; the caller must say which they are.
        raise ValueError(f"{what}: values lie in [0, 1]; ganscape expects [-1, 1]; pass --range 01 "
                         f"(value_range='01') to convert them with 2x - 1, or --range 11 (value_range='11') "
                         f"if they are [-1, 1] data that happen to be >= 0 (observed range [{lo:.3g}, {hi:.3g}])")
    if lo < -1.0001 or hi > 1.0001:
        hint = "; for [0, 255] data give uint8" if lo >= 0 and hi <= 255 else ""
        raise ValueError(f"{what}: values must lie in [-1, 1] (or be uint8), got range [{lo:.3g}, {hi:.3g}]{hint}")
    return t


def _refuse_links_in_a_run(folder: Path, files) -> None:
    """Images inside a run folder are the run's own (samples/step_*.png):
    a symbolic link among them points elsewhere, so it is refused, not
    followed. Folders elsewhere may link to their images as people like."""
    from ..train import rundir
    run = rundir.enclosing_run(folder)
    if run is None:
        return
    for f in [Path(folder), *files]:
        if Path(f).is_symlink():
            raise rundir.LinkRefused(Path(f))


class _NpzError(ValueError):
    """What load_images found wrong with a .npz file (raised as it is)."""


def load_images(source: PathLike, size: Optional[int] = None, channels: Optional[int] = None,
                value_range: Optional[str] = None) -> torch.Tensor:
    """Images from FILE.npz or a folder of PNG/JPEG files -> float (N, C, H, W) in [-1, 1].

    .npz: the array "x" (float in [-1, 1]) or "uint8", or else the file's only
    array; (N, H, W) grey arrays get a channel axis, (N, H, W, C) arrays with
    C in {1, 3} are transposed. Loaded with allow_pickle=False. Float arrays
    are read as value_range says (None: [-1, 1], and floats lying wholly in
    [0, 1] are an error; "01": [0, 1], converted by 2x - 1; "11": [-1, 1]);
    uint8 arrays are [0, 255]; other dtypes (bool, complex, other integers)
    are refused. Folders: every image, centre-cropped and resized to `size`
    (default: the first image's), with `channels` (default: 1 if the first
    image is grey, else 3).
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist")
    if source.is_dir():
        from PIL import Image

        from ..data.files import list_images, load_image
        files = list_images(source)
        if not files:
            raise ValueError(f"{source} holds no PNG or JPEG images")
        _refuse_links_in_a_run(source, files)
        try:
            with Image.open(files[0]) as im:
                first_size, grey = min(im.size), im.mode in ("L", "I;16", "1")
        except Exception as e:
            raise ValueError(f"{files[0]}: cannot read image ({e})") from None
        size, channels = size or first_size, channels or (1 if grey else 3)
        arrays = []
        for f in files:
            try:
                arrays.append(load_image(f, size, channels))
            except Exception as e:
                raise ValueError(f"{f}: cannot read image ({type(e).__name__}: {e})") from None
        return torch.from_numpy(np.stack(arrays).astype(np.float32) / 127.5 - 1.0)
    if source.suffix != ".npz":
        raise ValueError(f"{source}: give a .npz file or a folder of images")
    import zipfile
    if not zipfile.is_zipfile(source):  # np.load would talk about pickles for any other bytes
        raise ValueError(f"{source}: not a .npz file (not a zip archive of arrays)")
    try:
        with np.load(source, allow_pickle=False) as f:
            keys = list(f.keys())
            if not keys:
                raise _NpzError(f"{source}: holds no arrays; save the images as 'x' (float in [-1, 1]) "
                                f"or 'uint8'")
            key = "x" if "x" in keys else "uint8" if "uint8" in keys else keys[0] if len(keys) == 1 else None
            if key is None:
                raise _NpzError(f"{source}: holds arrays {keys}; name the images 'x' (float in [-1, 1]) or 'uint8'")
            arr = f[key]
    except _NpzError:
        raise
    except ValueError as e:
        if "allow_pickle" in str(e) or "pickled" in str(e):  # an object array: loading it could run code
            raise ValueError(f"{source}: holds an object array, which is never loaded (unpickling can run "
                             f"code); save the images as a numeric array") from None
        raise ValueError(f"{source}: not a readable .npz file ({e})") from None
    except Exception as e:
        raise ValueError(f"{source}: not a readable .npz file ({type(e).__name__}: {e})") from None
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim == 4 and arr.shape[-1] in (1, 3) and arr.shape[1] not in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)
    if arr.ndim != 4:
        raise ValueError(f"{source}: expected images (N, C, H, W), got shape {arr.shape}")
    if len(arr) == 0:
        raise ValueError(f"{source}: array {key!r} holds 0 images (shape {arr.shape})")
    return as_images(np.ascontiguousarray(arr), f"{source}: array {key!r}", value_range)


class StreamedImages:
    """Images of a data set decoded a batch at a time (issue 19, part 4): the
    reference side of an evaluation, never all in memory as float32.

    data: an ArrayDataset of images; idx: which of its examples (None: all), in
    that order. len() and .shape read like a tensor's; batches(n) yields float32
    (n, C, H, W) in [-1, 1]; materialize() is every image at once, for the
    metrics that read pixels rather than features (ms-ssim, classifier-error)."""

    def __init__(self, data, idx: Optional[torch.Tensor] = None):
        self.data = data
        self.idx = torch.arange(len(data)) if idx is None else torch.as_tensor(idx)

    def __len__(self) -> int:
        return len(self.idx)

    @property
    def shape(self) -> tuple:
        return (len(self.idx), *self.data.shape)

    def batches(self, n: int, keep=lambda i: True):
        """Decoded batches of n; None in place of batch i where keep(i) is False (another rank's)."""
        for b, i in enumerate(range(0, len(self.idx), n)):
            yield self.data.take(self.idx[i:i + n]) if keep(b) else None

    def materialize(self) -> torch.Tensor:
        return torch.cat(list(self.batches(1000))) if len(self) else self.data.take(self.idx)


def pixels(images) -> torch.Tensor:
    """A tensor of images, whether given as one or as StreamedImages."""
    return images.materialize() if isinstance(images, StreamedImages) else images
