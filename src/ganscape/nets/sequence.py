"""Autoregressive sequence nets for token data: an LSTM generator (a policy
over the next token) and an LSTM discriminator with a logit per position
(ScratchGAN's). Registered as architecture `lstm` for data of kind tokens.

The generator's first input is a begin-of-sequence embedding (an extra row,
id vocab_size), so every one of the vocab_size ids can be generated; each
drawn token is fed back. It gives:

- logits(x): teacher forcing, (N, L, V) for every next token;
- log_prob(x): (N, L) log g(x_t | x_<t);
- sample(n, temperature, generator, prefix, return_log_prob): draws token by
  token carrying the LSTM state (a prefix, e.g. SeqGAN's Monte Carlo
  rollouts, is run once and continued); with return_log_prob the (N, L)
  log-probabilities of the drawn tokens, differentiable for REINFORCE;
- soft_sample(n, tau, hard): Gumbel-softmax relaxed one-hots (Jang et al.
  2017), fed back through the embedding matrix; straight-through when hard;
- softmax_sample(n): the softmax at each step, feeding back a drawn token
  (the "softmax outputs" relaxation);
- forward(z): len(z) sequences (z only sets the count), so generic code
  that calls G(z) samples.

Discriminators take token ids (N, L) or float (N, L, V) one-hots or relaxed
one-hots (embedded by a matrix product, so gradients reach a relaxed
generator).
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..registry import ARCHITECTURES, ConfigError
from .layers import NetSpec, draw_categorical

WEIGHT_NORMS = ("none", "spectral", "weight")


def check_norm(spec: NetSpec, arch: str) -> None:
    """Sequence nets take the weight reparameterizations (none, spectral,
    weight) on their linear and convolution layers, not activation norms."""
    if spec.norm.name not in WEIGHT_NORMS:
        raise ConfigError(f"model.{spec.role}.norm: {arch} takes {', '.join(WEIGHT_NORMS)}, "
                          f"not {spec.norm.name!r}")


def embed(emb: nn.Embedding, x: Tensor, vocab: int) -> Tensor:
    """Token ids (N, L) or (relaxed) one-hots (N, L, V) -> (N, L, E)."""
    if x.is_floating_point():
        if x.shape[-1] != vocab:
            raise ValueError(f"one-hot inputs must have {vocab} classes in the last axis, got {tuple(x.shape)}")
        return x @ emb.weight[:vocab]
    return emb(x)


@dataclass(frozen=True)
class LSTMParams:
    emb_dim: int = 32
    hidden_dim: int = 32
    layers: int = 1

    def validate(self, where: str) -> None:
        for k in ("emb_dim", "hidden_dim", "layers"):
            if getattr(self, k) < 1:
                raise ConfigError(f"{where}.{k}: must be >= 1, got {getattr(self, k)}")


class AutoregressiveGenerator(nn.Module, abc.ABC):
    """What every autoregressive token generator shares: a begin-of-sequence
    row in `emb`, an output `head`, and one hook

        _run(e (N, T, E), state) -> (hidden (N, T, H), state)

    that continues a sequence of input embeddings from `state` (None: from
    the start); the LSTM carries its recurrent state, the Transformer the
    embeddings seen so far. Sampling, rollouts and relaxations are written
    once on top of it."""

    vocab_size: int
    length: int
    z_dim: int
    emb: nn.Embedding
    head: nn.Module
    temperature: float = 1.0     # what forward(z) (sample and eval) draws at; methods pass their own

    @abc.abstractmethod
    def _run(self, e: Tensor, state):
        """Continue input embeddings e (N, T, E) from `state`: (hidden (N, T, H), new state)."""

    @property
    def device(self) -> torch.device:
        return self.emb.weight.device

    def sample_z(self, n: int, generator=None, device=None) -> Tensor:
        """Placeholder latents (the count is what matters; see forward)."""
        return torch.zeros(n, self.z_dim, device=device or self.device)

    def _bos(self, n: int) -> Tensor:
        return torch.full((n, 1), self.vocab_size, dtype=torch.long, device=self.device)

    def logits(self, x: Tensor) -> Tensor:
        h, _ = self._run(self.emb(torch.cat([self._bos(len(x)), x[:, :-1]], 1)), None)
        return self.head(h)

    def log_prob(self, x: Tensor) -> Tensor:
        return F.log_softmax(self.logits(x), -1).gather(-1, x.unsqueeze(-1)).squeeze(-1)

    def sample(self, n: int, temperature: float = 1.0, generator: Optional[torch.Generator] = None,
               prefix: Optional[Tensor] = None, return_log_prob: bool = False
               ) -> Union[Tensor, Tuple[Tensor, Tensor]]:
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        with torch.set_grad_enabled(return_log_prob and torch.is_grad_enabled()):
            tokens, logps = [], []
            inp = self._bos(n)
            if prefix is not None and prefix.shape[1]:
                if len(prefix) != n:
                    raise ValueError(f"prefix has {len(prefix)} rows for {n} samples")
                t0 = prefix.shape[1]
                h, state = self._run(self.emb(torch.cat([inp, prefix], 1)), None)
                out = h[:, -1]
                tokens.append(prefix)
                if return_log_prob:
                    lp = F.log_softmax(self.head(h[:, :-1]), -1).gather(-1, prefix.unsqueeze(-1)).squeeze(-1)
                    logps.append(lp)
            else:
                t0 = 0
                h, state = self._run(self.emb(inp), None)
                out = h[:, -1]
            for t in range(t0, self.length):
                logit = self.head(out) / temperature
                tok = draw_categorical(logit, generator)
                tokens.append(tok)
                if return_log_prob:
                    logps.append(F.log_softmax(logit, -1).gather(-1, tok))
                if t + 1 < self.length:
                    h, state = self._run(self.emb(tok), state)
                    out = h[:, -1]
            x = torch.cat(tokens, 1)
        return (x, torch.cat(logps, 1)) if return_log_prob else x

    def _relaxed(self, n: int, step) -> Tensor:
        outs, inp, state = [], self.emb(self._bos(n)), None
        for t in range(self.length):
            h, state = self._run(inp, state)
            y = step(self.head(h[:, -1]))                            # (n, V)
            outs.append(y)
            inp = (y @ self.emb.weight[:self.vocab_size]).unsqueeze(1)
        return torch.stack(outs, 1)

    def soft_sample(self, n: int, tau: float, hard: bool = False) -> Tensor:
        """Gumbel-softmax relaxed one-hots (n, L, V) at temperature tau."""
        return self._relaxed(n, lambda lg: F.gumbel_softmax(lg, tau=tau, hard=hard, dim=-1))

    def softmax_sample(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        """The softmax at every step (n, L, V), feeding back a drawn token."""
        outs, inp, state = [], self._bos(n), None
        for t in range(self.length):
            h, state = self._run(self.emb(inp), state)
            logit = self.head(h[:, -1])
            outs.append(torch.softmax(logit, -1))
            inp = draw_categorical(logit, generator)
        return torch.stack(outs, 1)

    def forward(self, z: Tensor) -> Tensor:
        return self.sample(len(z), self.temperature)


class LSTMGenerator(AutoregressiveGenerator):
    def __init__(self, p: LSTMParams, spec: NetSpec):
        super().__init__()
        if spec.vocab_size < 2:
            raise ConfigError("lstm generator: the data set gives no vocabulary (token data needed)")
        self.vocab_size, self.length, self.z_dim = spec.vocab_size, spec.shape[0], spec.z_dim
        self.emb = nn.Embedding(self.vocab_size + 1, p.emb_dim)     # + BOS
        self.lstm = nn.LSTM(p.emb_dim, p.hidden_dim, p.layers, batch_first=True)
        self.head = spec.norm.weight(nn.Linear(p.hidden_dim, self.vocab_size))

    def _run(self, e: Tensor, state):
        return self.lstm(e, state)


class LSTMDiscriminator(nn.Module):
    """LSTM over embeddings, layer norm, a logit per position (ScratchGAN)."""

    def __init__(self, p: LSTMParams, spec: NetSpec):
        super().__init__()
        self.vocab_size = spec.vocab_size
        self.emb = nn.Embedding(self.vocab_size, p.emb_dim)
        self.lstm = nn.LSTM(p.emb_dim, p.hidden_dim, p.layers, batch_first=True)
        self.norm = nn.LayerNorm(p.hidden_dim)
        self.head = spec.norm.weight(nn.Linear(p.hidden_dim, 1))

    def hidden(self, x: Tensor) -> Tensor:
        h, _ = self.lstm(embed(self.emb, x, self.vocab_size))
        return self.norm(h)

    def per_position(self, x: Tensor) -> Tensor:
        """(N, L) logits; logit t sees x_<=t."""
        return self.head(self.hidden(x)).squeeze(-1)

    def features(self, x: Tensor) -> Tensor:
        return self.hidden(x)[:, -1]

    def forward(self, x: Tensor, return_features: bool = False):
        h = self.hidden(x)
        v = self.head(h[:, -1]).squeeze(-1)
        return (v, h[:, -1]) if return_features else v


@ARCHITECTURES.register("lstm", params=LSTMParams, kinds=("tokens",))
def lstm(params: LSTMParams, spec: NetSpec) -> nn.Module:
    """LSTM over tokens: an autoregressive generator, or a discriminator with a logit per position."""
    check_norm(spec, "lstm")
    if spec.role == "generator":
        return LSTMGenerator(params, spec)
    return LSTMDiscriminator(params, spec)
