"""A small Transformer decoder as an autoregressive token generator
(architecture `transformer`, generator only): learned token and position
embeddings, pre-norm causal self-attention blocks (Vaswani et al. 2017; the
GPT layout: no encoder, no cross-attention), a final layer norm and a linear
head over the vocabulary. Everything the sequence recipes use (teacher
forcing, sampling with a temperature, prefix rollouts, Gumbel-softmax and
softmax relaxations) comes from nets.sequence.AutoregressiveGenerator.

Sampling recomputes the causal stack over the whole prefix at every step
(no key/value cache): O(L^2) per sequence, which at the lengths of the
oracle (20) and character windows (64) costs less than the bookkeeping of a
cache. Dropout defaults to 0 so that a policy samples from the same
distribution it is trained on (REINFORCE needs that).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..registry import ARCHITECTURES, ConfigError
from .layers import NetSpec
from .sequence import AutoregressiveGenerator, check_norm


@dataclass(frozen=True)
class TransformerParams:
    d_model: int = 64
    heads: int = 4
    layers: int = 2
    ff_mult: int = 4            # feed-forward width = ff_mult x d_model
    dropout: float = 0.0

    def validate(self, where: str) -> None:
        for k in ("d_model", "heads", "layers", "ff_mult"):
            if getattr(self, k) < 1:
                raise ConfigError(f"{where}.{k}: must be >= 1, got {getattr(self, k)}")
        if self.d_model % self.heads:
            raise ConfigError(f"{where}: d_model ({self.d_model}) must be divisible by heads ({self.heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"{where}.dropout: must be in [0, 1), got {self.dropout}")


class TransformerGenerator(AutoregressiveGenerator):
    def __init__(self, p: TransformerParams, spec: NetSpec):
        super().__init__()
        if spec.vocab_size < 2:
            raise ConfigError("transformer generator: the data set gives no vocabulary (token data needed)")
        self.vocab_size, self.length, self.z_dim = spec.vocab_size, spec.shape[0], spec.z_dim
        self.emb = nn.Embedding(self.vocab_size + 1, p.d_model)          # + BOS
        self.pos = nn.Embedding(self.length + 1, p.d_model)              # BOS + L positions
        block = nn.TransformerEncoderLayer(p.d_model, p.heads, p.ff_mult * p.d_model, p.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(block, p.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(p.d_model)
        self.head = spec.norm.weight(nn.Linear(p.d_model, self.vocab_size))

    def _run(self, e: Tensor, state):
        """state: the input embeddings so far (N, t, E); the new hidden
        states are those of e's positions, attending to everything before."""
        full = e if state is None else torch.cat([state, e], 1)
        t = full.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=full.device, dtype=full.dtype)
        h = self.blocks(full + self.pos.weight[:t], mask=mask, is_causal=True)
        return self.norm(h[:, t - e.shape[1]:]), full


@ARCHITECTURES.register("transformer", params=TransformerParams, kinds=("tokens",))
def transformer(params: TransformerParams, spec: NetSpec) -> nn.Module:
    """A small causal Transformer decoder over tokens: an autoregressive generator (sampling, rollouts, relaxations)."""
    if spec.role != "generator":
        raise ConfigError("transformer is a generator; sequence discriminators are seq-cnn and lstm")
    check_norm(spec, "transformer")
    return TransformerGenerator(params, spec)
