"""Evaluation: samples -> features (once) -> every requested metric.

Metrics are registered in ``ganscape.registry.METRICS`` as
``fn(params, ctx: EvalContext) -> {name: value}``. The context computes the
generated and reference features once, on first use, and every metric that
needs features shares them; the reference side comes from the cache (see
cache.py). Results are returned (and appended to a run's metrics.jsonl) with
the sample counts and the full protocol: extractor identity, reference data
set and split, metric parameters.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from ..data.base import ArrayDataset
from ..registry import DATASETS, EXTRACTORS, METRICS, ConfigError, NoParams
from .cache import FeatureCache, canonical
from .checks import positive_int
from .features.base import FeatureExtractor, Features, extract

DEFAULT_METRICS = ("fid", "kid", "is", "prdc")


def default_extractor(dataset: str) -> str:
    """The extractor a data set is scored with unless one is named: the
    dataset's registry tag `extractor`, else the FID InceptionV3."""
    if dataset in DATASETS:
        return DATASETS.get(dataset).tags.get("extractor", "inception-v3-fid")
    return "inception-v3-fid"


# How the float images of an input are read (see as_images): None = they must
# be in [-1, 1], and data lying wholly in [0, 1] are refused as ambiguous;
# "01" = they are in [0, 1] and are mapped to [-1, 1] by 2x - 1; "11" = they
# are in [-1, 1] even if they happen to lie in [0, 1].
VALUE_RANGES = ("01", "11")


def as_images(x, what: str, value_range: Optional[str] = None) -> torch.Tensor:
    """Images (N, C, H, W), N >= 1, as float32 in [-1, 1]: the one gate every
    evaluated array passes.

    x: tensor or array, uint8 in [0, 255] or float (see VALUE_RANGES for
    value_range). bool, complex and other integer dtypes are refused: there is
    no single right way to read them as images. Errors name `what`.
    """
    if value_range is not None and value_range not in VALUE_RANGES:
        raise ValueError(f"value_range must be one of None, '01' (floats in [0, 1], converted) or '11' "
                         f"(floats in [-1, 1]); got {value_range!r}")
    t = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim != 4:
        raise ValueError(f"{what}: expected images (N, C, H, W), got shape {tuple(t.shape)}")
    if len(t) == 0:
        raise ValueError(f"{what}: no images (shape {tuple(t.shape)})")
    if t.dtype == torch.uint8:
        return t.float() / 127.5 - 1.0
    if not t.is_floating_point():
        dtype = str(t.dtype).replace("torch.", "")
        raise ValueError(f"{what}: dtype {dtype} is not an image type; give float images in [-1, 1] "
                         f"(or [0, 1] with --range 01 / value_range='01') or uint8 in [0, 255]")
    t = t.float()
    if not torch.isfinite(t).all():
        raise ValueError(f"{what}: contains NaN or Inf")
    lo, hi = float(t.min()), float(t.max())
    if value_range == "01":
        if lo < -1e-4 or hi > 1.0001:
            raise ValueError(f"{what}: value_range '01' says the values lie in [0, 1], but they are outside "
                             f"[0, 1] (range [{lo:.3g}, {hi:.3g}])")
        return t * 2.0 - 1.0
    if value_range is None and lo >= 0.0 and hi <= 1.0:
        # Rule: float data with min >= 0 and max <= 1 are most likely [0, 1]
        # images (torchvision's ToTensor, PIL / 255), which scored as [-1, 1]
        # would give silently wrong numbers; the caller must say which they are.
        raise ValueError(f"{what}: values lie in [0, 1]; ganscape expects [-1, 1]; pass --range 01 "
                         f"(value_range='01') to convert them with 2x - 1, or --range 11 (value_range='11') "
                         f"if they are [-1, 1] data that happen to be >= 0 (observed range [{lo:.3g}, {hi:.3g}])")
    if lo < -1.0001 or hi > 1.0001:
        hint = "; for [0, 255] data give uint8" if lo >= 0 and hi <= 255 else ""
        raise ValueError(f"{what}: values must lie in [-1, 1] (or be uint8), got range [{lo:.3g}, {hi:.3g}]{hint}")
    return t


