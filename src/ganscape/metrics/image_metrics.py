"""The registered image metrics: each adapts an EvalContext (features
computed once, shared) to a function of this package, and declares the
scalars it returns (`results`), so that a config's eval.best is checked
before training starts. Registered when ganscape.components imports this
module; the token metrics are in sequences.py, nll in nll.py,
classifier-error and infogan-accuracy in their own modules.

Tags: needs="probs" (the metric needs the extractor's class probabilities;
checked before training, evaluate.check_extractor); real_baseline=True (the
metric is a function of two image sets alone, so `ganscape eval RUN` also
scores held-out real images with it, evaluate_run.heldout_baseline)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
import torch

from ..registry import METRICS, ConfigError, NoParams
from .evaluate import EvalContext
from .images import pixels


def _features_pair(ctx: EvalContext):
    return ctx.real_features().features, ctx.fake_features().features


@METRICS.register("fid", results=("fid",), real_baseline=True)
def _fid(p: NoParams, ctx: EvalContext) -> Dict[str, float]:
    """Frechet distance between Gaussians fit to real and generated features (lower is better)."""
    from .fid import fid_from_features
    real, fake = _features_pair(ctx)
    return {"fid": fid_from_features(fake, real)}


@dataclass(frozen=True)
class KIDParams:
    num_subsets: int = 100
    subset_size: int = 1000


@METRICS.register("kid", params=KIDParams, results=("kid", "kid_std"), real_baseline=True)
def _kid(p: KIDParams, ctx: EvalContext) -> Dict[str, float]:
    """Kernel inception distance: unbiased MMD^2, cubic kernel, mean and std over subsets."""
    from .kid import kid_from_features
    real, fake = _features_pair(ctx)
    mean, std = kid_from_features(fake, real, num_subsets=p.num_subsets, subset_size=p.subset_size)
    return {"kid": mean, "kid_std": std}


@dataclass(frozen=True)
class ISParams:
    splits: int = 10


@METRICS.register("is", params=ISParams, results=("is", "is_std"), needs="probs", real_baseline=True)
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


@METRICS.register("prdc", params=PRDCParams, results=("precision", "recall", "density", "coverage"),
                  real_baseline=True)
def _prdc(p: PRDCParams, ctx: EvalContext) -> Dict[str, float]:
    """Improved precision/recall (k=3) and density/coverage (k=5) in feature space."""
    from .prdc import prdc
    real, fake = _features_pair(ctx)
    return {k: float(v) for k, v in prdc(real, fake, k_pr=p.k_pr, k_dc=p.k_dc).items()}


@dataclass(frozen=True)
class MSSSIMParams:
    n_pairs: int = 1000


@METRICS.register("msssim", params=MSSSIMParams, results=("msssim", "msssim_real"), real_baseline=True)
def _msssim(p: MSSSIMParams, ctx: EvalContext) -> Dict[str, float]:
    """Mean MS-SSIM over random pairs of generated images (lower = more diverse); the real data's value alongside."""
    from .msssim import ms_ssim_diversity
    return {"msssim": float(ms_ssim_diversity(ctx.fake, n_pairs=p.n_pairs, seed=0)),
            "msssim_real": float(ms_ssim_diversity(pixels(ctx.real), n_pairs=p.n_pairs, seed=0))}


@METRICS.register("c2st", results=("c2st_accuracy", "c2st_p_value"), real_baseline=True)
def _c2st(p: NoParams, ctx: EvalContext) -> Dict[str, float]:
    """Classifier two-sample test: held-out accuracy of a real-vs-generated classifier (0.5 = indistinguishable)."""
    from .c2st import c2st_accuracy
    real, fake = _features_pair(ctx)
    out = c2st_accuracy(fake, real, seed=0)
    return {"c2st_accuracy": float(out["accuracy"]), "c2st_p_value": float(out["p_value"])}


@METRICS.register("memorization", results=("memorization_mean_nn_distance", "memorization_median_nn_distance",
                                              "memorization_fraction_near_copies"), real_baseline=True)
def _memorization(p: NoParams, ctx: EvalContext) -> Dict[str, float]:
    """Nearest-neighbour distances of generated samples to the training set (pixels) and the fraction of near copies."""
    from .memorization import memorization
    if ctx.train is None:
        raise ConfigError("metric memorization needs the training set; evaluate a run or pass train=")
    out = memorization(ctx.fake.flatten(1).numpy(), ctx.train.floats().flatten(1).numpy())
    return {f"memorization_{k}": float(v) for k, v in out.items() if isinstance(v, (int, float, np.floating))}


