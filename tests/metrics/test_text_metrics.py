"""Text metrics: BLEU and self-BLEU against nltk's sentence_bleu and by hand,
distinct-n and the in-vocabulary word fraction by hand."""
import fractions
import math
import random

import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from ganscape.metrics.text import (bleu, bleu_scores, distinct_n, in_vocab_word_fraction, ngram_diversity, self_bleu,
                                   self_bleu_scores, split_words)

SM = SmoothingFunction().method1


def nltk_bleu(cands, refs, n):
    return sum(sentence_bleu(refs, c, tuple([1 / n] * n), smoothing_function=SM) for c in cands) / len(cands)


@pytest.mark.parametrize("seed", [0, 1])
def test_bleu_and_self_bleu_agree_with_nltk(seed):
    rng = random.Random(seed)
    refs = [[rng.randrange(12) for _ in range(rng.randrange(2, 10))] for _ in range(40)]
    cands = [[rng.randrange(12) for _ in range(rng.randrange(0, 10))] for _ in range(30)]
    got = bleu_scores(cands, refs)
    for n in (2, 3, 4, 5):
        assert got[f"bleu{n}"] == pytest.approx(nltk_bleu(cands, refs, n), abs=1e-12)
        want = sum(sentence_bleu(refs[:i] + refs[i + 1:], refs[i], tuple([1 / n] * n), smoothing_function=SM)
                   for i in range(len(refs))) / len(refs)
        assert self_bleu_scores(refs)[f"self_bleu{n}"] == pytest.approx(want, abs=1e-12)
    words = "the cat sat on the mat".split()
    assert bleu([words], [words, "a dog".split()], 4) == pytest.approx(1.0)



def test_word_tokens_duplicates_and_subsets_agree_with_nltk():
    # self-BLEU leaves only the sample itself out: its duplicates stay references
    words = "the a cat dog sat ran on under mat rug".split()
    rng = random.Random(5)
    samples = [[rng.choice(words) for _ in range(rng.randrange(1, 7))] for _ in range(20)]
    samples += [list(s) for s in samples[:6]] + [list(samples[0])]
    for n in (1, 2, 3, 4, 5):
        want = sum(sentence_bleu(samples[:i] + samples[i + 1:], s, tuple([1 / n] * n), smoothing_function=SM)
                   for i, s in enumerate(samples)) / len(samples)
        assert self_bleu(samples, n) == pytest.approx(want, abs=1e-12)
    cands = [[rng.choice(words) for _ in range(5)] for _ in range(10)]
    subset = random.Random(3).sample(samples, 8)
    assert bleu(cands, samples, 4, max_references=8, seed=3) == pytest.approx(nltk_bleu(cands, subset, 4), abs=1e-12)
    assert bleu(cands, samples, 4, max_references=100) == pytest.approx(nltk_bleu(cands, samples, 4), abs=1e-12)
    assert self_bleu(samples, 3, max_samples=5, seed=2) == self_bleu(random.Random(2).sample(samples, 5), 3)


def test_bleu_by_hand():
    # candidate "a b c d" against "a b x d e": p1 = 3/4, p2 = 1/3 ("a b"), p3 = 0, p4 = 0;
    # method1 replaces a zero numerator by 0.1: p3 = 0.1/2, p4 = 0.1/1; BP = exp(1 - 5/4)
    cand, ref = list("abcd"), list("abxde")
    bp = math.exp(1 - 5 / 4)
    p = [3 / 4, 1 / 3, 0.1 / 2, 0.1 / 1]
    assert bleu([cand], [ref], 2) == pytest.approx(bp * math.exp((math.log(p[0]) + math.log(p[1])) / 2))
    assert bleu([cand], [ref], 4) == pytest.approx(bp * math.exp(sum(math.log(x) for x in p) / 4))
    assert bleu([list("zz")], [ref], 2) == 0.0  # no unigram in common
    assert bleu([[]], [ref], 2) == 0.0


class Fraction312(fractions.Fraction):
    """fractions.Fraction as Python 3.12 has it: no _normalize argument."""

    def __new__(cls, numerator=0, denominator=None, **kw):
        if kw:
            raise TypeError(f"Fraction.__new__() got an unexpected keyword argument {next(iter(kw))!r}")
        return super().__new__(cls, numerator, denominator)


def test_bleu_runs_where_fraction_has_no_normalize_argument(monkeypatch):
    """requires-python is >= 3.10: BLEU must not depend on Fraction(...,
    _normalize=False), a TypeError from Python 3.12 on (issue 17, item 9)."""
    import ganscape.metrics.text as text
    monkeypatch.setattr(fractions, "Fraction", Fraction312)
    monkeypatch.setattr(text, "Fraction", Fraction312, raising=False)
    cand, ref = list("abcd"), list("abxde")
    p = [3 / 4, 1 / 3, 0.1 / 2, 0.1 / 1]       # the zero counts keep their denominators (2 and 1), as nltk's
    assert text.bleu([cand], [ref], 4) == pytest.approx(math.exp(1 - 5 / 4) * math.exp(sum(map(math.log, p)) / 4))
    assert text.self_bleu([cand, ref, cand], 3) > 0


def test_self_bleu_extremes():
    same = [list("abcdef")] * 4
    assert self_bleu(same, 4) == pytest.approx(1.0)
    disjoint = [[f"{i}-{j}" for j in range(6)] for i in range(4)]
    assert self_bleu(disjoint, 2) == 0.0
    with pytest.raises(ValueError, match="at least 2 samples"):
        self_bleu([list("ab")])


def test_subsets_are_seeded():
    rng = random.Random(3)
    refs = [[rng.randrange(8) for _ in range(6)] for _ in range(50)]
    cands = refs[:10]
    a = bleu(cands, refs, 3, max_references=10, seed=1)
    assert a == bleu(cands, refs, 3, max_references=10, seed=1)
    assert a != bleu(cands, refs, 3, max_references=10, seed=2)
    with pytest.raises(ValueError, match="no sequences"):
        bleu([], refs)
    with pytest.raises(ValueError, match="no sequences"):
        bleu(cands, [])


def test_distinct_n_by_hand():
    samples = [list("abab"), list("ab")]
    # unigrams a b a b a b: 2 distinct of 6; bigrams ab ba ab ab: 2 of 4; trigrams aba bab: 2 of 2
    assert distinct_n(samples, 1) == pytest.approx(2 / 6)
    assert ngram_diversity(samples, (2, 3)) == {"distinct2": 0.5, "distinct3": 1.0}
    assert distinct_n([list("a")], 2) == 0.0


def test_in_vocab_words_by_hand():
    vocab = {"the", "cat", "don't", "well-known"}
    texts = ["The cat, the dog.", "don't (well-known) !!!", ""]
    # words: The cat the dog don't well-known -> 4 of 6 in the vocabulary ("The" is not: case matters)
    assert split_words(texts[0]) == ["The", "cat", "the", "dog"]
    assert in_vocab_word_fraction(texts, vocab) == pytest.approx(4 / 6)
    assert in_vocab_word_fraction(["", "... !"], vocab) == 0.0
