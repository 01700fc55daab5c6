"""Class-conditional GANs: the GAN recipe (any loss, penalty, normalization,
architecture, improved-GAN option) with labels.

The nets say how they are conditioned (`model.generator.cond`,
`model.discriminator.cond`, see nets/conditional.py); this recipe feeds them
the labels: each real batch's labels condition D on the reals and G on as
many fakes (the fakes get the real batch's labels, so classes are drawn from
the data's class frequencies), and it adds:

- ACGAN (Odena et al. 2017, eq. 2-3), when D is `acgan`: the class
  log-likelihood L_C = E[log P(C = c | x_real)] + E[log P(C = c | x_fake)]
  that D maximizes (it minimizes the cross-entropy on real and fake) and G
  maximizes on its fakes; `acgan_weight` scales it in both players' losses.
- Mismatched pairs (GAN-CLS, Reed et al. 2016): a fraction `mismatch` of each
  real batch, paired with a wrong label (c + U{1..K-1} mod K), scored as extra
  negatives in D's fake term. The loss averages its fake term over fakes and
  mismatched pairs together, so mismatch = 1 weights them 1/2 and 1/2, as
  GAN-CLS's D loss does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import ranks
from ..registry import METHODS, ConfigError
from .base import Batch, Method
from .gan import GAN, GANParams


@dataclass(frozen=True)
class CGANParams(GANParams):
    # Weight of ACGAN's class log-likelihood terms (discriminator cond: acgan).
    acgan_weight: float = 1.0
    # GAN-CLS mismatched pairs: fraction of each real batch re-paired with a
    # wrong label as extra negatives for D (0 = off, 1 = the whole batch).
    mismatch: float = 0.0

    def validate(self, where: str) -> None:
        super().validate(where)
        if self.acgan_weight < 0:
            raise ConfigError(f"{where}.acgan_weight: must be >= 0, got {self.acgan_weight}")
        if not 0.0 <= self.mismatch <= 1.0:
            raise ConfigError(f"{where}.mismatch: must be in [0, 1], got {self.mismatch}")


class CGAN(GAN):
    conditional = True

    def __init__(self, params: CGANParams, config):
        super().__init__(params, config)
        self.acgan = config.model.discriminator.cond == "acgan"
        if config.model.generator.cond == "none":
            raise ConfigError("method cgan: the generator is unconditional; set model.generator.cond to "
                              "concat or cbn")
        if config.model.discriminator.cond == "none":
            raise ConfigError("method cgan: the discriminator is unconditional; set model.discriminator.cond "
                              "to concat, projection or acgan")
        if params.mismatch and self.acgan:
            raise ConfigError("method cgan: mismatch needs a discriminator that sees the label (concat or "
                              "projection); an acgan discriminator's adversarial logit ignores it")

    def labels(self, batch: Batch) -> Optional[Tensor]:
        if batch.y is None:
            raise ConfigError("method cgan needs a data set with class labels")
        return batch.y

    def negatives(self, D, real: Tensor, y: Tensor) -> Optional[Tensor]:
        m = int(round(self.p.mismatch * len(real)))
        if m == 0:
            return None
        k = D.num_classes
        wrong = (y[:m] + ranks.per_example(lambda n: torch.randint(1, k, (n,), device=y.device), m)) % k
        return D(real[:m], wrong)

    def d_extra(self, D, h_real: Tensor, h_fake: Tensor, y: Tensor):
        if not self.acgan:
            return None, {}
        ce_real = F.cross_entropy(D.class_logits(h_real), y)
        ce_fake = F.cross_entropy(D.class_logits(h_fake), y)
        return self.p.acgan_weight * (ce_real + ce_fake), {"acgan/d_class_loss": (ce_real + ce_fake).detach()}

    def g_extra(self, D, h_fake: Tensor, y: Tensor):
        if not self.acgan:
            return None, {}
        ce = F.cross_entropy(D.class_logits(h_fake), y)
        return self.p.acgan_weight * ce, {"acgan/g_class_loss": ce.detach()}


@METHODS.register("cgan", params=CGANParams)
def cgan(params: CGANParams, config) -> Method:
    """Class-conditional GAN: conditional G and D (concat, cbn / concat, projection, acgan), GAN-CLS mismatched pairs."""
    return CGAN(params, config)
