"""Evaluating a run folder (`ganscape eval RUN`, ganscape.evaluate): find
the run's generator and classifier at a checkpoint, score them with
evaluate.py, and append the record to RUN/metrics.jsonl. The one module of
metrics/ that reads run folders through the API (api.load_generator); the
training loop's evaluator uses evaluate.py directly, so nothing below the
API imports this module."""
from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import torch

from ..registry import DATASETS, ConfigError
from ..train import rundir
from .cache import FeatureCache
from .evaluate import (DEFAULT_METRICS, _sample_count, check_metrics_named, evaluate_arrays, evaluate_generator,
                       reference_images,
                       split_metrics)

PathLike = Union[str, Path]


def _generator_name(run_dir: PathLike, path: Path, ckpt: Dict[str, Any]) -> str:
    return f"the generator of {run_dir} (checkpoint {path.name}, step {int(ckpt['step'])})"


def describe_generator(run_dir: PathLike, checkpoint: str = "latest") -> str:
    """"the generator of RUN (checkpoint NAME, step N)", for messages about a run's generator."""
    from ..train import checkpoint as ckpt_io
    ckpt, path = ckpt_io.load_newest(Path(run_dir) / rundir.CHECKPOINTS, checkpoint)
    return _generator_name(run_dir, path, ckpt)


def _sampler_label(cfg, ckpt) -> str:
    """Which weights were scored: the sampler net's name, "+ema" for its EMA copy."""
    from ..train.state import build_method
    name = build_method(cfg).sampler
    return f"{name}+ema" if name in ckpt.get("ema", {}) else name


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
    from ..train import checkpoint as ckpt_io
    from ..train.state import build_method, resolve_device

    n = _sample_count(n)
    check_metrics_named(metrics)
    cfg = rundir.load_config(run_dir)
    # a data set whose extractor gives no class probabilities (stacked digits per channel, shapes'
    # random-conv), or whose samples are judged by their own metric (graph walks), has its own defaults
    own = DATASETS.get(cfg.data.name).tags.get("metrics") if cfg.data.name in DATASETS else None
    on_samples, on_classifier = split_metrics(build_method(cfg), metrics, cfg.method.name, own or DEFAULT_METRICS,
                                              data_defaults=own)
    stray = sorted(set(metric_params or {}) - set(on_samples))
    if stray:
        raise ConfigError(f"metric parameters for {', '.join(stray)}, which this evaluation does not compute "
                          f"(metrics: {', '.join(on_samples + on_classifier)})")
    ckpt, path = ckpt_io.load_newest(Path(run_dir) / rundir.CHECKPOINTS, checkpoint)
    # under torchrun (`torchrun --nproc_per_node K -m ganscape eval RUN`): every rank makes and extracts its
    # share of the samples' and the reference's batches; rank 0 alone records
    from .. import ranks
    from ..train import distributed
    r = distributed.from_env()
    dev = str(distributed.start(r, resolve_device(device)))
    try:
        with ranks.sharded_eval():
            return _evaluate(run_dir, cfg, ckpt, path, dev, on_samples, on_classifier, n, extractor, checkpoint,
                             split, seed, batch_size, record and r.lead, progress and r.lead,
                             extractor_params, metric_params, r.world)
    finally:
        if r.world > 1:
            distributed.stop()


