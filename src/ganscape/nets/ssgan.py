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
not exposed per layer; the head is one small layer), except where the
architecture makes its own head (`make_head`, improved-gan-mlp below).

Architecture `improved-gan-mlp` (discriminator only) is the authors' MNIST
discriminator (openai/improved-gan, train_mnist_feature_matching.py and
nn.py's DenseLayer): weight-normalized dense layers 1000-500-250-250-250
(v ~ N(0, 0.1); fixed scales in the hidden layers, a trained one in the
head), data-dependent init, ReLU, Gaussian noise on the input and before
every later layer; its features (feature matching) are the last hidden
layer's output before that layer's noise. Input noise: the authors' 0.3 is on
pixels in [0, 1], so the default here is 0.6 on ganscape's [-1, 1].

The same net, trained on labels only, is the supervised baseline
(methods/ssgan.py `supervised`), so that both methods classify with exactly
the same network.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Tuple

import torch
from torch import nn

from ..registry import ARCHITECTURES, NORMALIZATIONS, ConfigError
from .layers import GaussianNoise, NetSpec


class KClassDiscriminator(nn.Module):
    """forward(x (N, *shape)) -> real/fake logit log Z (N,); class_logits(x) -> (N, K)."""

    pack = 1

    def __init__(self, net: nn.Module, norm, num_classes: int):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"a K-class discriminator needs K >= 2 classes, got {num_classes}")
        self.num_classes = num_classes
        make_head = getattr(net, "make_head", None)  # an architecture with its own head layer type
        net.head = make_head(num_classes) if make_head else norm.weight(nn.Linear(net.head.in_features, num_classes))
        self.net = net

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The trunk's features h (N, F): the layer feature matching uses."""
        return self.net.features(x)

    def logits_of_features(self, h: torch.Tensor) -> torch.Tensor:
        """The K class logits (N, K) from trunk features h (N, F) of one whole
        batch (minibatch discrimination, when on, compares the rows of h)."""
        mbd = self.net.mbd
        h = mbd(h) if mbd is not None else h
        head_input = getattr(self.net, "head_input", None)  # improved-gan-mlp: the noise before the head
        return self.net.head(head_input(h) if head_input else h)

    def class_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The K class logits l (N, K) of x."""
        return self.logits_of_features(self.features(x))

    @property
    def needs_data_init(self) -> bool:
        return hasattr(self.net, "data_init") and not bool(self.net.initialised)

    def data_init(self, x: torch.Tensor) -> None:
        """The architecture's data-dependent init (improved-gan-mlp), the K-logit head included."""
        self.net.data_init(x)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        h = self.features(x)
        v = torch.logsumexp(self.logits_of_features(h), dim=1)  # log Z: the logit of D(real) = Z / (Z + 1)
        return (v, h) if return_features else v


# ---- the authors' MNIST discriminator -------------------------------------------------
class WNDense(nn.Module):
    """Weight-normalized dense layer as improved-gan's nn.DenseLayer:
    y = x (g v / ||v||)^T + b, the norm of each output unit's weight row.

    v starts N(0, 0.1) (the authors' init; with Adam it sets the step size
    relative to the weights). The scale g is a fixed buffer in the hidden
    layers (``train_scale=False``, improved-gan's default) and a parameter in
    the head (``train_scale=True``). Data-dependent init (Salimans & Kingma
    2016): in init mode one forward pass sets g <- g / s and b <- -m / s from
    the mean m and standard deviation s of each unit's pre-activation on the
    batch, and returns the normalized pre-activation (m = 0, s = 1) so that
    the next layer initialises on it."""

    def __init__(self, d_in: int, d_out: int, train_scale: bool):
        super().__init__()
        self.v = nn.Parameter(torch.randn(d_out, d_in) * 0.1)
        if train_scale:
            self.g = nn.Parameter(torch.ones(d_out))
        else:
            self.register_buffer("g", torch.ones(d_out))
        self.b = nn.Parameter(torch.zeros(d_out))
        self.init_mode = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.v * (self.g / self.v.norm(dim=1)).unsqueeze(1)
        t = x @ w.t()
        if not self.init_mode:
            return t + self.b
        with torch.no_grad():
            m = t.mean(0)
            s = (t - m).pow(2).mean(0).sqrt().clamp(min=1e-8)
            self.g.mul_(1.0 / s)
            self.b.copy_(-m / s)
        return (t - m) / s

    def extra_repr(self) -> str:
        return f"{self.v.shape[1]} -> {self.v.shape[0]}, scale {'trained' if isinstance(self.g, nn.Parameter) else 'fixed'}"


