"""Geometry Score (Khrulkov & Oseledets, ICML 2018; issue 20, part 3).

Does the sample set have the data's topology? The score compares how many
1-dimensional holes (loops) each point cloud shows across scales:

1. Draw `n_landmarks` landmarks L from the points X; every point of X is a
   witness. Build gudhi's (relaxed) witness complex of (L, X) up to the
   filtration value alpha_max = gamma * max_{w in X, l in L} d(w, l), with
   simplices of dimension <= 2, and its persistent homology over Z/2.
2. From the persistence intervals of dimension 1 (loops; an interval that
   never dies ends at alpha_max), the relative living times RLT(i), i = 0 ..
   i_max - 1: the share of [0, alpha_max] during which exactly i loops are
   alive (the paper's formulas (2)-(3)). Counts >= i_max are dropped, so an
   RLT sums to 1 unless more than i_max - 1 loops were ever alive at once.
3. Repeat with `n` fresh landmark draws and average: the mean RLT (MRLT), a
   histogram over the number of loops (the paper's Algorithm 1).
4. The score of two sets (Algorithm 2) is sum_i (MRLT_1(i) - MRLT_2(i))^2:
   the SQUARED L2 distance between the mean RLTs (issue 20 and summaries of
   the paper call it the L2 distance; the official code's `geom_score`
   takes no square root, and neither does this one; the paper's own text
   could not be read here). 0 = the same loop statistics; lower is
   better. Each term is at most 1 and the MRLTs sum to at most 1, so the
   score lies in [0, 2].

Faithful to the official code (KhrulkovV/geometry-score, gs/utils.py:
`witness`, `relative`) in these choices, read there for facts:
- the nearest-landmark table given to gudhi.WitnessComplex holds plain
  Euclidean distances, not the squared ones gudhi's documentation names,
  and alpha_max (gudhi's `max_alpha_square`) is gamma times the largest
  plain witness-landmark distance: filtration values are in distance units;
- gamma defaults to 1/128 * N / 5000 (N = the number of points), i_max to
  100, n_landmarks to 64, homology over Z/2, complexes up to dimension 2
  (the official `rlts` defaults to n = 1000 draws; the paper's experiments
  are said to use 10000, not checked here);
- a set with no loop at all has RLT = (1, 0, ..., 0).

Deviations, all named:
- landmarks are drawn WITHOUT replacement (the official code draws with
  replacement: np.random.choice's default), so no two landmarks coincide;
- landmark draws come from a seeded numpy Generator (the official code uses
  the global numpy state): the same seed gives the same score, and both sets
  of a comparison get the same stream, so a set compared with itself scores
  exactly 0;
- `n` (iterations) defaults to 100 here, not the official 1000 (the
  official notebooks pass 100): 1.5 s per set of 1497 digits features on one CPU core
  at the default gamma (a larger gamma costs more: up to ~5 s a draw for
  1000 points packed in one blob at gamma 1/2);
- geometry_score() first subsamples both sets to one size, the smaller
  set's or `n_points` (2000 by default) if that is smaller (seeded, without
  replacement), because gamma's default grows with N (and the witnesses'
  density with it): on digits-cnn features (64 landmarks, 30 draws), 300
  held-out digits against the 1497 training ones scored 0.22 at their own
  sizes (as far off as Gaussian noise: 0.19) and 0.06 at one size.

Working on 2-D points (ring-8, grid-25) the functions take the points
themselves; on images the registered metric `geometry-score`
(image_metrics.py) takes the evaluation extractor's features.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

import numpy as np

from ..registry import ConfigError

# the official code's defaults (gs/geom_score.py `rlts`); ours differ in n (100) and subsample (n_points)
OFFICIAL_DEFAULTS = {"n_landmarks": 64, "gamma": "1/128 * N / 5000", "i_max": 100, "n": 1000}


def require_gudhi():
    """The gudhi module, or a ConfigError naming the extra that installs it."""
    try:
        import gudhi
    except ImportError:
        raise ConfigError("the geometry score (metric geometry-score) needs gudhi, which is not installed: "
                          "pip install ganscape[topology]  (or: pip install gudhi)") from None
    return gudhi


def default_gamma(n_points: int) -> float:
    """The official code's default gamma for a set of n_points points: 1/128 * N / 5000."""
    return 1.0 / 128 * n_points / 5000