def _evaluate(run_dir, cfg, ckpt, path, dev, on_samples, on_classifier, n, extractor, checkpoint, split, seed,
              batch_size, record, progress, extractor_params, metric_params, processes: int = 1) -> Dict[str, Any]:
    from ..api import load_generator
    from .classifier_error import classifier_error
    record_: Dict[str, Any] = {"step": int(ckpt["step"]), "checkpoint": path.name,
                               "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if processes > 1:   # torchrun: the feature extraction was split over this many processes
        record_["processes"] = processes
    if on_samples:
        from ..train import threads as thr
        from .evaluate import generate
        G = load_generator(run_dir, checkpoint, device=dev)
        # the thread count, measured on a throwaway batch of samples (private seed; train/threads.py)
        source = _generator_name(run_dir, path, ckpt)  # a NaN generator is named by the probe already
        if getattr(G, "is_policy", False):  # a policy's probe: one batch of actions on blank observations
            probe = lambda: G(torch.zeros(batch_size, G.obs_dim, device=dev))  # noqa: E731
        else:
            probe = lambda: generate(G, min(n, batch_size), seed=0, source=source)  # noqa: E731
        tuner = thr.settle(probe, dev)
        try:
            res = evaluate_generator(G, cfg, on_samples, n, split or cfg.eval.split, extractor, seed=seed,
                                     batch_size=batch_size, progress=progress, extractor_params=extractor_params,
                                     source=source, metric_params=metric_params, run_dir=Path(run_dir))
        finally:
            tuner.close()
        record_.update(sampler=_sampler_label(cfg, ckpt), **res)
        record_["threads"] = tuner.decisions[-1] if tuner.decisions else None
        record_["heldout_real"] = heldout_baseline(cfg, on_samples, n, split or cfg.eval.split, seed=seed,
                                                   extractor=extractor, extractor_params=extractor_params,
                                                   batch_size=batch_size, device=dev, metric_params=metric_params)
    if on_classifier:
        c = classifier_error(run_dir, checkpoint, device=dev, batch_size=batch_size)
        record_.setdefault("results", {}).update(c["results"])
        record_.setdefault("protocol", {}).update(c["protocol"])
        record_["classifier"] = {"net": c["classifier"], "reference": c["reference"]}
    if record:
        rundir.append_jsonl(Path(run_dir) / rundir.METRICS, record_)
    return record_


def heldout_baseline(cfg, metrics: Sequence[str], n: int, split: str, seed: int = 0,
                     extractor: Optional[str] = None, extractor_params: Optional[Dict[str, Any]] = None,
                     batch_size: int = 256, device: str = "cpu",
                     metric_params: Optional[Dict[str, Dict[str, Any]]] = None) -> Dict[str, Any]:
    """The scale to read a run's scores by: `n` held-out real images (the
    test split) scored by the same metrics against the same reference (the
    training split), so a score can be compared with what real data gets at
    the same n (FID and KID are biased in n). Only the metrics tagged
    real_baseline (functions of two image sets alone). Returns {"n",
    "split": "test", "results"} or, where the data does not allow it,
    {"n", "skipped": why}."""
    from ..registry import METRICS
    from ..train.state import load_data

    names = [m for m in metrics if METRICS.get(m).tags.get("real_baseline")]
    if not names:
        return {"n": n, "skipped": "none of these metrics compares two image sets"}
    if split != "train":
        return {"n": n, "skipped": f"the reference is the {split} split; a held-out baseline needs the train "
                                   f"split as reference (--split train)"}
    try:
        test = load_data(cfg, "test")
    except (ValueError, OSError) as e:  # a data set without a test split
        return {"n": n, "skipped": f"no test split ({str(e).splitlines()[0]})"}
    if test.kind != "image":
        return {"n": n, "skipped": "the data are not images"}
    if len(test) < n:
        return {"n": n, "skipped": f"the test split holds {len(test)} images, fewer than n={n}; "
                                   f"--n {len(test)} (or fewer) gives one"}
    params = dict(cfg.data.params)
    held, _, _ = reference_images(cfg.data.name, params, "test", n, seed=seed)
    real, ref, data = reference_images(cfg.data.name, params, "train", None)
    with warnings.catch_warnings():
        # the generated set's evaluation has said the same (same n, same metrics); kept in the record
        warnings.simplefilter("ignore")
        res = evaluate_arrays(held, real, names, extractor=extractor, extractor_params=extractor_params,
                              device=device, reference=ref, cache=FeatureCache(),
                              train=data if "memorization" in names else None, info=data.info,
                              batch_size=batch_size, value_range="11",
                              metric_params={m: p for m, p in (metric_params or {}).items() if m in names})
    return {"n": n, "split": "test", "results": res["results"], "warnings": res["warnings"]}


def heldout_fid(run_dir: PathLike, checkpoint: str = "latest", seed: int = 0,
                record: bool = True) -> Dict[str, Any]:
    """A scale to read a run's FID by: FID against the training split of as
    many generated samples as the test split holds, beside the FID of the
    test split itself (held-out real data scored the same way, at equal n).

    Returns {"step", "metric": "fid_equal_n", "n", "fid_generated",
    "fid_heldout_real", "ratio", "extractor"} (the data set's default
    extractor); appended to RUN/metrics.jsonl when record is True."""
    from ..api import load_generator
    from ..train import checkpoint as ckpt_io
    from .evaluate import generate

    cfg = rundir.load_config(run_dir)
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
