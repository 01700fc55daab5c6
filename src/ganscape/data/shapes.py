"""Synthetic shapes: images with known ground truth, to study learnability.

Each image is a black square canvas holding a few flat-coloured shapes. Every
factor of variation is a parameter (which kinds of shape, how many, how big,
where, which colours), so one can ask how a GAN's quality and mode coverage
change as the data set gets harder, and check each generated image against
what a valid image looks like (``fit_shape``).

Geometry (all in pixel units, continuous coordinates: the image covers
[0, S] x [0, S], pixel (i, j) is the unit square [j, j+1] x [i, i+1], so its
centre is (j + 0.5, i + 0.5); y grows downwards):

- every shape has a centre (cx, cy) and a size s, the side of its s x s
  axis-aligned bounding box, centred on (cx, cy); shapes are not rotated;
- square: the bounding box itself (area s^2);
- circle: the disc of diameter s (area pi s^2 / 4);
- triangle: isosceles, apex up, base s along the bottom of the box and height s
  (area s^2 / 2).

Rendering: each pixel's coverage by a shape is the fraction of a
``supersample`` x ``supersample`` grid of points inside it that lie inside the
shape (4 x 4 by default), so edges are smooth (anti-aliased) and sub-pixel
positions are visible. Shapes are painted in order with "over" compositing
(pixel = (1 - coverage) * pixel + coverage * colour), so later shapes occlude
earlier ones where they overlap.

Sampling (per image): the count is uniform in [min_count, max_count]; for each
shape the kind is uniform over ``kinds``, the size s is uniform in
[min_size, max_size] times the image side, each colour channel is uniform in
[color_min, color_max] (so color_min = color_max = 1 gives white shapes), and
the centre is ``S/2 + position_jitter * u * (S - s)/2`` with u uniform in
[-1, 1] on each axis: jitter 1 places the shape anywhere it fits, jitter 0
always at the centre of the image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..registry import DATASETS, ConfigError
from .base import ArrayDataset
from .base import split_count
from .base import split_rng as base_split_rng

SHAPE_KINDS: Tuple[str, ...] = ("square", "circle", "triangle")

# Area of each kind as a fraction of its s x s bounding box.
AREA_FRACTION: Dict[str, float] = {"square": 1.0, "circle": math.pi / 4.0, "triangle": 0.5}

# Salt mixed into the seed so shapes draws never coincide with another data
# set's draws made from the same run seed.
_SALT = 0x5A9E

# Upper bound on sub-sample points evaluated at once while rendering (memory).
_CHUNK_POINTS = 1 << 22


@dataclass(frozen=True)
class ShapesParams:
    size: int = 32  # image side S in pixels
    n: int = 10000  # images in the train split
    n_test: Optional[int] = None  # images in the test split; None means n // 5
    kinds: Tuple[str, ...] = SHAPE_KINDS  # shape kinds drawn from, a subset of SHAPE_KINDS
    min_count: int = 1  # shapes per image, uniform in [min_count, max_count]
    max_count: int = 1
    min_size: float = 0.25  # shape size (bounding-box side) as a fraction of S
    max_size: float = 0.5
    position_jitter: float = 1.0  # 0 = always centred, 1 = anywhere the shape fits
    color_min: float = 0.25  # each RGB channel uniform in [color_min, color_max], 0..1 scale
    color_max: float = 1.0
    supersample: int = 4  # anti-aliasing: supersample^2 coverage samples per pixel

    def validate(self, where: str) -> None:
        if not 8 <= self.size <= 256:
            raise ConfigError(f"{where}.size: {self.size} is not allowed; use 8 to 256 pixels")
        if self.n < 1:
            raise ConfigError(f"{where}.n: must be a positive number of images, got {self.n}")
        if self.n_test is not None and self.n_test < 1:
            raise ConfigError(f"{where}.n_test: must be a positive number of images or null, got {self.n_test}")
        if self.n_test is None and self.n // 5 < 1:
            raise ConfigError(f"{where}.n: n // 5 test images would be none; use n >= 5 or set n_test")
        if not self.kinds:
            raise ConfigError(f"{where}.kinds: give at least one of {', '.join(SHAPE_KINDS)}")
        for k in self.kinds:
            if k not in SHAPE_KINDS:
                raise ConfigError(f"{where}.kinds: {k!r} is not allowed; choose from {', '.join(SHAPE_KINDS)}")
        if len(set(self.kinds)) != len(self.kinds):
            raise ConfigError(f"{where}.kinds: {list(self.kinds)} names a kind twice")
        if not 1 <= self.min_count <= self.max_count <= 16:
            raise ConfigError(
                f"{where}.min_count/max_count: need 1 <= min_count <= max_count <= 16, "
                f"got {self.min_count} and {self.max_count}")
        if not 0.0 < self.min_size <= self.max_size <= 1.0:
            raise ConfigError(
                f"{where}.min_size/max_size: need 0 < min_size <= max_size <= 1 (fractions of the "
                f"image side), got {self.min_size} and {self.max_size}")
        if self.min_size * self.size < 1.0:
            raise ConfigError(
                f"{where}.min_size: shapes of {self.min_size * self.size:.2f} px are below one pixel; "
                f"use min_size >= {1.0 / self.size:.4f}")
        if not 0.0 <= self.position_jitter <= 1.0:
            raise ConfigError(f"{where}.position_jitter: must lie in [0, 1], got {self.position_jitter}")
        if not 0.0 < self.color_min <= self.color_max <= 1.0:
            raise ConfigError(
                f"{where}.color_min/color_max: need 0 < color_min <= color_max <= 1 (shapes must be "
                f"brighter than the black background), got {self.color_min} and {self.color_max}")
        if not 1 <= self.supersample <= 8:
            raise ConfigError(f"{where}.supersample: must be 1 to 8, got {self.supersample}")

    def count(self, split: str) -> int:
        """Number of images in `split`."""
        return split_count(self.n, self.n_test, split)


def split_rng(seed: int, split: str) -> np.random.Generator:
    """This data set's stream for `split` (see data.base.split_rng)."""
    return base_split_rng(_SALT, seed, split)