@dataclass(frozen=True)
class InvariantMemorizationParams:
    group: str = "flips"     # flips (identity + mirror) | dihedral (8 symmetries: unoriented data) | none
    shift: int = 1           # and every shift of up to this many pixels in x and y
    quantile: float = 0.05   # the threshold: this quantile of held-out real images' distances
    n_heldout: int = 1000    # held-out images the threshold is calibrated on (at most)

    def validate(self, where: str) -> None:
        if self.group not in ("none", "flips", "dihedral"):
            raise ConfigError(f"{where}.group: {self.group!r} is not allowed; choose none, flips or dihedral")
        if not 0 <= self.shift <= 4:
            raise ConfigError(f"{where}.shift: must lie in 0..4 pixels, got {self.shift}")
        if not 0.0 < self.quantile < 1.0:
            raise ConfigError(f"{where}.quantile: must lie in (0, 1), got {self.quantile}")
        if self.n_heldout < 10:
            raise ConfigError(f"{where}.n_heldout: must be >= 10, got {self.n_heldout}")


@METRICS.register("memorization-invariant", params=InvariantMemorizationParams,
                  results=("memorized_fraction", "memorized_threshold", "memorized_median_distance"))
def _memorization_invariant(p: InvariantMemorizationParams, ctx: EvalContext) -> Dict[str, float]:
    """Share of samples nearer the training set than held-out real images are, with mirrors (and turns) and small
    shifts of each sample tried (metrics/memorization_invariant.py): copies that flips would hide."""
    from .memorization_invariant import memorized_fraction
    if ctx.train is None or ctx.heldout is None:
        raise ConfigError("metric memorization-invariant needs the training set and held-out real images (the "
                          "test split); evaluate a run, or pass train= and heldout= to evaluate_arrays")
    held = ctx.heldout.take(torch.arange(min(p.n_heldout, len(ctx.heldout))))
    out = memorized_fraction(ctx.fake, ctx.train.floats(), held, p.group, p.shift, p.quantile)
    return {"memorized_fraction": out["fraction_memorized"], "memorized_threshold": out["threshold"],
            "memorized_median_distance": out["median_distance"]}


@dataclass(frozen=True)
class GeometryScoreParams:
    n_landmarks: int = 64            # landmarks per draw (the paper's 64)
    gamma: Optional[float] = None    # alpha_max / largest witness-landmark distance; None: 1/128 * N / 5000
    i_max: int = 100                 # RLT of 0 .. i_max - 1 loops (the paper's 100)
    n: int = 100                     # landmark draws averaged (official code: 1000; its notebooks: 100)
    n_points: int = 2000             # both sets subsampled to one size, at most this
    seed: int = 0

    def validate(self, where: str) -> None:
        if self.n_landmarks < 3:
            raise ConfigError(f"{where}.n_landmarks: must be >= 3 (a loop needs 3 landmarks), got {self.n_landmarks}")
        if self.gamma is not None and not 0.0 < self.gamma <= 1.0:
            raise ConfigError(f"{where}.gamma: must lie in (0, 1] or be null (1/128 * N / 5000), got {self.gamma}")
        if self.i_max < 2:
            raise ConfigError(f"{where}.i_max: must be >= 2, got {self.i_max}")
        if self.n < 1:
            raise ConfigError(f"{where}.n: must be >= 1 landmark draw, got {self.n}")
        if self.n_points < self.n_landmarks:
            raise ConfigError(f"{where}.n_points: must be >= n_landmarks ({self.n_landmarks}), got {self.n_points}")
        from .geometry_score import require_gudhi
        require_gudhi()  # refused when the config is read, not at the first evaluation


@METRICS.register("geometry-score", params=GeometryScoreParams, real_baseline=True,
                  results=("geometry_score", "geometry_rlt_mode_real", "geometry_rlt_mode_fake"))
def _geometry_score(p: GeometryScoreParams, ctx: EvalContext) -> Dict[str, float]:
    """Geometry Score (Khrulkov & Oseledets 2018): squared L2 distance between the mean relative living times of
    loops in witness complexes of real and generated features, and the loop count each peaks at (needs gudhi)."""
    from .geometry_score import geometry_score
    real, fake = _features_pair(ctx)
    out = geometry_score(real, fake, n_landmarks=p.n_landmarks, gamma=p.gamma, i_max=p.i_max, n=p.n,
                         n_points=p.n_points, seed=p.seed, progress=ctx.progress)
    return {"geometry_score": out["geometry_score"], "geometry_rlt_mode_real": float(out["mode_real"]),
            "geometry_rlt_mode_fake": float(out["mode_fake"])}


