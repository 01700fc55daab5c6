"""Any UTF-8 text file as token sequences, for sequence GANs and their MLE
baseline: characters (the vocabulary is the file's characters) or words (the
top_n most frequent words; the rest become <unk>).

Ids: 0 = <pad>, 1 = <unk>, then the vocabulary built from the TRAIN part
only (characters by code point; words by descending count, ties
alphabetically), so nothing of the test text leaks into it; a test token
outside it is <unk>.

The split is by position: the last `test_fraction` of the text's tokens
(of its non-empty lines, in line mode) is the test split, so no window
straddles both, no word is cut in two and nothing is shuffled across the
boundary. mode "window": non-overlapping
windows of `length` tokens over the token stream (newlines are tokens like
any other: characters keep "\\n", words see a "\\n" token per line break);
mode "line": each non-empty line, cut to `length` tokens and padded with
<pad>.

Words are split on whitespace, with punctuation as separate tokens
(regex \\w+|[^\\w\\s]); lowercase folds case first.
"""
from __future__ import annotations

import collections
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Literal, Tuple

import torch

from ..registry import DATASETS, ConfigError
from .base import ArrayDataset, check_split

PAD, UNK = 0, 1
_WORD = re.compile(r"\w+|[^\w\s]|\n")


@dataclass(frozen=True)
class TextParams:
    path: str = ""                            # the UTF-8 text file (required)
    level: Literal["char", "word"] = "char"
    length: int = 32                          # tokens per sequence
    mode: Literal["window", "line"] = "window"
    top_n: int = 5000                         # word level: vocabulary size before <pad> and <unk>
    lowercase: bool = False
    test_fraction: float = 0.1

    def validate(self, where: str) -> None:
        if not self.path:
            raise ConfigError(f"{where}.path: the text data set needs a file; set data.params.path=FILE")
        if self.length < 2:
            raise ConfigError(f"{where}.length: at least 2 tokens per sequence, got {self.length}")
        if self.top_n < 1:
            raise ConfigError(f"{where}.top_n: must be >= 1, got {self.top_n}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(f"{where}.test_fraction: must be in (0, 1), got {self.test_fraction}")


def read_text(path: str) -> str:
    """The file as text, with clear errors for a missing, empty or binary file."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"data.params.path: {p} does not exist or is not a file")
    raw = p.read_bytes()
    if not raw.strip():
        raise ConfigError(f"data.params.path: {p} is empty")
    nul = raw.find(b"\x00")
    if nul >= 0:
        raise ConfigError(f"data.params.path: {p} looks binary (a NUL byte at offset {nul}); give a UTF-8 text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"data.params.path: {p} is not UTF-8 text (invalid byte at offset {e.start}); "
                          "convert it with iconv or give another file") from None


def tokenize(text: str, level: str) -> List[str]:
    return list(text) if level == "char" else _WORD.findall(text)


def _tokens_at(text: str, level: str) -> Tuple[List[str], List[int]]:
    """The tokens of `text` and the character offset where each starts."""
    if level == "char":
        return list(text), list(range(len(text)))
    found = list(_WORD.finditer(text))
    return [m.group() for m in found], [m.start() for m in found]


def token_lists(x: torch.Tensor, info: Dict[str, Any]) -> List[List[Any]]:
    """(N, L) ids -> per sequence the list of its tokens, padding dropped:
    the vocabulary's strings where the data set has one, else the ids."""
    vocab, pad = info.get("vocab"), info.get("pad")
    out = []
    for row in x.tolist():
        ids = [i for i in row if i != pad]
        out.append([vocab[i] for i in ids] if vocab else ids)
    return out


def decode(x: torch.Tensor, info: Dict[str, Any]) -> List[str]:
    """(N, L) ids -> one string per sequence: text tokens joined by the data
    set's joiner ("" for characters, " " for words), ids by spaces."""
    joiner = info.get("joiner", "") if info.get("vocab") else " "
    return [joiner.join(map(str, t)) for t in token_lists(x, info)]


@torch.no_grad()


def words_of(text: str) -> List[str]:
    """The words of a text for the in-vocabulary check (metrics/text.py's rule)."""
    from ..metrics.text import split_words
    return split_words(text)


def build_vocab(tokens: List[str], level: str, top_n: int) -> List[str]:
    if level == "char":
        chars = sorted(set(tokens))
        return ["<pad>", "<unk>", *chars]
    counts = collections.Counter(tokens)
    top = sorted(counts, key=lambda w: (-counts[w], w))[:top_n]
    return ["<pad>", "<unk>", *top]


def _encode(tokens: List[str], index: Dict[str, int]) -> List[int]:
    return [index.get(t, UNK) for t in tokens]


def _windows(ids: List[int], length: int) -> torch.Tensor:
    n = len(ids) // length
    return torch.tensor(ids[:n * length], dtype=torch.long).view(n, length)


def _lines(lines: List[List[int]], length: int) -> torch.Tensor:
    out = torch.full((len(lines), length), PAD, dtype=torch.long)
    for i, ids in enumerate(lines):
        ids = ids[:length]
        out[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


@functools.lru_cache(maxsize=4)
def text_data(p: TextParams) -> Tuple[torch.Tensor, torch.Tensor, Dict[str, Any]]:
    """(train ids, test ids, info), built once per process."""
    text = read_text(p.path)
    if p.lowercase:
        text = text.lower()
    if p.mode == "window":
        # Cut the token stream, not the characters: a character cut could
        # split a word in two and put both halves in the vocabularies.
        tokens, starts = _tokens_at(text, p.level)
        cut = int(round(len(tokens) * (1.0 - p.test_fraction)))
        train_tokens, test_tokens = tokens[:cut], tokens[cut:]
        train_text = text[:starts[cut]] if cut < len(tokens) else text
        vocab = build_vocab(train_tokens, p.level, p.top_n)
        index = {t: i for i, t in enumerate(vocab)}
        train = _windows(_encode(train_tokens, index), p.length)
        test = _windows(_encode(test_tokens, index), p.length)
        n_tokens = len(tokens)
        # the largest length giving >= 2 train windows and >= 1 test window
        fit = min(len(train_tokens) // 2, len(test_tokens))
        hint = f"; a length of at most {fit} would fit" if fit >= 2 else "; the file is too short for windows"
    else:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        cut = int(round(len(lines) * (1.0 - p.test_fraction)))
        train_lines = [tokenize(ln, p.level) for ln in lines[:cut]]   # no newline token inside a line
        test_lines = [tokenize(ln, p.level) for ln in lines[cut:]]
        train_text = "\n".join(lines[:cut])
        vocab = build_vocab([t for ln in train_lines for t in ln], p.level, p.top_n)
        index = {t: i for i, t in enumerate(vocab)}
        train = _lines([_encode(ln, index) for ln in train_lines], p.length)
        test = _lines([_encode(ln, index) for ln in test_lines], p.length)
        n_tokens = sum(map(len, train_lines + test_lines))
        hint = (f"; line mode needs more non-empty lines than these {len(lines)} (or a larger "
                "test_fraction; or use mode window)")
    if len(train) < 2 or len(test) < 1:
        key, unit = (("path", "lines") if p.mode == "line" else ("length", f"windows of {p.length} tokens"))
        raise ConfigError(f"data.params.{key}: {p.path} holds {n_tokens} {p.level} tokens, which give "
                          f"{len(train)} train and {len(test)} test {unit} (need >= 2 and >= 1){hint}")
    info = {"vocab": vocab, "pad": PAD, "unk": UNK, "level": p.level, "joiner": "" if p.level == "char" else " ",
            "train_words": sorted(set(words_of(train_text)))}
    return train, test, info


@DATASETS.register("text", params=TextParams)
def text(params: TextParams, split: str, seed: int = 0) -> ArrayDataset:
    """Any UTF-8 text file as sequences of characters or words (windows or padded lines), split by position."""
    check_split(split)
    train, test, info = text_data(params)
    return ArrayDataset(x=train if split == "train" else test, kind="tokens", vocab_size=len(info["vocab"]),
                        info=dict(info))
