"""Text encoders and text-conditional wrappers for any architecture (GAN-CLS, Reed et al. 2016).

Encoders map token ids (N, L) (0 = padding) to a vector phi(t) (N, out_dim):

- ``bag``: the mean of learned word embeddings over the caption's words, then a linear layer and
  LeakyReLU(0.2). The shapes captions name each attribute by one word (or two, for a position) and
  their word order carries nothing a bag loses, so a bag suffices and trains fastest on a CPU.
- ``gru``: learned word embeddings read by a one-layer GRU; phi is its state after the last word.
  For captions whose word order matters.
- ``attributes``: no learning; each word maps to the fixed multi-hot vector of the attribute value it
  names (``meanings``, from data/captions.py: 0 for filler words) and phi is their sum, clipped to 1:
  exactly the caption's attribute vector. The *attribute-conditional baseline*: the same nets told
  the attributes outright instead of reading them from text.

Both players own an encoder of the kind chosen and train it jointly with their own losses. Reed et al.
instead pretrain one char-CNN-RNN encoder (the deep symmetric structured joint embedding of images and
text) and keep it fixed; here the vocabulary is 50 words and a jointly trained encoder needs no
pretraining step nor a second data pass (a named deviation). As in Reed et al., phi(t) is projected
by a linear layer and LeakyReLU(0.2) to ``embed_dim`` before the nets use it, and GAN-INT
interpolates these projected embeddings (``G.from_embedding``, ``D.score_embedding``).

Generator (``TextConditionalGenerator``): ``concat`` appends the text embedding to z (Reed et al.);
``cbn`` makes every batch norm of the generator conditional on it, gamma = 1 + W_g e, beta = W_b e
with W_g and W_b zero at the start (nets/conditional.py's conditional batch norm, with a linear map of
a text embedding in place of a class embedding).

Discriminator (``TextConditionalDiscriminator``): the architecture's trunk gives image features h;
the logit is a two-layer head on [h, e] (LeakyReLU(0.2) between, the discriminator's weight
normalization on both). Reed et al. concatenate the replicated embedding with the 4 x 4 feature map
and apply a 1 x 1 and a 4 x 4 convolution; a flat head on the flattened features is the same idea for
every architecture here (named deviation).

Conditions: ``y`` is int64 (N,), indices into the net's prompt table (one caption per attribute
combination: what `sample` and `eval` draw, K = num_classes of them, in turn), or int64 (N, L) token
ids (the caption each example is paired with in training; `sample --text`).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import torch
from torch import nn

from ..registry import ConfigError
from .conditional import LabelContext
from .layers import Generator, NetSpec
from .norms import Norm

ENCODERS = ("bag", "gru", "attributes")
GENERATOR_TEXT_CONDITIONING = ("concat", "cbn")


class BagOfWords(nn.Module):
    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.out = nn.Linear(dim, dim)
        self.out_dim = dim

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        mask = (tokens != 0).unsqueeze(-1).to(self.embed.weight.dtype)
        mean = (self.embed(tokens) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return nn.functional.leaky_relu(self.out(mean), 0.2)


class GRUEncoder(nn.Module):
    def __init__(self, vocab_size: int, dim: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.gru = nn.GRU(dim, dim, batch_first=True)
        self.out_dim = dim

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(self.embed(tokens))
        last = (tokens != 0).sum(1).clamp(min=1) - 1      # captions are left-aligned, padded on the right
        return out[torch.arange(len(tokens), device=tokens.device), last]


class AttributeEncoder(nn.Module):
    def __init__(self, meanings: torch.Tensor):
        super().__init__()
        self.register_buffer("meanings", meanings.float(), persistent=False)   # (vocab, A)
        self.out_dim = meanings.shape[1]

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.meanings[tokens].sum(1).clamp(max=1.0)


def build_encoder(kind: str, vocab_size: int, dim: int, meanings: Optional[torch.Tensor]) -> nn.Module:
    if kind == "bag":
        return BagOfWords(vocab_size, dim)
    if kind == "gru":
        return GRUEncoder(vocab_size, dim)
    if kind == "attributes":
        if meanings is None:
            raise ConfigError("text encoder attributes needs the data set's word meanings (shapes-captions)")
        return AttributeEncoder(meanings)
    raise ConfigError(f"text encoder {kind!r} is not allowed; choose one of: {', '.join(ENCODERS)}")


class TextEmbedding(nn.Module):
    """y (prompt ids (N,) or tokens (N, L)) -> projected text embedding e (N, embed_dim)."""

    def __init__(self, encoder: nn.Module, embed_dim: int, prompts: torch.Tensor):
        super().__init__()
        self.encoder = encoder
        self.project = nn.Sequential(nn.Linear(encoder.out_dim, embed_dim), nn.LeakyReLU(0.2))
        self.register_buffer("prompts", prompts.long(), persistent=False)   # (K, L): rebuilt from the data

    def tokens(self, y: Optional[torch.Tensor], n: int) -> torch.Tensor:
        if y is None:
            raise ValueError("this net is text-conditional: pass prompt ids y (N,) or caption tokens (N, L)")
        if y.ndim == 1 and len(y) == n:
            return self.prompts[y]
        if y.ndim == 2 and len(y) == n and y.dtype == torch.int64:
            return y
        raise ValueError(f"text condition must be prompt ids ({n},) or token ids ({n}, L), got {tuple(y.shape)}")

    def forward(self, y: Optional[torch.Tensor], n: int) -> torch.Tensor:
        return self.project(self.encoder(self.tokens(y, n)))


class VectorConditionalBatchNorm(nn.Module):
    """BN(x) * (1 + W_g e) + W_b e for a condition vector e read from the context; W zero at the start."""

    def __init__(self, channels: int, dim: int, ctx: LabelContext, spatial: bool, eps: float, momentum: float):
        super().__init__()
        self.bn = (nn.BatchNorm2d if spatial else nn.BatchNorm1d)(channels, eps=eps, momentum=momentum, affine=False)
        self.gamma, self.beta = nn.Linear(dim, channels, bias=False), nn.Linear(dim, channels, bias=False)
        nn.init.zeros_(self.gamma.weight)
        nn.init.zeros_(self.beta.weight)
        self.ctx = ctx

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.ctx.y
        if e is None:
            raise RuntimeError("conditional batch norm called outside a text-conditional generator's forward pass")
        shape = (-1, x.shape[1]) + (1,) * (x.ndim - 2)
        return self.bn(x) * (1.0 + self.gamma(e).view(shape)) + self.beta(e).view(shape)


class _VectorCBNFactory(Norm):
    name = "cbn"

    def __init__(self, dim: int, ctx: LabelContext, eps: float, momentum: float):
        self.dim, self.ctx, self.eps, self.momentum = dim, ctx, eps, momentum

    def feature(self, channels: int, spatial: bool) -> nn.Module:
        return VectorConditionalBatchNorm(channels, self.dim, self.ctx, spatial, self.eps, self.momentum)


class TextConditionalGenerator(Generator):
    """forward(z (N, z_dim), y prompt ids (N,) or tokens (N, L)) -> x; any architecture's generator inside."""

    def __init__(self, build: Callable[[NetSpec], nn.Module], spec: NetSpec, cond: str, text: TextEmbedding,
                 embed_dim: int):
        super().__init__(spec.z_dim, spec.shape)
        if cond not in GENERATOR_TEXT_CONDITIONING:
            raise ConfigError(f"text conditioning {cond!r} is not allowed; choose one of: "
                              f"{', '.join(GENERATOR_TEXT_CONDITIONING)}")
        self.cond, self.text, self.ctx = cond, text, LabelContext()
        self.num_classes = len(text.prompts)   # prompt ids: `sample` and `eval` draw them in turn
        inner = spec
        if cond == "concat":
            inner = dataclasses.replace(spec, z_dim=spec.z_dim + embed_dim)
        else:
            if spec.norm.name != "batch":
                raise ConfigError("method.params.g_cond: cbn replaces the generator's batch norm; set "
                                  "model.generator.norm to batch")
            inner = dataclasses.replace(spec, norm=_VectorCBNFactory(embed_dim, self.ctx, spec.norm.p.eps,
                                                                     spec.norm.p.momentum))
        self.net = build(inner)

    def embed(self, y: Optional[torch.Tensor], n: int) -> torch.Tensor:
        return self.text(y, n)

    def from_embedding(self, z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        if self.cond == "concat":
            z = torch.cat([z, e], dim=1)
        self.ctx.y = e
        try:
            return self.net(z)
        finally:
            self.ctx.y = None

    def forward(self, z: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.from_embedding(z, self.embed(y, z.shape[0]))


class TextConditionalDiscriminator(nn.Module):
    """forward(x, y, return_features) -> logits (N,) [and the trunk's features h]."""

    pack = 1

    def __init__(self, build: Callable[[NetSpec], nn.Module], spec: NetSpec, text: TextEmbedding, embed_dim: int,
                 hidden: int = 256):
        super().__init__()
        if spec.pack != 1 or spec.minibatch_features:
            raise ConfigError("model.discriminator: packing and minibatch discrimination are not combined with "
                              "text conditioning")
        self.net, self.text = build(spec), text
        self.num_classes = len(text.prompts)
        features = self.net.head.in_features
        self.joint = spec.norm.weight(nn.Linear(features + embed_dim, hidden))
        self.out = spec.norm.weight(nn.Linear(hidden, 1))

    def features(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.net.features(x)

    def embed(self, y: Optional[torch.Tensor], n: int) -> torch.Tensor:
        return self.text(y, n)

    def score_embedding(self, x: torch.Tensor, e: torch.Tensor, return_features: bool = False):
        h = self.net.features(x)
        logits = self.out(nn.functional.leaky_relu(self.joint(torch.cat([h, e], 1)), 0.2)).squeeze(1)
        return (logits, h) if return_features else logits

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None, return_features: bool = False):
        return self.score_embedding(x, self.embed(y, x.shape[0]), return_features)