def check_params(n_landmarks: int, gamma: Optional[float], i_max: int, n: int) -> None:
    """Refuse, in one line each, parameters the algorithm cannot use."""
    if isinstance(n_landmarks, bool) or not isinstance(n_landmarks, (int, np.integer)) or n_landmarks < 3:
        raise ValueError(f"n_landmarks must be an integer >= 3 (a loop needs 3 landmarks), got {n_landmarks!r}")
    if gamma is not None and not (isinstance(gamma, (int, float)) and np.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma must be a positive number (alpha_max = gamma * the largest witness-landmark "
                         f"distance) or None for 1/128 * N / 5000, got {gamma!r}")
    if isinstance(i_max, bool) or not isinstance(i_max, (int, np.integer)) or i_max < 2:
        raise ValueError(f"i_max must be an integer >= 2 (RLT of 0 .. i_max - 1 loops), got {i_max!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n (landmark draws) must be an integer >= 1, got {n!r}")


def as_points(x, what: str = "points") -> np.ndarray:
    """x as a finite float64 array (N, D), N >= 3; images or features of any
    trailing shape are flattened to one row each."""
    a = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x, dtype=np.float64)
    if a.ndim < 2:
        raise ValueError(f"{what}: expected an array (N, D) of N points, got shape {a.shape}")
    a = a.reshape(len(a), -1)
    if len(a) < 3:
        raise ValueError(f"{what}: need at least 3 points, got {len(a)}")
    if not np.isfinite(a).all():
        raise ValueError(f"{what}: contains NaN or Inf")
    return a


def relative_living_times(intervals, alpha_max: float, i_max: int = 100) -> np.ndarray:
    """RLT(i), i = 0 .. i_max - 1 (i_max,) float64: the share of [0, alpha_max]
    during which exactly i of the persistence `intervals` (K, 2) [birth,
    death) are alive; a death of inf (or beyond alpha_max) counts as
    alpha_max. Time with i_max or more alive intervals is not counted."""
    if not alpha_max > 0:
        raise ValueError(f"alpha_max must be > 0, got {alpha_max}")
    iv = np.asarray(intervals, dtype=np.float64).reshape(-1, 2)
    out = np.zeros(i_max)
    if len(iv) == 0:
        out[0] = 1.0
        return out
    iv = np.minimum(iv, alpha_max)
    # the number of alive intervals changes only at ends: count it once per piece between two ends
    ends = np.unique(np.concatenate([iv.ravel(), [0.0, alpha_max]]))
    mid = (ends[:-1] + ends[1:]) / 2
    alive = ((iv[:, 0][None, :] <= mid[:, None]) & (mid[:, None] < iv[:, 1][None, :])).sum(1)
    keep = alive < i_max
    np.add.at(out, alive[keep], np.diff(ends)[keep])
    return out / alpha_max


