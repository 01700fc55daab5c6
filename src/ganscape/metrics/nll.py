"""The registered metric `nll`: the test-split likelihood of any run's
generator, in bits/dim on the data's discrete levels (likelihood.core),
labelled with how it was obtained:

- "exact": models with an exact discrete likelihood (PixelCNN);
- "dequantized bound": flows (the uniform-dequantization bound, one noise
  draw per image, seeded);
- "IWAE bound (k=K)": VAEs; the ELBO is reported beside it (elbo_bits_per_dim);
- "AIS (Gaussian observation model)": any other generator G(z) (a GAN's, or
  a VAE's decoder mean with `estimator: ais`): Wu et al.'s AIS with
  p(x | z) = N(G(z), sigma^2 I) on dequantized images, sigma chosen on a
  validation subset of the training split, then converted to the discrete
  levels like a flow's density.

`split`: test (the default), train, or val: the training images that the
digits data sets hold out with `data.params.validation: N`, for choosing a
checkpoint without the test split (`eval.params: {nll: {split: val}}` with
`eval.best: bits_per_dim` keeps the best one as best.pt).

Results: bits_per_dim, nll_nats (per example); for VAEs also
elbo_bits_per_dim; for AIS also ais_sigma and ais_acceptance; and, for
scale, the test bits/dim of two baselines fitted here on the training split
(likelihood.baselines): baseline_independent_bits_per_dim (a categorical per
pixel) and baseline_mixture_bits_per_dim (a mixture of
`baseline_components` such products). The label and
the settings go to the record's protocol.
"""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from typing import Any, Dict, Literal, Tuple

import torch

from ..registry import DATASETS, METRICS, ConfigError
from ..likelihood import core


@dataclass(frozen=True)
class NLLParams:
    split: Literal["test", "val", "train"] = "test"
    n: int = 0                      # examples of the split (0: all)
    estimator: Literal["auto", "ais"] = "auto"   # auto: the model's own (exact, bound); ais: AIS on its decoder
    iwae_k: int = 1000              # VAE: importance samples of the IWAE bound
    ais_steps: int = 1000           # AIS: intermediate distributions
    ais_chains: int = 16
    ais_leapfrog: int = 10
    ais_sigmas: Tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8)   # the observation noise grid, in [-1, 1] units
    ais_validation: int = 50        # training examples that choose sigma
    batch: int = 100
    seed: int = 0
    baseline_components: int = 10   # the fitted baselines printed beside (likelihood.baselines); 0: none

    def validate(self, where: str) -> None:
        for k in ("iwae_k", "ais_steps", "ais_chains", "ais_leapfrog", "batch"):
            if getattr(self, k) < 1:
                raise ConfigError(f"{where}.{k}: must be >= 1, got {getattr(self, k)}")
        if self.baseline_components < 0:
            raise ConfigError(f"{where}.baseline_components: must be >= 0, got {self.baseline_components}")
        if self.n < 0 or self.ais_validation < 1 or not self.ais_sigmas or min(self.ais_sigmas) <= 0:
            raise ConfigError(f"{where}: n must be >= 0, ais_validation >= 1, ais_sigmas positive")


def _split(reference: Dict[str, Any], split: str, n: int, where: str):
    name = reference.get("dataset")
    if name not in DATASETS:
        raise ConfigError(f"{where}: scores a run's generator on a registered data set; the reference is {name!r}")
    if split == "val" and not (reference.get("params") or {}).get("validation"):
        raise ConfigError(f"{where}: split val is the training images a data set holds out with "
                          f"data.params.validation: N (digits, binary-digits); {name!r} holds out none here")
    data = DATASETS.get(name).fn(DATASETS.params(name, reference.get("params") or {}), split, 0)
    x = data.floats() if not n else data.take(torch.arange(min(n, len(data))))
    return x, data


def _uses_ais(G, p: NLLParams) -> bool:
    """AIS when asked, or for a generator with no likelihood of its own (exact, bound or IWAE)."""
    return p.estimator == "ais" or not (hasattr(G, "log_prob_discrete") or hasattr(G, "iwae"))