def sample_shapes(params: ShapesParams, n: int, rng: np.random.Generator) -> Dict[str, np.ndarray]:
    """Draw the ground truth of `n` images (see the module docstring for the law).

    Returns a dict of arrays with K = params.max_count shape slots per image:
    "count" int64 (n,); "kind" int64 (n, K), an index into params.kinds, -1 for
    an unused slot; "cx", "cy", "size" float64 (n, K) in pixels and "r", "g",
    "b" float64 (n, K) in [0, 1], NaN for an unused slot.
    """
    S, K = float(params.size), params.max_count
    count = rng.integers(params.min_count, params.max_count + 1, size=n)
    kind = rng.integers(0, len(params.kinds), size=(n, K))
    size = rng.uniform(params.min_size, params.max_size, size=(n, K)) * S
    u = rng.uniform(-1.0, 1.0, size=(n, K, 2))
    half_range = (S - size) / 2.0  # how far the centre may move and the shape still fit
    cx = S / 2.0 + params.position_jitter * u[..., 0] * half_range
    cy = S / 2.0 + params.position_jitter * u[..., 1] * half_range
    rgb = rng.uniform(params.color_min, params.color_max, size=(n, K, 3))

    unused = np.arange(K)[None, :] >= count[:, None]
    kind[unused] = -1
    out = {"count": count.astype(np.int64), "kind": kind.astype(np.int64)}
    for name, value in (("cx", cx), ("cy", cy), ("size", size),
                        ("r", rgb[..., 0]), ("g", rgb[..., 1]), ("b", rgb[..., 2])):
        value = value.astype(np.float64)
        value[unused] = np.nan
        out[name] = value
    return out