@dataclass
class EvalContext:
    """Everything a metric may read. Features are computed lazily, once."""
    fake: torch.Tensor                      # generated images (N, C, H, W) in [-1, 1]
    real: torch.Tensor                      # reference images (M, C, H, W) in [-1, 1]
    extractor: FeatureExtractor
    reference: Dict[str, Any]               # how the reference was chosen (for the record and the cache)
    cache: Optional[FeatureCache] = None
    train: Optional[ArrayDataset] = None    # training data, for memorization
    info: Dict[str, Any] = field(default_factory=dict)  # the data set's ground truth
    batch_size: int = 256
    progress: bool = False
    fake_labels: Optional[torch.Tensor] = None  # classes the generated images were conditioned on
    real_labels: Optional[torch.Tensor] = None  # classes of the reference images
    generator: Optional[torch.nn.Module] = None  # the net that made `fake`, for metrics that sample
                                                 # it themselves (infogan-accuracy: images per code value)
    _fake: Optional[Features] = None
    _real: Optional[Features] = None

    def fake_features(self) -> Features:
        if self._fake is None:
            self._fake = canonical(extract(self.extractor, self.fake, self.batch_size, progress=self.progress))
        return self._fake

    def real_features(self) -> Features:
        if self._real is None:
            compute = lambda: extract(self.extractor, self.real, self.batch_size, progress=self.progress)  # noqa: E731
            if self.cache is not None and self.reference.get("cacheable"):
                fields = {k: v for k, v in self.reference.items() if k != "cacheable"}
                fields["extractor"] = self.extractor.identity()
                self._real = self.cache.get_or_compute(fields, compute)
            else:
                self._real = canonical(compute())
        return self._real


def _features_pair(ctx: EvalContext):
    return ctx.real_features().features, ctx.fake_features().features


# ---- registered metrics ---------------------------------------------------------
# `results` tags name the scalars each metric returns, so that a config's
# eval.best is checked before training starts, not after it.
@METRICS.register("fid", results=("fid",))
def _fid(p: NoParams, ctx: EvalContext) -> Dict[str, float]:
    """Frechet distance between Gaussians fit to real and generated features (lower is better)."""
    from .fid import fid_from_features
    real, fake = _features_pair(ctx)
    return {"fid": fid_from_features(fake, real)}


@dataclass(frozen=True)
class KIDParams:
    num_subsets: int = 100
    subset_size: int = 1000


@METRICS.register("kid", params=KIDParams, results=("kid", "kid_std"))
def _kid(p: KIDParams, ctx: EvalContext) -> Dict[str, float]:
    """Kernel inception distance: unbiased MMD^2, cubic kernel, mean and std over subsets."""
    from .kid import kid_from_features
    real, fake = _features_pair(ctx)
    mean, std = kid_from_features(fake, real, num_subsets=p.num_subsets, subset_size=p.subset_size)
    return {"kid": mean, "kid_std": std}


@dataclass(frozen=True)
class ISParams:
    splits: int = 10


@METRICS.register("is", params=ISParams, results=("is", "is_std"))
def _is(p: ISParams, ctx: EvalContext) -> Dict[str, float]:
    """Inception score exp(E KL(p(y|x) || p(y))) of the generated samples, mean and std over splits."""
    from .inception_score import inception_score
    probs = ctx.fake_features().probs
    if probs is None:
        raise ConfigError(f"metric is: extractor {ctx.extractor.name!r} gives no class probabilities for these images")
    mean, std = inception_score(probs=probs, splits=p.splits)
    return {"is": mean, "is_std": std}


@dataclass(frozen=True)
class PRDCParams:
    k_pr: int = 3
    k_dc: int = 5


@METRICS.register("prdc", params=PRDCParams, results=("precision", "recall", "density", "coverage"))
def _prdc(p: PRDCParams, ctx: EvalContext) -> Dict[str, float]:
    """Improved precision/recall (k=3) and density/coverage (k=5) in feature space."""
    from .prdc import prdc
    real, fake = _features_pair(ctx)
    return {k: float(v) for k, v in prdc(real, fake, k_pr=p.k_pr, k_dc=p.k_dc).items()}


