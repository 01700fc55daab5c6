"""Semi-supervised GAN (Salimans et al. 2016, section 5) and its supervised
baseline.

`ssgan`: the discriminator is a K-class classifier with a fixed fake class
K+1 (nets/ssgan.py): logits l_1..l_K, the fake logit fixed at 0, so
D(x is real) = Z / (Z + 1) with Z = sum_k exp(l_k). With lse = logsumexp(l):

    log D(real)       = log Z/(Z+1) = lse - softplus(lse)
    log (1 - D(real)) = log 1/(Z+1) = -softplus(lse)

The discriminator minimizes

    L = supervised_weight * L_sup + unsupervised_weight * L_unsup
    L_sup   = cross-entropy of softmax(l) on the labelled examples of the batch
    L_unsup = -E_real log Z/(Z+1) - E_fake log 1/(Z+1)

(real: every example of the batch, labelled or not). The weights follow the
authors' code (openai/improved-gan, mnist_svhn_cifar10/
train_mnist_feature_matching.py): loss_lab + unlabeled_weight * loss_unl
with unlabeled_weight = 1 and loss_unl = 0.5 * (real term + fake term), i.e.
supervised_weight 1 and unsupervised_weight 0.5 here. `entropy_weight` > 0 adds
Dai et al. 2017's conditional-entropy term on the real batch (conditional_entropy). The generator uses
feature matching on D's trunk features (the GAN recipe's option; the paper's
choice for semi-supervised learning, where minibatch discrimination did not
help); adversarial > 0 adds the non-saturating -E log D(G(z)).

Labelled examples: the authors' code draws a separate batch of labelled
examples (as many as the unlabelled batch) for every D update; here that is
`train.labelled_batch_size` > 0 (Batch.labelled_batch; the ssgan-digits
preset sets 100). With 0, the labelled examples are those of the real batch
that `train.labelled_per_class` marks (Batch.labelled), i.e. about
batch_size * labelled fraction per batch, each seen once per epoch.

The authors' discriminator is architecture `improved-gan-mlp`
(nets/ssgan.py; the ssgan-digits preset): weight normalization with
data-dependent init and fixed hidden scales, ReLU, Gaussian noise layers,
feature matching on the last hidden layer before its noise. The init runs in
the first training step (`data_init`) on that step's real and labelled
images (200 with the preset; the authors use 500 unlabelled ones), for ssgan
and for the supervised baseline alike. Differences that remain (also in the
README): feature matching is a sum over features here, a mean there (the
recipe's convention; a constant factor under Adam); the generator is the
preset's MLP (batch norm, ReLU, tanh) where the authors use softplus layers
and a weight-normalized sigmoid output; the average of D is an EMA (0.999
in the preset) that starts from the initialised net, the authors' a 0.9999
average that starts from zero (harmless over their 180k steps); and the
training length (2000 steps here, 300 epochs of MNIST there).
With any other architecture (e.g. `mlp` with `norm: weight`) the net is
that architecture's, as configured.

`supervised`: the same K-class network (same architecture, width and
normalization as the discriminator), trained with the cross-entropy on the
same labelled examples only (same seed: same labelled subset and batch
order) and no generator, so that the gain of the unlabelled data and the
GAN is measured, not assumed.

Both classify with argmax_k l_k; metrics/classifier_error.py scores a run's
classifier on the test split (its EMA copy when train.ema_decay > 0: both
methods keep one of D, as the authors' code tests an average of D's
parameters).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import ranks
from ..nets.ssgan import build_k_class_discriminator
from ..objectives.losses import SmoothingParams
from ..registry import METHODS, ConfigError, NoParams
from .base import Batch, Method, Stats, grad_norm
from .gan import GAN, GANParams


# ---- the K+1 formulas (pure; shapes: l (N, K) logits, lse (N,)) ----------------------
def log_real_probability(lse: Tensor) -> Tensor:
    """log D(x is real) = log Z/(Z+1) = lse - softplus(lse), lse = logsumexp(l) (N,)."""
    return lse - F.softplus(lse)


def log_fake_probability(lse: Tensor) -> Tensor:
    """log D(x is fake) = log 1/(Z+1) = -softplus(lse)."""
    return -F.softplus(lse)


def unsupervised_loss(lse_real: Tensor, lse_fake: Tensor) -> Tensor:
    """-E_real log Z/(Z+1) - E_fake log 1/(Z+1), from the logsumexp of each example's K logits."""
    return -log_real_probability(lse_real).mean() - log_fake_probability(lse_fake).mean()


