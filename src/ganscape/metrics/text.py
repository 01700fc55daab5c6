"""Text metrics of sequence GANs (Texygen's definitions, Zhu et al. 2018),
as pure functions over lists of token lists (strings or ints).

BLEU is nltk's sentence BLEU with SmoothingFunction().method1, as Texygen:
each generated sequence is scored against the references with uniform
weights over 1..n-grams, and the scores are averaged. nltk's
modified_precision recounts every reference for every candidate and n,
which takes minutes for 500 samples against 1000 references; here the
references are counted once (their largest count of every n-gram) and
nltk's brevity penalty finishes the score, with method1's smoothing (a zero
n-gram count becomes epsilon / the candidate's n-gram total) done on the
integer counts: the same numbers (tests/metrics/test_text_metrics.py checks
them against sentence_bleu), on any Python >= 3.10 (Fraction's _normalize
argument, which nltk's older releases and this file used to keep the
denominator, is gone in 3.12).
On one core, BLEU-2..5 of 1000 length-20 candidates against 1000 references
takes ~0.4 s here and ~3 min through sentence_bleu (~45 ms a candidate per n).

Which references: Texygen's default (get_score(is_fast=True)) scores every
generated sentence against the FIRST 500 sentences of the test file, and
self-BLEU takes the first 500 generated sentences, each against the other
499. Here bleu_scores scores against all the references given
(max_references=None) or a seeded random subset of max_references, and
self_bleu_scores against all the other samples or a seeded random subset;
the registered metrics ("bleu": the first 500 generated sequences against a
seeded random 1000 of the reference split; "self-bleu": the first 500
generated, each against the other 499) record these in their protocol. With
fewer than 500 references both agree with Texygen; with more, the numbers
are comparable in kind but not equal.
"""
from __future__ import annotations

import math
import random
import re
from collections import Counter
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set

_PUNCT = re.compile(r"^[^\w]+|[^\w]+$")


def _check(name: str, seqs: Sequence[Sequence[Any]]) -> None:
    if not seqs:
        raise ValueError(f"{name}: no sequences given")


def _subset(items: Sequence[Any], k: Optional[int], seed: int) -> List[Any]:
    items = list(items)
    if k is None or k >= len(items):
        return items
    return random.Random(seed).sample(items, k)


class _References:
    """The reference side of BLEU, counted once: for every n-gram its largest
    count in any reference (and the runner-up with its holder, so that
    self-BLEU can leave a sample out of its own references), and the
    reference lengths. nltk's modified_precision recounts every reference for
    every candidate; the clipped counts are the same."""

    def __init__(self, references: Sequence[Sequence[Any]], max_n: int):
        self.refs = [tuple(r) for r in references]
        self.top: List[Dict[tuple, list]] = []
        for n in range(1, max_n + 1):
            top: Dict[tuple, list] = {}
            for j, r in enumerate(self.refs):
                for g, c in Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1)).items():
                    t = top.get(g)
                    if t is None:
                        top[g] = [c, j, 0]
                    elif c > t[0]:
                        top[g] = [c, j, t[0]]
                    elif c > t[2]:
                        t[2] = c
            self.top.append(top)
        self.lengths = Counter(len(r) for r in self.refs)

    def max_count(self, n: int, g: tuple, exclude: Optional[int]) -> int:
        t = self.top[n - 1].get(g)
        if t is None:
            return 0
        return t[2] if exclude is not None and t[1] == exclude else t[0]

    def closest_length(self, hyp_len: int, exclude: Optional[int]) -> int:
        lengths = self.lengths
        if exclude is not None:
            lengths = lengths.copy()
            lengths[len(self.refs[exclude])] -= 1
        # nltk's closest_ref_length: the nearest, the shorter one on a tie
        return min((L for L, c in lengths.items() if c > 0), key=lambda L: (abs(L - hyp_len), L))


def _sentence_bleu(refs: _References, hyp: Sequence[Any], ns: Sequence[int], exclude: Optional[int] = None
                   ) -> List[float]:
    """nltk.translate.bleu_score.sentence_bleu(references, hyp, weights=(1/n,)*n,
    smoothing_function=SmoothingFunction().method1) for each n in ns."""
    from nltk.translate.bleu_score import SmoothingFunction, brevity_penalty
    hyp = tuple(hyp)
    max_n = max(ns)
    counts_n = []  # (clipped matches, candidate n-grams) as integers, as nltk's unnormalized precisions
    for n in range(1, max_n + 1):
        counts = Counter(tuple(hyp[i:i + n]) for i in range(len(hyp) - n + 1))
        num = sum(min(c, refs.max_count(n, g, exclude)) for g, c in counts.items())
        counts_n.append((num, max(1, sum(counts.values()))))
    if counts_n[0][0] == 0:
        return [0.0 for _ in ns]
    bp = brevity_penalty(refs.closest_length(len(hyp), exclude), len(hyp))
    eps = SmoothingFunction().epsilon                    # method1: a zero count becomes epsilon / total
    logs = [math.log((num if num else eps) / den) for num, den in counts_n]
    return [bp * math.exp(math.fsum((1.0 / n) * lp for lp in logs[:n])) for n in ns]


