"""Synthetic 2-D data with known ground truth (PacGAN / VEEGAN protocol).

ring-8:  8 Gaussians, means on the unit circle at angles 2 pi k / 8, sigma 0.01.
grid-25: 25 Gaussians, means {-4, -2, 0, 2, 4}^2, sigma 0.05.
swiss-roll: a 2-D Swiss roll (no discrete modes; for visual checks).
dirac: the point 0 (the Dirac-GAN); gaussian: N(0, K) with a known covariance (the LQG setting).

Mixtures draw equal numbers of points per mode in expectation (mode chosen
uniformly), and record `centers` and `sigma` in `info` so that
`ganscape.metrics.mode_coverage` can score samples by the PacGAN protocol.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..registry import DATASETS, ConfigError
from .base import ArrayDataset, check_split


RING8_SIGMA = 0.01
GRID25_SIGMA = 0.05


def ring8_centers(radius: float = 1.0) -> np.ndarray:
    """(8, 2) centres at angles 2 pi k / 8, k = 0..7, on a circle (unit circle by default)."""
    k = np.arange(8)
    return np.stack([radius * np.cos(2 * math.pi * k / 8), radius * np.sin(2 * math.pi * k / 8)], 1)


def grid25_centers() -> np.ndarray:
    """(25, 2) centres at {-4, -2, 0, 2, 4}^2, row-major in (x, y)."""
    v = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    return np.stack(np.meshgrid(v, v, indexing="ij"), -1).reshape(-1, 2)


def _split_seed(seed: int, split: str) -> int:
    # train and test are independent draws of the same distribution
    return seed * 2 + (0 if split == "train" else 1)


@dataclass(frozen=True)
class MixtureParams:
    n: int = 100_000     # points in the train split (the test split has n // 10)

    def validate(self, where: str) -> None:
        if self.n < 10:
            raise ConfigError(f"{where}.n: must be >= 10, got {self.n}")


def _mixture(centers: np.ndarray, sigma: float, n: int, seed: int, name: str) -> ArrayDataset:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(centers), size=n)
    x = centers[labels] + sigma * rng.standard_normal((n, 2))
    return ArrayDataset(x=torch.from_numpy(x.astype(np.float32)), kind="points",
                        y=torch.from_numpy(labels.astype(np.int64)), num_classes=len(centers),
                        info={"centers": centers, "sigma": sigma, "name": name})


@DATASETS.register("ring-8", params=MixtureParams, kinds=("points",))
def ring8(params: MixtureParams, split: str, seed: int = 0) -> ArrayDataset:
    """8 Gaussians on the unit circle, sigma 0.01 (PacGAN's 2D-ring)."""
    check_split(split)
    n = params.n if split == "train" else max(params.n // 10, 10)
    return _mixture(ring8_centers(), RING8_SIGMA, n, _split_seed(seed, split), "ring-8")


@DATASETS.register("grid-25", params=MixtureParams, kinds=("points",))
def grid25(params: MixtureParams, split: str, seed: int = 0) -> ArrayDataset:
    """25 Gaussians at {-4,-2,0,2,4}^2, sigma 0.05 (PacGAN's 2D-grid)."""
    check_split(split)
    n = params.n if split == "train" else max(params.n // 10, 10)
    return _mixture(grid25_centers(), GRID25_SIGMA, n, _split_seed(seed, split), "grid-25")


@dataclass(frozen=True)
class SwissRollParams:
    n: int = 100_000
    noise: float = 0.05

    def validate(self, where: str) -> None:
        if self.n < 10 or self.noise < 0:
            raise ConfigError(f"{where}: need n >= 10 and noise >= 0")


@DATASETS.register("swiss-roll", params=SwissRollParams, kinds=("points",))
def swiss_roll(params: SwissRollParams, split: str, seed: int = 0) -> ArrayDataset:
    """2-D Swiss roll: t ~ U[1.5 pi, 4.5 pi], (t cos t, t sin t) / 5 + N(0, noise^2)."""
    check_split(split)
    n = params.n if split == "train" else max(params.n // 10, 10)
    rng = np.random.default_rng(_split_seed(seed, split))
    t = rng.uniform(1.5 * math.pi, 4.5 * math.pi, size=n)
    x = np.stack([t * np.cos(t), t * np.sin(t)], 1) / 5.0 + params.noise * rng.standard_normal((n, 2))
    return ArrayDataset(x=torch.from_numpy(x.astype(np.float32)), kind="points", info={"name": "swiss-roll"})


@dataclass(frozen=True)
class DiracParams:
    n: int = 1024  # copies of the point (a batch of them is the same point every step)

    def validate(self, where: str) -> None:
        if self.n < 1:
            raise ConfigError(f"{where}.n: must be >= 1, got {self.n}")


@DATASETS.register("dirac", params=DiracParams, kinds=("points",))
def dirac(params: DiracParams, split: str, seed: int = 0) -> ArrayDataset:
    """The point mass at 0 in one dimension: the data of the Dirac-GAN (Mescheder et al. 2018)."""
    check_split(split)
    return ArrayDataset(x=torch.zeros(params.n, 1), kind="points", info={"name": "dirac"})


@dataclass(frozen=True)
class GaussianParams:
    dim: int = 4          # d
    decay: float = 0.5    # the covariance's eigenvalues are decay^0, decay^1, ..., decay^(d-1)
    rotate: bool = True   # eigenvectors a fixed random rotation (else the coordinate axes)
    n: int = 10_000       # points in the train split (the test split has n // 10)

    def validate(self, where: str) -> None:
        if self.dim < 1 or self.n < 10:
            raise ConfigError(f"{where}: need dim >= 1 and n >= 10, got dim {self.dim}, n {self.n}")
        if not 0 < self.decay <= 1:
            raise ConfigError(f"{where}.decay: must be in (0, 1], got {self.decay}")


def gaussian_covariance(p: GaussianParams) -> np.ndarray:
    """K (d, d): eigenvalues decay^i, eigenvectors a rotation fixed by d alone (not by the run's seed)."""
    lam = p.decay ** np.arange(p.dim, dtype=np.float64)
    if not p.rotate:
        return np.diag(lam)
    q, r = np.linalg.qr(np.random.default_rng(1000 + p.dim).standard_normal((p.dim, p.dim)))
    u = q * np.sign(np.diag(r))
    return (u * lam) @ u.T


@DATASETS.register("gaussian", params=GaussianParams, kinds=("points",))
def gaussian(params: GaussianParams, split: str, seed: int = 0) -> ArrayDataset:
    """N(0, K) in d dimensions with a known covariance K (info["covariance"]): the data of the LQG
    setting (Feizi et al. 2017), whose optimal rank-r linear generator spans K's top r principal components."""
    check_split(split)
    n = params.n if split == "train" else max(params.n // 10, 10)
    K = gaussian_covariance(params)
    x = np.random.default_rng(_split_seed(seed, split)).multivariate_normal(np.zeros(params.dim), K, size=n)
    return ArrayDataset(x=torch.from_numpy(x.astype(np.float32)), kind="points",
                        info={"name": "gaussian", "covariance": K})
