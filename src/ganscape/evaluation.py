"""Evaluation entry points of the public API: a run folder, or any samples
against any reference."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .metrics.cache import FeatureCache
from .metrics.evaluate import DEFAULT_METRICS, as_images, evaluate_arrays, evaluate_generator, reference_images
from .registry import DATASETS, ConfigError
from .train import rundir

PathLike = Union[str, Path]


def load_images(source: PathLike, size: Optional[int] = None, channels: Optional[int] = None,
                value_range: Optional[str] = None) -> torch.Tensor:
    """Images from FILE.npz or a folder of PNG/JPEG files -> float (N, C, H, W) in [-1, 1].

    .npz: the array "x" (float in [-1, 1]) or "uint8", or else the file's only
    array; (N, H, W) grey arrays get a channel axis, (N, H, W, C) arrays with
    C in {1, 3} are transposed. Loaded with allow_pickle=False. Float arrays
    are read as value_range says (None: [-1, 1], and floats lying wholly in
    [0, 1] are an error; "01": [0, 1], converted by 2x - 1; "11": [-1, 1]);
    uint8 arrays are [0, 255]; other dtypes (bool, complex, other integers)
    are refused. Folders: every image, centre-cropped and resized to `size`
    (default: the first image's), with `channels` (default: 1 if the first
    image is grey, else 3).
    """
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist")
    if source.is_dir():
        from PIL import Image

        from .data.files import list_images, load_image
        files = list_images(source)
        if not files:
            raise ValueError(f"{source} holds no PNG or JPEG images")
        try:
            with Image.open(files[0]) as im:
                first_size, grey = min(im.size), im.mode in ("L", "I;16", "1")
        except Exception as e:
            raise ValueError(f"{files[0]}: cannot read image ({e})") from None
        size, channels = size or first_size, channels or (1 if grey else 3)
        arrays = []
        for f in files:
            try:
                arrays.append(load_image(f, size, channels))
            except Exception as e:
                raise ValueError(f"{f}: cannot read image ({type(e).__name__}: {e})") from None
        return torch.from_numpy(np.stack(arrays).astype(np.float32) / 127.5 - 1.0)
    if source.suffix != ".npz":
        raise ValueError(f"{source}: give a .npz file or a folder of images")
    try:
        with np.load(source, allow_pickle=False) as f:
            keys = list(f.keys())
            if not keys:
                raise ValueError(f"{source}: holds no arrays; save the images as 'x' (float in [-1, 1]) "
                                 f"or 'uint8'")
            key = "x" if "x" in keys else "uint8" if "uint8" in keys else keys[0] if len(keys) == 1 else None
            if key is None:
                raise ValueError(f"{source}: holds arrays {keys}; name the images 'x' (float in [-1, 1]) or 'uint8'")
            arr = f[key]
    except ValueError:
        raise
    except Exception as e:
        raise ValueError(f"{source}: not a readable .npz file ({type(e).__name__}: {e})") from None
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim == 4 and arr.shape[-1] in (1, 3) and arr.shape[1] not in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)
    if arr.ndim != 4:
        raise ValueError(f"{source}: expected images (N, C, H, W), got shape {arr.shape}")
    if len(arr) == 0:
        raise ValueError(f"{source}: array {key!r} holds 0 images (shape {arr.shape})")
    return as_images(np.ascontiguousarray(arr), f"{source}: array {key!r}", value_range)


def _metric_list(metrics: Union[str, Sequence[str], None]) -> Tuple[str, ...]:
    if metrics is None:
        return DEFAULT_METRICS
    if isinstance(metrics, str):
        metrics = metrics.split(",")
    return tuple(m.strip() for m in metrics if m.strip())


def _sample_count(n, what: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        # A slice x[:n] with n <= 0 would silently drop samples instead.
        raise ValueError(f"{what} must be a positive number of samples, got {n!r}")
    return int(n)


def _generator_name(run_dir: PathLike, path: Path, ckpt: Dict[str, Any]) -> str:
    return f"the generator of {run_dir} (checkpoint {path.name}, step {int(ckpt['step'])})"


def describe_generator(run_dir: PathLike, checkpoint: str = "latest") -> str:
    """"the generator of RUN (checkpoint NAME, step N)", for messages about a run's generator."""
    from .train import checkpoint as ckpt_io
    ckpt, path = ckpt_io.load_newest(Path(run_dir) / rundir.CHECKPOINTS, checkpoint)
    return _generator_name(run_dir, path, ckpt)