def bleu_scores(candidates: Sequence[Sequence[Any]], references: Sequence[Sequence[Any]],
                ns: Iterable[int] = (2, 3, 4, 5), max_references: Optional[int] = None, seed: int = 0
                ) -> Dict[str, float]:
    """Texygen's BLEU-n for each n in ns: the mean over candidates of nltk's
    sentence BLEU against the references (uniform weights over 1..n-grams,
    smoothing method1). {"bleu2": ..., ...}.

    candidates, references: non-empty lists of token lists (str or int tokens).
    max_references: None scores against all the references (Texygen);
    k scores against random.Random(seed).sample(references, k), the same
    subset for every candidate and every n. ValueError on an empty list.
    """
    _check("bleu: candidates", candidates)
    _check("bleu: references", references)
    ns = tuple(ns)
    refs = _References(_subset(references, max_references, seed), max(ns))
    scores = [_sentence_bleu(refs, c, ns) for c in candidates]
    return {f"bleu{n}": float(sum(s[i] for s in scores) / len(scores)) for i, n in enumerate(ns)}


def bleu(candidates, references, n: int = 4, max_references: Optional[int] = None, seed: int = 0) -> float:
    """BLEU-n (see bleu_scores)."""
    return bleu_scores(candidates, references, (n,), max_references, seed)[f"bleu{n}"]


def self_bleu_scores(samples: Sequence[Sequence[Any]], ns: Iterable[int] = (2, 3, 4, 5),
                     max_samples: Optional[int] = None, seed: int = 0) -> Dict[str, float]:
    """Texygen's self-BLEU-n: each sample scored against all the other
    samples as its references (higher means less diverse); identical samples
    give 1.0. max_samples: None uses every sample; k uses a seeded random
    subset of k samples (random.Random(seed).sample), each scored against the
    other k - 1. ValueError for fewer than 2 samples. {"self_bleu2": ...}."""
    samples = [tuple(s) for s in _subset(samples, max_samples, seed)]
    if len(samples) < 2:
        raise ValueError(f"self_bleu: needs at least 2 samples, got {len(samples)}")
    ns = tuple(ns)
    refs = _References(samples, max(ns))
    scores = [_sentence_bleu(refs, s, ns, exclude=i) for i, s in enumerate(samples)]
    return {f"self_bleu{n}": float(sum(x[i] for x in scores) / len(scores)) for i, n in enumerate(ns)}


def self_bleu(samples, n: int = 4, max_samples: Optional[int] = None, seed: int = 0) -> float:
    """Self-BLEU-n (see self_bleu_scores)."""
    return self_bleu_scores(samples, (n,), max_samples, seed)[f"self_bleu{n}"]


def distinct_n(samples: Sequence[Sequence[Any]], n: int) -> float:
    """Distinct n-grams over all n-grams of the samples (Li et al. 2016); 0 when there are none."""
    grams = [tuple(s[i:i + n]) for s in samples for i in range(len(s) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def ngram_diversity(samples, ns: Iterable[int] = (1, 2, 3, 4)) -> Dict[str, float]:
    """distinct-n for each n in ns: {"distinct1": ..., ...}."""
    return {f"distinct{n}": distinct_n(samples, n) for n in ns}


def split_words(text: str) -> List[str]:
    """Whitespace-separated words with the punctuation around them stripped
    (inner apostrophes and hyphens kept); empty results dropped."""
    words = (_PUNCT.sub("", w) for w in text.split())
    return [w for w in words if w]


def in_vocab_word_fraction(texts: Sequence[str], vocabulary: Set[str]) -> float:
    """The fraction of the words of generated texts found in `vocabulary`
    (the training text's words): how often a character-level model spells
    real words. 0.0 when the texts hold no word."""
    words = [w for t in texts for w in split_words(t)]
    return sum(w in vocabulary for w in words) / len(words) if words else 0.0