@dataclass(frozen=True)
class MSSSIMParams:
    n_pairs: int = 1000


@METRICS.register("msssim", params=MSSSIMParams, results=("msssim", "msssim_real"))
def _msssim(p: MSSSIMParams, ctx: EvalContext) -> Dict[str, float]:
    """Mean MS-SSIM over random pairs of generated images (lower = more diverse); the real data's value alongside."""
    from .msssim import ms_ssim_diversity
    return {"msssim": float(ms_ssim_diversity(ctx.fake, n_pairs=p.n_pairs, seed=0)),
            "msssim_real": float(ms_ssim_diversity(ctx.real, n_pairs=p.n_pairs, seed=0))}


@METRICS.register("c2st", results=("c2st_accuracy", "c2st_p_value"))
def _c2st(p: NoParams, ctx: EvalContext) -> Dict[str, float]:
    """Classifier two-sample test: held-out accuracy of a real-vs-generated classifier (0.5 = indistinguishable)."""
    from .c2st import c2st_accuracy
    real, fake = _features_pair(ctx)
    out = c2st_accuracy(fake, real, seed=0)
    return {"c2st_accuracy": float(out["accuracy"]), "c2st_p_value": float(out["p_value"])}


@METRICS.register("memorization", results=("memorization_mean_nn_distance", "memorization_median_nn_distance",
                                              "memorization_fraction_near_copies"))
def _memorization(p: NoParams, ctx: EvalContext) -> Dict[str, float]:
    """Nearest-neighbour distances of generated samples to the training set (pixels) and the fraction of near copies."""
    from .memorization import memorization
    if ctx.train is None:
        raise ConfigError("metric memorization needs the training set; evaluate a run or pass train=")
    out = memorization(ctx.fake.flatten(1).numpy(), ctx.train.x.flatten(1).numpy())
    return {f"memorization_{k}": float(v) for k, v in out.items() if isinstance(v, (int, float, np.floating))}


@METRICS.register("stacked-modes", results=("stacked_modes_captured", "stacked_kl_to_uniform"))
def _stacked_modes(p: NoParams, ctx: EvalContext) -> Dict[str, float]:
    """Stacked-digits protocol: modes captured out of 1000 and KL(generated modes || uniform)."""
    from .stacked_modes import stacked_mode_stats
    if ctx.fake.shape[1] != 3 or not hasattr(ctx.extractor, "channel_logits"):
        raise ConfigError("metric stacked-modes needs 3-channel stacked digits and the digits-cnn extractor")
    with torch.no_grad():
        logits = torch.cat([ctx.extractor.channel_logits(ctx.fake[i:i + 1000]) for i in range(0, len(ctx.fake), 1000)])
    out = stacked_mode_stats(torch.softmax(logits.double(), -1).numpy())
    return {f"stacked_{k}": float(v) for k, v in out.items()}


@METRICS.register("shapes", results=("shapes_valid_fraction", "shapes_kind_tv", "shapes_size_coverage",
                                       "shapes_position_coverage", "shapes_color_coverage", "shapes_coverage"))
def _shapes(p: NoParams, ctx: EvalContext) -> Dict[str, float]:
    """Synthetic shapes: fraction of generated images that are one valid shape, and coverage of the true parameter ranges."""
    from .shape_validity import shape_validity
    if "shapes" not in ctx.info:
        raise ConfigError("metric shapes needs the 'shapes' data set's ground truth")
    return shape_validity(ctx.fake, ctx.info)


def _labels(ctx: EvalContext, metric: str):
    if ctx.fake_labels is None or ctx.real_labels is None:
        raise ConfigError(f"metric {metric} needs class labels of the generated and the reference images: "
                          "evaluate a class-conditional run (method cgan) or pass fake_labels / real_labels")
    return ctx.fake_labels.numpy(), ctx.real_labels.numpy()


def _per_class(prefix: str, values) -> Dict[str, float]:
    return {f"{prefix}_class_{c}": float(v) for c, v in enumerate(values) if v == v}  # NaN: class not evaluated


