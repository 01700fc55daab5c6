"""Ordered flaws of a generator: a classifier two-sample test repeated with
each found direction projected out (the "Gram-Schmidt procedure for
critics" suggested in Odena, "Open Questions about GANs", Distill 2019,
section on evaluation).

Procedure (real = label 1, generated = label 0):

1. The C2ST protocol of c2st.py: the larger set is subsampled to the size
   of the smaller (chance = 0.5), a stratified split holds out
   `test_fraction` of each class, features are standardised with the
   training part's mean and standard deviation (a constant feature keeps
   scale 1), and the same seed gives the same subsample, split and first
   classifier as ``c2st_accuracy(fake, real, seed=seed)`` (tested: the
   first accuracy here equals it).
2. Step i = 1..k: fit L2-regularised logistic regression (C = 1, as
   c2st.py) on the training part of the current standardised features;
   its held-out accuracy is `accuracy` of flaw i. The classifier is linear,
   so it is a threshold on one score, w . z: the flaw is the unit vector
   w / |w| (in standardised space), made orthogonal to the earlier flaws'
   vectors (which the fit already is up to solver tolerance: the data have
   no variance along them). Then every feature vector, training and
   held-out, has its component along the flaw removed,
   z <- z - (z . u) u, and the next step starts.
3. One more fit after the k-th removal gives the residual accuracy; the
   `drop` of flaw i is accuracy_i - accuracy_{i+1}, its `share` the drop
   over the first accuracy's excess over chance, accuracy_1 - 0.5.

Why linear: a direction must exist to be projected out. A linear
classifier's decision is one direction in feature space, so "remove what
the classifier used" is a projection and the steps are Gram-Schmidt; a
non-linear classifier (c2st.py's "mlp") has no such direction, and what it
used cannot be removed from the features by a projection.

What is reported for each flaw (``ordered_flaws``): its index (1 = the
largest), the held-out accuracy before its removal with the one-sided
binomial p-value against chance (the accuracy of the score along this
direction alone), the drop and share, two unit vectors (below) in
the caller's (unstandardised) feature space, and the indices into the
given `real` and `fake` arrays of the examples furthest along it: the
real ones the classifier finds most real (what the generator fails to
make) and the generated ones it finds most generated (what it makes that
the data lacks). All samples are ranked, not only the held-out ones; the
score of a sample is its position along the direction in the features the
flaw was found in (under "project" earlier removals do not change it, the
directions being orthogonal).

What a linear procedure can and cannot separate (measured in
tests/metrics/test_flaws.py): the classifier's information is the
difference of the class means, so two mean shifts that one linear score
can use together are found together. Shifts along two different features
come out as two flaws, in order of size, because the standardisation
divides each feature by its standard deviation over both classes (which a
shift inflates), so the first classifier leans on the most shifted feature
and the projection leaves the other (3 and 0.6 standard deviations: flaw 1
along the first with cosine > 0.95, flaw 2 along the second, then chance).
The same two shifts along directions that mix features are one flaw: the
first direction is their sum and its accuracy is the Bayes accuracy
Phi(|shift| / 2) of the two Gaussians. Image features are non-Gaussian and
correlated, and their flaws (a missing class, wrong sizes) are shifts of
sub-populations, so several directions are found; read the later ones
with the top examples, not as independent causes.

Choices not fixed by the article (deviations):
- Two vectors in the caller's features describe each flaw: `direction`,
  sd * u normalised, along which the removal moves the samples (the
  removal is the orthogonal projection in standardised space, in the
  caller's features the oblique x <- x - sd * u (u . (x - mean) / sd)), and
  `normal`, u / sd normalised, the classifier's weight vector mapped back
  (w . z = (w / sd) . x + const: the gradient of the score). They agree
  when all features have one scale. Neither is orthogonal between flaws in
  the caller's coordinates; the standardised u are.
- Orthogonal projection (removal="project", the default: the article's
  Gram-Schmidt) removes the score w . z, not everything linearly
  correlated with it. In redundant features (a CNN's) the same flaw is
  then found again and again, each removal dropping the accuracy a
  little (benchmarks/bench_flaws.py: a generator without triangles, flaw
  1 drops it by 0.003 of its 0.056 excess). removal="regress" takes from
  every standardised feature its least-squares fit on the score (training
  part), z <- z - (z . u) b with b = Z'Zu / |Zu|^2: all linear information
  correlated with the score goes, the drop is most of the linear accuracy
  (0.8 to 1.1 of the excess in the benchmark; above 1 where the next
  accuracy falls below chance by noise), and for Gaussians with one covariance the list has a single entry (the
  first removal leaves chance). Both make z . u = 0 afterwards. For later
  flaws under "regress" the direction is in the already reduced features.
- The standardisation is fixed at the start (the training part's
  statistics, as c2st.py); the held-out split stays fixed for all steps, so
  accuracies and drops of one call are comparable; they are not
  independent tests.
- A flaw is called significant when its held-out accuracy beats chance at
  level `alpha` (one-sided exact binomial test, uncorrected);
  ``n_significant`` counts the leading significant flaws.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .checks import as_features, positive_int, public_metric

__all__ = ["Flaw", "ordered_flaws", "flaws_table", "flaws_figure", "REMOVALS"]

REMOVALS = ("project", "regress")


@dataclass(frozen=True)
class Flaw:
    """One found direction. Indices are into the `real` and `fake` arrays given."""
    index: int                 # 1 = found first (the largest)
    accuracy: float            # held-out C2ST accuracy before this flaw is removed
    p_value: float             # one-sided binomial p-value of `accuracy` against 0.5
    drop: float                # accuracy - the accuracy after its removal
    share: float               # drop / (first accuracy - 0.5); NaN when the first is at or below chance
    direction: np.ndarray      # (D,) unit vector in the caller's features along which the flaw is removed
                               # (from generated toward real)
    normal: np.ndarray         # (D,) unit normal of the classifier's hyperplane in the caller's features
                               # (the score's gradient); equals `direction` when all features have one scale
    top_real: np.ndarray       # (top,) indices of real samples furthest along the direction
    top_fake: np.ndarray       # (top,) indices of generated samples furthest against it


def _fit_direction(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray):
    """A logistic regression's held-out accuracy, number correct, and weight vector (D,)."""
    from sklearn.linear_model import LogisticRegression  # lazy: ~2 s (see c2st.py)
    model = LogisticRegression(C=1.0, max_iter=1000)
    model.fit(x_train, y_train)
    correct = int((model.predict(x_test) == y_test).sum())
    return correct, model.coef_[0].astype(np.float64)