def supervised_loss(logits: Tensor, y: Tensor, mask: Tensor) -> Tensor:
    """Mean cross-entropy of softmax(logits (N, K)) against y (N,) over the
    examples where mask (N,) is true; 0 (with a graph) when none is. The
    labels of the other examples are never read (they may be anything)."""
    safe = torch.where(mask, y, torch.zeros_like(y))  # unlabelled entries may hold any value
    ce = F.cross_entropy(logits, safe, reduction="none") * mask
    return ce.sum() / mask.sum().clamp(min=1)


def conditional_entropy(logits: Tensor) -> Tensor:
    """Mean entropy -sum_k p_k log p_k of softmax(logits (N, K)) over the N
    examples: the bad-GAN conditional-entropy term (Dai et al. 2017), which D
    minimizes on the real batch to make confident predictions on unlabelled data."""
    logp = F.log_softmax(logits, dim=1)
    return -(logp.exp() * logp).sum(1).mean()


def supervision(batch: Batch, method: str) -> Tuple[Tensor, Tensor]:
    """(labels y (N,), mask (N,) of the labels the method may use) of a batch."""
    if batch.y is None:
        raise ConfigError(f"method {method} needs a data set with class labels")
    mask = batch.labelled if batch.labelled is not None else torch.ones_like(batch.y, dtype=torch.bool)
    return batch.y, mask


def data_init(state, batches: List[Batch]) -> None:
    """Data-dependent init of D (improved-gan-mlp) before its first update,
    from the real examples of this first step (every batch, and the labelled
    batch when there is one: 200 examples with the preset, where the authors'
    code uses 500 unlabelled ones). The EMA copy restarts from the initialised net."""
    D = state.nets["D"]
    if not getattr(D, "needs_data_init", False):
        return
    xs = [b.x for b in batches] + [b.labelled_batch.x for b in batches if b.labelled_batch is not None]
    D.data_init(torch.cat(xs))
    if "D" in state.ema:
        state.ema["D"].load_state_dict(D.state_dict())


def _check_loss(config, method: str) -> None:
    # The K+1 objective is a log-loss of D(real) = Z/(Z+1); a configured
    # loss other than the plain ns would be silently ignored.
    from ..registry import LOSSES
    if config.loss.name != "ns" or LOSSES.params("ns", config.loss.params) != SmoothingParams():
        raise ConfigError(f"loss: method {method} trains with its own K+1 log-loss (Salimans et al. 2016); "
                          f"set loss: ns (without smoothing), got {config.loss.name!r}")


# ---- ssgan --------------------------------------------------------------------------
@dataclass(frozen=True)
class SSGANParams(GANParams):
    # Feature matching only, as in the paper's semi-supervised experiments.
    adversarial: float = 0.0
    feature_matching: float = 1.0
    # D's loss: supervised_weight * L_sup + unsupervised_weight * L_unsup
    # (improved-gan: 1 and 0.5, see the module docstring).
    supervised_weight: float = 1.0
    unsupervised_weight: float = 0.5
    # Dai et al. 2017 ("bad GAN"): + entropy_weight x the conditional entropy of
    # D's K-class prediction on the real batch (their SVHN ent_weight 0.1;
    # CIFAR-10 and MNIST have none; their SVHN recipe also adds a pull-away
    # term to G, not here). 0: improved-gan's objective.
    entropy_weight: float = 0.0

    def validate(self, where: str) -> None:
        super().validate(where)
        for k in ("supervised_weight", "unsupervised_weight", "entropy_weight"):
            if getattr(self, k) < 0:
                raise ConfigError(f"{where}.{k}: must be >= 0, got {getattr(self, k)}")


