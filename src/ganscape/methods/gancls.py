"""Text-to-image GAN: GAN-CLS's matching-aware discriminator and GAN-INT (Reed et al. 2016).

G(z, phi(t)) draws an image for caption t, D(x, phi(t)) scores an (image, caption) pair; the nets and
text encoders are in nets/text_encoder.py (``encoder``: bag, gru or attributes, the last the
attribute-conditional baseline). Each real image is paired with one of its combination's captions,
drawn per example and step (a data set with ``info["captions"]``: shapes-captions, or image-folder with
an attribute file, whose captions list each image's attributes). Any registered
loss, penalty and improved-GAN option of the gan recipe applies (this recipe is the gan recipe with
text conditions).

GAN-CLS (Reed et al. 2016, Algorithm 1), ``mismatch: true``: D scores three kinds of pair,
s_r = D(x, h) (real image, right text), s_w = D(x, h_hat) (real image, wrong text) and
s_f = D(G(z, h), h) (fake image, right text), and with the non-saturating loss minimizes
-[log s_r + (log(1 - s_w) + log(1 - s_f)) / 2]. Here the wrong-text logits join the fakes' in the
loss's fake term, which the loss averages, so each of the two gets the paper's weight 1/2 for any
loss (hinge: (relu(1 + v_w) + relu(1 + v_f)) / 2 likewise). ``mismatch: false`` drops s_w: D then
sees only right-text pairs and may ignore the text. The wrong text of example i is example (i - 1)'s
caption in the batch, or (i - 2)'s where (i - 1) has the same attributes (Reed et al. draw a caption
of another class; a batch neighbour is one, drawn without a second pass over the data).

GAN-INT, ``interpolate > 0``: G's loss gains ``interpolate`` times the generator term of the loss on
G(z, beta phi(t1) + (1 - beta) phi(t2)) scored by D with the same interpolated text, t2 the caption
of a batch neighbour (the paper: beta = 0.5, weight 1). D is not trained on these pairs (no real
image matches an interpolated text), as in the paper. Each player interpolates the output of its own
encoder before its own projection layer (Reed et al. share one fixed encoder: named deviation, see
nets/text_encoder.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch
from torch import Tensor

from .. import ranks
from ..registry import METHODS, ConfigError
from .base import Batch, Method
from .gan import GAN, GANParams


@dataclass(frozen=True)
class GANCLSParams(GANParams):
    encoder: str = "bag"        # text encoder of each player: bag | gru | attributes (the baseline)
    text_dim: int = 64          # word embeddings and the encoder's output (bag, gru)
    embed_dim: int = 32         # the projected text embedding the nets read (Reed et al.: 128)
    g_cond: str = "concat"      # how G reads the embedding: concat (with z) | cbn (conditional batch norm)
    d_hidden: int = 256         # width of D's joint head on [image features, text embedding]
    mismatch: bool = True       # GAN-CLS: real image + wrong text scored as fake (weight 1/2 with the fakes)
    interpolate: float = 0.0    # GAN-INT: weight of G's term on interpolated text (0 = off; the paper: 1)
    beta: float = 0.5           # GAN-INT's interpolation weight

    def validate(self, where: str) -> None:
        super().validate(where)
        from ..nets.text_encoder import ENCODERS, GENERATOR_TEXT_CONDITIONING
        if self.encoder not in ENCODERS:
            raise ConfigError(f"{where}.encoder: {self.encoder!r} is not allowed; choose one of: {', '.join(ENCODERS)}")
        if self.g_cond not in GENERATOR_TEXT_CONDITIONING:
            raise ConfigError(f"{where}.g_cond: {self.g_cond!r} is not allowed; choose one of: "
                              f"{', '.join(GENERATOR_TEXT_CONDITIONING)}")
        for k in ("text_dim", "embed_dim", "d_hidden"):
            if getattr(self, k) < 1:
                raise ConfigError(f"{where}.{k}: must be a positive width, got {getattr(self, k)}")
        if self.interpolate < 0:
            raise ConfigError(f"{where}.interpolate: must be >= 0, got {self.interpolate}")
        if not 0.0 <= self.beta <= 1.0:
            raise ConfigError(f"{where}.beta: must lie in [0, 1], got {self.beta}")


class GANCLS(GAN):
    conditional = True
    distributed_refusal = ("method gancls pairs each example with a batch neighbour's caption (wrong text, "
                           "GAN-INT), which a rank's slice of the batch would change")

    def __init__(self, params: GANCLSParams, config):
        super().__init__(params, config)
        self.table: Optional[Tensor] = None      # caption tokens (K, m, L), from the data set
        self.nets = None

    def build_nets(self, cfg, data):
        m = cfg.model
        if m.generator.cond != "none" or m.discriminator.cond != "none":
            raise ConfigError("model.*.cond: method gancls conditions its nets on text itself "
                              "(method.params.g_cond); set model.generator.cond and model.discriminator.cond to none")
        captions = (data.info or {}).get("captions")
        if captions is None:
            raise ConfigError(f"method gancls needs a captioned data set (shapes-captions); {cfg.data.name!r} has "
                              "no captions")
        from ..nets.text_encoder import (TextConditionalDiscriminator, TextConditionalGenerator, TextEmbedding,
                                         build_encoder)
        p = self.p
        self.table = torch.as_tensor(np.asarray(captions["tokens"]), dtype=torch.int64)
        # what each word names (data/captions.py): the attributes encoder's input, and how wrong texts
        # are told from right ones; a table without them compares the captions' tokens instead
        meanings = captions.get("meanings")
        self.meanings = None if meanings is None else torch.as_tensor(np.asarray(meanings), dtype=torch.float32)
        prompts = self.table[:, 0]

        def text():
            enc = build_encoder(p.encoder, len(captions["vocab"]), p.text_dim, self.meanings)
            return TextEmbedding(enc, p.embed_dim, prompts)

        from ..train.state import net_parts
        G_spec, G_build = net_parts(cfg, "generator", m.generator, data.shape, kind="image")
        D_spec, D_build = net_parts(cfg, "discriminator", m.discriminator, data.shape, kind="image")
        return {"G": TextConditionalGenerator(G_build, G_spec, p.g_cond, text(), p.embed_dim),
                "D": TextConditionalDiscriminator(D_build, D_spec, text(), p.embed_dim, p.d_hidden)}

    def setup(self, state) -> None:
        super().setup(state)
        self.nets = state.nets

    def labels(self, batch: Batch) -> Tensor:
        """Caption tokens (N, L) for the batch: one of each image's combination's captions, at random."""
        if batch.y is None:
            raise ConfigError("method gancls needs each image's combination as its label (shapes-captions)")
        if self.table.device != batch.y.device:     # moved once: the table may hold 100k+ combinations
            self.table = self.table.to(batch.y.device)
        table = self.table
        j = ranks.per_example(lambda n: torch.randint(0, table.shape[1], (n,), device=batch.y.device), len(batch.y))
        return table[batch.y, j]

    def neighbours(self, tokens: Tensor) -> Tensor:
        """Each example's batch neighbour's caption: example i - 1's, or i - 2's where i - 1 names the
        same attributes (so that it is a wrong text)."""
        attrs = tokens if self.meanings is None else self.meanings.to(tokens.device)[tokens].sum(1)
        same = (attrs == attrs.roll(1, 0)).all(1, keepdim=True)
        return torch.where(same, tokens.roll(2, 0), tokens.roll(1, 0))

    def negatives(self, D, real: Tensor, y: Tensor) -> Optional[Tensor]:
        if not self.p.mismatch:
            return None
        return D(real, self.neighbours(y))

    def g_extra(self, D, h_fake: Tensor, y: Tensor):
        if not self.p.interpolate:
            return None, {}
        G, b = self.nets["G"], self.p.beta
        other = self.neighbours(y)
        mix = lambda net: net.text.project(b * net.text.encoder(y) + (1 - b) * net.text.encoder(other))  # noqa: E731
        fake = self.noisy(G.from_embedding(G.sample_z(len(y)), mix(G)))
        g_int = self.loss(None, D.score_embedding(fake, mix(D)))["g"]
        return self.p.interpolate * g_int, {"gancls/g_int": g_int.detach()}


@METHODS.register("gancls", params=GANCLSParams)
def gancls(params: GANCLSParams, config) -> Method:
    """Text-to-image GAN: GAN-CLS matching-aware D (mismatched captions), GAN-INT, bag/GRU/attribute encoders."""
    return GANCLS(params, config)
