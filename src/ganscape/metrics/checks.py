"""Input checks shared by the metric functions."""
from __future__ import annotations

from typing import Optional

import numpy as np


def as_features(x, name: str, dim: Optional[int] = None) -> np.ndarray:
    """Validate a sample or feature matrix and return it as float64 (N, D).

    Raises ValueError for a wrong shape (or D != dim when dim is given) and for
    NaN/Inf, TypeError for non-real dtypes; the message names `name`.
    """
    arr = np.asarray(x)
    if arr.ndim != 2 or (dim is not None and arr.shape[1] != dim):
        want = f"(N, {dim})" if dim is not None else "(N, D)"
        raise ValueError(f"{name} must be a 2-D array {want} of samples or features, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or Inf")
    return arr