class SSGAN(GAN):
    """The GAN recipe with a K-class discriminator: D's logit is log Z (so
    penalties, historical averaging and feature matching apply unchanged),
    the loss is the K+1 log-loss, and d_extra adds the supervised term."""

    # D too: its average is the classifier that is evaluated (improved-gan
    # tests with a running average of D's parameters).
    ema = ("G", "D")
    classifier = "D"

    def __init__(self, params: SSGANParams, config):
        _check_loss(config, "ssgan")
        super().__init__(params, config)
        # The batch of the D update in progress; set by step()
        # because the recipe's hooks receive only conditioning labels.
        self._target: Optional[Batch] = None

    def build_nets(self, cfg, data) -> Dict[str, torch.nn.Module]:
        from ..train.state import build_net
        if cfg.model.generator.cond != "none":
            raise ConfigError("model.generator.cond: method ssgan's generator is unconditional; set cond: none")
        return {"G": build_net(cfg, "generator", cfg.model.generator, data.shape),
                "D": build_k_class_discriminator(cfg, data.shape, data.num_classes, "ssgan")}

    def loss(self, real: Optional[Tensor], fake: Tensor) -> Dict[str, Tensor]:
        # real, fake: D's logits log Z = logsumexp(l) (N,)
        out = {"g": -log_real_probability(fake).mean()}  # non-saturating, used when adversarial > 0
        if real is not None:
            out["d"] = self.p.unsupervised_weight * unsupervised_loss(real, fake)
        return out

    def d_extra(self, D, h_real: Tensor, h_fake: Tensor, y: Optional[Tensor]):
        b = self._target
        if b.labelled_batch is not None:  # train.labelled_batch_size > 0: its own labelled batch
            lb = b.labelled_batch
            labels, mask = lb.y, torch.ones_like(lb.y, dtype=torch.bool)
            logits = D.class_logits(lb.x)
        else:  # the labelled examples of the real batch
            labels, mask = supervision(b, "ssgan")
            logits = D.logits_of_features(h_real)
        sup = supervised_loss(logits, labels, mask)
        extra, stats = self.p.supervised_weight * sup, {"ssgan/supervised_loss": sup.detach(),
                                                        "ssgan/labelled": mask.sum().float()}
        if self.p.entropy_weight:  # on the real batch, whose logits are `logits` unless a labelled batch was used
            ent = conditional_entropy(logits if b.labelled_batch is None else D.logits_of_features(h_real))
            extra = extra + self.p.entropy_weight * ent
            stats["ssgan/conditional_entropy"] = ent.detach()
        return extra, stats

    def step(self, state, batches: List[Batch], log: bool) -> Stats:
        stats: Stats = {}
        data_init(state, batches)
        for b in batches:
            supervision(b, "ssgan")  # a clear error on data without labels
            self._target = b
            try:
                stats.update(self.d_step(state, b.x, log))  # y=None: G and D are not conditioned
            finally:
                self._target = None
        stats.update(self.g_step(state, batches[-1].x, log))
        return stats


@METHODS.register("ssgan", params=SSGANParams)
def ssgan(params: SSGANParams, config) -> Method:
    """Semi-supervised GAN (Salimans et al. 2016): K-class D with a fixed fake logit, feature-matching G."""
    return SSGAN(params, config)


# ---- supervised baseline ----------------------------------------------------------
class Supervised(Method):
    """The ssgan discriminator's network trained as a plain classifier on the
    labelled examples only; no generator."""

    sampler = None     # nothing to sample from
    classifier = "D"
    ema = ("D",)       # as ssgan: the averaged classifier is the one evaluated

    def __init__(self, params: NoParams, config):
        self.p = params

    def build_nets(self, cfg, data) -> Dict[str, torch.nn.Module]:
        return {"D": build_k_class_discriminator(cfg, data.shape, data.num_classes, "supervised")}

    def optimizers(self, cfg, nets):
        return {"D": (cfg.optim.discriminator, nets["D"].parameters())}

    def step(self, state, batches: List[Batch], log: bool) -> Stats:
        D, opt = state.nets["D"], state.optims["D"]
        stats: Stats = {}
        data_init(state, batches)  # the same init as ssgan's D (the images only, no labels)
        for b in batches:
            y, mask = supervision(b, "supervised")
            if b.labelled_batch is not None:  # train.labelled_batch_size > 0, as ssgan
                x, y = b.labelled_batch.x, b.labelled_batch.y
            else:
                # Only the labelled examples go through the net: with batch norm or
                # minibatch discrimination the others would shape the update too.
                x, y = b.x[mask], y[mask]
            stats["supervised/labelled"] = torch.tensor(float(len(x)))
            # no labelled example in this batch: no update (Adam's momentum would move D). Under torchrun
            # the ranks decide together: all skip, or a rank without labelled examples steps with the
            # others on a zero loss (its gradients zero), so every rank reaches the same all-reduce
            if not ranks.any_rank(len(x) > 0):
                stats.setdefault("d_loss", torch.zeros(()))
                continue
            loss = F.cross_entropy(D.class_logits(x), y) if len(x) else \
                0.0 * sum(p.sum() for p in D.parameters())
            opt.zero_grad(set_to_none=True)
            state.backward(loss, opt)
            if log:
                stats["d_grad_norm"] = grad_norm(D)
            opt.step()
            state.d_step += 1
            stats["d_loss"] = loss.detach()
        return stats


@METHODS.register("supervised", params=NoParams)
def supervised(params: NoParams, config) -> Method:
    """Supervised baseline of ssgan: the same K-class network, cross-entropy on the labelled examples only."""
    return Supervised(params, config)
