"""Metrics of token sequences (the SeqGAN oracle, text), registered like the
image metrics and run by `ganscape eval` and the training loop's evaluator
when the data are tokens.

- oracle-nll: the mean per-token negative log-likelihood (nats) of generated
  sequences under the data set's oracle (SeqGAN's NLL_oracle; lower is
  better; the oracle's own samples score its entropy rate);
- test-nll: the generator's mean per-token NLL of the test split (teacher
  forcing; for generators with a likelihood);
- bleu: BLEU-2..5 of the first `max_candidates` (500) generated sequences
  against a seeded random `max_references` (1000) of the test split, nltk's
  smoothing method1 (Texygen's default scores every sample against the
  first 500 test sentences: the same with 500 references or fewer);
- self-bleu: each of the first 500 generated sequences against the other
  499 (as Texygen's default; higher = less diverse);
- ngram-diversity: distinct-n, distinct n-grams over all n-grams;
- in-vocab-words: for character-level text, the fraction of generated words
  found among the training text's words.

Sequences are compared as token lists: the vocabulary's strings for text
(words, or characters), token ids for the oracle; padding is dropped.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from ..data.text import decode, token_lists  # noqa: F401  (re-exported: metrics and callers decode samples)
from ..registry import METRICS, ConfigError, NoParams

TOKEN_DEFAULTS = ("oracle-nll", "test-nll", "bleu", "self-bleu", "ngram-diversity", "in-vocab-words")
HIGHER_IS_BETTER = {f"bleu{n}" for n in range(2, 6)} | {f"distinct{n}" for n in range(1, 5)} | {"in_vocab_words"}


def generate_tokens(G: torch.nn.Module, n: int, seed: int, batch_size: int = 1000) -> torch.Tensor:
    """n sequences (n, L) int64 from G, with a private seeded generator, on the CPU."""
    was = G.training
    G.eval()
    try:
        g = torch.Generator(device=next(G.parameters()).device).manual_seed(seed)
        t = getattr(G, "temperature", 1.0)
        out = [G.sample(min(batch_size, n - i), t, generator=g).cpu() for i in range(0, n, batch_size)]
    finally:
        G.train(was)
    return torch.cat(out)


@dataclass
class TokenContext:
    fake: torch.Tensor                       # generated ids (N, L)
    real: torch.Tensor                       # reference ids (M, L): the split evaluated against
    info: Dict[str, Any] = field(default_factory=dict)
    generator: Optional[torch.nn.Module] = None
    test: Optional[torch.Tensor] = None      # the test split's ids (test-nll)
    defaults: bool = False                   # metrics chosen by default: skip those that do not apply


class NotApplicable(ConfigError):
    """A token metric that does not apply to this data (skipped among the defaults)."""


@METRICS.register("oracle-nll", results=("oracle_nll",), data="tokens")
def _oracle_nll(p: NoParams, ctx: TokenContext) -> Dict[str, float]:
    """Mean per-token NLL (nats) of generated sequences under the data's oracle LSTM (SeqGAN; lower is better)."""
    oracle = ctx.info.get("oracle")
    if oracle is None:
        raise NotApplicable("metric oracle-nll needs a data set with an oracle (data: oracle)")
    return {"oracle_nll": float(oracle.nll(ctx.fake))}


@METRICS.register("test-nll", results=("test_nll",), data="tokens")
def _test_nll(p: NoParams, ctx: TokenContext) -> Dict[str, float]:
    """The generator's mean per-token NLL (nats) of the test split, by teacher forcing (lower is better)."""
    G = ctx.generator
    if G is None or not hasattr(G, "log_prob") or ctx.test is None:
        raise NotApplicable("metric test-nll needs a generator with a likelihood (log_prob) and the test split")
    dev = next(G.parameters()).device
    was = G.training
    G.eval()
    try:
        with torch.no_grad():
            total = sum(float(-G.log_prob(ctx.test[i:i + 1000].to(dev)).sum()) for i in range(0, len(ctx.test), 1000))
    finally:
        G.train(was)
    return {"test_nll": total / ctx.test.numel()}


@dataclass(frozen=True)
class BLEUParams:
    ns: Tuple[int, ...] = (2, 3, 4, 5)
    max_candidates: int = 500      # generated sequences scored (BLEU is slow: see metrics/text.py)
    max_references: int = 1000     # references each is scored against (a seeded subset)

    def validate(self, where: str) -> None:
        if not self.ns or any(n < 1 or n > 5 for n in self.ns):
            raise ConfigError(f"{where}.ns: n-gram orders in 1..5, got {self.ns}")
        if self.max_candidates < 1 or self.max_references < 1:
            raise ConfigError(f"{where}: max_candidates and max_references must be >= 1")


