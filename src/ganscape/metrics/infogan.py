"""InfoGAN's categorical-code accuracy (Chen et al. 2016, section 7.1: on
MNIST the 10-valued code matched the digit class with about 5% error).

Protocol: for each value k of one categorical code, generate n images with
that code fixed to k (noise and the other codes from their priors), label
them with a classifier of the data set's classes (the shipped digits-cnn for
digits), and count the (code, class) pairs in a confusion matrix. The codes
are learned without labels, so code k means whichever class it came to
mean: the accuracy is taken under the best one-to-one mapping of codes to
classes (Hungarian matching, scipy.optimize.linear_sum_assignment, maximizing
the matched count). With more codes than classes (or fewer), only
min(codes, classes) codes are matched and the samples of the others count as
errors.

The paper's own measure (`q_classifier_accuracy`, `q_test_accuracy`) reads
the code the other way round: Q, the recognition head on D's trunk,
classifies the data set's real test images by its most likely categorical
code, and the codes are matched to the true classes the same way (best
one-to-one assignment). It needs no judge network, only the run's D and Q.
Labels serve only to score; training and the choice of checkpoint use none.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import numpy as np
import torch

from ..registry import METRICS, ConfigError
from .checks import positive_int, to_numpy

__all__ = ["matched_accuracy", "categorical_code_accuracy", "q_classifier_accuracy", "q_test_accuracy"]


def matched_accuracy(codes, predicted, num_codes: int = 0, num_classes: int = 0) -> Dict[str, object]:
    """Accuracy of `codes` as labels for `predicted` under the best one-to-one map.

    codes: (N,) int code values in [0, num_codes); predicted: (N,) int
    classes in [0, num_classes) (or (N, K) logits / probabilities, argmax).
    num_codes / num_classes default to the largest value + 1.
    Returns {"accuracy": float in [0, 1], "mapping": {code: class} for the
    matched codes, "confusion": (num_codes, num_classes) int counts}.
    """
    from scipy.optimize import linear_sum_assignment
    c = to_numpy(codes)
    p = to_numpy(predicted)
    if p.ndim == 2:
        p = p.argmax(1)
    if c.ndim != 1 or p.ndim != 1 or len(c) != len(p) or len(c) == 0:
        raise ValueError(f"codes and predicted must be non-empty (N,) arrays of one length, "
                         f"got shapes {c.shape} and {p.shape}")
    c, p = c.astype(np.int64), p.astype(np.int64)
    if c.min() < 0 or p.min() < 0:
        raise ValueError("codes and predicted classes must be >= 0")
    k = max(num_codes, int(c.max()) + 1)
    m = max(num_classes, int(p.max()) + 1)
    confusion = np.zeros((k, m), dtype=np.int64)
    np.add.at(confusion, (c, p), 1)
    rows, cols = linear_sum_assignment(confusion, maximize=True)
    return {"accuracy": float(confusion[rows, cols].sum() / len(c)),
            "mapping": {int(r): int(q) for r, q in zip(rows, cols)},
            "confusion": confusion}


@torch.no_grad()
def categorical_code_accuracy(G, classify, n_per_code: int = 100, code: int = 0, seed: int = 0,
                              batch_size: int = 500) -> Dict[str, object]:
    """Generate n_per_code images for each value of categorical code `code` of
    InfoGAN generator G (nets.infogan.InfoGANGenerator), classify them with
    `classify` (images (n, C, H, W) in [-1, 1] -> logits (n, K)), and match
    (matched_accuracy). Latents come from a private generator seeded with
    `seed`; G runs in eval mode and is restored. Returns matched_accuracy's
    dict plus "per_code": the share of each code's samples in its matched class."""
    n_per_code, batch_size = positive_int(n_per_code, "n_per_code"), positive_int(batch_size, "batch_size")
    spec = getattr(G, "code_spec", None)
    if spec is None or not spec.categorical:
        raise ConfigError("the InfoGAN categorical-code accuracy needs an InfoGAN generator with a categorical code")
    if not 0 <= code < len(spec.categorical):
        raise ValueError(f"code {code} out of range: the generator has {len(spec.categorical)} categorical codes")
    k = spec.categorical[code]
    device = next(G.parameters()).device
    g = torch.Generator().manual_seed(seed)
    values = torch.arange(k).repeat_interleave(n_per_code)
    preds = []
    was_training = G.training
    G.eval()
    try:
        for i in range(0, len(values), batch_size):
            v = values[i:i + batch_size].to(device)
            z = torch.randn(len(v), G.z_dim, generator=g).to(device)
            cat, cont, bern = G.codes(z)
            cat[:, code] = v
            x = G.decode(G.noise(z), cat, cont, bern)
            if not torch.isfinite(x).all():
                raise ValueError("the generator outputs NaN or Inf")
            preds.append(classify(x).argmax(1).cpu())
    finally:
        G.train(was_training)
    out = matched_accuracy(values, torch.cat(preds), num_codes=k)
    conf = out["confusion"]
    out["per_code"] = [float(conf[r, out["mapping"][r]] / n_per_code) if r in out["mapping"] else 0.0
                       for r in range(k)]
    return out