@METRICS.register("intra-fid", results=("intra_fid",))
def _intra_fid(p: NoParams, ctx: EvalContext) -> Dict[str, float]:
    """Intra-class FID: FID of each class's samples against that class's real images, averaged (per class too)."""
    from .conditional import intra_class_fid
    fl, rl = _labels(ctx, "intra-fid")
    real, fake = _features_pair(ctx)
    out = intra_class_fid(fake, real, fake_labels=fl, real_labels=rl)
    return {"intra_fid": float(out["intra_fid"]), **_per_class("intra_fid", out["intra_fid_per_class"])}


@METRICS.register("class-consistency", results=("class_consistency",))
def _class_consistency(p: NoParams, ctx: EvalContext) -> Dict[str, float]:
    """Accuracy of the extractor's classifier (digits-cnn for digits) on class-conditional samples."""
    from .conditional import class_consistency
    fl, _ = _labels(ctx, "class-consistency")
    probs = ctx.fake_features().probs
    if probs is None:
        raise ConfigError(f"metric class-consistency: extractor {ctx.extractor.name!r} gives no class probabilities")
    out = class_consistency(predicted=probs, labels=fl)
    return {"class_consistency": float(out["class_consistency"]),
            **_per_class("class_consistency", out["class_consistency_per_class"])}


@METRICS.register("per-class-pr", params=PRDCParams, results=("precision_mean", "recall_mean"))
def _per_class_pr(p: PRDCParams, ctx: EvalContext) -> Dict[str, float]:
    """Improved precision and recall within each class (k = k_pr), and their means."""
    from .conditional import per_class_precision_recall
    fl, rl = _labels(ctx, "per-class-pr")
    real, fake = _features_pair(ctx)
    out = per_class_precision_recall(fake, real, fake_labels=fl, real_labels=rl, k=p.k_pr)
    return {"precision_mean": float(out["precision_mean"]), "recall_mean": float(out["recall_mean"]),
            **_per_class("precision", out["precision_per_class"]), **_per_class("recall", out["recall_per_class"])}


# ---- entry points -----------------------------------------------------------------
def build_extractor(name: Optional[str], params: Optional[Dict[str, Any]] = None,
                    dataset: Optional[str] = None, device: str = "cpu") -> FeatureExtractor:
    name = name or default_extractor(dataset or "")
    return EXTRACTORS.build(name, params or {}).to(device).eval()


def _check_metric_names(metrics: Sequence[str]) -> List[str]:
    names = [m.strip() for m in metrics if m.strip()]
    for m in names:
        METRICS.get(m)  # a ConfigError listing the choices if unknown
    return names


