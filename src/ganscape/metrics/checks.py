"""Input checks shared by the metric functions."""
from __future__ import annotations

import functools
import inspect
from typing import Callable, Optional, TypeVar

import numpy as np
import torch

F = TypeVar("F", bound=Callable)

# How every two-set metric of ganscape.metrics is called; quoted in errors.
ORDER = "fake = the generated set, then real = the reference; by position or by keyword"


def to_numpy(x) -> np.ndarray:
    """An array view of x. Tensors are detached (metrics are not differentiable
    and take no part in autograd) and moved to the CPU; bfloat16, which numpy
    lacks, becomes float32."""
    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
        if t.dtype == torch.bfloat16:
            t = t.float()
        return t.numpy()
    return np.asarray(x)


def positive_int(value, name: str) -> int:
    """value as an int if it is an integer >= 1 (not a bool); ValueError naming `name` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def real_array(x, name: str, ndim: int, shape: str) -> np.ndarray:
    """x as float64 with `ndim` axes, real-valued and finite; otherwise
    ValueError (shape, NaN/Inf) or TypeError (dtype) naming `name` and the
    expected `shape` (e.g. "a 2-D array (N, D) of samples or features")."""
    arr = to_numpy(x)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {shape}, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or Inf")
    return arr


def as_features(x, name: str, dim: Optional[int] = None) -> np.ndarray:
    """Validate a sample or feature matrix and return it as float64 (N, D).

    x: array or tensor (tensors that require grad are detached).
    Raises ValueError for a wrong shape (or D != dim when dim is given) and for
    NaN/Inf, TypeError for non-real dtypes; the message names `name`.
    """
    want = f"a 2-D array (N, {dim if dim is not None else 'D'}) of samples or features"
    arr = real_array(x, name, 2, want)
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name} must be {want}, got shape {arr.shape}")
    return arr


def public_metric(fn: F) -> F:
    """Check a call against fn's signature first, so that a wrong keyword
    (features1=, generated=, ...) or a duplicated argument fails with the
    signature and the argument order in the message rather than Python's bare
    "unexpected keyword argument"."""
    sig = inspect.signature(fn)
    name = fn.__name__
    takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    # The signature as the message shows it: names and defaults, no annotations.
    shown = sig.replace(parameters=[p.replace(annotation=p.empty) for p in sig.parameters.values()],
                        return_annotation=sig.empty)
    order = f" ({ORDER})" if "fake" in sig.parameters else ""
    keyword_only = [p.name for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY]
    if keyword_only:
        order += f"; {', '.join(keyword_only)} are passed by keyword"

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        unknown = [k for k in kwargs if k not in sig.parameters] if not takes_any else []
        try:
            if unknown:
                # Checked before binding: bind() would first report a missing
                # `fake` and never name the keyword that was wrong.
                raise TypeError(f"unknown keyword argument{'s' * (len(unknown) > 1)} "
                                + ", ".join(repr(k) for k in unknown))
            sig.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{name}(): {e}; it takes {name}{shown}{order}") from None
        return fn(*args, **kwargs)

    return checked  # type: ignore[return-value]