@public_metric
def ordered_flaws(fake, real, *, k: int = 4, seed: int = 0, test_fraction: float = 0.5,
                  top: int = 8, alpha: float = 0.01, removal: str = "project") -> Dict[str, Any]:
    """The generator's flaws in order: repeated linear C2ST with each direction projected out.

    Args:
        fake: (M, D) features of generated samples (array or tensor).
        real: (N, D) features of real samples, same D.
        k: number of directions to find and remove, 1 <= k <= D.
        seed: seed of the class balancing and the split (as c2st_accuracy).
        test_fraction: share of each (balanced) class held out, in (0, 1).
        top: how many real and generated examples to list along each flaw.
        alpha: significance level of each flaw's binomial test, in (0, 1).
        removal: "project" (z <- z - (z . u) u, Gram-Schmidt) or "regress" (each standardised
            feature loses its least-squares fit on the score z . u: all linear information
            correlated with the score goes; see the module docstring).

    Returns:
        {"flaws": [Flaw, ...] (k of them, in order found),
         "accuracy": held-out accuracy before any removal (= c2st_accuracy's),
         "residual_accuracy": held-out accuracy after removing all k,
         "n_significant": leading flaws whose accuracy beats chance at alpha,
         "n_train", "n_test": samples (both classes) in each part}.
    """
    from scipy.stats import binomtest
    from .c2st import balanced_split
    fake = as_features(fake, "fake")
    real = as_features(real, "real")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature dimensions differ: fake has D={fake.shape[1]}, real has D={real.shape[1]}")
    dim = real.shape[1]
    k = positive_int(k, "k")
    if k > dim:
        raise ValueError(f"k must be at most the feature dimension D={dim} (one direction removed per step), got {k}")
    top = positive_int(top, "top")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    if removal not in REMOVALS:
        raise ValueError(f"removal must be one of {REMOVALS}, got {removal!r}")

    # Balancing and split: c2st_accuracy's own (one seed, one split).
    x, y, real_idx, fake_idx, train, test = balanced_split(real, fake, test_fraction, seed)

    # Standardise with the training part only (StandardScaler's rule: a constant feature keeps scale 1).
    mean = x[train].mean(axis=0)
    sd = x[train].std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    z = (x - mean) / sd
    z_real_all, z_fake_all = (real - mean) / sd, (fake - mean) / sd

    found: List[np.ndarray] = []          # unit vectors in standardised space
    accuracies: List[float] = []
    p_values: List[float] = []
    steps: List[Dict[str, np.ndarray]] = []
    reduce = np.eye(dim)                  # the current features are (original standardised) @ reduce
    n_test = len(test)
    for step in range(k + 1):
        correct, w = _fit_direction(z[train], y[train], z[test], y[test])
        accuracies.append(correct / n_test)
        p_values.append(float(binomtest(correct, n_test, 0.5, alternative="greater").pvalue))
        if step == k:
            break
        for u in found:  # Gram-Schmidt: the fit is orthogonal to earlier flaws up to solver tolerance
            w = w - (w @ u) * u
        norm = np.linalg.norm(w)
        # A zero weight vector (nothing left to separate) has no direction; any unit vector
        # orthogonal to the earlier ones would do, and removing it changes nothing measurable.
        u = w / norm if norm > 0 else _orthogonal_unit(found, dim)
        found.append(u)
        if removal == "project":
            move = u
        else:  # regress: every feature loses its least-squares fit on the score (training part)
            s_train = z[train] @ u
            move = z[train].T @ s_train / max(float(s_train @ s_train), 1e-300)
        # the scores of every sample along this flaw, before its removal (= after, for earlier flaws)
        steps.append({"u": u, "move": move, "normal": reduce @ u,
                      "real": z_real_all @ u, "fake": z_fake_all @ u})
        # remove: z <- z - (z . u) move, so that z . u = 0 afterwards (u . move = 1 in both rules)
        z, z_real_all, z_fake_all = (a - np.outer(a @ u, move) for a in (z, z_real_all, z_fake_all))
        reduce = reduce - np.outer(reduce @ u, move)

    excess = accuracies[0] - 0.5
    flaws: List[Flaw] = []
    for i, st in enumerate(steps):
        # In the caller's features the removal moves each x along sd * move (x = mean + sd * z), and
        # the score is the linear function (normal / sd) . x + const: the hyperplane's normal.
        move, normal = sd * st["move"], st["normal"] / sd
        drop = accuracies[i] - accuracies[i + 1]
        flaws.append(Flaw(
            index=i + 1, accuracy=accuracies[i], p_value=p_values[i], drop=drop,
            share=drop / excess if excess > 0 else float("nan"),
            direction=move / np.linalg.norm(move), normal=normal / np.linalg.norm(normal),
            top_real=np.argsort(-st["real"], kind="stable")[:top],
            top_fake=np.argsort(st["fake"], kind="stable")[:top]))
    n_significant = 0
    for f in flaws:
        if f.p_value >= alpha:
            break
        n_significant += 1
    return {"flaws": flaws, "accuracy": accuracies[0], "residual_accuracy": accuracies[-1],
            "n_significant": n_significant, "n_train": len(train), "n_test": n_test}


