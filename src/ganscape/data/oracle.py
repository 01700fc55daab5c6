"""The SeqGAN synthetic benchmark (Yu et al. 2017): an LSTM with random
weights is the true distribution of token sequences, so a generator's
samples can be scored exactly by their negative log-likelihood under it
(NLL_oracle, metric oracle-nll).

As SeqGAN's target LSTM: embedding 32, hidden 32, vocabulary 5000, length
20, every parameter drawn from N(0, 1), 10,000 training sequences sampled
from it. Like SeqGAN's target LSTM (one bias b_i, b_f, b_o, b_c per gate),
each gate has ONE bias vector drawn from N(0, 1): torch's LSTM adds two
(bias_ih + bias_hh), so bias_hh is held at zero. Drawing both from N(0, 1),
as ganscape did before, gave an effective N(0, 2) bias and a lower-entropy
oracle (entropy estimate 5.866 nats per token against 5.749 for SeqGAN's
published oracle pickle), so its NLLs were not comparable with the paper's. The first input is the embedding of a begin-of-sequence row (an
extra embedding row, id vocab_size) so that every one of the vocab_size ids
can be generated; each sampled token is fed back. SeqGAN's official oracle
is a fixed pickle of such weights; this one is drawn from `oracle_seed`, the
same for every run (the run seed does not change the data).

With `path`, the oracle's weights and its sequences are saved to that file
the first time (torch.save of plain tensors, written atomically) and loaded
from it afterwards (weights_only), so a benchmark can share or archive the
exact data (files written with the old two-bias oracle are refused).
Published oracle NLL at length 20: a random generator 10.310, MLE 9.038,
SeqGAN 8.736; these are for SeqGAN's own oracle draw, whose entropy floor
(5.749) differs from this draw's, so compare the NLL above each oracle's
floor (`entropy_rate_estimate`) as well as the raw NLL.
"""
from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..registry import DATASETS, ConfigError
from ..nets.layers import draw_categorical
from .base import ArrayDataset, check_split


class OracleLSTM(nn.Module):
    def __init__(self, vocab_size: int = 5000, emb_dim: int = 32, hidden_dim: int = 32, length: int = 20,
                 seed: int = 0):
        super().__init__()
        self.vocab_size, self.length = vocab_size, length
        self.emb = nn.Embedding(vocab_size + 1, emb_dim)       # the last row is BOS
        self.lstm = nn.LSTM(emb_dim, hidden_dim, batch_first=True)
        self.head = nn.Linear(hidden_dim, vocab_size)
        g = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            for name, p in self.named_parameters():            # every weight N(0, 1), as SeqGAN's oracle
                if name.startswith("lstm.bias_hh"):
                    p.zero_()                                  # one bias per gate (bias_ih), as SeqGAN's
                else:
                    p.copy_(torch.randn(p.shape, generator=g))
        self.requires_grad_(False)
        self.eval()

    def logits(self, tokens: Tensor) -> Tensor:
        """Teacher forcing: (N, L) ids -> (N, L, V) logits of each next token."""
        bos = torch.full((len(tokens), 1), self.vocab_size, dtype=torch.long, device=tokens.device)
        h, _ = self.lstm(self.emb(torch.cat([bos, tokens[:, :-1]], 1)))
        return self.head(h)

    def log_prob(self, tokens: Tensor) -> Tensor:
        """(N, L) per-token log-probabilities."""
        return F.log_softmax(self.logits(tokens), -1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)

    @torch.no_grad()
    def nll(self, tokens: Tensor, batch: int = 2000) -> float:
        """Mean negative log-likelihood per token (nats): SeqGAN's NLL_oracle."""
        tokens = torch.as_tensor(tokens, dtype=torch.long)
        if tokens.ndim != 2 or tokens.shape[1] != self.length:
            raise ValueError(f"oracle-nll: sequences must be (N, {self.length}) token ids, got {tuple(tokens.shape)}")
        if len(tokens) and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            raise ValueError(f"oracle-nll: token ids must lie in [0, {self.vocab_size})")
        dev = self.head.weight.device
        total = sum(float(-self.log_prob(tokens[i:i + batch].to(dev)).sum()) for i in range(0, len(tokens), batch))
        return total / max(tokens.numel(), 1)

    @torch.no_grad()
    def sample(self, n: int, generator: Optional[torch.Generator] = None, batch: int = 1000) -> Tensor:
        """n sequences (n, L) int64 drawn token by token, on the oracle's device.

        Each token is drawn by nets.layers.draw_categorical (inverse CDF at a
        uniform from `generator`, a CPU generator: the same draws on any
        device), 10x faster on CPU than torch.multinomial over 5000 ids, which
        made the 10,000-sequence data set take half a minute."""
        dev = self.head.weight.device
        out = []
        for i in range(0, n, batch):
            m = min(batch, n - i)
            tok = torch.full((m, 1), self.vocab_size, dtype=torch.long, device=dev)
            state, seq = None, []
            for _ in range(self.length):
                h, state = self.lstm(self.emb(tok), state)
                tok = draw_categorical(self.head(h[:, -1]), generator)
                seq.append(tok)
            out.append(torch.cat(seq, 1))
        return torch.cat(out) if out else torch.zeros(0, self.length, dtype=torch.long, device=dev)

    def entropy_rate_estimate(self, n: int, generator: Optional[torch.Generator] = None) -> float:
        """The mean NLL per token of the oracle's own samples (a Monte Carlo
        estimate of its entropy per token: no generator can score lower on
        average)."""
        return self.nll(self.sample(n, generator))