def _batched(fn, x: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat([fn(x[i:i + batch]) for i in range(0, len(x), batch)])


def model_nll(G: torch.nn.Module, x: torch.Tensor, levels: int, p: NLLParams,
              x_val: torch.Tensor = None, progress: bool = False) -> Dict[str, Any]:
    """bits/dim of grid images x under G (see the module docstring).
    progress: a bar over AIS's transitions (the slow estimator)."""
    dim = math.prod(x.shape[1:])
    g = torch.Generator().manual_seed(p.seed)
    dev = next(G.parameters()).device
    x = x.to(dev)
    was = G.training
    G.eval()
    # a private RNG stream (VAE posterior draws, AIS): evaluating during training must not move the run's RNG
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(p.seed)
            return _model_nll(G, x, levels, dim, p, x_val, g, progress)
    finally:
        G.train(was)


def _model_nll(G, x, levels, dim, p, x_val, g, progress=False) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    with torch.no_grad():
        if _uses_ais(G, p):
            lp, extra = _ais_nll(G, x, levels, p, x_val, g, progress)
            out.update(extra)
            label = "AIS (Gaussian observation model)"
        elif hasattr(G, "log_prob_discrete"):
            lp = _batched(lambda b: G.log_prob_discrete(b, g).double(), x, p.batch)
            label = G.likelihood
        else:  # a VAE
            kind = getattr(G, "kind", "")
            xin = core.dequantize(x, levels, g) if kind == "gaussian" else x
            per = max(1, p.batch * 10 // p.iwae_k)
            lp = _batched(lambda b: G.iwae(b, p.iwae_k).double(), xin, per)
            elbo = _batched(lambda b: G.elbo(b).double(), xin, p.batch)
            if kind == "gaussian":
                lp, elbo = (core.discrete_log_prob_bound(v, dim, levels) for v in (lp, elbo))
            out["elbo_bits_per_dim"] = core.bits_per_dim(elbo, dim)
            out["elbo_nats"] = float(-elbo.mean())
            label = f"IWAE bound (k={p.iwae_k})"
    out.update(bits_per_dim=core.bits_per_dim(lp, dim), nll_nats=float(-lp.mean()))
    out["_protocol"] = {"estimator_used": label, "levels": levels, "n": len(x), "dim": dim}
    return out


def _ais_nll(G, x, levels, p: NLLParams, x_val, g, progress=False) -> Tuple[torch.Tensor, Dict[str, float]]:
    from ..likelihood.ais import ais, choose_sigma
    from ..train import threads as thr
    z_dim = getattr(G, "z_dim", 0)
    if not z_dim or getattr(G, "vocab_size", 0):
        raise ConfigError("metric nll: this generator has no likelihood of its own and no continuous latent "
                          "for AIS")
    # a differentiable map z -> image: a VAE's decoder mean, a flow's continuous sample, a generator
    decoder = G.mean if hasattr(G, "iwae") else getattr(G, "continuous", G)
    dim = math.prod(x.shape[1:])
    y = core.dequantize(x, levels, g).reshape(len(x), -1)
    yv = core.dequantize(x_val, levels, g).reshape(len(x_val), -1).to(y.device)
    short = max(10, p.ais_steps // 10)
    batches = range(0, len(y), p.batch)
    from tqdm.auto import tqdm
    # one bar over every transition: choosing sigma, then the test batches
    bar = tqdm(total=len(p.ais_sigmas) * short + len(batches) * p.ais_steps, desc="AIS", unit="step",
               disable=not progress, dynamic_ncols=True, leave=False)
    # the thread count, measured on the transitions (train/threads.py); inside a training run's
    # evaluation the run's count is left alone
    tuner = thr.tuner(device=str(y.device))
    timer = thr.Timer(tuner)

    def step() -> None:
        bar.update(1)
        timer()

    try:
        tuner.begin()
        timer.phase()
        sigma, scores = choose_sigma(decoder, yv, z_dim, p.ais_sigmas, steps=short, chains=4,
                                     leapfrog=p.ais_leapfrog, generator=g, on_step=step)
        parts, acc = [], []
        timer.phase()  # the test batches are bigger units than the validation ones
        for i in batches:
            r = ais(decoder, y[i:i + p.batch], z_dim, sigma, p.ais_steps, p.ais_chains, p.ais_leapfrog, generator=g,
                    on_step=step)
            parts.append(r.log_p)
            acc.append(r.acceptance)
    finally:
        tuner.close()
        bar.close()
    lp = core.discrete_log_prob_bound(torch.cat(parts), dim, levels)
    return lp, {"ais_sigma": sigma, "ais_acceptance": sum(acc) / len(acc)}


@METRICS.register("nll", params=NLLParams, results=("bits_per_dim", "nll_nats"))
def _nll(p: NLLParams, ctx) -> Dict[str, Any]:
    """Test-split likelihood in bits/dim: exact (PixelCNN), dequantized bound (flows), IWAE (VAEs) or AIS (GANs)."""
    G = getattr(ctx, "generator", None)
    if G is None:
        raise ConfigError("metric nll scores a run's generator (ganscape eval RUN --metrics nll), not sample files")
    x, data = _split(ctx.reference, p.split, p.n, "metric nll")
    levels = core.levels_of(data.info, "metric nll")
    x_val = None
    if _uses_ais(G, p):
        x_val, _ = _split(ctx.reference, "train", p.ais_validation, "metric nll")
    out = model_nll(G, x, levels, p, x_val, progress=bool(getattr(ctx, "progress", False)))
    if p.baseline_components:
        out.update(baseline_bits(ctx.reference, p.split, p.n, levels, p.baseline_components))
    return out


def baseline_bits(reference: Dict[str, Any], split: str, n: int, levels: int, components: int) -> Dict[str, float]:
    """Test bits/dim of the fitted baselines (cached per data set and split)."""
    key = json.dumps([reference.get("dataset"), reference.get("params") or {}, split, n, levels, components],
                     sort_keys=True)
    return dict(_baseline_bits(key))


@functools.lru_cache(maxsize=8)
def _baseline_bits(key: str) -> Tuple[Tuple[str, float], ...]:
    from ..likelihood.baselines import fit_independent, fit_mixture
    dataset, params, split, n, levels, components = json.loads(key)
    ref = {"dataset": dataset, "params": params}
    train, _ = _split(ref, "train", 0, "metric nll")
    test, _ = _split(ref, split, n, "metric nll")
    vt, vs = core.to_levels(train, levels), core.to_levels(test, levels)
    dim = math.prod(test.shape[1:])
    ind = fit_independent(vt, levels)
    mix = fit_mixture(vt, levels, components=components, seed=0)
    return (("baseline_independent_bits_per_dim", core.bits_per_dim(ind.log_prob(vs), dim)),
            ("baseline_mixture_bits_per_dim", core.bits_per_dim(mix.log_prob(vs), dim)))