def _orthogonal_unit(found: Sequence[np.ndarray], dim: int) -> np.ndarray:
    """A unit vector orthogonal to every vector in `found` (fewer than dim of them)."""
    for j in range(dim):
        e = np.zeros(dim)
        e[j] = 1.0
        for u in found:
            e = e - (e @ u) * u
        if np.linalg.norm(e) > 1e-6:
            return e / np.linalg.norm(e)
    raise ValueError("no direction is left: the earlier flaws span the feature space")


def flaws_table(result: Dict[str, Any], labels: Optional[Dict[str, Sequence[str]]] = None) -> str:
    """A plain-text table of ordered_flaws' result, one row per flaw. labels: optional
    {"real": names of the real samples, "fake": names of the generated ones} (e.g. each
    digit's class), to show what the top examples along each flaw are."""
    lines = [f"C2ST accuracy {result['accuracy']:.3f} -> {result['residual_accuracy']:.3f} after removing "
             f"{len(result['flaws'])} directions; {result['n_significant']} significant "
             f"(n_test={result['n_test']})",
             f"{'flaw':>4} {'accuracy':>8} {'p-value':>9} {'drop':>7} {'share':>6}"
             + ("  top real / top generated" if labels else "")]
    for f in result["flaws"]:
        row = f"{f.index:>4} {f.accuracy:8.3f} {f.p_value:9.2g} {f.drop:7.3f} {f.share:6.2f}"
        if labels:
            row += ("  " + " ".join(str(labels["real"][i]) for i in f.top_real) + " / "
                    + " ".join(str(labels["fake"][i]) for i in f.top_fake))
        lines.append(row)
    return "\n".join(lines)


def flaws_figure(result: Dict[str, Any], real_images, fake_images, path, title: str = "",
                 n: Optional[int] = None):
    """Draw the flaws: one row per flaw, its top real images (left) and top generated images
    (right), with the flaw's accuracy and drop. real_images, fake_images: (N, C, H, W) and
    (M, C, H, W) in [-1, 1], in the order of the features given to ordered_flaws; n: images per
    side (default: all of `top`). Writes a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from ..viz import image_grid, save_figure
    real_images, fake_images = torch.as_tensor(real_images), torch.as_tensor(fake_images)
    flaws = result["flaws"]
    n = n or len(flaws[0].top_real)
    fig, axes = plt.subplots(len(flaws), 2, figsize=(2 + 0.5 * 2 * n, 1.1 * len(flaws) + 0.6),
                             squeeze=False)
    for row, f in zip(axes, flaws):
        for ax, images, idx, side in ((row[0], real_images, f.top_real[:n], "real"),
                                      (row[1], fake_images, f.top_fake[:n], "generated")):
            grid = image_grid(images[torch.as_tensor(idx)], nrow=len(idx))
            ax.imshow(grid[:, :, 0] if grid.shape[2] == 1 else grid, cmap="gray", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if f.index == 1:
                ax.set_title(f"top {side} along the flaw", fontsize=9)
        row[0].set_ylabel(f"flaw {f.index}\nacc {f.accuracy:.2f}\ndrop {f.drop:+.2f}", fontsize=8,
                          rotation=0, ha="right", va="center")
    fig.suptitle(title or f"ordered flaws: C2ST accuracy {result['accuracy']:.2f} -> "
                 f"{result['residual_accuracy']:.2f}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