def _sampler_label(cfg, ckpt) -> str:
    """Which weights were scored: the sampler net's name, "+ema" for its EMA copy."""
    from .api import _sampler_name
    name = _sampler_name(cfg)
    return f"{name}+ema" if name in ckpt.get("ema", {}) else name


def split_metrics(method, metrics: Union[str, Sequence[str], None],
                  name: str = "this") -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """(metrics scored on samples, metrics scored on the run's classifier) of
    a run of `method`. metrics None: the defaults of what the method trains
    (FID, KID, IS and PRDC for a generator of images; the token metrics that
    apply for a sequence generator; classifier-error for a classifier).
    Asking for a kind of metric the method has no net for is a ConfigError."""
    from .registry import METRICS
    if metrics is None:
        from .metrics.sequences import TOKEN_DEFAULTS
        on_gen = TOKEN_DEFAULTS if getattr(method, "data_kind", "") == "tokens" else DEFAULT_METRICS
        chosen = (on_gen if method.sampler else ()) + (("classifier-error",) if method.classifier else ())
    else:
        chosen = _metric_list(metrics)
    on_classifier = tuple(m for m in chosen if METRICS.get(m).tags.get("scores") == "classifier")
    on_samples = tuple(m for m in chosen if m not in on_classifier)
    if on_samples and method.sampler is None:
        raise ConfigError(f"metrics {', '.join(on_samples)} score samples, but method {name!r} trains no "
                          f"generator; its classifier is scored by classifier-error")
    if on_classifier and method.classifier is None:
        raise ConfigError(f"metric classifier-error scores a run's classifier, and method {name!r} trains "
                          f"none; it applies to runs of method ssgan or supervised")
    return on_samples, on_classifier