@METRICS.register("bleu", params=BLEUParams, results=("bleu2", "bleu3", "bleu4", "bleu5"), data="tokens")
def _bleu(p: BLEUParams, ctx: TokenContext) -> Dict[str, float]:
    """BLEU-n of generated sequences against the reference split (Texygen, nltk smoothing method1; higher is better)."""
    from .text import bleu_scores
    cands = token_lists(ctx.fake[:p.max_candidates], ctx.info)
    refs = token_lists(ctx.real, ctx.info)
    return bleu_scores(cands, refs, ns=p.ns, max_references=p.max_references, seed=0)


@dataclass(frozen=True)
class SelfBLEUParams:
    ns: Tuple[int, ...] = (2, 3, 4, 5)
    max_samples: int = 500

    def validate(self, where: str) -> None:
        if not self.ns or any(n < 1 or n > 5 for n in self.ns):
            raise ConfigError(f"{where}.ns: n-gram orders in 1..5, got {self.ns}")
        if self.max_samples < 2:
            raise ConfigError(f"{where}.max_samples: at least 2")


@METRICS.register("self-bleu", params=SelfBLEUParams,
                  results=("self_bleu2", "self_bleu3", "self_bleu4", "self_bleu5"), data="tokens")
def _self_bleu(p: SelfBLEUParams, ctx: TokenContext) -> Dict[str, float]:
    """Self-BLEU: each generated sequence against the others (Texygen; higher = less diverse)."""
    from .text import self_bleu_scores
    return self_bleu_scores(token_lists(ctx.fake[:p.max_samples], ctx.info), ns=p.ns, seed=0)


@METRICS.register("ngram-diversity", results=("distinct1", "distinct2", "distinct3", "distinct4"), data="tokens")
def _ngram_diversity(p: NoParams, ctx: TokenContext) -> Dict[str, float]:
    """distinct-n: distinct n-grams / all n-grams of the generated sequences, n = 1..4 (higher = more diverse)."""
    from .text import ngram_diversity
    return ngram_diversity(token_lists(ctx.fake, ctx.info), ns=(1, 2, 3, 4))


@METRICS.register("in-vocab-words", results=("in_vocab_words",), data="tokens")
def _in_vocab_words(p: NoParams, ctx: TokenContext) -> Dict[str, float]:
    """Character-level text: the fraction of generated words that occur in the training text."""
    from .text import in_vocab_word_fraction
    if ctx.info.get("level") != "char" or "train_words" not in ctx.info:
        raise NotApplicable("metric in-vocab-words scores character-level text (data: text, level char)")
    return {"in_vocab_words": in_vocab_word_fraction(decode(ctx.fake, ctx.info), set(ctx.info["train_words"]))}


def evaluate_tokens(G: torch.nn.Module, cfg, metrics: Sequence[str], n: int, split: str = "test",
                    seed: int = 0, metric_params: Optional[Dict[str, Dict[str, Any]]] = None) -> Dict[str, Any]:
    """Sample n sequences from G and score them on the config's token data set.

    The reference for BLEU is `split` (Texygen scores against the test set);
    test-nll always reads the test split. With the default metric list
    (TOKEN_DEFAULTS) the metrics that do not apply to the data are skipped;
    asked for by name, they are an error naming what they need."""
    from ..train.state import load_data
    names = tuple(metrics)
    for m in names:
        if METRICS.get(m).tags.get("data") != "tokens":
            raise ConfigError(f"metric {m!r} scores images or points; for token data choose from "
                              f"{', '.join(e.name for e in METRICS if e.tags.get('data') == 'tokens')}")
    ref = load_data(cfg, split)
    test = ref if split == "test" else load_data(cfg, "test")
    fake = generate_tokens(G, n, seed)
    ctx = TokenContext(fake=fake, real=ref.x, info=ref.info, generator=G, test=test.x,
                       defaults=set(names) == set(TOKEN_DEFAULTS))
    results: Dict[str, float] = {}
    protocol: Dict[str, Any] = {}
    skipped: List[str] = []
    t0 = time.perf_counter()
    for m in names:
        params = METRICS.params(m, (metric_params or {}).get(m), where=f"metric {m}")
        try:
            results.update(METRICS.get(m).fn(params, ctx))
        except NotApplicable:
            if not ctx.defaults:
                raise
            skipped.append(m)
            continue
        protocol[m] = {k: v for k, v in vars(params).items()}
    return {"results": results, "n_fake": len(fake), "n_real": len(ref.x),
            "reference": {"dataset": cfg.data.name, "split": split, "n": len(ref.x)},
            "protocol": protocol, "skipped": skipped, "seconds": time.perf_counter() - t0}
