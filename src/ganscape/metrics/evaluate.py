"""Evaluation: samples -> features (once) -> every requested metric.

The entry points for samples in memory or in files: evaluate_arrays
(images), evaluate_generator (a net: sample, then score; the training
loop's evaluator), evaluate_samples (FILE.npz / image folders / arrays
against a data set or other images). A run folder is scored by
evaluate_run.evaluate, which finds its generator and calls these.
Reading inputs is images.py; the registered image metrics are
image_metrics.py (registered by ganscape.components, not by this module).

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
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ..data.base import ArrayDataset
from ..registry import DATASETS, EXTRACTORS, METRICS, ConfigError
from .cache import FeatureCache, canonical
from .checks import positive_int
from .features.base import FeatureExtractor, Features, extract
from .images import VALUE_RANGES, PathLike, StreamedImages, as_images, load_images  # noqa: F401  (VALUE_RANGES: re-exported)

DEFAULT_METRICS = ("fid", "kid", "is", "prdc")


def default_extractor(dataset: str) -> str:
    """The extractor a data set is scored with unless one is named: the
    dataset's registry tag `extractor`, else the FID InceptionV3."""
    if dataset in DATASETS:
        return DATASETS.get(dataset).tags.get("extractor", "inception-v3-fid")
    return "inception-v3-fid"


@dataclass
class EvalContext:
    """Everything a metric may read. Features are computed lazily, once."""
    fake: Optional[torch.Tensor]            # generated images (N, C, H, W) in [-1, 1]; None where only
                                            # their features were kept (evaluate_generator, FEATURE_ONLY)
    real: Any                               # reference images (M, C, H, W) in [-1, 1]: a tensor, or
                                            # StreamedImages (images.pixels() gives a tensor)
    extractor: FeatureExtractor
    reference: Dict[str, Any]               # how the reference was chosen (for the record and the cache)
    cache: Optional[FeatureCache] = None
    train: Optional[ArrayDataset] = None    # training data, for memorization
    heldout: Optional[ArrayDataset] = None  # held-out real data (the test split), for memorization-invariant
    info: Dict[str, Any] = field(default_factory=dict)  # the data set's ground truth
    batch_size: int = 256
    progress: bool = False
    fake_labels: Optional[torch.Tensor] = None  # classes the generated images were conditioned on
    real_labels: Optional[torch.Tensor] = None  # classes of the reference images
    generator: Optional[torch.nn.Module] = None  # the net that made `fake`, for metrics that sample
                                                 # it themselves (infogan-accuracy: images per code value)
    run_dir: Optional[Path] = None              # the run evaluated (`eval RUN`), for metrics that read its
                                                # other checkpoints (skill-rating: its discriminators)
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


def build_extractor(name: Optional[str], params: Optional[Dict[str, Any]] = None,
                    dataset: Optional[str] = None, device: str = "cpu") -> FeatureExtractor:
    name = name or default_extractor(dataset or "")
    return EXTRACTORS.build(name, params or {}).to(device).eval()