def evaluate(run_dir: PathLike, metrics: Union[str, Sequence[str], None] = None, n: int = 10000,
             extractor: Optional[str] = None, checkpoint: str = "latest", split: Optional[str] = None,
             seed: int = 0, batch_size: int = 256, record: bool = True, progress: bool = False,
             device: str = "auto", extractor_params: Optional[Dict[str, Any]] = None,
             metric_params: Optional[Dict[str, Dict[str, Any]]] = None) -> Dict[str, Any]:
    """Evaluate a run and append the result, with sample counts and protocol,
    to RUN/metrics.jsonl.

    Sample metrics score the run's generator (its EMA copy if any) against
    its data set; classifier-error scores the run's classifier (ssgan,
    supervised) on the test split. metrics None: what the run's method
    trains (see split_metrics).
    device: where the generator and the feature extractor run (auto: CUDA if available).
    extractor_params: the extractor's parameters, e.g. {"weights": PATH}.
    metric_params: {metric: {key: value}}, e.g. {"nll": {"ais_steps": 200}}.
    A generator that outputs NaN or Inf raises NonFiniteSamplesError (a
    ValueError) naming the run, checkpoint and step; nothing is recorded."""
    from .api import load_generator, load_run
    from .metrics.classifier_error import classifier_error
    from .train import checkpoint as ckpt_io
    from .train.state import build_method, resolve_device

    n = _sample_count(n)
    cfg = load_run(run_dir)
    on_samples, on_classifier = split_metrics(build_method(cfg), metrics, cfg.method.name)
    stray = sorted(set(metric_params or {}) - set(on_samples))
    if stray:
        raise ConfigError(f"metric parameters for {', '.join(stray)}, which this evaluation does not compute "
                          f"(metrics: {', '.join(on_samples + on_classifier)})")
    ckpt, path = ckpt_io.load_newest(Path(run_dir) / rundir.CHECKPOINTS, checkpoint)
    dev = str(resolve_device(device))
    record_: Dict[str, Any] = {"step": int(ckpt["step"]), "checkpoint": path.name,
                               "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if on_samples:
        G = load_generator(run_dir, checkpoint, device=dev)
        res = evaluate_generator(G, cfg, on_samples, n, split or cfg.eval.split, extractor, seed=seed,
                                 batch_size=batch_size, progress=progress, extractor_params=extractor_params,
                                 source=_generator_name(run_dir, path, ckpt), metric_params=metric_params)
        record_.update(sampler=_sampler_label(cfg, ckpt), **res)
    if on_classifier:
        c = classifier_error(run_dir, checkpoint, device=dev, batch_size=batch_size)
        record_.setdefault("results", {}).update(c["results"])
        record_.setdefault("protocol", {}).update(c["protocol"])
        record_["classifier"] = {"net": c["classifier"], "reference": c["reference"]}
    if record:
        rundir.append_jsonl(Path(run_dir) / rundir.METRICS, record_)
    return record_


def evaluate_samples(samples: Union[PathLike, torch.Tensor, np.ndarray], reference: Union[str, PathLike, torch.Tensor,
                     np.ndarray], metrics: Union[str, Sequence[str], None] = None, extractor: Optional[str] = None,
                     n: Optional[int] = None, split: str = "train", batch_size: int = 256,
                     progress: bool = False, device: str = "auto", value_range: Optional[str] = None,
                     extractor_params: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Score any samples (tensor, array, FILE.npz or image folder) against a
    registered data set's split, or against other images (tensor, array, file, folder).

    n: score only the first n samples (None: all). value_range: how float
    samples and float reference files/arrays are read (see load_images);
    a registered data set is always [-1, 1]. extractor_params: e.g. {"weights": PATH}.
    """
    if n is not None:
        n = _sample_count(n)
    if isinstance(samples, (torch.Tensor, np.ndarray)):
        fake = as_images(samples, "samples", value_range)
    else:
        fake = load_images(samples, value_range=value_range)
    if n is not None:
        fake = fake[:n]
    info: Dict[str, Any] = {}
    if isinstance(reference, str) and reference in DATASETS:
        params = _dataset_params_for(reference, fake)
        real, ref, data = reference_images(reference, params, split, None)
        info = data.info
    elif isinstance(reference, (torch.Tensor, np.ndarray)):
        real, ref = as_images(reference, "reference", value_range), {"source": "array"}
    else:
        p = Path(str(reference))
        if not p.exists():
            raise ConfigError(f"reference {reference!r} is neither a registered data set "
                              f"({', '.join(DATASETS.names())}) nor an existing file or folder")
        real = load_images(p, size=fake.shape[-1], channels=fake.shape[1], value_range=value_range)
        ref = {"source": str(p.resolve())}
    from .train.state import resolve_device
    # Both sides are in [-1, 1] now: converted above, or a registered data set.
    rec = evaluate_arrays(fake, real, _metric_list(metrics), extractor=extractor, extractor_params=extractor_params,
                          reference=ref, cache=FeatureCache(), info=info, batch_size=batch_size, progress=progress,
                          device=str(resolve_device(device)), value_range="11")
    if value_range is not None:
        rec["value_range"] = value_range
    return rec


def _dataset_params_for(name: str, fake: torch.Tensor) -> Dict[str, Any]:
    # Match the reference resolution to the samples where the data set lets us.
    fields = DATASETS.get(name).params_cls.__dataclass_fields__
    if "size" in fields and fake.ndim == 4:
        return {"size": int(fake.shape[-1])}
    return {}


def heldout_fid(run_dir: PathLike, checkpoint: str = "latest", seed: int = 0,
                record: bool = True) -> Dict[str, Any]:
    """A scale to read a run's FID by: FID against the training split of as
    many generated samples as the test split holds, beside the FID of the
    test split itself (held-out real data scored the same way, at equal n).

    Returns {"step", "metric": "fid_equal_n", "n", "fid_generated",
    "fid_heldout_real", "ratio", "extractor"} (the data set's default
    extractor); appended to RUN/metrics.jsonl when record is True."""
    from .api import load_generator, load_run
    from .metrics.evaluate import generate
    from .train import checkpoint as ckpt_io

    cfg = load_run(run_dir)
    ckpt, _ = ckpt_io.load_newest(Path(run_dir) / rundir.CHECKPOINTS, checkpoint)
    params = dict(cfg.data.params)
    train, ref, _ = reference_images(cfg.data.name, params, "train", None)
    test, _, _ = reference_images(cfg.data.name, params, "test", None)
    fake = generate(load_generator(run_dir, checkpoint), len(test), seed=seed)
    real_rec = evaluate_arrays(test, train, ["fid"], reference=ref, value_range="11")
    fake_fid = evaluate_arrays(fake, train, ["fid"], reference=ref, value_range="11")["results"]["fid"]
    real_fid = real_rec["results"]["fid"]
    out = {"step": int(ckpt["step"]), "metric": "fid_equal_n", "n": len(test), "fid_generated": fake_fid,
           "fid_heldout_real": real_fid, "ratio": fake_fid / real_fid, "extractor": real_rec["extractor"]}
    if record:
        rundir.append_jsonl(Path(run_dir) / rundir.METRICS, out)
    return out
