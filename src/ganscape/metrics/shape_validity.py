"""Scores for the synthetic shapes data set, from the ground truth it records.

Each generated image is analysed with `ganscape.data.shapes.fit_shape`
(analysis by synthesis: recover one shape's kind, centre, size and colour, or
reject the image). Reported:

- valid_fraction: generated images that are exactly one clean shape;
- kind_tv: total variation between the generated and the real kind
  histograms (0 = same mix of squares / circles / triangles);
- size_coverage, position_coverage, color_coverage: of the histogram bins that
  the real data occupies (10 size bins, 5 x 5 centre bins, 4^3 colour bins),
  the fraction that valid generated shapes reach; coverage is their mean.

Defined for one shape per image (max_count = 1).
"""
from __future__ import annotations

from typing import Any, Dict

import numpy as np
import torch

from ..registry import ConfigError


def _occupied(values: np.ndarray, edges) -> set:
    idx = [np.clip(np.digitize(values[:, j], e[1:-1]), 0, len(e) - 2) for j, e in enumerate(edges)]
    return set(zip(*[i.tolist() for i in idx]))


def shape_validity(fake: torch.Tensor, info: Dict[str, Any]) -> Dict[str, float]:
    from ..data.shapes import fit_shape

    gt = info["shapes"]
    if np.nanmax(gt["count"]) != 1:
        raise ConfigError("metric shapes is defined for one shape per image (shapes data with max_count=1)")
    kinds = tuple(info["kinds"])
    S = info["image_size"]
    fits = [fit_shape(img, kinds=kinds, supersample=info["supersample"]) for img in fake]
    valid = [f for f in fits if f is not None]
    out = {"shapes_valid_fraction": len(valid) / len(fits)}
    real_kind = np.bincount(gt["kind"][:, 0], minlength=len(kinds)) / len(gt["kind"])
    if not valid:
        out.update(shapes_kind_tv=1.0, shapes_size_coverage=0.0, shapes_position_coverage=0.0,
                   shapes_color_coverage=0.0, shapes_coverage=0.0)
        return out
    gen_kind = np.bincount([kinds.index(f["kind"]) for f in valid], minlength=len(kinds)) / len(valid)
    out["shapes_kind_tv"] = float(0.5 * np.abs(gen_kind - real_kind).sum())
    real = {"size": gt["size"][:, :1], "position": np.stack([gt["cx"][:, 0], gt["cy"][:, 0]], 1),
            "color": np.stack([gt["r"][:, 0], gt["g"][:, 0], gt["b"][:, 0]], 1)}
    gen = {"size": np.array([[f["size"]] for f in valid]),
           "position": np.array([[f["cx"], f["cy"]] for f in valid]),
           "color": np.array([list(f["color"]) + [f["color"][0]] * (3 - len(f["color"])) for f in valid])}
    edges = {"size": [np.linspace(real["size"].min(), real["size"].max() + 1e-9, 11)],
             "position": [np.linspace(0, S, 6)] * 2,
             "color": [np.linspace(0, 1 + 1e-9, 5)] * 3}
    cover = []
    for key in ("size", "position", "color"):
        target = _occupied(real[key], edges[key])
        reached = _occupied(gen[key], edges[key]) & target
        out[f"shapes_{key}_coverage"] = len(reached) / len(target)
        cover.append(out[f"shapes_{key}_coverage"])
    out["shapes_coverage"] = float(np.mean(cover))
    return out
