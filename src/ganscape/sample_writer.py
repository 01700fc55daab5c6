"""Writing generated samples to disk as they come (issue 17, item 16).

`ganscape sample -n N --out FILE.npz | DIR` used to hold all N samples in
memory before writing them. Here each batch of metrics.evaluate's
generate_batches goes to disk as soon as it is made, so memory holds one
batch (CHUNK samples), the labels (8 bytes a sample) and, for a folder, the
few images its grid shows. The batches are generate's own (same seed, same
batch size), so the file holds the same samples, bit for bit, as before.

FILE.npz: each array ("x", "uint8", "y", as save_samples writes them) is
filled in an .npy memory map in a temporary folder beside FILE, then the
arrays are deflated into a zip (as np.savez_compressed does) written beside
FILE and renamed over it: a failure or a kill leaves no partial FILE and no
temporary file behind. Before anything is generated, a count whose arrays
cannot fit the disk is refused in one line.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional

import numpy as np
import torch

CHUNK = 500  # samples a batch: generate's default batch size, so the same latent draws as `generate`


def _arrays(x: torch.Tensor, labels: Optional[torch.Tensor]) -> Dict[str, np.ndarray]:
    """The npz arrays of one batch, as save_samples writes them."""
    from .data.base import float_to_uint8
    out = {"x": x.numpy().astype(np.float32)}
    if x.ndim == 4:
        out["uint8"] = float_to_uint8(x)
    if labels is not None:
        out["y"] = labels.numpy().astype(np.int64)
    return out


def npz_bytes(n: int, sample_shape, labelled: bool) -> int:
    """Bytes of the uncompressed arrays of n samples of sample_shape: what the
    memory maps take on disk before they are deflated into the file."""
    per = int(np.prod(sample_shape)) * (4 + (1 if len(sample_shape) == 3 else 0)) + (8 if labelled else 0)
    return n * per


def write_npz(batches: Iterable[torch.Tensor], out: Path, n: int, sample_shape, labels: Optional[torch.Tensor],
              progress: Callable[[int], None] = lambda k: None) -> Path:
    """Write the n samples that `batches` yields (each (b, *sample_shape)) and
    their labels (n,) to `out`, an .npz that np.load reads as save_samples' one."""
    from .resources import check_disk
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    check_disk(out.parent, npz_bytes(n, sample_shape, labels is not None), f"{n} samples in {out.name}",
               "ask for fewer")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        maps: Dict[str, np.ndarray] = {}
        i = 0
        for x in batches:
            arrays = _arrays(x, None if labels is None else labels[i:i + len(x)])
            if not maps:
                for key, a in arrays.items():
                    maps[key] = np.lib.format.open_memmap(tmp / f"{key}.npy", mode="w+", dtype=a.dtype,
                                                          shape=(n, *a.shape[1:]))
            for key, a in arrays.items():
                maps[key][i:i + len(a)] = a
            i += len(x)
            progress(len(x))
        if i != n:
            raise RuntimeError(f"the generator gave {i} samples, not {n}")
        keys = list(maps)
        for m in maps.values():
            m.flush()
        del maps  # the maps are closed before their files are read
        zpath = tmp / "out.npz"
        with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            for key in keys:  # streamed in blocks by zipfile: never whole in memory
                zf.write(tmp / f"{key}.npy", arcname=f"{key}.npy")
        os.replace(zpath, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def write_pngs(batches: Iterable[torch.Tensor], out: Path, grid: Path, labels: Optional[torch.Tensor],
               nrow: Optional[int], n: int, progress: Callable[[int], None] = lambda k: None) -> Path:
    """One PNG per image into folder `out` as the batches come, and their grid
    at `grid` (beside it: api.grid_path), the same files save_samples writes for all n at
    once. Only the images the grid shows are kept: 256, or for rows of nrow
    (one class each) the first 16 of each row. If generation fails, the PNGs
    written so far are removed again (as before: nothing is written)."""
    from PIL import Image

    from . import viz
    from .data.base import float_to_uint8
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = bool(nrow) and n % nrow == 0
    cols = min(nrow, 16) if rows else 0
    shown: List[torch.Tensor] = []
    written: List[Path] = []
    i = 0
    try:
        for x in batches:
            idx = torch.arange(i, i + len(x))
            keep = (idx % nrow < cols) if rows else (idx < 256)
            if keep.any():
                shown.append(x[keep])
            for j, im in enumerate(float_to_uint8(x)):
                a = im.transpose(1, 2, 0)
                k = i + j
                name = f"{k:06d}.png" if labels is None else f"{k:06d}_class{int(labels[k])}.png"
                written.append(out / name)
                Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a).save(out / name)
            i += len(x)
            progress(len(x))
    except BaseException:
        for p in written:
            try:
                p.unlink()
            except OSError:
                pass
        raise
    viz.save_image_grid(torch.cat(shown), grid, nrow=cols if rows else None)
    return out