def witness_intervals(points: np.ndarray, landmarks: np.ndarray, gamma: float):
    """Persistence intervals (K, 2) of dimension 1 of the witness complex of
    `landmarks` (L, D) witnessed by `points` (N, D), over Z/2, up to
    alpha_max = gamma * the largest witness-landmark distance; returns
    (intervals, alpha_max)."""
    gudhi = require_gudhi()
    from scipy.spatial.distance import cdist
    d = cdist(points, landmarks)
    alpha_max = gamma * float(d.max())
    if alpha_max <= 0:  # every point in one place: no loop at any scale
        return np.zeros((0, 2)), 0.0
    order = np.argsort(d, axis=1, kind="stable")
    # gudhi wants, per witness, its landmarks nearest first with their distances (plain ones, as the official code)
    table = np.dstack([order.astype(np.float64), np.take_along_axis(d, order, axis=1)])
    st = gudhi.WitnessComplex(nearest_landmark_table=table).create_simplex_tree(
        max_alpha_square=alpha_max, limit_dimension=2)
    st.persistence(homology_coeff_field=2)
    return np.asarray(st.persistence_intervals_in_dimension(1), dtype=np.float64).reshape(-1, 2), alpha_max


def rlt(features, n_landmarks: int = 64, gamma: Optional[float] = None, i_max: int = 100,
        rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """One relative-living-times vector (i_max,) of the point cloud `features`
    (N, D) for one random draw of n_landmarks landmarks (Algorithm 1, one
    iteration). rng: the landmarks' random source (default: seed 0)."""
    check_params(n_landmarks, gamma, i_max, 1)
    x = as_points(features)
    if n_landmarks > len(x):
        raise ValueError(f"n_landmarks ({n_landmarks}) exceeds the number of points ({len(x)})")
    rng = np.random.default_rng(0) if rng is None else rng
    g = default_gamma(len(x)) if gamma is None else float(gamma)
    intervals, alpha_max = witness_intervals(x, x[rng.choice(len(x), size=n_landmarks, replace=False)], g)
    if alpha_max <= 0:
        out = np.zeros(i_max)
        out[0] = 1.0
        return out
    return relative_living_times(intervals, alpha_max, i_max)


def rlts(features, n_landmarks: int = 64, gamma: Optional[float] = None, i_max: int = 100, n: int = 100,
         seed: int = 0, progress: bool = False, desc: str = "geometry score") -> np.ndarray:
    """(n, i_max): the RLTs of n landmark draws from one seeded stream (Algorithm 1)."""
    check_params(n_landmarks, gamma, i_max, n)
    require_gudhi()
    x = as_points(features)
    rng = np.random.default_rng(seed)
    from tqdm.auto import tqdm
    return np.stack([rlt(x, n_landmarks, gamma, i_max, rng)
                     for _ in tqdm(range(n), desc=desc, unit="draw", leave=False, disable=not progress)])


def mean_rlt(features, n_landmarks: int = 64, gamma: Optional[float] = None, i_max: int = 100, n: int = 100,
             seed: int = 0, progress: bool = False) -> np.ndarray:
    """MRLT (i_max,): the mean of rlts(); MRLT(i) is the expected share of
    scales at which the set shows exactly i loops."""
    return rlts(features, n_landmarks, gamma, i_max, n, seed, progress).mean(0)


def score_from_mrlts(mrlt_a, mrlt_b) -> float:
    """Algorithm 2: sum_i (MRLT_a(i) - MRLT_b(i))^2 (squared L2; in [0, 2] for RLT histograms)."""
    a, b = np.asarray(mrlt_a, dtype=np.float64), np.asarray(mrlt_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"mean RLTs must be vectors of one length, got shapes {a.shape} and {b.shape}")
    return float(np.sum((a - b) ** 2))


def subsample(x: np.ndarray, n_points: Optional[int], seed: int) -> np.ndarray:
    """At most n_points rows of x, drawn without replacement (seeded); all of x if n_points is None."""
    if n_points is None or len(x) <= n_points:
        return x
    return x[np.random.default_rng(seed).choice(len(x), size=n_points, replace=False)]


def geometry_score(real_feats, fake_feats, n_landmarks: int = 64, gamma: Optional[float] = None,
                   i_max: int = 100, n: int = 100, n_points: Optional[int] = 2000, seed: int = 0,
                   progress: bool = False) -> Dict[str, object]:
    """The Geometry Score of two point clouds (N, D) and (M, D) (2-D points,
    or features of images), both first subsampled to min(N, M, n_points)
    points (n_points=None: min(N, M)).

    Returns {"geometry_score": float (lower is better), "mrlt_real":
    (i_max,), "mrlt_fake": (i_max,), "mode_real" / "mode_fake": the number
    of loops with the largest mean RLT, "gamma_real" / "gamma_fake": the
    gammas used}. Both sets use the same seed for their landmark draws."""
    check_params(n_landmarks, gamma, i_max, n)
    require_gudhi()
    if n_points is not None and (isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer))
                                 or n_points < n_landmarks):
        raise ValueError(f"n_points must be None or an integer >= n_landmarks ({n_landmarks}), got {n_points!r}")
    real, fake = as_points(real_feats, "real points"), as_points(fake_feats, "generated points")
    # one size for both: gamma's default (and the density of witnesses) depends on it
    m = min(len(real), len(fake)) if n_points is None else min(len(real), len(fake), n_points)
    real, fake = subsample(real, m, seed), subsample(fake, m, seed)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real points have {real.shape[1]} dimensions but generated ones {fake.shape[1]}")
    for what, x in (("real", real), ("generated", fake)):
        if len(x) < n_landmarks:
            raise ValueError(f"{what} points: {len(x)} is fewer than n_landmarks ({n_landmarks})")
    m_real = rlts(real, n_landmarks, gamma, i_max, n, seed, progress, "geometry score (real)").mean(0)
    m_fake = rlts(fake, n_landmarks, gamma, i_max, n, seed, progress, "geometry score (generated)").mean(0)
    return {"geometry_score": score_from_mrlts(m_real, m_fake), "mrlt_real": m_real, "mrlt_fake": m_fake,
            "mode_real": int(np.argmax(m_real)), "mode_fake": int(np.argmax(m_fake)),
            "gamma_real": default_gamma(len(real)) if gamma is None else float(gamma),
            "gamma_fake": default_gamma(len(fake)) if gamma is None else float(gamma)}