def check_extractor(ext: FeatureExtractor, metrics: Sequence[str], shape: Sequence[int], name: str = "") -> None:
    """Refuse, with a ConfigError naming the fix, an extractor that cannot
    serve `metrics` on images of `shape` (C, H, W): it fails on two blank
    images of that shape (digits-cnn beyond 32 px), or a metric that needs
    class probabilities (registry tag needs="probs": is, class-consistency)
    gets none (random-conv). Called before a run folder is written, so the
    pairing fails at the start, not at the first evaluation (issue 17, item 33)."""
    name = name or getattr(ext, "name", type(ext).__name__)
    fix = ("choose another with --set eval.extractor=NAME (see `ganscape list`), or other eval.metrics, "
           "or eval.metrics=[] to train without evaluation")
    try:
        with torch.no_grad():
            feats = canonical(extract(ext, torch.zeros(2, *shape), batch_size=2))
    except (ValueError, RuntimeError) as e:
        raise ConfigError(f"eval.extractor: {name} cannot score images of shape {tuple(shape)} "
                          f"({str(e).splitlines()[0]}); {fix}") from None
    for m in metrics:
        if METRICS.get(m).tags.get("needs") == "probs" and feats.probs is None:
            raise ConfigError(f"eval.metrics: {m} needs class probabilities, which extractor {name} does "
                              f"not give; {fix}")


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
                    generator: Optional[torch.nn.Module] = None,
                    fake_features: Optional[Features] = None, fake_shape=None,
                    heldout: Optional[ArrayDataset] = None, run_dir: Optional[Path] = None) -> Dict[str, Any]:
    """Score generated images against reference images.

    fake_features, fake_shape: instead of `fake` (None), the generated
    images' features (canonical) and the shape (C, H, W) of one image, for
    metrics in FEATURE_ONLY (evaluate_generator, which never holds the images).

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
    if fake_features is not None:
        if not set(names) <= FEATURE_ONLY:
            raise ValueError(f"metrics {', '.join(sorted(set(names) - FEATURE_ONLY))} need the generated images, "
                             f"not only their features")
        fake_t, n_fake, shape = None, len(fake_features), tuple(fake_shape)
    else:
        fake_t = as_images(fake, "generated samples", value_range)
        n_fake, shape = len(fake_t), tuple(fake_t.shape[1:])
    real_t = real if isinstance(real, StreamedImages) else as_images(real, "reference images", value_range)
    if shape != tuple(real_t.shape[1:]):
        raise ValueError(f"generated samples have shape {shape} but the reference has "
                         f"{tuple(real_t.shape[1:])}")
    if n_fake < 2 or len(real_t) < 2:
        raise ValueError(f"need at least 2 generated and 2 reference images, got {n_fake} and {len(real_t)}")
    ext = extractor if isinstance(extractor, FeatureExtractor) else build_extractor(
        extractor, extractor_params, (reference or {}).get("dataset"), device=device)
    ctx = EvalContext(fake=fake_t, real=real_t, extractor=ext, reference=dict(reference or {}), cache=cache,
                      train=train, info=dict(info or {}), batch_size=batch_size, progress=progress,
                      fake_labels=None if fake_labels is None else torch.as_tensor(fake_labels),
                      real_labels=None if real_labels is None else torch.as_tensor(real_labels),
                      generator=generator, _fake=fake_features, heldout=heldout, run_dir=run_dir)
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
    return {"results": results, "n_fake": n_fake, "n_real": len(real_t),
            "extractor": ext.identity(), "reference": {k: v for k, v in ctx.reference.items() if k != "cacheable"},
            "protocol": protocol, "warnings": caught, "seconds": time.perf_counter() - t0}


def reference_images(dataset: str, params: Dict[str, Any], split: str, n: Optional[int], seed: int = 0,
                     stream: bool = False):
    """Reference images of a registered data set and the record of how they were chosen; with
    `stream`, as StreamedImages (decoded a batch at a time when their features are extracted)."""
    entry = DATASETS.get(dataset)
    data = entry.fn(DATASETS.params(dataset, params), split, seed)
    if data.kind != "image":
        raise ConfigError(f"data set {dataset!r} holds points, not images; score 2-D data with mode coverage")
    idx = None
    if n is not None and n < len(data):
        idx = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    if stream:
        x = StreamedImages(data, idx)
    else:
        x = data.floats() if idx is None else data.take(idx)
    ref = {"dataset": dataset, "params": dict(params), "split": split, "n": len(x), "seed": seed, "cacheable": True}
    return x, ref, data


# Results where larger is better; every other result is "lower is better".
HIGHER_IS_BETTER = {"pitch_accuracy", "instrument_accuracy", "note_accuracy", "notes_classes_covered",  # audio
                    "skill_rating", "skill_win_rate", "is", "precision", "recall", "density", "coverage", "stacked_modes_captured",
                    "shapes_valid_fraction", "shapes_coverage", "class_consistency", "precision_mean",
                    "recall_mean", "infogan_cat_accuracy", "c2st_p_value", "shapes_size_coverage",
                    "shapes_position_coverage", "shapes_color_coverage"}
# per-class results (class_consistency_class_3, ...) read as their metric does
HIGHER_PREFIXES = ("class_consistency_class_", "precision_class_", "recall_class_",
                   "caption_")   # caption-accuracy's accuracies and valid fraction (not caption_heldout_fid)


# Results that are neither "higher" nor "lower is better": how to read them.
READ_AS = {"c2st_accuracy": "0.5 is best (indistinguishable)",
           "skill_rating_rd": "the rating's Glicko-2 deviation after 10 replays of the matches (relative, not calibrated)",
           "msssim": "close to msssim_real is best",
           "msssim_real": "the real data's value",
           "memorization_fraction_near_copies": "lower is better",
           "memorization_mean_nn_distance": "near the held-out real value is best",
           "memorization_median_nn_distance": "near the held-out real value is best",
           "memorization_threshold": "the near-copy distance used",
           "memorized_fraction": "lower is better; fresh samples give about the quantile (0.05)",
           "memorized_threshold": "the held-out calibration distance",
           "memorized_median_distance": "near the held-out real images' is best",
           "memorization_n_samples": "count", "memorization_n_train": "count",
           "nll_nats": "lower is better",
           "random_return": "a uniformly random policy's, for reference",
           "expert_return": "the expert's, for reference",
           "geometry_rlt_mode_real": "the real data's value (loops)",
           "geometry_rlt_mode_fake": "close to geometry_rlt_mode_real is best",
           **{k: "closest to the training graph's value is best" for k in
              ("max_degree", "triangles", "clustering", "assortativity", "path_length", "lcc")},
           "flaws_c2st_accuracy": "0.5 is best (indistinguishable)",
           "flaws_residual_accuracy": "0.5 is best (nothing left to find)",
           "flaws_n_significant": "0 is best",
           "flaws_first_drop": "the first flaw's part of the accuracy, not a score",
           "flaws_first_share": "the first flaw's share of the excess over 0.5, not a score"}
# per-flaw results (flaws_accuracy_2, flaws_drop_2, ...) read as their family does
READ_AS_PREFIXES = {"flaws_accuracy_": "0.5 is best", "flaws_drop_": "that flaw's part of the accuracy, not a score"}


def direction(name: str) -> str:
    """How to read result `name`: "higher is better", "lower is better" or,
    for results where neither holds, what is best (READ_AS)."""
    if name in READ_AS:
        return READ_AS[name]
    for prefix, how in READ_AS_PREFIXES.items():
        if name.startswith(prefix):
            return how
    if name.endswith("_std"):
        return "spread"
    return "higher is better" if _higher(name) else "lower is better"


def _higher(name: str) -> bool:
    """Whether a larger value of result `name` is better (image, token and policy results)."""
    from .graphs import HIGHER_IS_BETTER as GRAPH_HIGHER
    from .returns import HIGHER_IS_BETTER as RETURNS_HIGHER
    from .sequences import HIGHER_IS_BETTER as TOKENS_HIGHER
    return name in HIGHER_IS_BETTER or name in TOKENS_HIGHER or name in RETURNS_HIGHER or name in GRAPH_HIGHER \
        or (name.startswith(HIGHER_PREFIXES) and not name.endswith("_fid"))


def is_better(name: str, new: float, old: Optional[float]) -> bool:
    if old is None:
        return True
    return new > old if _higher(name) \
        else new < old


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
def check_room(G: torch.nn.Module, n: int, k: int) -> None:
    """Refuse (one line) n samples that cannot be held in memory: their
    size from one probe sample, twice over (the batches and their
    concatenation), plus a label each. Before anything of size n is made."""
    from ..resources import check_memory
    shape = sample_shape(G)
    per_sample = 2 * int(np.prod(shape)) * 4 + 8
    check_memory(n * per_sample, f"n={n}: {n} samples of shape {shape}",
                 "ask for fewer (or score / write them in parts)")


@torch.no_grad()
def sample_shape(G: torch.nn.Module) -> Tuple[int, ...]:
    """The shape of one sample of G, from one probe sample (class 0 for a
    conditional G), leaving G's mode and the random state as they were."""
    k = getattr(G, "num_classes", 0)
    was_training = G.training
    G.eval()
    device = next(G.parameters()).device
    # a sampler that draws inside (PixelCNN) must not move the random state the samples then come from
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        try:
            z = torch.zeros(1, G.z_dim, device=device)
            x = G(z) if not k else G(z, torch.zeros(1, dtype=torch.int64, device=device))
        finally:
            G.train(was_training)
    return tuple(x.shape[1:])