@dataclass(frozen=True)
class SkillRatingParams:
    n: int = 256                 # real and generated images per match
    games: int = 4               # matches per (D, G) pair
    threshold: float = 0.5       # D's accuracy needed to win a match
    max_checkpoints: int = 10    # the run's kept checkpoints that play, evenly spaced

    def validate(self, where: str) -> None:
        if self.n < 2 or self.games < 1 or self.max_checkpoints < 1:
            raise ConfigError(f"{where}: need n >= 2, games >= 1 and max_checkpoints >= 1, got {self.n}, "
                              f"{self.games} and {self.max_checkpoints}")
        if not 0.0 <= self.threshold < 1.0:
            raise ConfigError(f"{where}.threshold: must lie in [0, 1), got {self.threshold}")


@METRICS.register("skill-rating", params=SkillRatingParams, run_folder=True,
                  results=("skill_rating", "skill_rating_rd", "skill_win_rate"))
def _skill_rating(p: SkillRatingParams, ctx: EvalContext) -> Dict[str, float]:
    """Olsson et al. 2018: the generator's Glicko-2 rating in a tournament against the discriminators of its
    run's kept checkpoints (their generators play too), on the run's test images (probes/tournament.py)."""
    from ..probes.tournament import rate_generator
    if ctx.run_dir is None or ctx.generator is None:
        raise ConfigError("metric skill-rating rates a generator against the discriminators of its run's "
                          "checkpoints; evaluate a run folder (ganscape eval RUN --metrics skill-rating)")
    return rate_generator(ctx.run_dir, ctx.generator, p.n, p.games, p.threshold, p.max_checkpoints)


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


@METRICS.register("class-consistency", results=("class_consistency",), needs="probs")
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


@dataclass(frozen=True)
class FlawsParams:
    k: int = 4                   # directions found and projected out, in order
    seed: int = 0                # class balancing and held-out split (as c2st)
    test_fraction: float = 0.5   # share of each class held out for the accuracies
    alpha: float = 0.01          # significance level of each flaw's binomial test
    removal: str = "project"     # project (Gram-Schmidt) | regress (also what correlates with the score)

    def validate(self, where: str) -> None:
        if self.removal not in ("project", "regress"):
            raise ConfigError(f"{where}.removal: {self.removal!r} is not allowed; choose project or regress")
        if not 1 <= self.k <= 32:
            raise ConfigError(f"{where}.k: must lie in 1..32 directions, got {self.k}")
        if self.seed < 0:
            raise ConfigError(f"{where}.seed: must be >= 0, got {self.seed}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(f"{where}.test_fraction: must lie in (0, 1), got {self.test_fraction}")
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"{where}.alpha: must lie in (0, 1), got {self.alpha}")


@METRICS.register("flaws", params=FlawsParams, results=("flaws_c2st_accuracy", "flaws_residual_accuracy",
                                                        "flaws_first_drop", "flaws_first_share",
                                                        "flaws_n_significant"), real_baseline=True)
def _flaws(p: FlawsParams, ctx: EvalContext) -> Dict[str, float]:
    """Ordered flaws (metrics/flaws.py): a linear C2ST repeated with each found direction projected out; the
    accuracy before and after, the first flaw's drop and share of it, and each flaw's accuracy and drop.
    The directions and top examples (no scalars) come from flaws.ordered_flaws and flaws_figure."""
    from .flaws import ordered_flaws
    real, fake = _features_pair(ctx)
    if p.k > real.shape[1]:
        raise ConfigError(f"metric flaws: k={p.k} exceeds the extractor's {real.shape[1]} features; lower k")
    out = ordered_flaws(fake, real, k=p.k, seed=p.seed, test_fraction=p.test_fraction, alpha=p.alpha,
                        removal=p.removal)
    first = out["flaws"][0]
    res = {"flaws_c2st_accuracy": float(out["accuracy"]), "flaws_residual_accuracy": float(out["residual_accuracy"]),
           "flaws_first_drop": float(first.drop),
           # no excess over chance, nothing to share out: 0 rather than NaN (which metrics.jsonl keeps as text)
           "flaws_first_share": float(first.share) if first.share == first.share else 0.0,
           "flaws_n_significant": float(out["n_significant"])}
    for f in out["flaws"]:
        res[f"flaws_accuracy_{f.index}"] = float(f.accuracy)
        res[f"flaws_drop_{f.index}"] = float(f.drop)
    return res
