"""The K-class discriminator of the semi-supervised GAN (Salimans et al. 2016,
section 5), for any architecture.

The architecture's discriminator is built as usual and its one-logit head is
replaced by a K-logit head (same input: the trunk features h, after
minibatch discrimination when that is on; same weight normalization). The
K logits l_1..l_K are the real classes; the fake class K+1 has its logit
fixed at 0, so that

    D(x is real) = Z / (Z + 1),  Z = sum_k exp(l_k),

i.e. D's real/fake logit is log Z = logsumexp(l). `forward` returns that
logit, so the GAN recipe's loss, penalties and feature matching see an
ordinary discriminator; `class_logits` gives the K logits (the classifier:
argmax over them). The new head gets PyTorch's default Linear
initialisation for every architecture (the architectures' own inits are
not exposed per layer; the head is one small layer).

The same net, trained on labels only, is the supervised baseline
(methods/ssgan.py `supervised`), so that both methods classify with exactly
the same network.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import nn

from ..registry import NORMALIZATIONS, ConfigError


class KClassDiscriminator(nn.Module):
    """forward(x (N, *shape)) -> real/fake logit log Z (N,); class_logits(x) -> (N, K)."""

    pack = 1

    def __init__(self, net: nn.Module, norm, num_classes: int):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"a K-class discriminator needs K >= 2 classes, got {num_classes}")
        self.num_classes = num_classes
        net.head = norm.weight(nn.Linear(net.head.in_features, num_classes))
        self.net = net

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The trunk's features h (N, F): the layer feature matching uses."""
        return self.net.features(x)

    def logits_of_features(self, h: torch.Tensor) -> torch.Tensor:
        """The K class logits (N, K) from trunk features h (N, F) of one whole
        batch (minibatch discrimination, when on, compares the rows of h)."""
        mbd = self.net.mbd
        return self.net.head(mbd(h) if mbd is not None else h)

    def class_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The K class logits l (N, K) of x."""
        return self.logits_of_features(self.features(x))

    def forward(self, x: torch.Tensor, return_features: bool = False):
        h = self.features(x)
        v = torch.logsumexp(self.logits_of_features(h), dim=1)  # log Z: the logit of D(real) = Z / (Z + 1)
        return (v, h) if return_features else v


def build_k_class_discriminator(cfg, shape: Tuple[int, ...], num_classes: int, method: str) -> KClassDiscriminator:
    """model.discriminator (any architecture, normalization, minibatch
    discrimination) with a K-logit head, K = num_classes of the data."""
    from ..train.state import build_net, no_labels_hint
    net = cfg.model.discriminator
    if num_classes < 2:
        raise ConfigError(f"method {method} needs a data set with class labels; {cfg.data.name!r} has none"
                          f"{no_labels_hint(cfg)}")
    if net.cond != "none":
        raise ConfigError(f"model.discriminator.cond: method {method}'s discriminator is a K-class classifier and "
                          f"is not conditioned on labels; set cond: none")
    if net.pack != 1:
        # Packing scores several examples with one output; a classifier labels each example.
        raise ConfigError(f"model.discriminator.pack: method {method} classifies single examples; set pack: 1")
    d = build_net(cfg, "discriminator", net, shape)
    norm = NORMALIZATIONS.get(net.norm.name).fn(NORMALIZATIONS.params(net.norm.name, net.norm.params))
    return KClassDiscriminator(d, norm, num_classes)