@torch.no_grad()
def generate(G: torch.nn.Module, n: int, seed: int, batch_size: int = 500,
             source: str = "the generator", labels: Optional[torch.Tensor] = None) -> torch.Tensor:
    """n samples from G (in eval mode) with latents from a private seeded generator, on the CPU.

    A class-conditional G is given `labels` (n,), by default the classes
    0..K-1 in turn (nets.conditional.generator_labels); an unconditional G
    takes none. Raises NonFiniteSamplesError, naming `source`, as soon as a
    batch holds NaN or Inf, so that no NaN sample is written or scored.
    The batches are those of generate_batches (same seed and batch_size:
    the same samples).
    """
    n, batch_size = positive_int(n, "n"), positive_int(batch_size, "batch_size")
    if getattr(G, "vocab_size", 0):  # a sequence generator draws with its own seeded sampler
        from .sequences import generate_tokens
        return generate_tokens(G, n, seed, batch_size)
    check_room(G, n, getattr(G, "num_classes", 0))
    return torch.cat(list(generate_batches(G, n, seed, batch_size, source, labels)))


def generate_batches(G: torch.nn.Module, n: int, seed: int, batch_size: int = 500,
                     source: str = "the generator", labels: Optional[torch.Tensor] = None, keep=None):
    """generate's samples, batch by batch (each at most batch_size), for a
    caller that writes or scores them as they come and so never holds all n
    (api.write_samples). Not for sequence generators (generate_tokens).
    keep(b) False: batch b's latents are drawn (the stream stays the same) but
    G is not run and None is yielded (another rank's batch)."""
    from ..nets.conditional import generator_labels
    n, batch_size = positive_int(n, "n"), positive_int(batch_size, "batch_size")
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
        for i in range(0, n, batch_size):
            # one draw per batch from the one private generator: the stream, so the
            # samples, depend on batch_size but not on who consumes the batches
            z = torch.randn(min(batch_size, n - i), G.z_dim, generator=g).to(device)
            if keep is not None and not keep(i // batch_size):
                yield None
                continue
            with torch.no_grad():
                x = (G(z) if labels is None else G(z, labels[i:i + len(z)].to(device))).cpu()
            x = x.float() if x.is_floating_point() else x  # token ids stay integers
            if not torch.isfinite(x).all():
                bad = sum(int((~torch.isfinite(t)).sum()) for t in (*G.parameters(), *G.buffers())
                          if t.is_floating_point())
                # Tell a diverged checkpoint from an overflow on finite weights.
                detail = (f"its weights contain NaN or Inf: {bad} values" if bad else
                          "its weights are finite, so the network overflows")
                raise NonFiniteSamplesError(source, detail)
            yield x
    finally:
        G.train(was_training)


# Metrics that read only the generated images' features (and their labels):
# for these, evaluate_generator extracts the features batch by batch as the
# images are made, and never holds all n images.
FEATURE_ONLY = frozenset({"fid", "kid", "is", "prdc", "c2st", "intra-fid", "class-consistency", "per-class-pr",
                          "skill-rating", "flaws", "geometry-score"})   # (skill-rating samples the generator itself)


@torch.no_grad()
def generated_features(G: torch.nn.Module, n: int, seed: int, ext: FeatureExtractor, batch_size: int = 256,
                       source: str = "the generator", labels: Optional[torch.Tensor] = None,
                       progress: bool = False) -> Features:
    """canonical(extract(ext, generate(G, n, seed, labels=labels), batch_size)),
    bit for bit, holding at most one generated batch and one extraction
    batch of images: the generated batches are cut at the same places
    (multiples of batch_size from the first sample) as extract cuts all n.
    Refuses (one line) n whose features cannot fit in memory."""
    from ..resources import check_memory
    probe = extract(ext, torch.zeros(1, *sample_shape(G)), 1)
    width = probe.features.shape[1] + (0 if probe.probs is None else probe.probs.shape[1])
    # float64 features, their concatenation and its float32-rounded copy (canonical), plus a label each
    check_memory(n * (3 * 8 * width + 8), f"n={n}: the features of {n} samples ({width} values each)",
                 "ask for fewer")
    feats: List[np.ndarray] = []
    probs: List[np.ndarray] = []
    from .. import ranks
    rank, world = ranks.eval_shard()
    if world > 1:   # `ganscape eval` under torchrun: generation batch b is made and extracted by rank b mod world
        from ..train.distributed import gather_batches
        mine_f, mine_p, count = {}, {}, 0
        for b, x in enumerate(generate_batches(G, n, seed, source=source, labels=labels,
                                               keep=lambda b: b % world == rank)):
            count += 1
            if x is None:
                continue
            with ranks.unsharded_eval():
                f = extract(ext, x, batch_size)
            mine_f[b] = torch.from_numpy(f.features)
            if f.probs is not None:
                mine_p[b] = torch.from_numpy(f.probs)
        feats_all = torch.cat(gather_batches(mine_f, count)).numpy()
        p_all = torch.cat(gather_batches(mine_p, count)).numpy() if probe.probs is not None else None
        return canonical(Features(features=feats_all, probs=p_all, extractor=ext.identity()))

    def run(x: torch.Tensor) -> None:
        f = extract(ext, x, batch_size)
        feats.append(f.features)
        if f.probs is not None:
            probs.append(f.probs)

    from tqdm.auto import tqdm
    held: List[torch.Tensor] = []
    size = 0
    with tqdm(total=n, desc=f"features ({ext.name})", unit="sample", leave=False, disable=not progress) as bar:
        for batch in generate_batches(G, n, seed, source=source, labels=labels):
            held.append(batch)
            size += len(batch)
            if size >= batch_size:
                x = torch.cat(held)
                cut = size - size % batch_size
                run(x[:cut])
                held, size = ([x[cut:]] if cut < size else []), size - cut
            bar.update(len(batch))
        if size:
            run(torch.cat(held))
    return canonical(Features(features=np.concatenate(feats), probs=np.concatenate(probs) if probs else None,
                              extractor=ext.identity()))


def evaluate_generator(G: torch.nn.Module, cfg, metrics: Sequence[str], n: int, split: str = "train",
                       extractor: Optional[str] = None, seed: int = 0, batch_size: int = 256,
                       cache: Optional[FeatureCache] = None, progress: bool = False,
                       extractor_obj: Optional[FeatureExtractor] = None,
                       extractor_params: Optional[Dict[str, Any]] = None,
                       source: str = "the generator",
                       metric_params: Optional[Dict[str, Dict[str, Any]]] = None,
                       run_dir: Optional[Path] = None) -> Dict[str, Any]:
    """Sample n images from G and score them against the config's data set (split).

    source names G in errors (e.g. "the generator of RUN (checkpoint ..., step ...)").
    run_dir: the run G comes from, for metrics that read its other checkpoints (skill-rating).
    metric_params: {metric: {key: value}} (defaults: each metric's own).
    """
    if getattr(G, "is_policy", False):  # a policy: returns over fixed-seed episodes (metrics/returns.py)
        from .returns import evaluate_policy
        return evaluate_policy(G, cfg, metrics, progress=progress, metric_params=metric_params)
    if getattr(G, "audio", ""):  # WaveGAN, SpecGAN: heard as waveforms (metrics/audio.py)
        from .audio import evaluate_audio
        return evaluate_audio(generate(G, n, seed, source=source), cfg, metrics, split, extractor,
                              batch_size=batch_size, progress=progress, extractor_params=extractor_params,
                              metric_params=metric_params)
    if getattr(G, "vocab_size", 0):  # a sequence generator: token metrics (metrics/sequences.py)
        from .sequences import evaluate_tokens
        return evaluate_tokens(G, cfg, metrics, n, split, seed=seed, metric_params=metric_params)
    real, ref, data = reference_images(cfg.data.name, dict(cfg.data.params), split, None, seed=0, stream=True)
    from ..nets.conditional import generator_labels
    labels = generator_labels(G, n)  # a conditional G: classes in turn, so every class gets n / K samples
    if labels is not None and data.info.get("sample_labels") == "data" and data.y is not None:
        # labels that are attribute combinations (image-folder with attributes) are far from uniform:
        # the samples take the reference images' own labels (in a seeded order, then in turn), so both
        # sides share one distribution
        order = torch.randperm(len(data.y), generator=torch.Generator().manual_seed(seed))
        labels = data.y[order[torch.arange(n) % len(data.y)]]
    train = heldout = None
    if {"memorization", "memorization-invariant"} & set(metrics):
        from ..train.state import load_data
        train = load_data(cfg, "train")
        if "memorization-invariant" in metrics:
            heldout = load_data(cfg, "test")
    # the extractor runs where the generator lives (the GPU, when there is one)
    ext = extractor_obj or build_extractor(extractor, extractor_params, cfg.data.name,
                                           device=str(next(G.parameters()).device))
    names = _check_metric_names(metrics)
    fake, feats = None, None
    if set(names) <= FEATURE_ONLY:  # features as the images come; the same numbers, bit for bit
        feats = generated_features(G, n, seed, ext, batch_size, source, labels, progress)
    else:  # a metric reads the images themselves (msssim, memorization, ...): all n are held
        fake = generate(G, n, seed, source=source, labels=labels)
    # Both sides are [-1, 1] by construction (a data set, a generator), so no
    # [0, 1] guess applies: a collapsed generator may well output only values >= 0.
    return evaluate_arrays(fake, real, names, extractor=ext, fake_features=feats, fake_shape=sample_shape(G),
                           reference=ref, cache=cache or FeatureCache(),
                           train=train, info=data.info, batch_size=batch_size, progress=progress,
                           value_range="11", fake_labels=labels, real_labels=data.y if labels is not None else None,
                           generator=G, metric_params=metric_params, heldout=heldout, run_dir=run_dir)


def _metric_list(metrics: Union[str, Sequence[str], None]) -> Tuple[str, ...]:
    if metrics is None:
        return DEFAULT_METRICS
    if isinstance(metrics, str):
        metrics = metrics.split(",")
    return tuple(m.strip() for m in metrics if m.strip())


def check_metrics_named(metrics: Union[str, Sequence[str], None]) -> None:
    """ConfigError for a metric list given but empty (`--metrics ""`): without
    it an evaluation would compute nothing and record a record without results."""
    if metrics is not None and not _metric_list(metrics):
        raise ConfigError(f"metrics: {metrics!r} names no metric; give a comma-separated list such as fid,kid "
                          f"(`ganscape list metric` shows them), or leave --metrics out for the defaults")


def _sample_count(n, what: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        # A slice x[:n] with n <= 0 would silently drop samples instead.
        raise ValueError(f"{what} must be a positive number of samples, got {n!r}")
    return int(n)


def split_metrics(method, metrics: Union[str, Sequence[str], None],
                  name: str = "this", image_defaults: Sequence[str] = DEFAULT_METRICS,
                  data_defaults: Optional[Sequence[str]] = None) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """(metrics scored on samples, metrics scored on the run's classifier) of
    a run of `method`. metrics None: the defaults of what the method trains
    (`image_defaults`, FID, KID, IS and PRDC unless the data set's registry
    tag `metrics` says otherwise, for a generator of images; the token
    metrics that apply for a sequence generator; classifier-error for a
    classifier; `data_defaults`, the data set's own tag, for a generator of any kind: random walks are
    tokens, judged by the graph metric). Asking for a kind of metric the method has no net for is a
    ConfigError."""
    if metrics is None:
        from .sequences import TOKEN_DEFAULTS
        from .returns import POLICY_DEFAULTS
        on_gen = tuple(data_defaults) if data_defaults else \
            {"tokens": TOKEN_DEFAULTS, "policy": POLICY_DEFAULTS}.get(getattr(method, "data_kind", ""),
                                                                      tuple(image_defaults))
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
    check_metrics_named(metrics)
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
    from ..train.state import resolve_device
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
