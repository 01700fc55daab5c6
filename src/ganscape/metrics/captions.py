"""Caption accuracy of a text-to-image generator on shapes-captions (data/captions.py).

Each generated image was conditioned on a caption of one attribute combination (its label: the
generator's prompt id, the combination's index; `eval` draws the combinations in turn). The renderer's
own parameter recovery (data.shapes.fit_shape: analysis by synthesis) reads the image's shape kind,
centre, size and colour, which data.captions.recover_attributes turns into the four attribute values
(kind as fitted; colour the nearest named colour; size small or large by the gap between their ranges;
position the centre or a quadrant). fit_shape's gates reject any image that is not one clean shape,
which every short run's samples fail on a speck of background noise; so the attributes are read from
a sample's *main shape* (its brightest connected region, the rest blanked; main_shape) with those gates
open, and the strict fit is reported apart as the valid fraction. Exact on the data set's own images
(tests/metrics). Reported, for the combinations held out of training (``heldout``) and for those seen
in training (``seen``):

- caption_{heldout,seen}_{shape,colour,size,position}_accuracy: the fraction of samples whose value read
  from the main shape is the caption's (an empty image counts as wrong on every attribute);
- caption_{heldout,seen}_all_accuracy: all four right;
- caption_valid_fraction: samples that are one clean shape by fit_shape's own gates;
- caption_heldout_fid (when the reference images hold held-out combinations, the test split): FID
  between the features of the samples for held-out captions and of the real held-out images, a
  caption-conditioned FID (small sample sizes: compare runs at the same n only).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

import numpy as np

from ..registry import METRICS, ConfigError, NoParams
from .evaluate import EvalContext

GROUPS = ("heldout", "seen")
PARTS = ("shape", "colour", "size", "position", "all")
RESULTS = tuple(f"caption_{g}_{a}_accuracy" for g in GROUPS for a in PARTS) + ("caption_valid_fraction",
                                                                               "caption_heldout_fid")


def main_shape(image) -> Optional[np.ndarray]:
    """The image (3, S, S) in [-1, 1] cut down to its main shape: the 8-connected region of pixels at least
    half as bright as the brightest (max over channels) with the most coverage, and its one-pixel rim;
    holes in the region take its median colour; everything else black. None for an empty image."""
    from scipy import ndimage
    v = np.clip((np.asarray(image, np.float64) + 1.0) / 2.0, 0.0, 1.0)
    m = v.max(0)
    if not np.isfinite(m).all() or m.max() < 0.2:
        return None
    labels, k = ndimage.label(m >= 0.5 * m.max(), structure=np.ones((3, 3), bool))
    sizes = ndimage.sum(m, labels, index=np.arange(1, k + 1))
    region = labels == 1 + int(np.argmax(sizes))
    keep = ndimage.binary_dilation(region, structure=np.ones((3, 3), bool))
    out = v * keep
    holes = ndimage.binary_fill_holes(region) & ~region
    out[:, holes] = np.median(v[:, region], axis=1)[:, None]
    return out * 2.0 - 1.0


def recovered_attributes(images, image_size: int, kinds: Sequence[str], supersample: int = 4):
    """(strict, read): int64 (N, 4) attribute indices read from images (N, 3, S, S) in [-1, 1].
    strict: data.shapes.fit_shape on the image as it is, -1 where it is not one clean shape (its gates:
    one region, a clean background, one colour, a small residual). read: fit_shape on the image's main
    shape (main_shape) with the background and colour gates open and no residual bound, the values a
    viewer would name for a noisy sample; -1 only for an empty image."""
    from ..data.captions import recover_attributes
    from ..data.shapes import fit_shape
    strict = np.full((len(images), 4), -1, dtype=np.int64)
    read = strict.copy()
    for i, img in enumerate(images):
        img = img.detach().cpu().numpy() if hasattr(img, "detach") else np.asarray(img)
        got = recover_attributes(fit_shape(img, kinds=tuple(kinds), supersample=supersample), image_size)
        if got is not None:
            strict[i] = read[i] = got
            continue
        main = main_shape(img)
        if main is None:
            continue
        got = recover_attributes(fit_shape(main, kinds=tuple(kinds), supersample=supersample, background_tol=1.0,
                                           color_tol=1.0, max_residual=float("inf")), image_size)
        if got is not None:
            read[i] = got
    return strict, read


def attribute_accuracy(recovered: np.ndarray, wanted: np.ndarray) -> Dict[str, float]:
    """{shape, colour, size, position, all: fraction right} of recovered (N, 4) against wanted (N, 4)."""
    if len(wanted) == 0:
        return {}
    right = recovered == wanted
    out = {a: float(right[:, j].mean()) for j, a in enumerate(PARTS[:4])}
    out["all"] = float(right.all(1).mean())
    return out


def caption_accuracy(fake, labels: np.ndarray, info: Dict[str, Any],
                     fid_pair: Optional[tuple] = None) -> Dict[str, float]:
    """The results named in the module docstring. fake (N, 3, S, S) in [-1, 1]; labels (N,) combination
    indices; info the data set's info; fid_pair: (fake features (N, D), real features (M, D), real labels (M,))."""
    table = info["captions"]
    labels = np.asarray(labels, dtype=np.int64)
    strict, rec = recovered_attributes(fake, info["image_size"], info["kinds"], info["supersample"])
    held = np.asarray(table["heldout"], bool)[labels]
    wanted = np.asarray(table["attributes"])[labels]
    out = {"caption_valid_fraction": float((strict[:, 0] >= 0).mean())}
    for group, rows in (("heldout", held), ("seen", ~held)):
        for part, v in attribute_accuracy(rec[rows], wanted[rows]).items():
            out[f"caption_{group}_{part}_accuracy"] = v
    if fid_pair is not None:
        from .fid import fid_from_features
        ff, rf, rl = fid_pair
        real_held = np.asarray(table["heldout"], bool)[np.asarray(rl, dtype=np.int64)]
        if held.sum() >= 2 and real_held.sum() >= 2:
            out["caption_heldout_fid"] = float(fid_from_features(ff[held], rf[real_held]))
    return out


@METRICS.register("caption-accuracy", results=RESULTS)
def _caption_accuracy(p: NoParams, ctx: EvalContext) -> Dict[str, float]:
    """shapes-captions: per-attribute accuracy (shape, colour, size, position) of samples for held-out and seen captions."""
    if "captions" not in ctx.info or "shapes" not in ctx.info:
        raise ConfigError("metric caption-accuracy reads the attributes of shapes-captions samples only; on "
                          "other captioned data (image-folder with attributes) use eval.metrics=[fid]")
    if ctx.fake_labels is None:
        raise ConfigError("metric caption-accuracy needs the caption (combination) each sample was drawn for: "
                          "evaluate a text-conditional run (method gancls) or a class-conditional one on "
                          "shapes-captions (method cgan)")
    fid_pair = None
    if ctx.real_labels is not None:
        fid_pair = (ctx.fake_features().features, ctx.real_features().features, ctx.real_labels.numpy())
    return caption_accuracy(ctx.fake, ctx.fake_labels.numpy(), ctx.info, fid_pair)
