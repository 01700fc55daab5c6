"""The training doctor's periodic measurements (issue 20, part 1): cheap
checks of the sampler on a fixed latent batch, one record per check, that
probes/doctor.py's rules read next to the run's stats.

A record (a line of the run folder's doctor.jsonl):

    {"step", "n",
     "diversity":  mean pairwise distance of the samples / that of n real examples (features: the
                   data set's extractor for images, the points themselves for 2-D data; 1 for data
                   as varied as the real set, near 0 for a collapsed generator),
     "modes":      the modes the samples cover (at least COVER_SHARE / K of the samples each): the
                   nearest mixture component of ring-8/grid-25 (the share within PacGAN's 3 sigma of it
                   is "hq"), or a judge's class where the extractor classifies (digits-cnn); null otherwise,
     "real_modes": how many modes n real examples cover by the same rule,
     "hist":       the share of samples per mode (for the figure),
     "memorized":  the share of samples nearer the training set (under mirroring and 1-pixel shifts)
                   than all but 5% of held-out real images (metrics/memorization_invariant.py), for
                   images with a test split; null otherwise,
     "nonfinite":  true when the sampler produced NaN or Inf (nothing else is measured then)}

The fixed batch (seed + 2) is the same at every check, so changes between
records are the generator's, not the latents'. n = 500 by default: a check
costs a forward pass of G, the extractor on 1000 images and, for
memorization, nearest neighbours among the training images (about a second
on digits on 2 CPU cores).
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np
import torch

COVER_SHARE = 0.25      # a mode is covered when it holds at least this share of its fair 1/K of the samples
MEMO_TRAIN = 5000       # training images the memorization check compares with (a seeded subset beyond this:
                        # 18 shifted mirrors of each sample against all of CIFAR's 50k would cost 1e12 flops)


def mean_pairwise_distance(x: np.ndarray, most: int = 500) -> float:
    """The mean Euclidean distance between distinct rows (the first `most` rows)."""
    x = np.asarray(x, dtype=np.float64)[:most]
    if len(x) < 2:
        return 0.0
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)
    n = len(x)
    return float(np.sqrt(d2).sum() / (n * (n - 1)))


def covered(assign: np.ndarray, k: int, share: float = COVER_SHARE) -> np.ndarray:
    """The modes (0..k-1) that hold at least `share` / k of the assigned samples (-1: unassigned)."""
    counts = np.bincount(assign[assign >= 0], minlength=k)
    return np.flatnonzero(counts >= share * len(assign) / k)


class Checker:
    """Measures a sampler (see the module docstring). Built once per run: the real examples' features and
    modes, the held-out threshold for memorization and the fixed latents are computed here."""

    def __init__(self, cfg, data, heldout=None, n: int = 500, device: str = "cpu"):
        from ..metrics.evaluate import build_extractor, default_extractor
        from ..metrics.features.base import extract
        self.cfg, self.data, self.n, self.seed = cfg, data, int(n), cfg.seed + 2
        self.points = data.kind == "points"
        self.centers = data.info.get("centers") if self.points else None
        self.sigma = data.info.get("sigma")
        idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(self.seed))[:self.n]
        real = data.take(idx)
        self.extractor = None
        if not self.points and data.kind == "image":
            name = cfg.eval.extractor or default_extractor(cfg.data.name)
            self.extractor = build_extractor(name, device=device)   # on the run's device
            self._extract = lambda x: extract(self.extractor, x, batch_size=250, device=device)
        feats = self._features(real)
        self.real_div = mean_pairwise_distance(feats["features"])
        self.k = 0
        if self.centers is not None:
            self.k = len(self.centers)
        elif feats.get("probs") is not None:
            self.k = feats["probs"].shape[1]
        self.real_modes = len(covered(self._assign(real.numpy(), feats), self.k)) if self.k else 0
        self.train_flat = self.held = None
        if heldout is not None and data.kind == "image" and len(heldout) >= 10:
            from ..metrics.memorization_invariant import invariant_nn_distances
            keep = torch.randperm(len(data), generator=torch.Generator().manual_seed(self.seed))[:MEMO_TRAIN]
            self.train_x = data.take(keep.sort().values)
            self.memo_subset = len(data) > MEMO_TRAIN   # recorded: a near copy of an image outside it is missed
            held = heldout.take(torch.arange(min(len(heldout), 500)))
            self.threshold = float(np.quantile(invariant_nn_distances(held, self.train_x, "flips", 1), 0.05))
            self.held = True

    def _features(self, x: torch.Tensor) -> Dict[str, Any]:
        if self.extractor is None:
            return {"features": x.reshape(len(x), -1).numpy().astype(np.float64), "probs": None}
        f = self._extract(x)
        return {"features": f.features, "probs": f.probs}

    def _assign(self, x: np.ndarray, feats) -> np.ndarray:
        if self.centers is not None:
            # The nearest component, near or not: coverage asks where the mass goes, not how sharp it is
            # (a generator still blurry early on covers the modes it spreads over; PacGAN's 3-sigma
            # high-quality share is recorded apart, as "hq").
            c = np.asarray(self.centers, dtype=np.float64)
            d = np.sqrt(((x.reshape(len(x), -1)[:, None, :] - c[None]) ** 2).sum(-1))
            self._hq = float(np.mean(d.min(1) < 3.0 * float(self.sigma)))
            return d.argmin(1)
        return feats["probs"].argmax(1)

    @torch.no_grad()
    def measure(self, sampler, step: int) -> Dict[str, Any]:
        from ..metrics.evaluate import NonFiniteSamplesError, generate
        rec: Dict[str, Any] = {"step": int(step), "n": self.n}
        try:
            fake = generate(sampler, self.n, self.seed, source="the generator").float().cpu()
        except NonFiniteSamplesError:
            rec["nonfinite"] = True
            return rec
        feats = self._features(fake)
        if self.real_div > 1e-9:   # data of one point (the Dirac-GAN's) has no diversity to compare with
            rec["diversity"] = mean_pairwise_distance(feats["features"]) / self.real_div
        if self.k:
            a = self._assign(fake.numpy(), feats)
            rec["modes"] = covered(a, self.k).tolist()
            rec["num_modes"] = self.k
            rec["real_modes"] = self.real_modes
            rec["hist"] = (np.bincount(a[a >= 0], minlength=self.k) / len(a)).round(4).tolist()
            if self.centers is not None:
                rec["hq"] = self._hq
        if self.held:
            from ..metrics.memorization_invariant import invariant_nn_distances
            d = invariant_nn_distances(fake[:250], self.train_x, "flips", 1)
            rec["memorized"] = float(np.mean(d <= self.threshold))
            if self.memo_subset:
                rec["memorized_of"] = MEMO_TRAIN
        return rec


def heldout_for(cfg) -> Optional[Any]:
    """The data set's test split for the memorization check, or None where it has none."""
    from ..registry import ConfigError
    from ..train.state import load_data
    try:
        return load_data(cfg, "test")
    except (ConfigError, ValueError, FileNotFoundError):   # a data set without a test split: no check
        return None