def evaluate_arrays(fake, real, metrics: Sequence[str] = DEFAULT_METRICS, extractor: Union[str, FeatureExtractor,
                    None] = None, extractor_params: Optional[Dict[str, Any]] = None, device: str = "cpu",
                    metric_params: Optional[Dict[str, Dict[str, Any]]] = None, reference: Optional[Dict] = None,
                    cache: Optional[FeatureCache] = None, train: Optional[ArrayDataset] = None,
                    info: Optional[Dict[str, Any]] = None, batch_size: int = 256,
                    progress: bool = False, value_range: Optional[str] = None,
                    fake_labels=None, real_labels=None,
                    generator: Optional[torch.nn.Module] = None) -> Dict[str, Any]:
    """Score generated images against reference images.

    fake_labels, real_labels: class labels (N,) / (M,), for the conditional
    metrics (intra-fid, class-consistency, per-class-pr).
    generator: the net that made `fake`, for metrics that draw their own
    samples from it (infogan-accuracy).

    fake, real: tensors or arrays (N, C, H, W), float in [-1, 1] or uint8 in
    [0, 255]; value_range applies to float inputs (see as_images: by default
    floats lying wholly in [0, 1] are refused as ambiguous).
    Returns {"results": {...}, "n_fake", "n_real", "extractor", "protocol", "warnings"}.
    Scores do not depend on batch_size (tested).
    """
    names = _check_metric_names(metrics)
    batch_size = positive_int(batch_size, "batch_size")
    fake_t = as_images(fake, "generated samples", value_range)
    real_t = as_images(real, "reference images", value_range)
    if fake_t.shape[1:] != real_t.shape[1:]:
        raise ValueError(f"generated samples have shape {tuple(fake_t.shape[1:])} but the reference has "
                         f"{tuple(real_t.shape[1:])}")
    if len(fake_t) < 2 or len(real_t) < 2:
        raise ValueError(f"need at least 2 generated and 2 reference images, got {len(fake_t)} and {len(real_t)}")
    ext = extractor if isinstance(extractor, FeatureExtractor) else build_extractor(
        extractor, extractor_params, (reference or {}).get("dataset"), device=device)
    ctx = EvalContext(fake=fake_t, real=real_t, extractor=ext, reference=dict(reference or {}), cache=cache,
                      train=train, info=dict(info or {}), batch_size=batch_size, progress=progress,
                      fake_labels=None if fake_labels is None else torch.as_tensor(fake_labels),
                      real_labels=None if real_labels is None else torch.as_tensor(real_labels),
                      generator=generator)
    results: Dict[str, float] = {}
    protocol: Dict[str, Any] = {}
    caught: List[str] = []
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for m in names:
            params = METRICS.params(m, (metric_params or {}).get(m), where=f"metric {m}")
            protocol[m] = {k: v for k, v in vars(params).items()}
            out = dict(METRICS.get(m).fn(params, ctx))
            # what a metric learns while computing (e.g. which estimator it used) joins its protocol
            protocol[m].update(out.pop("_protocol", {}))
            results.update(out)
        caught = sorted({str(x.message) for x in w})
    for msg in caught:
        warnings.warn(msg, stacklevel=2)
    return {"results": results, "n_fake": len(fake_t), "n_real": len(real_t),
            "extractor": ext.identity(), "reference": {k: v for k, v in ctx.reference.items() if k != "cacheable"},
            "protocol": protocol, "warnings": caught, "seconds": time.perf_counter() - t0}


def reference_images(dataset: str, params: Dict[str, Any], split: str, n: Optional[int], seed: int = 0):
    """Reference images of a registered data set and the record of how they were chosen."""
    entry = DATASETS.get(dataset)
    data = entry.fn(DATASETS.params(dataset, params), split, seed)
    if data.kind != "image":
        raise ConfigError(f"data set {dataset!r} holds points, not images; score 2-D data with mode coverage")
    x = data.x
    if n is not None and n < len(x):
        idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
        x = x[idx]
    ref = {"dataset": dataset, "params": dict(params), "split": split, "n": len(x), "seed": seed, "cacheable": True}
    return x, ref, data


# Results where larger is better; every other result is "lower is better".
HIGHER_IS_BETTER = {"is", "precision", "recall", "density", "coverage", "stacked_modes_captured",
                    "shapes_valid_fraction", "shapes_coverage", "class_consistency", "precision_mean",
                    "recall_mean"}


def is_better(name: str, new: float, old: Optional[float]) -> bool:
    from .sequences import HIGHER_IS_BETTER as TOKENS_HIGHER
    if old is None:
        return True
    return new > old if name in HIGHER_IS_BETTER or name in TOKENS_HIGHER else new < old


class NonFiniteSamplesError(ValueError):
    """A generator produced NaN or Inf: its samples and any score of them are
    meaningless. A ValueError, so the CLI reports it (exit code 2)."""

    def __init__(self, source: str, detail: str):
        self.source, self.detail = source, detail
        super().__init__(f"{source} outputs NaN or Inf ({detail}); the run diverged: sample or evaluate an "
                         f"earlier checkpoint (--checkpoint best or a step number; see the run's checkpoints/) "
                         f"or retrain it, e.g. with a lower learning rate")

    def about(self, source: str) -> "NonFiniteSamplesError":
        """The same error, naming the generator as `source` (e.g. its run and checkpoint)."""
        return NonFiniteSamplesError(source, self.detail)


