"""Classifier error: the test error of a run's classifier, for the methods
that train one (ssgan and its supervised baseline, methods/ssgan.py).

Unlike the sample metrics, this scores a net of the run, not samples of its
generator: `classifier_error(run_dir)` loads the run's discriminator (its EMA
copy when there is one) and classifies the data set's test split by argmax
over its K class logits.

`classifier_error(run_dir, split="validation")` scores it instead on the
labelled validation split of a semi-supervised run: the training images
whose labels the run never saw (all but `train.labelled_per_class` per
class). Settings are chosen on it, never on the test split. The semi-
supervised GAN has seen these images without labels (it trains on every
training image), the supervised baseline has not seen them at all; that is
the semi-supervised setting itself, and the figures reported come from the
test split. The registered metric `classifier-error` does the
same on an EvalContext that carries that classifier (`ctx.classifier`) and
the reference images' labels.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Union

import torch

from ..registry import METRICS, ConfigError, NoParams


@torch.no_grad()
def error_rate(classifier: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> float:
    """Fraction of x (N, *shape) whose argmax class logit differs from y (N,).
    The classifier runs in eval mode (batch norm with its running statistics)."""
    if len(x) == 0:
        raise ValueError("classifier error of an empty set of examples")
    was_training = classifier.training
    classifier.eval()
    device = next(classifier.parameters()).device
    wrong = 0
    try:
        for i in range(0, len(x), batch_size):
            pred = classifier.class_logits(x[i:i + batch_size].to(device)).argmax(1).cpu()
            wrong += int((pred != y[i:i + batch_size].cpu()).sum())
    finally:
        classifier.train(was_training)
    return wrong / len(x)


def load_classifier(run_dir: Union[str, Path], checkpoint: str = "latest", ema: bool = True, device: str = "cpu",
                    split: str = "test"):
    """(classifier D in eval mode, the data set to score, a description of the weights) of a run
    of ssgan or supervised; the config saved in the checkpoint builds the net. split: "test",
    or "validation" (the training images outside the run's labelled subset, with their labels)."""
    from ..config import from_dict
    from ..train import checkpoint as ckpt_io
    from ..train import rundir
    from ..train.state import DataSpec, build_method, load_data, no_labels_hint, resolve_device

    cfg = rundir.load_config(run_dir)
    ckpt, path = ckpt_io.load_newest(Path(run_dir) / rundir.CHECKPOINTS, checkpoint)
    if "config" in ckpt:
        cfg = from_dict(ckpt["config"])  # the config its weights were trained with
    if split not in ("test", "validation"):
        raise ValueError(f"classifier error: split {split!r} is not allowed; choose test or validation")
    data = load_data(cfg, "test" if split == "test" else "train")
    if data.y is None:
        raise ConfigError(f"classifier error: data set {cfg.data.name!r} has no labels{no_labels_hint(cfg)}")
    if split == "validation":
        per_class = cfg.train.labelled_per_class
        if not per_class:
            raise ConfigError(f"classifier error: {run_dir} trained on every label (train.labelled_per_class 0), "
                              f"so it has no validation split")
        from ..data.base import labelled_subset
        keep = ~labelled_subset(data.y, per_class, cfg.seed)  # the mask the training loop drew
        data = data.subset(keep.nonzero().flatten())
    method = build_method(cfg)
    if method.classifier is None:
        raise ConfigError(f"classifier error: {run_dir} was trained with method {cfg.method.name!r}, which trains "
                          f"no classifier; use a run of method ssgan or supervised")
    name = method.classifier
    D = method.build_nets(cfg, DataSpec(data.shape, data.num_classes))[name]
    use_ema = ema and name in ckpt.get("ema", {})
    try:
        D.load_state_dict(ckpt["ema"][name] if use_ema else ckpt["nets"][name])
    except (RuntimeError, KeyError) as e:
        raise ckpt_io.CheckpointError(f"checkpoint {path} does not fit the run's classifier "
                                      f"({str(e).strip().splitlines()[0]})") from None
    D = D.to(resolve_device(device)).eval()
    return D, data, {"checkpoint": path.name, "step": int(ckpt["step"]),
                     "classifier": f"{name}+ema" if use_ema else name,
                     "dataset": cfg.data.name, "params": dict(cfg.data.params)}


def classifier_error(run_dir: Union[str, Path], checkpoint: str = "latest", ema: bool = True,
                     device: str = "cpu", batch_size: int = 512, split: str = "test") -> Dict[str, Any]:
    """The test (or validation, see the module docstring) error of a run's classifier (ssgan or supervised): a record
    {"step", "checkpoint", "classifier", "results": {"classifier_error": e,
    "classifier_errors": count}, "n_real", "reference", "protocol"} in the shape
    of `ganscape eval`'s records (no generated samples, so no n_fake)."""
    D, data, about = load_classifier(run_dir, checkpoint, ema, device, split)
    err = error_rate(D, data.floats(), data.y, batch_size)
    n = len(data)
    return {"step": about["step"], "checkpoint": about["checkpoint"], "classifier": about["classifier"],
            "results": {"classifier_error": err, "classifier_errors": int(round(err * n))}, "n_real": n,
            "reference": {"dataset": about["dataset"], "params": about["params"], "split": split, "n": n},
            "protocol": {"classifier-error": {}}}


# scores="classifier": computed from a run's classifier, not from samples
# (evaluate_run.evaluate and the training loop's evaluator route it there).
@METRICS.register("classifier-error", results=("classifier_error",), scores="classifier")
def _classifier_error(p: NoParams, ctx) -> Dict[str, float]:
    """Test error of the run's classifier (ssgan, supervised) on the reference images and their labels."""
    D = getattr(ctx, "classifier", None)
    labels = getattr(ctx, "real_labels", None)
    if D is None:
        raise ConfigError("metric classifier-error scores a run's classifier, not samples: evaluate a run of "
                          "method ssgan or supervised (ganscape.metrics.classifier_error.classifier_error(RUN))")
    if labels is None:
        raise ConfigError("metric classifier-error needs the labels of the reference images")
    from .images import pixels
    return {"classifier_error": error_rate(D, pixels(ctx.real), torch.as_tensor(labels), ctx.batch_size)}
