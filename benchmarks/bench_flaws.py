"""Ordered flaws (metrics/flaws.py) on generators whose flaws are planted, with
the ground truth saying what each flaw is:

- shapes (32 x 32, one shape per image): real = the renderer's honest samples;
  "no triangles" = the same renderer with triangles removed from its kinds;
  "large triangles" = honest samples whose triangles are drawn 1.6x too large
  (centres moved so they still fit). Features: the data set's default
  extractor (random-conv, 256-d).
- digits: the 1797 digits split at random into halves; real = one half,
  "no 7s" = the other half with every 7 removed. Features: the data set's
  default extractor (digits-cnn, 128-d).

For each: the ordered flaws (accuracy before each removal, drop, share) under
both removal rules, and what the top examples along flaw 1 are (the share of
triangles / 7s among them against their share in the data). Figures:
docs/flaws_shapes.png (no triangles), docs/flaws_shapes_large.png (large
triangles), docs/flaws_digits.png; the table: docs/bench_flaws.txt.

    python benchmarks/bench_flaws.py [--n 2000] [--k 4] [--top 16] [--out docs]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from ganscape.data.shapes import ShapesParams, render_shapes, sample_shapes, split_rng
from ganscape.metrics.evaluate import build_extractor, default_extractor
from ganscape.metrics.features.base import extract
from ganscape.metrics.flaws import REMOVALS, flaws_figure, flaws_table, ordered_flaws
from ganscape.registry import DATASETS

TRIANGLE = 2  # index of "triangle" in the default kinds
WIDE = 100    # the shares are also measured over this many top examples


def render(gt, params: ShapesParams) -> torch.Tensor:
    color = np.stack([gt["r"], gt["g"], gt["b"]], axis=-1)
    x = render_shapes(gt["kind"], gt["cx"], gt["cy"], gt["size"], color, params.size, params.kinds,
                      params.supersample)
    return torch.from_numpy(x) * 2.0 - 1.0


def shapes_sets(n: int, seed: int):
    """Real, no-triangle and large-triangle images with each image's kind and size (pixels)."""
    params = ShapesParams(size=32, n=n)
    real_gt = sample_shapes(params, n, split_rng(seed, "train"))
    no_tri = ShapesParams(size=32, n=n, kinds=("square", "circle"))
    nt_gt = sample_shapes(no_tri, n, split_rng(seed, "test"))
    large_gt = sample_shapes(params, n, split_rng(seed + 1, "test"))
    tri = large_gt["kind"] == TRIANGLE
    S = float(params.size)
    old = large_gt["size"].copy()
    new = np.where(tri, np.minimum(old * 1.6, 0.95 * S), old)
    for c in ("cx", "cy"):  # keep the drawn offset's fraction of the room left, so the shape still fits
        large_gt[c] = S / 2 + (large_gt[c] - S / 2) * (S - new) / (S - old)
    large_gt["size"] = new
    sets = {"real": (render(real_gt, params), real_gt), "no triangles": (render(nt_gt, params), nt_gt),
            "large triangles": (render(large_gt, params), large_gt)}
    return {k: (x, gt["kind"][:, 0], gt["size"][:, 0]) for k, (x, gt) in sets.items()}


def features(name: str, images: torch.Tensor) -> np.ndarray:
    ext = build_extractor(default_extractor(name), dataset=name)
    with torch.no_grad():
        return extract(ext, images, batch_size=256, progress=True).features.astype(np.float64)