@torch.no_grad()
def generate(G: torch.nn.Module, n: int, seed: int, batch_size: int = 500,
             source: str = "the generator", labels: Optional[torch.Tensor] = None) -> torch.Tensor:
    """n samples from G (in eval mode) with latents from a private seeded generator, on the CPU.

    A class-conditional G is given `labels` (n,), by default the classes
    0..K-1 in turn (nets.conditional.generator_labels); an unconditional G
    takes none. Raises NonFiniteSamplesError, naming `source`, as soon as a
    batch holds NaN or Inf, so that no NaN sample is written or scored.
    """
    from ..nets.conditional import generator_labels
    n, batch_size = positive_int(n, "n"), positive_int(batch_size, "batch_size")
    if getattr(G, "vocab_size", 0):  # a sequence generator draws with its own seeded sampler
        from .sequences import generate_tokens
        return generate_tokens(G, n, seed, batch_size)
    k = getattr(G, "num_classes", 0)
    if labels is None:
        labels = generator_labels(G, n)
    elif not k:
        raise ValueError("labels were given but the generator is not class-conditional")
    else:
        labels = torch.as_tensor(labels, dtype=torch.int64)
        if labels.shape != (n,) or int(labels.min()) < 0 or int(labels.max()) >= k:
            raise ValueError(f"labels must be {n} class indices in 0..{k - 1}")
    was_training = G.training
    G.eval()
    try:
        device = next(G.parameters()).device
        g = torch.Generator().manual_seed(seed)
        out = []
        for i in range(0, n, batch_size):
            z = torch.randn(min(batch_size, n - i), G.z_dim, generator=g).to(device)
            x = (G(z) if labels is None else G(z, labels[i:i + len(z)].to(device))).cpu()
            x = x.float() if x.is_floating_point() else x  # token ids stay integers
            if not torch.isfinite(x).all():
                bad = sum(int((~torch.isfinite(t)).sum()) for t in (*G.parameters(), *G.buffers())
                          if t.is_floating_point())
                # Tell a diverged checkpoint from an overflow on finite weights.
                detail = (f"its weights contain NaN or Inf: {bad} values" if bad else
                          "its weights are finite, so the network overflows")
                raise NonFiniteSamplesError(source, detail)
            out.append(x)
    finally:
        G.train(was_training)
    return torch.cat(out)


def evaluate_generator(G: torch.nn.Module, cfg, metrics: Sequence[str], n: int, split: str = "train",
                       extractor: Optional[str] = None, seed: int = 0, batch_size: int = 256,
                       cache: Optional[FeatureCache] = None, progress: bool = False,
                       extractor_obj: Optional[FeatureExtractor] = None,
                       extractor_params: Optional[Dict[str, Any]] = None,
                       source: str = "the generator",
                       metric_params: Optional[Dict[str, Dict[str, Any]]] = None) -> Dict[str, Any]:
    """Sample n images from G and score them against the config's data set (split).

    source names G in errors (e.g. "the generator of RUN (checkpoint ..., step ...)").
    metric_params: {metric: {key: value}} (defaults: each metric's own).
    """
    if getattr(G, "vocab_size", 0):  # a sequence generator: token metrics (metrics/sequences.py)
        from .sequences import evaluate_tokens
        return evaluate_tokens(G, cfg, metrics, n, split, seed=seed, metric_params=metric_params)
    real, ref, data = reference_images(cfg.data.name, dict(cfg.data.params), split, None, seed=0)
    from ..nets.conditional import generator_labels
    labels = generator_labels(G, n)  # a conditional G: classes in turn, so every class gets n / K samples
    fake = generate(G, n, seed, source=source, labels=labels)
    train = None
    if "memorization" in metrics:
        from ..train.state import load_data
        train = load_data(cfg, "train")
    # the extractor runs where the generator lives (the GPU, when there is one)
    ext = extractor_obj or build_extractor(extractor, extractor_params, cfg.data.name,
                                           device=str(next(G.parameters()).device))
    # Both sides are [-1, 1] by construction (a data set, a generator), so no
    # [0, 1] guess applies: a collapsed generator may well output only values >= 0.
    return evaluate_arrays(fake, real, metrics, extractor=ext, reference=ref, cache=cache or FeatureCache(),
                           train=train, info=data.info, batch_size=batch_size, progress=progress,
                           value_range="11", fake_labels=labels, real_labels=data.y if labels is not None else None,
                           generator=G, metric_params=metric_params)