@dataclass(frozen=True)
class ImprovedGANMLPParams:
    # Hidden widths: the authors' MNIST discriminator (1000, 500, 250, 250, 250).
    widths: Tuple[int, ...] = (1000, 500, 250, 250, 250)
    # Gaussian noise std on the input and before every later dense layer (the
    # head included). The authors' 0.3 is on MNIST pixels in [0, 1]; ganscape's
    # images are in [-1, 1] (twice the range), so 0.6 is the same relative noise.
    # The hidden features are unit-scale after the data-dependent init, as there.
    input_noise: float = 0.6
    hidden_noise: float = 0.5

    def validate(self, where: str) -> None:
        if not self.widths or any(w < 1 for w in self.widths):
            raise ConfigError(f"{where}.widths: need at least one hidden layer, each of width >= 1, "
                              f"got {list(self.widths)}")
        for k in ("input_noise", "hidden_noise"):
            if not getattr(self, k) >= 0:
                raise ConfigError(f"{where}.{k}: must be >= 0, got {getattr(self, k)}")


class ImprovedGANDiscriminator(nn.Module):
    """noise -> [WNDense -> ReLU -> noise] x depth -> WNDense head, improved-gan's
    MNIST discriminator (train_mnist_feature_matching.py). `features` is the
    last hidden layer's ReLU output BEFORE its noise layer (the layer the
    authors' feature matching reads, layers[-3]); the noise then applies on
    the way to the head (`head_input`). forward -> one logit (N,) so that it is
    also an ordinary discriminator; KClassDiscriminator swaps the head for K."""

    pack = 1
    mbd = None

    def __init__(self, p: ImprovedGANMLPParams, spec: NetSpec):
        super().__init__()
        layers, d = [nn.Flatten(), GaussianNoise(p.input_noise)], math.prod(spec.shape)
        for i, w in enumerate(p.widths):
            if i:
                layers.append(GaussianNoise(p.hidden_noise))
            layers += [WNDense(d, w, train_scale=False), nn.ReLU()]
            d = w
        self.trunk = nn.Sequential(*layers)
        self.head_noise = GaussianNoise(p.hidden_noise)
        self.head = WNDense(d, 1, train_scale=True)
        # Whether the data-dependent init has run; a buffer, so checkpoints carry it.
        self.register_buffer("initialised", torch.tensor(False))

    def make_head(self, num_classes: int) -> nn.Module:
        return WNDense(self.head.v.shape[1], num_classes, train_scale=True)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def head_input(self, h: torch.Tensor) -> torch.Tensor:
        return self.head_noise(h)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        h = self.features(x)
        logits = self.head(self.head_input(h)).squeeze(1)
        return (logits, h) if return_features else logits

    @torch.no_grad()
    def data_init(self, x: torch.Tensor) -> None:
        """Data-dependent init of every WNDense layer from one pass over x (N, *shape),
        in training mode (noise on), as the authors' init pass."""
        dense = [m for m in self.modules() if isinstance(m, WNDense)]
        was_training = self.training
        self.train()
        for m in dense:
            m.init_mode = True
        try:
            self.head(self.head_input(self.features(x)))
        finally:
            for m in dense:
                m.init_mode = False
            self.train(was_training)
        self.initialised.fill_(True)


@ARCHITECTURES.register("improved-gan-mlp", params=ImprovedGANMLPParams, kinds=("points", "image"),
                        roles=("discriminator",))
def improved_gan_mlp(params: ImprovedGANMLPParams, spec: NetSpec) -> nn.Module:
    """Discriminator only: the improved-GAN MNIST discriminator (weight norm with data-dependent init and
    fixed hidden scales, ReLU, Gaussian noise layers); see nets/ssgan.py."""
    if spec.role != "discriminator":
        raise ConfigError("model.generator.arch: improved-gan-mlp is a discriminator (improved-GAN's MNIST "
                          "classifier); choose another generator architecture, e.g. mlp")
    if spec.norm.name != "none":
        raise ConfigError("model.discriminator.norm: improved-gan-mlp carries its own weight normalization "
                          "(data-dependent init, fixed hidden scales); set norm: none")
    if spec.minibatch_features or spec.pack != 1:
        raise ConfigError("model.discriminator: improved-gan-mlp is not combined with minibatch features or "
                          "packing; set minibatch_features: 0 and pack: 1")
    return ImprovedGANDiscriminator(params, spec)


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