def plot_mrlts(mrlts: Mapping[str, Sequence[float]], path=None, ax=None, max_loops: Optional[int] = None,
               title: str = ""):
    """Mean-RLT histograms (the paper's figures): one step outline and
    translucent bars per labelled MRLT, the number of loops on x; the first
    entry (the real data) is drawn as a dashed black outline. Draws on
    `ax` (or a new figure); writes `path` if given; returns the axes."""
    if not mrlts:
        raise ValueError("plot_mrlts: give at least one labelled mean RLT")
    import matplotlib
    if ax is None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 3.2))
    longest = max(len(np.asarray(m)) for m in mrlts.values())
    if max_loops is None:  # up to the last count any curve gives visible weight
        used = [int(np.nonzero(np.asarray(m) > 1e-3)[0].max(initial=0)) for m in mrlts.values()]
        max_loops = min(longest, max(used) + 2)
    for k, (label, m) in enumerate(mrlts.items()):
        y = np.asarray(m, dtype=np.float64)[:max_loops]
        x = np.arange(len(y))
        first = k == 0  # the reference (real data): a black dashed outline on top of the others, no fill
        color = "black" if first else f"C{k - 1}"
        if not first:
            ax.bar(x, y, width=1.0, alpha=0.2, color=color)
        ax.step(np.r_[x - 0.5, x[-1] + 0.5], np.r_[y, y[-1]], where="post", color=color, lw=2,
                ls="--" if first else "-", zorder=3 if first else 2, label=label)
    ax.set_xlabel("number of 1-dimensional holes (loops) i")
    ax.set_ylabel("mean relative living time")
    ax.set_xlim(-0.5, max_loops - 0.5)
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # loop counts are whole numbers
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    if path is not None:
        (fig or ax.figure).tight_layout()
        (fig or ax.figure).savefig(path, dpi=120)
        if fig is not None:
            plt.close(fig)
    return ax
