"""Memorization that flips and shifts do not hide (issue 20, part 5).

A generator that outputs training images mirrored (the GAN lecture's
example) passes the plain nearest-neighbour check (metrics/memorization.py):
a mirrored digit is far, in pixels, from every training digit. Here the
distance of a generated image to the training set is the smallest over a
group of transformations of the generated image:

- `flips`: the identity and the horizontal mirror (for data with an up, like
  faces and digits);
- `dihedral`: the 8 symmetries of the square (mirrors and 90-degree turns;
  for data with no orientation: textures, aerial or microscope images);

each combined with every shift of up to `shift` pixels in x and y (rolled, so
no pixel is invented).

The threshold is calibrated on held-out real images (the test split, never
trained on): the `quantile` of their invariant distances to the training set.
A generator that samples fresh images like the held-out ones then has about
`quantile` of its samples below it, one that copies (transformed) training
images has nearly all: `fraction_memorized` reads against `quantile`.
Calibrating on held-out images, not on the training set's leave-one-out
distances, puts the memorized-or-not line where new images of the same
distribution actually fall, with the same group applied on both sides.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np
import torch

from .prdc import knn_distances

GROUPS = ("none", "flips", "dihedral")


def transforms(x: torch.Tensor, group: str, shift: int) -> List[torch.Tensor]:
    """The images x (N, C, H, W) under every element of `group` combined with every shift in
    [-shift, shift]^2 (identity first)."""
    if group not in GROUPS:
        raise ValueError(f"group {group!r} is not allowed; choose one of {', '.join(GROUPS)}")
    if shift < 0:
        raise ValueError(f"shift must be >= 0, got {shift}")
    if x.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(x.shape)}")
    base = [x]
    if group in ("flips", "dihedral"):
        base.append(x.flip(-1))
    if group == "dihedral":
        if x.shape[-1] != x.shape[-2]:
            raise ValueError(f"group dihedral needs square images, got {tuple(x.shape[-2:])}")
        base += [torch.rot90(b, k, dims=(-2, -1)) for k in (1, 2, 3) for b in (x, x.flip(-1))]
    out = []
    for b in base:
        for dy in range(-shift, shift + 1):
            for dx in range(-shift, shift + 1):
                out.append(b if dx == dy == 0 else torch.roll(b, shifts=(dy, dx), dims=(-2, -1)))
    return out


def invariant_nn_distances(images, train, group: str = "flips", shift: int = 1) -> np.ndarray:
    """(N,) float64: each image's smallest Euclidean distance to a training image over the group."""
    x, t = torch.as_tensor(images).float(), torch.as_tensor(train).float()
    if x.shape[1:] != t.shape[1:]:
        raise ValueError(f"images {tuple(x.shape[1:])} and training images {tuple(t.shape[1:])} differ in shape")
    ref = t.flatten(1).double().numpy()
    best = np.full(len(x), np.inf)
    for v in transforms(x, group, shift):
        best = np.minimum(best, knn_distances(v.flatten(1).double().numpy(), ref, 1)[:, 0])
    return best


def memorized_fraction(fake, train, heldout, group: str = "flips", shift: int = 1,
                       quantile: float = 0.05) -> Dict[str, float]:
    """The share of generated images closer to the training set (under the group) than all but
    `quantile` of held-out real images are. Returns {"fraction_memorized", "threshold",
    "median_distance", "heldout_median_distance", "quantile"}."""
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must lie in (0, 1), got {quantile}")
    d_held = invariant_nn_distances(heldout, train, group, shift)
    threshold = float(np.quantile(d_held, quantile))
    d = invariant_nn_distances(fake, train, group, shift)
    return {"fraction_memorized": float(np.mean(d <= threshold)), "threshold": threshold,
            "median_distance": float(np.median(d)), "heldout_median_distance": float(np.median(d_held)),
            "quantile": quantile}