def report(lines, title, fake_f, real_f, k, top, describe):
    lines.append(f"\n## {title}")
    results = {}
    for removal in REMOVALS:
        t0 = time.perf_counter()
        out = ordered_flaws(fake_f, real_f, k=k, top=max(top, WIDE), removal=removal)
        lines.append(f"\nremoval={removal} ({time.perf_counter() - t0:.1f} s)")
        lines.append(flaws_table(out))
        for f in out["flaws"]:
            lines.append(f"  flaw {f.index}: " + describe(f))
        results[removal] = out
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="shapes images per set")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--top", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("docs"))
    a = ap.parse_args()
    t_start = time.perf_counter()
    lines = [f"bench_flaws.py --n {a.n} --k {a.k} --top {a.top} --seed {a.seed}"]

    # shapes
    sets = shapes_sets(a.n, a.seed)
    feats = {name: features("shapes", x) for name, (x, _, _) in sets.items()}
    x_real, kind_real, size_real = sets["real"]
    lines.append(f"shapes: {a.n} images per set, features {default_extractor('shapes')} "
                 f"({feats['real'].shape[1]}-d); triangles are {np.mean(kind_real == TRIANGLE):.1%} of real images")

    def tri_share(f, fake_kind):
        return "; ".join(f"triangles among top {t} real {np.mean(kind_real[f.top_real[:t]] == TRIANGLE):.0%}, "
                         f"generated {np.mean(fake_kind[f.top_fake[:t]] == TRIANGLE):.0%}" for t in (a.top, WIDE))
    _, nt_kind, _ = sets["no triangles"]
    res = report(lines, "shapes, a generator that never draws triangles", feats["no triangles"], feats["real"],
                 a.k, a.top, lambda f: tri_share(f, nt_kind))
    flaws_figure(res["project"], x_real, sets["no triangles"][0], a.out / "flaws_shapes.png", n=a.top,
                 title="shapes, generator never draws triangles: top real (left) / generated (right) per flaw")

    x_large, large_kind, large_size = sets["large triangles"]
    tri_sizes = large_size[large_kind == TRIANGLE]
    lines.append(f"\n(large triangles: triangle size {tri_sizes.mean():.1f} px on average against "
                 f"{size_real[kind_real == TRIANGLE].mean():.1f} px in real images)")

    def large_desc(f):
        top_tri = f.top_fake[:a.top][large_kind[f.top_fake[:a.top]] == TRIANGLE]
        size = f"{large_size[top_tri].mean():.1f} px" if len(top_tri) else "-"
        return tri_share(f, large_kind) + f"; top {a.top} generated triangles' mean size {size}"
    res = report(lines, "shapes, a generator that draws triangles 1.6x too large", feats["large triangles"],
                 feats["real"], a.k, a.top, large_desc)
    flaws_figure(res["project"], x_real, x_large, a.out / "flaws_shapes_large.png", n=a.top,
                 title="shapes, generator draws triangles too large: top real (left) / generated (right)")

    # digits
    train = DATASETS.build("digits", {"size": 8}, "train")
    test = DATASETS.build("digits", {"size": 8}, "test")
    x_all = torch.cat([train.floats(), test.floats()])
    y_all = torch.cat([train.y, test.y]).numpy()
    perm = np.random.default_rng(a.seed).permutation(len(x_all))
    real_i, fake_i = perm[: len(perm) // 2], perm[len(perm) // 2:]
    fake_i = fake_i[y_all[fake_i] != 7]
    f_all = features("digits", x_all)
    y_real, y_fake = y_all[real_i], y_all[fake_i]
    lines.append(f"\ndigits: real {len(real_i)} digits ({np.mean(y_real == 7):.1%} 7s), generated {len(fake_i)} "
                 f"(no 7s), features {default_extractor('digits')} ({f_all.shape[1]}-d)")

    def digit_desc(f):
        return (f"7s among top {a.top} real {np.mean(y_real[f.top_real[:a.top]] == 7):.0%}, among top {WIDE} "
                f"{np.mean(y_real[f.top_real] == 7):.0%}; top real classes {''.join(map(str, y_real[f.top_real[:a.top]]))}"
                f", top generated {''.join(map(str, y_fake[f.top_fake[:a.top]]))}")
    res = report(lines, "digits, a generator that never draws 7", f_all[fake_i], f_all[real_i], a.k, a.top,
                 digit_desc)
    flaws_figure(res["project"], x_all[real_i], x_all[fake_i], a.out / "flaws_digits.png", n=a.top,
                 title="digits, generator never draws 7: top real (left) / generated (right) per flaw")

    lines.append(f"\ntotal {time.perf_counter() - t_start:.0f} s")
    text = "\n".join(lines) + "\n"
    print(text)
    (a.out / "bench_flaws.txt").write_text(text)


if __name__ == "__main__":
    main()