def _inside(kind: str, x: np.ndarray, y: np.ndarray, cx: np.ndarray, cy: np.ndarray,
            s: np.ndarray) -> np.ndarray:
    """Boolean mask of the points (x, y) inside shape `kind` (broadcasting)."""
    dx, dy = x - cx, y - cy
    h = s / 2.0
    if kind == "square":
        return (np.abs(dx) <= h) & (np.abs(dy) <= h)
    if kind == "circle":
        return dx * dx + dy * dy <= h * h
    if kind == "triangle":
        depth = dy + h  # distance below the apex
        return (depth >= 0) & (dy <= h) & (np.abs(dx) <= depth / 2.0)
    raise ValueError(f"unknown shape kind {kind!r}; choose one of {', '.join(SHAPE_KINDS)}")


def render_shapes(kind: np.ndarray, cx: np.ndarray, cy: np.ndarray, size: np.ndarray,
                  color: np.ndarray, image_size: int, kinds: Sequence[str] = SHAPE_KINDS,
                  supersample: int = 4) -> np.ndarray:
    """Render shapes on black canvases; a pure function of its arguments.

    kind: int (N, K), index into `kinds`, -1 for an empty slot (skipped).
    cx, cy, size: float (N, K), centre and bounding-box side in pixels.
    color: float (N, K, 3) in [0, 1].
    Returns float32 (N, 3, image_size, image_size) in [0, 1]; slots are painted
    in order 0..K-1 with "over" compositing, each pixel's coverage measured on a
    supersample x supersample grid of points.
    """
    kind = np.asarray(kind)
    cx, cy, size = (np.asarray(a, dtype=np.float64) for a in (cx, cy, size))
    color = np.asarray(color, dtype=np.float64)
    if kind.ndim != 2 or cx.shape != kind.shape or cy.shape != kind.shape or size.shape != kind.shape:
        raise ValueError(
            f"kind, cx, cy and size must all have shape (N, K); got {kind.shape}, {cx.shape}, "
            f"{cy.shape}, {size.shape}")
    if color.shape != kind.shape + (3,):
        raise ValueError(f"color must have shape (N, K, 3) = {kind.shape + (3,)}, got {color.shape}")
    if kind.size and (kind.min() < -1 or kind.max() >= len(kinds)):
        raise ValueError(f"kind indices must lie in -1..{len(kinds) - 1} (kinds = {tuple(kinds)})")
    if int(supersample) < 1:
        raise ValueError(f"supersample must be >= 1, got {supersample}")
    used = kind >= 0
    if not (np.isfinite(cx[used]).all() and np.isfinite(cy[used]).all() and np.isfinite(size[used]).all()
            and (size[used] > 0).all()):
        raise ValueError("every used slot (kind >= 0) needs a finite centre and a positive finite size")
    n, n_slots = kind.shape
    S, ss = int(image_size), int(supersample)
    # Channels-last while painting, so each gathered window is contiguous per pixel.
    out = np.zeros((n, S, S, 3), dtype=np.float32)
    offsets = (np.arange(ss, dtype=np.float64) + 0.5) / ss  # sub-sample points inside a pixel
    for k in range(n_slots):
        for kind_id, name in enumerate(kinds):
            rows = np.flatnonzero(kind[:, k] == kind_id)
            if len(rows) == 0:
                continue
            # Only pixels near a shape can be covered: evaluate a W x W window
            # around each one (W from the largest shape) instead of the canvas.
            W = min(S, int(np.ceil(size[rows, k].max())) + 2)
            chunk = max(1, _CHUNK_POINTS // (W * ss) ** 2)
            for start in range(0, len(rows), chunk):
                r = rows[start:start + chunk]
                x0 = np.clip(np.floor(cx[r, k] - size[r, k] / 2.0).astype(np.int64), 0, S - W)
                y0 = np.clip(np.floor(cy[r, k] - size[r, k] / 2.0).astype(np.int64), 0, S - W)
                local = (np.arange(W)[:, None] + offsets[None, :]).reshape(-1)  # (W * ss,)
                X = (x0[:, None] + local[None, :])[:, None, :]  # (B, 1, W * ss)
                Y = (y0[:, None] + local[None, :])[:, :, None]  # (B, W * ss, 1)
                col = lambda a: a[r, k][:, None, None]  # noqa: E731 - (B, 1, 1) for broadcasting
                mask = _inside(name, X, Y, col(cx), col(cy), col(size))
                hits = mask.reshape(len(r), W, ss, W, ss).sum(axis=(2, 4), dtype=np.int32)
                cov = (hits.astype(np.float32) / np.float32(ss * ss))[..., None]  # (B, W, W, 1)
                bi = r[:, None, None]
                yi = (y0[:, None] + np.arange(W))[:, :, None]
                xi = (x0[:, None] + np.arange(W))[:, None, :]
                paint = color[r, k].astype(np.float32)[:, None, None, :]  # (B, 1, 1, 3)
                out[bi, yi, xi] = out[bi, yi, xi] * (1.0 - cov) + cov * paint
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def render_ground_truth(info: Dict[str, Any]) -> np.ndarray:
    """Re-render a shapes data set from its ``info``: float32 (N, 3, S, S) in [0, 1]."""
    gt = info["shapes"]
    color = np.stack([gt["r"], gt["g"], gt["b"]], axis=-1)
    return render_shapes(gt["kind"], gt["cx"], gt["cy"], gt["size"], color,
                         info["image_size"], info["kinds"], info["supersample"])


@DATASETS.register("shapes", params=ShapesParams, extractor="random-conv", metrics=("fid", "kid", "prdc", "shapes"))
def shapes(params: ShapesParams, split: str, seed: int = 0) -> ArrayDataset:
    """Synthetic coloured squares, circles and triangles with per-image ground truth."""
    gt = sample_shapes(params, params.count(split), split_rng(seed, split))
    info: Dict[str, Any] = {
        "shapes": gt,
        "kinds": tuple(params.kinds),
        "image_size": params.size,
        "supersample": params.supersample,
        "ranges": {
            "count": (params.min_count, params.max_count),
            "size": (params.min_size, params.max_size),  # fractions of the image side
            "position_jitter": params.position_jitter,
            "color": (params.color_min, params.color_max),
        },
    }
    x = torch.from_numpy(render_ground_truth(info)) * 2.0 - 1.0
    # With one shape per image its kind is a natural class label.
    y = torch.from_numpy(gt["kind"][:, 0].copy()) if params.max_count == 1 else None
    return ArrayDataset(x=x.contiguous(), kind="image", y=y,
                        num_classes=len(params.kinds) if y is not None else 0, info=info)


def fit_shape(image: Any, kinds: Sequence[str] = SHAPE_KINDS, supersample: int = 4,
              min_peak: float = 0.2, background_tol: float = 0.1, color_tol: float = 0.1,
              max_residual: float = 0.1) -> Optional[Dict[str, Any]]:
    """Recover the one shape in an image, or None if it is not a valid one-shape image.

    image: (C, S, S) array or tensor, C in (1, 3), values in [-1, 1] (as in the
    data sets; black background = -1).

    Analysis by synthesis. With v = (image + 1) / 2 and m its per-pixel maximum
    over channels, the image is rejected (None) when: it is empty (max m below
    `min_peak`); its foreground (m at least half the shape's brightness) is not
    one 8-connected region, or has holes; anything brighter than
    `background_tol` lies more than one pixel away from the foreground; or the
    interior (foreground eroded by one pixel) is not one colour (90% of its
    pixels within `color_tol` of the median colour on every channel). Otherwise
    the coverage map m / brightness gives the area A and the centroid, from
    which each kind's size and centre follow exactly (square s = sqrt(A),
    circle s = sqrt(4A / pi), triangle s = sqrt(2A) with its centroid s/6 below
    the box centre); each candidate is re-rendered and the one with the least
    L1 coverage error wins. The image is rejected when even that error exceeds
    `max_residual` times A. (Calibration on 32 x 32 images: exact renders of
    shapes 3 to 19 px score below 0.03 and are classified 100% right; a 1.1:1
    rectangle scores 0.09, a square rotated by 20 degrees 0.18, a diamond 0.17,
    a 2:1 ellipse 0.43, two touching squares 0.52.)

    Returns {"kind": name, "cx", "cy", "size": pixels (same geometry as
    render_shapes), "color": tuple of C floats in [0, 1], "residual": the best
    relative L1 error, "residuals": {kind: error}}.
    """
    from scipy import ndimage

    v = image.detach().cpu().double().numpy() if isinstance(image, torch.Tensor) else np.asarray(image, np.float64)
    if v.ndim != 3 or v.shape[0] not in (1, 3) or v.shape[1] != v.shape[2]:
        raise ValueError(f"fit_shape expects one square image (C, S, S) with C = 1 or 3, got shape {v.shape}")
    if not kinds or any(k not in SHAPE_KINDS for k in kinds):
        raise ValueError(f"kinds must be a non-empty subset of {SHAPE_KINDS}, got {tuple(kinds)}")
    v = np.clip((v + 1.0) / 2.0, 0.0, 1.0)
    S = v.shape[-1]
    m = v.max(axis=0)
    peak = m.max()
    if not np.isfinite(peak) or peak < min_peak:
        return None

    eight = np.ones((3, 3), dtype=bool)
    fg = m >= 0.5 * peak  # pixels at least half covered
    _, n_regions = ndimage.label(fg, structure=eight)
    if n_regions != 1:
        return None
    near = ndimage.binary_dilation(fg, structure=eight)  # foreground plus its partly covered rim
    if (~near).any() and m[~near].max() > background_tol:
        return None
    if (ndimage.binary_fill_holes(fg) != fg).any():
        return None

    interior = ndimage.binary_erosion(fg)  # 4-neighbourhood: pixels fully inside the edge
    if interior.sum() < 1:
        interior = m >= 0.9 * peak  # a tiny shape with no interior: use its brightest pixels
    pixels = v[:, interior]  # (C, P)
    color = np.median(pixels, axis=1)
    if np.quantile(np.abs(pixels - color[:, None]).max(axis=0), 0.9) > color_tol:
        return None
    brightness = color.max()
    if brightness < min_peak:
        return None

    cov = np.clip(m / brightness, 0.0, 1.0) * near
    area = cov.sum()
    centres = np.arange(S) + 0.5
    mx = float((cov.sum(axis=0) * centres).sum() / area)
    my = float((cov.sum(axis=1) * centres).sum() / area)

    residuals: Dict[str, float] = {}
    candidates: Dict[str, Tuple[float, float, float]] = {}
    for name in kinds:
        s = math.sqrt(area / AREA_FRACTION[name])
        cy = my - s / 6.0 if name == "triangle" else my
        candidates[name] = (mx, cy, s)
        model = render_shapes(np.array([[0]]), np.array([[mx]]), np.array([[cy]]), np.array([[s]]),
                              np.ones((1, 1, 3)), S, (name,), supersample)[0, 0]
        residuals[name] = float(np.abs(cov - model).sum() / area)
    best = min(residuals, key=residuals.get)
    if residuals[best] > max_residual:
        return None
    cx, cy, s = candidates[best]
    return {"kind": best, "cx": cx, "cy": cy, "size": s, "color": tuple(float(c) for c in color),
            "residual": residuals[best], "residuals": residuals}


def fit_shapes(images: Any, **kwargs: Any) -> List[Optional[Dict[str, Any]]]:
    """``fit_shape`` on each image of an (N, C, S, S) batch; kwargs as fit_shape."""
    return [fit_shape(img, **kwargs) for img in images]