# 2: one bias vector per gate (1: two, each N(0, 1)); in the saved file's key so an old file is refused
ORACLE_FORMAT = 2


@dataclass(frozen=True)
class OracleParams:
    vocab_size: int = 5000
    length: int = 20
    emb_dim: int = 32
    hidden_dim: int = 32
    n_train: int = 10000
    n_test: int = 2000
    oracle_seed: int = 0
    path: Optional[str] = None     # save the oracle and its sequences here (load them if the file exists)

    def validate(self, where: str) -> None:
        for k in ("vocab_size", "length", "emb_dim", "hidden_dim", "n_train", "n_test"):
            if getattr(self, k) < (2 if k in ("vocab_size", "length", "n_train") else 1):
                raise ConfigError(f"{where}.{k}: too small ({getattr(self, k)})")

    def key(self) -> Dict:
        d = asdict(self)
        d.pop("path")
        d["format"] = ORACLE_FORMAT
        return d


def _build(p: OracleParams) -> Tuple[OracleLSTM, Tensor, Tensor]:
    oracle = OracleLSTM(p.vocab_size, p.emb_dim, p.hidden_dim, p.length, p.oracle_seed)
    train = oracle.sample(p.n_train, torch.Generator().manual_seed(p.oracle_seed * 1_000_003 + 1))
    test = oracle.sample(p.n_test, torch.Generator().manual_seed(p.oracle_seed * 1_000_003 + 2))
    return oracle, train, test


def _load(path: Path, p: OracleParams) -> Tuple[OracleLSTM, Tensor, Tensor]:
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
        saved, sd, train, test = d["params"], d["oracle"], d["train"], d["test"]
    except Exception as e:
        raise ConfigError(f"data.params.path: {path} is not a readable oracle file ({type(e).__name__}: {e}); "
                          f"delete it to write a new one") from None
    want = p.key()
    if saved.get("format") != ORACLE_FORMAT:
        raise ConfigError(f"data.params.path: {path} holds an oracle written by an older ganscape (two bias "
                          f"vectors per gate, unlike SeqGAN's oracle); delete it to write a new one")
    diff = [k for k in want if saved.get(k) != want[k]]
    if diff:
        raise ConfigError(f"data.params.path: {path} holds an oracle with different "
                          f"{', '.join(f'{k} ({saved.get(k)} in the file, {want[k]} asked)' for k in diff)}")
    oracle = OracleLSTM(p.vocab_size, p.emb_dim, p.hidden_dim, p.length, p.oracle_seed)
    try:
        oracle.load_state_dict(sd)
    except (RuntimeError, TypeError, AttributeError) as e:
        raise ConfigError(f"data.params.path: {path}: its oracle weights do not fit an LSTM of these params "
                          f"({type(e).__name__}: {str(e).splitlines()[0]}); delete it to write a new one") from None
    for name, t, n in (("train", train, p.n_train), ("test", test, p.n_test)):
        if not (isinstance(t, Tensor) and t.dtype == torch.long and tuple(t.shape) == (n, p.length)):
            raise ConfigError(f"data.params.path: {path}: its {name} sequences are not ({n}, {p.length}) ids")
    return oracle, train, test


def _save(path: Path, p: OracleParams, oracle: OracleLSTM, train: Tensor, test: Tensor) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # A private temporary name: a study's workers may all write the same
    # oracle file at once; each replace is atomic and they write equal data.
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save({"params": p.key(), "oracle": oracle.state_dict(), "train": train, "test": test}, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.lru_cache(maxsize=4)
def oracle_data(p: OracleParams) -> Tuple[OracleLSTM, Tensor, Tensor]:
    """(oracle, train sequences, test sequences), built once per process."""
    if p.path:
        path = Path(p.path).expanduser()
        if path.exists():
            return _load(path, p)
        out = _build(p)
        _save(path, p, *out)
        return out
    return _build(p)


@DATASETS.register("oracle", params=OracleParams)
def oracle(params: OracleParams, split: str, seed: int = 0) -> ArrayDataset:
    """SeqGAN's synthetic benchmark: sequences from a random N(0, 1) LSTM that also scores samples (oracle-nll)."""
    check_split(split)
    o, train, test = oracle_data(params)
    return ArrayDataset(x=train if split == "train" else test, kind="tokens", vocab_size=params.vocab_size,
                        info={"oracle": o, "oracle_params": params.key()})
