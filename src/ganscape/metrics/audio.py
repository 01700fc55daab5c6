"""Audio metrics (issue 21, part 2): the notes' exact estimators, and the audio FID / IS.

- pitch-accuracy, instrument-accuracy (data set notes): each generated clip is
  read by the ground-truth recipe's estimators (data/notes.py): its pitch
  counts when the spectrum's strongest peak lies within a quarter tone of a
  scale note; its instrument when the partials' amplitudes relative to that
  fundamental lie within TIMBRE_TOLERANCE of one of the four recipes. Results:
  pitch_accuracy, instrument_accuracy, note_accuracy (both at once) and
  notes_classes_covered (how many of the 32 (pitch, instrument) classes the
  clips that pass both hold). Real notes score 1, 1, 1 and 32 (tested).
- fid, kid, is, prdc on audio: the registered feature metrics
  (image_metrics.py) computed on the features and class probabilities of the
  shipped notes classifier (metrics/features/audio_cnn.py) of generated and
  real *waveforms*: the audio FID and the classifier's inception score, as
  WaveGAN's paper scores SC09 with its speech-digit classifier.

A spectrogram generator (SpecGAN) is scored on its samples turned into sound by
Griffin-Lim (data/audio_files.spectrogram_to_wave), against the real
waveforms, never against spectrograms: what is heard is what is judged. The
ceiling this sets (real notes through SpecGAN's representation and back) is
`inversion_ceiling`.

`evaluate_audio` is what metrics/evaluate.evaluate_generator hands an audio
generator's samples to (`ganscape eval RUN`, the training loop's evaluator);
this module does not import evaluate.py (which imports it), so its context is
AudioContext, which offers the registered feature metrics what EvalContext does.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Sequence

import numpy as np
import torch

from ..data.audio_files import as_waves
from ..data.notes import INSTRUMENTS, NOTES, estimate_notes
from ..registry import DATASETS, EXTRACTORS, METRICS, ConfigError, NoParams
from .cache import FeatureCache, canonical
from .features.base import FeatureExtractor, Features

# the registered feature metrics that read only features and class probabilities: they apply to audio
FEATURE_METRICS = ("fid", "kid", "is", "prdc")


@dataclass
class AudioContext:
    """What a metric reads (as metrics/evaluate.EvalContext): generated and real waveforms (N, 1, T) and
    their features by the extractor, computed once."""
    fake: torch.Tensor
    real: torch.Tensor
    extractor: FeatureExtractor
    info: Dict[str, Any] = field(default_factory=dict)
    reference: Dict[str, Any] = field(default_factory=dict)
    batch_size: int = 256
    progress: bool = False
    _fake: Optional[Features] = None
    _real: Optional[Features] = None

    def fake_features(self) -> Features:
        if self._fake is None:
            self._fake = canonical(extract_audio(self.extractor, self.fake, self.batch_size, self.progress))
        return self._fake

    def real_features(self) -> Features:
        if self._real is None:
            compute = lambda: extract_audio(self.extractor, self.real, self.batch_size, self.progress)  # noqa: E731
            if self.reference.get("cacheable"):   # a registered data set's split: its features cached on disk
                fields = {k: v for k, v in self.reference.items() if k != "cacheable"}
                self._real = FeatureCache().get_or_compute({**fields, "extractor": self.extractor.identity()},
                                                           compute)
            else:
                self._real = canonical(compute())
        return self._real


@torch.no_grad()
def extract_audio(extractor: FeatureExtractor, waves: torch.Tensor, batch_size: int = 256,
                  progress: bool = False) -> Features:
    """Features (and class probabilities) of waveforms (N, 1, T) in [-1, 1], a batch at a time
    (features/base.extract's counterpart, whose input gate takes images only)."""
    if waves.ndim != 3 or not torch.isfinite(waves).all() or float(waves.abs().max()) > 1.0001:
        raise ValueError(f"audio samples must be finite waveforms (N, 1, T) in [-1, 1], got shape "
                         f"{tuple(waves.shape)}")
    extractor.eval()
    from tqdm.auto import tqdm
    feats, logits = [], []
    for i in tqdm(range(0, len(waves), batch_size), desc=f"features ({extractor.name})", unit="batch",
                  leave=False, disable=not progress):
        out = extractor(waves[i:i + batch_size].float())
        feats.append(out["features"].double().cpu())
        if "logits" in out:
            logits.append(out["logits"].double().cpu())
    probs = torch.softmax(torch.cat(logits), dim=1).numpy() if logits else None
    return Features(features=torch.cat(feats).numpy(), probs=probs, extractor=extractor.identity())


def notes_scores(waves, sample_rate: int = 16000) -> Dict[str, float]:
    """Clips (N, 1, T) or (N, T) -> the fraction whose pitch / instrument / both the notes' estimators
    recognize, and how many (pitch, instrument) classes the fully recognized ones cover."""
    pitch, inst = estimate_notes(waves, sample_rate)
    both = (pitch >= 0) & (inst >= 0)
    classes = np.unique(pitch[both] * len(INSTRUMENTS) + inst[both])
    return {"pitch_accuracy": float(np.mean(pitch >= 0)), "instrument_accuracy": float(np.mean(inst >= 0)),
            "note_accuracy": float(np.mean(both)), "notes_classes_covered": float(len(classes))}


def _waves_of(ctx) -> torch.Tensor:
    if ctx.info.get("name") != "notes":
        raise ConfigError("metrics pitch-accuracy and instrument-accuracy read the notes' ground-truth recipe; "
                          "they apply to data set notes only")
    if ctx.fake is None or ctx.fake.ndim != 3:
        raise ConfigError("metrics pitch-accuracy and instrument-accuracy need audio samples (N, 1, T)")
    return ctx.fake


@METRICS.register("pitch-accuracy", results=("pitch_accuracy", "note_accuracy", "notes_classes_covered"),
                  data="audio")
def _pitch(p: NoParams, ctx) -> Dict[str, float]:
    """Fraction of generated notes whose pitch is a scale note (exact estimator; notes data only)."""
    s = notes_scores(_waves_of(ctx), int(ctx.info.get("sample_rate", 16000)))
    return {k: s[k] for k in ("pitch_accuracy", "note_accuracy", "notes_classes_covered")}


@METRICS.register("instrument-accuracy", results=("instrument_accuracy",), data="audio")
def _instrument(p: NoParams, ctx) -> Dict[str, float]:
    """Fraction of generated notes whose partials match one of the four recipes (notes data only)."""
    return {"instrument_accuracy": notes_scores(_waves_of(ctx), int(ctx.info.get("sample_rate", 16000)))
            ["instrument_accuracy"]}


def reference_waves(name: str, params: Dict[str, Any], split: str, seed: int = 0):
    """(the waveforms of a registered audio data set's split (N, 1, T), its info, the data as configured)."""
    data = DATASETS.build(name, dict(params), split, seed)
    if data.kind not in ("audio", "spectrogram"):
        raise ConfigError(f"data set {name!r} holds {data.kind} data, not audio")
    if data.kind == "audio":
        return data.x, data.info, data
    waves = DATASETS.build(name, {**dict(params), "representation": "wave"}, split, seed)
    return waves.x, waves.info, data


def check_audio_metrics(metrics: Sequence[str]) -> None:
    for m in metrics:
        if m not in FEATURE_METRICS and METRICS.get(m).tags.get("data") != "audio":
            raise ConfigError(f"metric {m!r} scores images; for audio choose from "
                              f"{', '.join(sorted(FEATURE_METRICS + tuple(e.name for e in METRICS if e.tags.get('data') == 'audio')))}")


def score_waves(fake: torch.Tensor, real: torch.Tensor, metrics: Sequence[str], info: Dict[str, Any],
                extractor=None, batch_size: int = 256, progress: bool = False,
                metric_params: Optional[Dict[str, Dict[str, Any]]] = None,
                reference: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Score generated waveforms against real ones (both (N, 1, T) in [-1, 1]) by `metrics`."""
    check_audio_metrics(metrics)
    ext = extractor if extractor is not None else EXTRACTORS.build("audio-cnn", {}).eval()
    ctx = AudioContext(fake=fake, real=real, extractor=ext, reference=dict(reference or {}), info=dict(info),
                       batch_size=batch_size, progress=progress)
    results: Dict[str, float] = {}
    protocol: Dict[str, Any] = {}
    t0 = time.perf_counter()
    for m in metrics:
        params = METRICS.params(m, (metric_params or {}).get(m), where=f"metric {m}")
        protocol[m] = dict(vars(params))
        results.update(METRICS.get(m).fn(params, ctx))
    return {"results": results, "n_fake": len(fake), "n_real": len(real), "extractor": ext.identity(),
            "reference": dict(reference or {}), "protocol": protocol, "seconds": time.perf_counter() - t0}


def evaluate_audio(samples: torch.Tensor, cfg, metrics: Sequence[str], split: str = "train",
                   extractor: Optional[str] = None, batch_size: int = 256, progress: bool = False,
                   extractor_params: Optional[Dict[str, Any]] = None,
                   metric_params: Optional[Dict[str, Dict[str, Any]]] = None) -> Dict[str, Any]:
    """Score an audio generator's samples (WaveGAN's waveforms, or SpecGAN's spectrograms, inverted by
    Griffin-Lim) against the real waveforms of the config's data set (split)."""
    check_audio_metrics(metrics)
    real, info, data = reference_waves(cfg.data.name, dict(cfg.data.params), split, seed=cfg.seed)
    fake = as_waves(samples, data.info)
    ext = EXTRACTORS.build(extractor or "audio-cnn", extractor_params or {}).eval()
    ref = {"dataset": cfg.data.name, "params": {**dict(cfg.data.params), "representation": "wave"},
           "split": split, "seed": cfg.seed, "n": len(real), "audio": "waveforms", "cacheable": True}
    res = score_waves(fake, real, metrics, info, ext, batch_size, progress, metric_params, ref)
    res["reference"].pop("cacheable", None)
    res["samples"] = "griffin-lim" if data.kind == "spectrogram" else "waveforms"
    return res


def inversion_ceiling(params: Dict[str, Any], metrics: Sequence[str], n: int = 500, seed: int = 0,
                      split: str = "test") -> Dict[str, Any]:
    """The notes' own clips through SpecGAN's representation and Griffin-Lim, scored against the real
    waveforms of the training split: the best a perfect SpecGAN could score here."""
    p = {**dict(params), "representation": "spectrogram"}
    spec = DATASETS.build("notes", p, split, seed)
    fake = as_waves(spec.x[:n], spec.info)
    real, info, _ = reference_waves("notes", {**p, "representation": "wave"}, "train", seed)
    return score_waves(fake, real, metrics, info)


__all__ = ["notes_scores", "evaluate_audio", "score_waves", "inversion_ceiling", "NOTES"]
