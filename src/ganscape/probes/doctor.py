"""The training doctor's diagnosis (issue 20, part 1): named failures with
their evidence and the remedies that apply, from what a run records.

Pure functions of three inputs, so that the same rules judge a live run
(train.doctor), a finished run folder (`ganscape doctor RUN`) and the
constructed series of the tests:

- `stats`: the run's stats.jsonl records (losses, D's mean logits on real and
  fake, gradient norms, every `train.log_every` steps);
- `checks`: the doctor's periodic measurements on a fixed latent batch
  (probes/doctor_checks.py, doctor.jsonl): sample diversity relative to real
  data, the modes (mixture components, or a judge's classes) the samples
  cover next to how many real data covers, the memorized share;
- `cfg`: the run's resolved config (a dict, as config.json holds it), for the
  advice: a remedy the run already uses is not offered again.

Each rule states its thresholds here, once; they were set on constructed
series and checked on benchmarks/bench_doctor.py's runs made to fail on
purpose (README, "The training doctor"). What no rule can see: a failure
between two checks that heals before the next, and quality problems that are
neither of these seven (blurry but diverse samples) - FID is for that.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

FINDINGS = ("divergence", "d-overpowering", "mode-collapse", "mode-dropping", "mode-hopping", "memorization",
            "oscillation")

# Recipes with a G and a D that the GAN remedies apply to.
GAN_METHODS = ("gan", "cgan", "infogan", "ssgan", "consensus", "bgan", "relaxed", "flowgan", "seqgan", "maligan",
               "scratchgan", "gancls", "otgan", "netgan")

# Losses whose D output is the logit of D's probability of "real".
PROBABILITY_LOSSES = ("ns", "minimax", "bgan")

# --- thresholds (one place) ---
BLOWUP = 30.0           # divergence: |value| grew this many times over its early median ...
BLOWUP_FLOOR = 100.0    # ... and exceeds this absolute size (small numbers growing 100x are noise)
P_FAKE_LOW = 0.05       # d-overpowering: D's probability of "real" on fakes below this ...
P_REAL_HIGH = 0.8       # ... while real data stays above this, ...
HINGE_SATURATED = 0.05  # (hinge: D's loss below this: both margins met for nearly every example)
SUSTAIN = 3             # ... for this many consecutive logged records at least
VANISH = 0.1            # G's gradient norm below this share of its early median: vanishing
DIVERSITY_LOW = 0.5     # mode collapse: sample diversity below this share of real data's ...
DIVERSITY_DROP = 0.6    # ... and below this share of its own peak (it fell)
COVERAGE_LOW = 0.9      # mode dropping: modes covered below this share of those real data covers
HOP_JACCARD = 0.5       # mode hopping: consecutive covered sets this dissimilar (Jaccard) ...
HOP_COUNT_SLACK = 0.25  # ... while their sizes differ by at most this share (the number stays flat)
HOP_MIN = 2             # ... at least this many times
MEMORIZED = 0.5         # memorization: share of samples nearer the training set than held-out data is
OSC_PEAK = 0.5          # oscillation: autocorrelation peak at a lag >= 2 after a trough ...
OSC_TROUGH = -0.3       # ... below this
OSC_MIN_RECORDS = 16    # records of the second half needed to judge periodicity
WARMUP = 0.2            # the first 20% of train.steps are not judged, except for divergence: a generator
                        # at its start covers one mode, hops while it learns, and D wins the first steps


@dataclass
class Finding:
    finding: str                 # one of FINDINGS
    step: int                    # the first step the evidence holds at
    evidence: str                # the numbers and the steps
    advice: List[str]            # remedies that apply to this config
    net: Optional[str] = None    # "D" or "G" where one applies

    def to_json(self) -> Dict[str, Any]:
        d = asdict(self)
        if d["net"] is None:
            del d["net"]
        return d


def _series(stats: Sequence[Mapping[str, Any]], key: str):
    """(steps, values) of one statistic, finite values as floats, NaN where a record lacks it or holds
    a non-number (stats.jsonl writes NaN as the string 'nan')."""
    steps, vals = [], []
    for r in stats:
        if key in r:
            try:
                v = float(r[key])
            except (TypeError, ValueError):
                v = math.nan
            steps.append(int(r.get("step", len(steps))))
            vals.append(v)
    return np.asarray(steps, dtype=np.int64), np.asarray(vals, dtype=np.float64)


def _early(v: np.ndarray) -> float:
    """The median of the first tenth of a series (at least 3 values): its scale before anything failed."""
    head = v[:max(3, len(v) // 10)]
    head = head[np.isfinite(head)]
    return float(np.median(np.abs(head))) if len(head) else math.nan


def _first_run(mask: np.ndarray, length: int) -> int:
    """Index where `length` consecutive True values start first; -1 if none."""
    run = 0
    for i, m in enumerate(mask):
        run = run + 1 if m else 0
        if run >= length:
            return i - length + 1
    return -1


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


# ---------------------------------------------------------------- the rules
def divergence(stats, checks, cfg, status: Optional[Mapping[str, Any]] = None) -> List[Finding]:
    """A loss or gradient norm went non-finite (the run stopped as diverged) or grew BLOWUP times over its
    early scale and past BLOWUP_FLOOR, and stayed so to the last record. The net is the one whose statistics grew more."""
    growth: Dict[str, tuple] = {}
    first = None
    s_real, real = _series(stats, "d_real")
    s_fake, fake = _series(stats, "d_fake")
    gap = [{"step": int(a), "d_gap": float(r - f)} for a, r, f in zip(s_real, real, fake)] \
        if len(real) == len(fake) else []
    # D's outputs are judged by the gap between real and fake: under the Wasserstein loss a critic's
    # offset is free (no penalty sees it) and drifts in healthy runs, and so does G's loss, -D(fake).
    # Under a probability loss a wide gap is D winning (d-overpowering's rule), not divergence.
    loss = _loss_name(cfg)
    keys = ["d_loss", "d_grad_norm", "g_grad_norm"] + ([] if loss in PROBABILITY_LOSSES else ["d_gap"]) \
        + ([] if loss == "wasserstein" else ["g_loss"])
    for key in keys:
        steps, v = _series(gap if key == "d_gap" else stats, key)
        if len(v) < 4:
            continue
        base = max(_early(v), 1e-8)
        bad = ~np.isfinite(v) | ((np.abs(v) > BLOWUP * base) & (np.abs(v) > BLOWUP_FLOOR))
        i = len(bad)
        while i > 0 and bad[i - 1]:   # the blown-up stretch that lasts to the end (a spike that heals is not
            i -= 1                    # divergence): two records at least, or a non-finite last one
        if len(bad) - i >= 2 or (i < len(bad) and not np.isfinite(v[-1])):
            peak = np.nanmax(np.abs(np.where(np.isfinite(v), v, np.nan))) if np.isfinite(v).any() else math.inf
            growth[key] = (int(steps[i]), peak / base, base)
            first = int(steps[i]) if first is None else min(first, int(steps[i]))
    stopped = status is not None and status.get("status") == "diverged"
    nonfinite = [int(c["step"]) for c in checks if c.get("nonfinite")]
    if not growth and not stopped and not nonfinite:
        return []
    if growth:
        d = max((g for k, g in growth.items() if k.startswith("d_")), key=lambda g: g[1], default=(0, 0, 0))[1]
        g = max((g for k, g in growth.items() if k.startswith("g_")), key=lambda g: g[1], default=(0, 0, 0))[1]
        net = "D" if d >= g else "G"
        parts = [f"{k} grew {x[1]:.3g}x over its early median {x[2]:.3g} from step {x[0]}"
                 for k, x in sorted(growth.items(), key=lambda kv: kv[1][0])]
    else:
        net, parts = None, []
    if nonfinite:
        parts.append(f"the generator's samples were NaN or Inf at step {nonfinite[0]}")
        net = net or "G"
        first = nonfinite[0] if first is None else min(first, nonfinite[0])
    if stopped:
        parts.append(f"the run stopped at step {status.get('step')}: {status.get('reason', 'diverged')}")
        first = int(status.get("step", 0)) if first is None else first
    return [Finding("divergence", int(first or 0), "; ".join(parts), advice("divergence", cfg), net)]


def d_overpowering(stats, checks, cfg, status=None) -> List[Finding]:
    """D tells fakes from real almost perfectly for SUSTAIN records or more: with a probability loss
    sigmoid(D(fake)) < P_FAKE_LOW while sigmoid(D(real)) > P_REAL_HIGH; with hinge, D's loss
    below HINGE_SATURATED. G's gradient norm falling below VANISH of its early median is added to the
    evidence where it happened. Not judged for the Wasserstein and least-squares losses (no saturating
    output to read)."""
    loss = _loss_name(cfg)
    if loss in PROBABILITY_LOSSES:
        s, real = _series(stats, "d_real")
        _, fake = _series(stats, "d_fake")
        if len(s) < SUSTAIN or len(fake) != len(s):
            return []
        pr, pf = _sigmoid(real), _sigmoid(fake)
        i = _first_run((pf < P_FAKE_LOW) & (pr > P_REAL_HIGH), SUSTAIN)
        if i < 0:
            return []
        j = min(len(s) - 1, i + SUSTAIN - 1)
        ev = (f"D(fake) = sigmoid(mean logit) {pf[i]:.3g} .. {pf[j]:.3g} and D(real) {pr[i]:.3g} .. {pr[j]:.3g} "
              f"from step {s[i]} to {s[j]}")
    elif loss == "hinge":
        s, dl = _series(stats, "d_loss")
        i = _first_run(dl < HINGE_SATURATED, SUSTAIN)
        if i < 0:
            return []
        j = min(len(s) - 1, i + SUSTAIN - 1)
        ev = f"D's hinge loss {dl[i]:.3g} .. {dl[j]:.3g} (margins met) from step {s[i]} to {s[j]}"
    else:
        return []
    gs, gn = _series(stats, "g_grad_norm")
    if len(gn) >= 4:
        base = _early(gn)
        late = gn[gs >= s[i]]
        if len(late) and np.isfinite(base) and base > 0 and np.nanmedian(late) < VANISH * base:
            ev += f"; G's gradient norm fell to {np.nanmedian(late):.3g} from {base:.3g} (vanishing)"
    return [Finding("d-overpowering", int(s[i]), ev, advice("d-overpowering", cfg), "D")]


def mode_collapse(stats, checks, cfg, status=None) -> List[Finding]:
    """Sample diversity (mean pairwise distance of the samples of a fixed latent batch, over that of as
    many real examples) below DIVERSITY_LOW and below DIVERSITY_DROP of its own peak, at two consecutive
    checks (one low check may be a bad moment)."""
    steps = [c["step"] for c in checks if c.get("diversity") is not None]
    div = np.asarray([c["diversity"] for c in checks if c.get("diversity") is not None], dtype=float)
    if len(div) < 2:
        return []
    peak = np.maximum.accumulate(div)
    low = (div < DIVERSITY_LOW) & (div < DIVERSITY_DROP * peak)
    i = _first_run(low, 2)
    if i < 0:
        return []
    ev = (f"sample diversity {div[i]:.2f}, {div[i + 1]:.2f} of real data's at steps {steps[i]}, {steps[i + 1]} "
          f"(peak {peak[i]:.2f}); last check {div[-1]:.2f} at step {steps[-1]}")
    return [Finding("mode-collapse", int(steps[i]), ev, advice("mode-collapse", cfg), "G")]


def _modes(checks):
    rows = [c for c in checks if c.get("modes") is not None and c.get("real_modes")]
    return [int(c["step"]) for c in rows], [set(c["modes"]) for c in rows], [int(c["real_modes"]) for c in rows]


def _num_modes(checks, real: int) -> int:
    """K, the modes there are (a check records it; older records: the real data's count)."""
    return max([int(c["num_modes"]) for c in checks if c.get("num_modes")] or [real])


def mode_dropping(stats, checks, cfg, status=None) -> List[Finding]:
    """The samples cover fewer than COVERAGE_LOW of the modes as many real examples cover, at the last two
    checks (persistently, not while training is still spreading out)."""
    steps, sets, real = _modes(checks)
    if len(steps) < 2:
        return []
    low = np.asarray([len(m) < COVERAGE_LOW * r for m, r in zip(sets, real)])
    if not (low[-1] and low[-2]):
        return []
    i = len(low) - 1
    while i > 0 and low[i - 1]:
        i -= 1
    ev = (f"{len(sets[i])} of {real[i]} modes covered at step {steps[i]}, {len(sets[-1])} of {real[-1]} at step "
          f"{steps[-1]} (the last check); never covered since step {steps[i]}: "
          f"{sorted(set(range(_num_modes(checks, real[-1]))) - set().union(*sets[i:]))[:20]}")
    return [Finding("mode-dropping", steps[i], ev, advice("mode-dropping", cfg), "G")]


def mode_hopping(stats, checks, cfg, status=None) -> List[Finding]:
    """The covered modes change between consecutive checks (Jaccard similarity below HOP_JACCARD) while
    their number stays flat (sizes within HOP_COUNT_SLACK) and short of full coverage, HOP_MIN times or
    more: the lecture's generator that moves from mode to mode instead of spreading over them."""
    steps, sets, real = _modes(checks)
    hops = []
    for k in range(1, len(sets)):
        a, b = sets[k - 1], sets[k]
        if not a or not b:
            continue
        jac = len(a & b) / len(a | b)
        flat = abs(len(a) - len(b)) <= max(1.0, HOP_COUNT_SLACK * max(len(a), len(b)))
        partial = max(len(a), len(b)) < COVERAGE_LOW * real[k]
        if jac < HOP_JACCARD and flat and partial:
            hops.append((steps[k - 1], steps[k], sorted(a), sorted(b), jac))
    if len(hops) < HOP_MIN:
        return []
    ev = f"{len(hops)} hops between checks; " + "; ".join(
        f"modes {a} at step {s0} -> {b} at step {s1} (Jaccard {j:.2f})" for s0, s1, a, b, j in hops[:3])
    return [Finding("mode-hopping", hops[0][1], ev, advice("mode-hopping", cfg), "G")]


def memorization(stats, checks, cfg, status=None) -> List[Finding]:
    """More than MEMORIZED of the samples lie nearer the training set (under flips and small shifts) than
    all but 5% of held-out real images do (metrics/memorization_invariant.py), at the last check or two
    checks in a row."""
    rows = [(int(c["step"]), float(c["memorized"])) for c in checks if c.get("memorized") is not None]
    if not rows:
        return []
    high = np.asarray([m > MEMORIZED for _, m in rows])
    i = _first_run(high, 2)
    if i < 0 and high[-1]:
        i = len(rows) - 1
    if i < 0:
        return []
    ev = (f"{rows[i][1]:.0%} of samples are near copies of training images at step {rows[i][0]} "
          f"({rows[-1][1]:.0%} at step {rows[-1][0]}); held-out real images: 5% by construction")
    return [Finding("memorization", rows[i][0], ev, advice("memorization", cfg), "G")]


def _periodic(v: np.ndarray):
    """(lag, peak, trough, trough lag) when the detrended series' autocorrelation has a trough below OSC_TROUGH and then
    a peak above OSC_PEAK at a lag of 2 or more; None otherwise."""
    v = v[np.isfinite(v)]
    if len(v) < OSC_MIN_RECORDS:
        return None
    w = max(3, len(v) // 4) | 1        # moving-average detrending: drift is not oscillation
    trend = np.convolve(np.pad(v, w // 2, mode="edge"), np.ones(w) / w, mode="valid")
    x = v - trend
    if x.std() < 1e-12:
        return None
    x = (x - x.mean()) / x.std()
    n = len(x)
    acf = np.array([np.dot(x[:n - k], x[k:]) / n for k in range(n // 2)])
    trough_at = None
    for k in range(1, len(acf)):
        if trough_at is None and acf[k] < OSC_TROUGH:
            trough_at = k
        if trough_at is not None and k >= 2 and acf[k] > OSC_PEAK and acf[k] >= acf[k - 1] and \
                (k + 1 == len(acf) or acf[k] >= acf[k + 1]):
            return k, float(acf[k]), float(acf[trough_at]), trough_at
    return None


def oscillation(stats, checks, cfg, status=None) -> List[Finding]:
    """A loss or D output of the second half of training swings periodically: the autocorrelation of the
    detrended series (moving average removed) has a trough below OSC_TROUGH followed by a peak above
    OSC_PEAK at a lag of 2 or more records. Single-batch noise has an autocorrelation near 0 at every lag,
    and a slow drift is removed by the detrending."""
    found = []
    for key in ("d_real", "d_fake", "d_loss", "g_loss"):
        s, v = _series(stats, key)
        half = len(v) // 2
        p = _periodic(v[half:])
        if p:
            lag, peak, trough, _ = p
            every = int(s[half + lag] - s[half]) if half + lag < len(s) else lag
            found.append((key, int(s[half]), every, peak, trough, float(np.nanstd(v[half:]))))
            trough_lag = p[3]
            found[-1] = found[-1] + (trough_lag,)
    if not found:
        return []
    ev = "; ".join(f"{k} swings with a period of about {every} steps from step {s0} (autocorrelation "
                   f"{pk:.2f} at that lag, {tr:.2f} at lag {tl} records; amplitude std {sd:.3g})"
                   for k, s0, every, pk, tr, sd, tl in found)
    return [Finding("oscillation", min(f[1] for f in found), ev, advice("oscillation", cfg))]


RULES = (divergence, d_overpowering, mode_collapse, mode_dropping, mode_hopping, memorization, oscillation)


def diagnose(stats: Sequence[Mapping[str, Any]], checks: Sequence[Mapping[str, Any]], cfg: Mapping[str, Any],
             status: Optional[Mapping[str, Any]] = None) -> List[Finding]:
    """Every finding the rules make, ordered by the step its evidence starts at. [] for a healthy run.
    Records of the first WARMUP of cfg's train.steps are judged for divergence only."""
    stats = sorted(stats, key=lambda r: r.get("step", 0))
    checks = sorted(checks, key=lambda r: r.get("step", 0))
    start = WARMUP * float(_get(cfg, "train.steps", 0) or 0)
    late_stats = [r for r in stats if r.get("step", 0) >= start]
    late_checks = [c for c in checks if c.get("step", 0) >= start]
    out: List[Finding] = []
    for rule in RULES:
        if rule is divergence:
            out.extend(rule(stats, checks, cfg, status))
        else:
            out.extend(rule(late_stats, late_checks, cfg, status))
    return sorted(out, key=lambda f: (f.step, FINDINGS.index(f.finding)))


# ---------------------------------------------------------------- advice
def _loss_name(cfg: Mapping[str, Any]) -> str:
    loss = cfg.get("loss", "ns")
    return loss.get("name", "") if isinstance(loss, Mapping) else str(loss)


def _get(cfg: Mapping[str, Any], path: str, default=None):
    cur: Any = cfg
    for k in path.split("."):
        if not isinstance(cur, Mapping) or k not in cur:
            return default
        cur = cur[k]
    return cur


def _name(c) -> str:
    return c.get("name", "") if isinstance(c, Mapping) else str(c or "")


def advice(kind: str, cfg: Mapping[str, Any]) -> List[str]:
    """The standard remedies for a finding, leaving out those the config already uses, as --set overrides
    where there is one."""
    penalties = {_name(p) for p in (cfg.get("penalties") or ())}
    d_norm = _name(_get(cfg, "model.discriminator.norm", "none"))
    lr_g = _get(cfg, "optim.generator.params.lr")
    lr_d = _get(cfg, "optim.discriminator.params.lr")
    ema = float(_get(cfg, "train.ema_decay", 0.0) or 0.0)
    mbd = int(_get(cfg, "model.discriminator.minibatch_features", 0) or 0)
    pack = int(_get(cfg, "model.discriminator.pack", 1) or 1)
    n_disc = int(_get(cfg, "train.n_disc", 1) or 1)
    loss = _loss_name(cfg)
    out: List[str] = []
    method = _name(cfg.get("method", "gan")) or "gan"
    if method not in GAN_METHODS:
        return [f"method {method!r} is not a GAN: the GAN remedies (penalties on D, packing, TTUR) do not apply; "
                f"lower the learning rate, train longer or change the model"]

    def lower_lr():
        if lr_g is not None and lr_d is not None:
            out.append(f"lower both learning rates (now G {lr_g:g}, D {lr_d:g}): --set optim.generator.params.lr="
                       f"{lr_g / 4:g} --set optim.discriminator.params.lr={lr_d / 4:g}")
        else:
            out.append("lower the learning rates")

    def penalty():
        if loss != "wasserstein" and not penalties & {"gp", "r1", "r2", "dragan"}:   # (WGAN: gp, said first)
            out.append("a gradient penalty on D: --set 'penalties=[{name: r1, params: {weight: 1}}]' "
                       "(gp with the wasserstein loss)")

    def spectral():
        if d_norm != "spectral":
            out.append("spectral normalization of D: --set model.discriminator.norm=spectral")

    def ttur():
        if lr_g is not None and lr_d is not None and not lr_d > lr_g:
            out.append(f"two time-scales (TTUR): D's learning rate above G's, e.g. --set "
                       f"optim.discriminator.params.lr={lr_g * 4:g} --set optim.generator.params.lr={lr_g:g}")

    def ema_():
        if not ema:
            out.append("sample from an EMA of G's weights: --set train.ema_decay=0.999")

    def diversity():
        if not mbd:
            out.append("minibatch features in D: --set model.discriminator.minibatch_features=32")
        if pack == 1:
            out.append("PacGAN packing: --set model.discriminator.pack=2")

    if kind == "divergence":
        lower_lr()
        penalty()
        spectral()
        if loss == "wasserstein" and not penalties & {"gp"}:
            out.insert(0, "the wasserstein loss needs a Lipschitz constraint on D: --set "
                          "'penalties=[{name: gp, params: {weight: 10}}]' (or weight clipping: --set "
                          "'method={name: gan, params: {weight_clip: 0.01}}')")
    elif kind == "d-overpowering":
        if loss == "minimax":
            out.append("the non-saturating G loss (G's gradient does not vanish when D wins): --set loss=ns")
        if n_disc > 1:
            out.append(f"fewer D steps per G step (now {n_disc}): --set train.n_disc=1")
        if lr_g is not None and lr_d is not None and lr_d >= lr_g:
            out.append(f"a lower D learning rate (now {lr_d:g}) or a larger G")
        penalty()
        spectral()
        if loss in PROBABILITY_LOSSES:
            out.append("one-sided label smoothing, real target 0.9 (Salimans et al. 2016), so D cannot be "
                       "certain: --set loss.params.smoothing=0.1")
    elif kind == "mode-collapse":
        diversity()
        penalty()
        ttur()
        ema_()
    elif kind == "mode-dropping":
        diversity()
        penalty()
        out.append("train longer or with a larger D; check the data's classes are balanced")
    elif kind == "mode-hopping":
        ema_()
        lower_lr()
        penalty()
        diversity()
    elif kind == "memorization":
        out.append("stop earlier: select the checkpoint by held-out FID (eval.split test) rather than the last")
        out.append("more training data or augmentation; a smaller or more regularized D")
        penalty()
    elif kind == "oscillation":
        lower_lr()
        penalty()
        ema_()
        ttur()
    return out


def render(findings: Sequence[Finding]) -> str:
    """The findings as text for a person."""
    if not findings:
        return "healthy: no finding (divergence, D overpowering, mode collapse, dropping or hopping, memorization, " \
               "oscillation)"
    lines = []
    for f in findings:
        net = f" ({f.net})" if f.net else ""
        lines.append(f"{f.finding}{net} from step {f.step}: {f.evidence}")
        lines.extend(f"    - {a}" for a in f.advice)
    return "\n".join(lines)
