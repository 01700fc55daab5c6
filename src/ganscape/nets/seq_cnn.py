"""SeqGAN's discriminator (Yu et al. 2017, after Kim 2014): a CNN over token
embeddings with many window sizes, max-over-time pooling, a highway layer,
dropout and one logit.

Window sizes (1..10, 15, 20) with (100, 200, 200, 200, 200, 100, 100, 100,
100, 100, 160, 160) filters, embedding 64, dropout 0.25 (SeqGAN keeps 0.75)
as in SeqGAN's code; `width` scales the filter numbers for small CPU runs.
Windows longer than the sequence are skipped (they would see padding only).
Inputs are token ids (N, L) or (relaxed) one-hots (N, L, V).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..registry import ARCHITECTURES, ConfigError
from .layers import NetSpec
from .sequence import check_norm, embed


@dataclass(frozen=True)
class SeqCNNParams:
    emb_dim: int = 64
    filter_sizes: Tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20)
    num_filters: Tuple[int, ...] = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160)
    width: float = 1.0              # multiplies num_filters
    dropout: float = 0.25

    def validate(self, where: str) -> None:
        if len(self.filter_sizes) != len(self.num_filters) or not self.filter_sizes:
            raise ConfigError(f"{where}: filter_sizes and num_filters must be non-empty and of equal length, "
                              f"got {len(self.filter_sizes)} and {len(self.num_filters)}")
        if min(self.filter_sizes) < 1 or min(self.num_filters) < 1:
            raise ConfigError(f"{where}: filter sizes and numbers must be >= 1")
        if self.width <= 0 or self.emb_dim < 1:
            raise ConfigError(f"{where}.width, emb_dim: must be > 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"{where}.dropout: must be in [0, 1), got {self.dropout}")


class SeqCNN(nn.Module):
    def __init__(self, p: SeqCNNParams, spec: NetSpec):
        super().__init__()
        length, self.vocab_size = spec.shape[0], spec.vocab_size
        kept = [(k, max(1, int(round(n * p.width)))) for k, n in zip(p.filter_sizes, p.num_filters) if k <= length]
        if not kept:
            raise ConfigError(f"seq-cnn: every filter size exceeds the sequence length {length}")
        self.sizes = [k for k, _ in kept]
        self.emb = nn.Embedding(self.vocab_size, p.emb_dim)
        self.convs = nn.ModuleList(spec.norm.weight(nn.Conv1d(p.emb_dim, n, k)) for k, n in kept)
        d = sum(n for _, n in kept)
        self.highway = spec.norm.weight(nn.Linear(d, d))
        self.gate = spec.norm.weight(nn.Linear(d, d))
        self.drop = nn.Dropout(p.dropout)
        self.head = spec.norm.weight(nn.Linear(d, 1))

    def features(self, x: Tensor) -> Tensor:
        e = embed(self.emb, x, self.vocab_size).transpose(1, 2)         # (N, E, L)
        h = torch.cat([F.relu(c(e)).amax(-1) for c in self.convs], 1)   # max over time
        t = torch.sigmoid(self.gate(h))                                  # highway (Srivastava et al. 2015)
        return self.drop(t * F.relu(self.highway(h)) + (1.0 - t) * h)

    def forward(self, x: Tensor, return_features: bool = False):
        h = self.features(x)
        v = self.head(h).squeeze(-1)
        return (v, h) if return_features else v


@ARCHITECTURES.register("seq-cnn", params=SeqCNNParams, kinds=("tokens",))
def seq_cnn(params: SeqCNNParams, spec: NetSpec) -> nn.Module:
    """SeqGAN's CNN discriminator over token embeddings (window sizes 1..20, highway, dropout)."""
    if spec.role == "generator":
        raise ConfigError("seq-cnn is a discriminator; the sequence generator is arch lstm")
    check_norm(spec, "seq-cnn")
    return SeqCNN(params, spec)