@torch.no_grad()
def q_classifier_accuracy(D, Q, x: torch.Tensor, y: torch.Tensor, code: int = 0,
                          batch_size: int = 500) -> Dict[str, object]:
    """Q as a classifier of real images: argmax of categorical code `code`'s
    logits Q(D.features(x)) for x (N, *shape) in [-1, 1], matched to the
    labels y (N,) (matched_accuracy). D and Q run in eval mode (batch norm with
    its running statistics) and are restored."""
    batch_size = positive_int(batch_size, "batch_size")
    spec = getattr(Q, "code_spec", None)
    if spec is None or not spec.categorical:
        raise ConfigError("Q's accuracy as a classifier needs an InfoGAN Q head with a categorical code")
    if not 0 <= code < len(spec.categorical):
        raise ValueError(f"code {code} out of range: Q has {len(spec.categorical)} categorical codes")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must be non-empty and of one length, got {len(x)} and {len(y)}")
    device = next(Q.parameters()).device
    modes = (D.training, Q.training)
    D.eval(), Q.eval()
    preds = []
    try:
        for i in range(0, len(x), batch_size):
            h = D.features(x[i:i + batch_size].to(device))
            preds.append(Q(h).cat_logits[code].argmax(1).cpu())
    finally:
        D.train(modes[0]), Q.train(modes[1])
    return matched_accuracy(torch.cat(preds), y, num_codes=spec.categorical[code])


def q_test_accuracy(run_dir, checkpoint: str = "latest", code: int = 0, device: str = "cpu",
                    split: str = "test") -> Dict[str, object]:
    """The paper's measure for an InfoGAN run: its Q (and D's trunk) from the
    checkpoint classify the data set's test split (q_classifier_accuracy).
    split="train" scores the training images instead, whose labels training
    never reads: the split to choose settings on. Returns its dict plus
    "step" and "checkpoint"."""
    if split not in ("test", "train"):
        raise ConfigError(f"Q's accuracy: split must be 'test' or 'train', got {split!r}")
    from pathlib import Path
    from ..config import from_dict
    from ..train import checkpoint as ckpt_io
    from ..train import rundir
    from ..train.state import DataSpec, build_method, load_data, resolve_device

    cfg = rundir.load_config(run_dir)
    ckpt, path = ckpt_io.load_newest(Path(run_dir) / rundir.CHECKPOINTS, checkpoint)
    if "config" in ckpt:
        cfg = from_dict(ckpt["config"])
    if cfg.method.name != "infogan":
        raise ConfigError(f"Q's test accuracy: {run_dir} was trained with method {cfg.method.name!r}; "
                          f"use a run of method infogan")
    data = load_data(cfg, split)
    if data.y is None:
        raise ConfigError(f"Q's test accuracy: data set {cfg.data.name!r} has no labels to score against")
    nets = build_method(cfg).build_nets(cfg, DataSpec(data.shape, data.num_classes))
    dev = resolve_device(device)
    D, Q = nets["D"].to(dev), nets["Q"].to(dev)
    try:
        D.load_state_dict(ckpt["nets"]["D"])
        Q.load_state_dict(ckpt["nets"]["Q"])
    except (RuntimeError, KeyError) as e:
        raise ckpt_io.CheckpointError(f"checkpoint {path} does not fit the run's D and Q "
                                      f"({str(e).strip().splitlines()[0]})") from None
    out = q_classifier_accuracy(D, Q, data.floats(), data.y, code)
    out.update(step=int(ckpt["step"]), checkpoint=path.name)
    return out


@dataclass(frozen=True)
class InfoGANAccuracyParams:
    n_per_code: int = 100   # images generated per code value
    code: int = 0           # which categorical code
    seed: int = 0

    def validate(self, where: str) -> None:
        if self.n_per_code < 1 or self.code < 0:
            raise ConfigError(f"{where}: need n_per_code >= 1 and code >= 0")


@METRICS.register("infogan-accuracy", params=InfoGANAccuracyParams, results=("infogan_cat_accuracy",))
def _infogan_accuracy(p: InfoGANAccuracyParams, ctx) -> Dict[str, float]:
    """InfoGAN: accuracy of a categorical code as the data's class (classifier on generated images, Hungarian match)."""
    G = getattr(ctx, "generator", None)
    if G is None or not hasattr(G, "code_spec"):
        raise ConfigError("metric infogan-accuracy needs the InfoGAN generator itself (it generates images for "
                          "each code value): evaluate a run trained with method infogan")
    ext = ctx.extractor
    if not getattr(ext, "num_classes", 0):
        raise ConfigError(f"metric infogan-accuracy: extractor {ext.name!r} gives no class logits; "
                          "use digits-cnn for digits")

    def classify(x: torch.Tensor) -> torch.Tensor:
        out = ext(x.float())
        if "logits" not in out:
            raise ConfigError(f"metric infogan-accuracy: extractor {ext.name!r} gives no class logits "
                              f"for images of shape {tuple(x.shape[1:])}")
        return out["logits"]

    out = categorical_code_accuracy(G, classify, p.n_per_code, p.code, p.seed)
    res = {"infogan_cat_accuracy": out["accuracy"]}
    res.update({f"infogan_cat_accuracy_code_{r}": v for r, v in enumerate(out["per_code"])})
    return res
