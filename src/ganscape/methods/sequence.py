"""Recipes for token sequences: the MLE baseline and the sequence GANs that
treat the generator as a policy (REFERENCES.md, "Sequence GANs").

Every recipe trains an autoregressive generator G (nets/sequence.py: `lstm`)
whose `log_prob(x)` gives log g(x_t | x_<t) per token and whose `sample`
draws sequences. The discriminators see token ids.

- `mle`: teacher forcing, G minimizes the mean negative log-likelihood per
  token of the real sequences: the baseline every sequence GAN is measured
  against, and SeqGAN's and MaliGAN's pretraining.
- `seqgan` (Yu et al. 2017): `pretrain_g` MLE steps, then `pretrain_d` D
  steps (real against G's samples), then adversarial steps: G is updated by
  REINFORCE with per-token rewards Q_t = the mean over `rollouts` Monte Carlo
  completions of the prefix x_<=t of D's probability of real (D in eval
  mode: no dropout); Q_L = D(x). G minimizes -mean_t Q_t log g(x_t | x_<t)
  (SeqGAN uses no baseline); D takes the step's n_disc real batches against
  fresh samples. The completions are drawn by the current G
  (`rollout_update` 0, the default): SeqGAN's paper and code name a delayed
  copy updated at rate 0.8, but its code's rollout net reads G's variables
  through tf.identity and the 0.8 update builds ops that are never run, so
  the published figures come from rollouts by the current G. `rollout_update`
  r > 0 gives the delayed copy (rollout <- r rollout + (1 - r) G after each
  G step), started from G at the first adversarial step.
- `maligan` (Che et al. 2017; BGAN for sequences, Hjelm et al. 2018): G draws
  `samples` sequences for each of the batch's groups; their weights
  w = (df*/dT)(T(D(x))) (D in eval mode) are normalized within each group,
  and G minimizes -mean_group sum_m stopgrad(w~_m) log g(x_m) (the whole
  sequence's log-likelihood); optional MLE pretraining as SeqGAN's.
- `scratchgan` (d'Autume et al. 2019, ScratchGAN-style): no pretraining; D
  gives a logit per position (an `lstm` discriminator), rewards
  r_t = 2 sigmoid(D_t) - 1, discounted returns R_t = sum_{s>=t} gamma^(s-t) r_s,
  one scalar EMA baseline b (from 0: b <- d b + (1 - d) mean R, the mean
  over the batch and every position, d = `baseline_decay`), and G minimizes
  -mean (R_t - b) log g(x_t | x_<t); D minimizes the per-position
  cross-entropy on real and generated sequences.

After the MLE phase SeqGAN and MaliGAN give G a fresh Adam (SeqGAN's code
has separate pretraining and adversarial optimizers) and, with
`adversarial_lr` > 0, that learning rate: the adversarial phase must move
far more slowly than MLE on real text (text-gan), and one run then does what
took two (text-mle, then text-gan from it).

D's loss is the config's `loss` (its D term) on whole-sequence logits, or on
every position's logit for ScratchGAN; SeqGAN and ScratchGAN read D's
probability of real, so they take minimax or ns; MaliGAN takes whatever
matches its divergence (as bgan).

Deviations from the official code (kept so that runs fit a CPU; each is
named in the README too):
- SeqGAN's schedule: its code trains D for 5 x 3 epochs over 10,000 real and
  10,000 fresh fake sequences after every G step (about 4.7k D batches of
  64) and pretrains D for 50 such rounds; here each step takes n_disc D
  batches (3 in the presets) and D pretraining (50 such rounds, ~47k
  batches) is `pretrain_d` steps. Its D loss adds 0.2 x (sum of squares / 2)
  of the output layer's weight and bias, and its G clips the global gradient
  norm at 5.0 (MLE and adversarial updates); neither is done here.
  G's start token is an extra begin-of-sequence row, not id 0.
- MaliGAN: the paper's variance reductions are not implemented: no
  baseline subtracted from the normalized weights, and no mixed-MLE
  curriculum (MLE on the first tokens, the weighted update on the rest, the
  MLE part shrinking over training); MaliGAN here is BGAN's estimator on
  whole sequences after plain MLE pretraining.
- ScratchGAN: its G is a 2-layer LSTM of 512 with input and output
  embeddings tied and partly pretrained (GloVe), its D an LSTM of 512 with
  layer norm, dropout 0.1 and an L2 term 1e-6, batch 512, variable-length
  sentences; here the nets are the config's (the preset: 32/64-unit LSTMs,
  untied, no pretrained embeddings, D without dropout or L2), and sequences
  have a fixed length. Like ScratchGAN's code it clips no gradients.

Sampling temperature for `ganscape sample` and eval is the generator's
(1.0). Rewards and weights never carry gradients into D.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Dict, List

import torch
from torch import Tensor

from ..registry import LOSSES, METHODS, ConfigError
from .base import Batch, Method, Stats, grad_norm, set_requires_grad
from .bgan import Divergence, check_loss_matches, log_weight, normalized_weights


def _check_tokens(data, what: str) -> None:
    if getattr(data, "kind", "") != "tokens":
        raise ConfigError(f"method {what} trains sequence generators: it needs token data (oracle, text), "
                          f"got {getattr(data, 'kind', '') or 'image/points'} data of shape {tuple(data.shape)}")


def build_sequence_nets(cfg, data, what: str, with_d: bool) -> Dict[str, torch.nn.Module]:
    from ..train.state import build_net
    _check_tokens(data, what)
    m = cfg.model
    kw = dict(kind="tokens", vocab_size=data.vocab_size)
    nets = {"G": build_net(cfg, "generator", m.generator, data.shape, **kw)}
    if with_d:
        nets["D"] = build_net(cfg, "discriminator", m.discriminator, data.shape, **kw)
    return nets


def mle_loss(G, x: Tensor) -> Tensor:
    """Mean negative log-likelihood per token (nats)."""
    return -G.log_prob(x).mean()


def policy_gradient_loss(q: Tensor, logp: Tensor) -> Tensor:
    """SeqGAN's REINFORCE loss -mean_{n,t} Q_nt log g(x_nt | x_<t) from the
    rewards q (N, L), which carry no gradient, and the log-probabilities of
    the drawn tokens logp (N, L). Its gradient raises the probability of
    well-rewarded tokens. (SeqGAN's code sums over the batch and positions
    instead of averaging: a constant factor that Adam's normalization
    removes, up to its epsilon.)"""
    return -(q.detach() * logp).mean()


def weighted_likelihood_loss(w: Tensor, logp: Tensor) -> Tensor:
    """MaliGAN / BGAN's loss -mean_group sum_m w~_m log g(x_m) from the
    normalized weights w (groups, M), which carry no gradient, and the
    sequences' log-likelihoods logp (groups, M)."""
    return -(w.detach() * logp).sum(1).mean()


@contextmanager
def eval_mode(*modules):
    """The modules in eval mode (no dropout) inside the block, each module
    and submodule's own training flag restored after, even on an error:
    rewards and importance weights are D's judgement, not a dropout draw of
    it (SeqGAN feeds dropout_keep_prob 1.0 when it scores rollouts)."""
    flags = [(m, m.training) for mod in modules for m in mod.modules()]
    try:
        for mod in modules:
            mod.eval()
        yield
    finally:
        for m, was in flags:
            m.training = was


class _Sequence(Method):
    distributed_refusal = "its token sampling is not split over processes (every rank would draw the same fakes)"

    name = "sequence"
    data_kind = "tokens"      # eval's default metrics: the token ones (metrics/sequences.py)
    needs_d = True
    per_position = False      # D scores every prefix (ScratchGAN) rather than whole sequences
    probability_rewards = True  # rewards are sigmoid(D): D must be trained as a classifier

    def __init__(self, params, config):
        self.p = params
        self.loss_entry = LOSSES.get(config.loss.name)
        self.loss_params = LOSSES.params(config.loss.name, config.loss.params)
        if self.needs_d and self.probability_rewards and config.loss.name not in ("minimax", "ns"):
            raise ConfigError(f"method {self.name}: its rewards are D's probabilities of real, so D is a "
                              f"classifier: loss must be minimax or ns (its D term), got {config.loss.name!r}")

    def build_nets(self, cfg, data):
        return build_sequence_nets(cfg, data, self.name, self.needs_d)

    def optimizers(self, cfg, nets):
        out = {"G": (cfg.optim.generator, nets["G"].parameters())}
        if "D" in nets:
            out["D"] = (cfg.optim.discriminator, nets["D"].parameters())
        return out

    def mle_step(self, state, x: Tensor, log: bool) -> Stats:
        G, opt = state.nets["G"], state.optims["G"]
        loss = mle_loss(G, x)
        opt.zero_grad(set_to_none=True)
        state.backward(loss, opt)
        stats: Stats = {"mle_loss": loss.detach()}
        if log:
            stats["g_grad_norm"] = grad_norm(G)
        opt.step()
        return stats

    def d_step(self, state, real: Tensor, log: bool) -> Stats:
        """D: the configured loss, real against a fresh batch of G's samples
        (every position's logit as an example when per_position)."""
        G, D, opt = state.nets["G"], state.nets["D"], state.optims["D"]
        with torch.no_grad():
            fake = G.sample(len(real))
        score = D.per_position if self.per_position else D
        v_real, v_fake = score(real), score(fake)
        loss = self.loss_entry.fn(self.loss_params, v_real.flatten(), v_fake.flatten())["d"]
        opt.zero_grad(set_to_none=True)
        state.backward(loss, opt)
        stats: Stats = {"d_loss": loss.detach(), "d_real": v_real.detach().mean(), "d_fake": v_fake.detach().mean()}
        if log:
            stats["d_grad_norm"] = grad_norm(D)
        opt.step()
        state.d_step += 1
        return stats

    def start_adversarial(self, state) -> None:
        """Called on every step after the MLE phase (SeqGAN, MaliGAN). At the
        first one G gets a fresh Adam (SeqGAN's code builds a separate
        optimizer for the adversarial updates, so pretraining's moments do
        not carry over); with `adversarial_lr` > 0 G's learning rate becomes
        that, scaled like the configured one by train.lr_schedule. Both are
        functions of the step, so a resume repeats them exactly."""
        opt = state.optims["G"]
        if state.step == self.p.pretrain_g and self.p.pretrain_g > 0:
            opt.state.clear()
        lr = self.p.adversarial_lr
        if lr > 0 and state.base_lr["G"] != lr:  # once per process: a resume restores the configured rate
            factor = opt.param_groups[0]["lr"] / state.base_lr["G"]  # the schedule's factor at this step
            state.base_lr["G"] = lr
            for group in opt.param_groups:
                group["lr"] = lr * factor

    def pg_step(self, state, loss: Tensor, log: bool, stats: Stats) -> Stats:
        G, opt = state.nets["G"], state.optims["G"]
        opt.zero_grad(set_to_none=True)
        state.backward(loss, opt)
        stats["g_loss"] = loss.detach()
        if log:
            stats["g_grad_norm"] = grad_norm(G)
        opt.step()
        return stats


# ----------------------------------------------------------------------------- MLE

@dataclass(frozen=True)
class MLEParams:
    pass


class MLE(_Sequence):
    name = "mle"
    needs_d = False

    def step(self, state, batches: List[Batch], log: bool) -> Stats:
        stats: Stats = {}
        for b in batches:  # n_disc > 1 just means more MLE updates per step
            stats = self.mle_step(state, b.x, log)
        return stats


@METHODS.register("mle", params=MLEParams)
def mle(params: MLEParams, config) -> Method:
    """Maximum likelihood (teacher forcing) for sequence generators: the baseline and the pretraining of sequence GANs."""
    return MLE(params, config)


# ----------------------------------------------------------------------------- SeqGAN

@dataclass(frozen=True)
class SeqGANParams:
    pretrain_g: int = 0            # MLE steps before anything adversarial
    pretrain_d: int = 0            # D-only steps after the MLE ones (each uses the step's n_disc batches)
    rollouts: int = 16             # Monte Carlo completions per prefix
    # 0: rollouts by the current G (what SeqGAN's code runs: its 0.8 update is
    # never used); r > 0: a delayed copy, rollout <- r rollout + (1 - r) G
    rollout_update: float = 0.0
    adversarial_lr: float = 0.0    # G's learning rate after the MLE phase (0: optim.generator's)

    def validate(self, where: str) -> None:
        if self.pretrain_g < 0 or self.pretrain_d < 0:
            raise ConfigError(f"{where}.pretrain_g, pretrain_d: must be >= 0")
        if self.adversarial_lr < 0:
            raise ConfigError(f"{where}.adversarial_lr: must be >= 0 (0 keeps optim.generator's), "
                              f"got {self.adversarial_lr}")
        if self.rollouts < 1:
            raise ConfigError(f"{where}.rollouts: at least 1 completion per prefix, got {self.rollouts}")
        if not 0.0 <= self.rollout_update <= 1.0:
            raise ConfigError(f"{where}.rollout_update: must be in [0, 1], got {self.rollout_update}")


def phase(step: int, pretrain_g: int, pretrain_d: int) -> str:
    """"mle", "d" or "adversarial": what training step `step` (from 0) does."""
    if step < pretrain_g:
        return "mle"
    if step < pretrain_g + pretrain_d:
        return "d"
    return "adversarial"


@torch.no_grad()
def rollout_rewards(rollout, D, x: Tensor, n_rollouts: int) -> Tensor:
    """SeqGAN's Q_t (N, L): for t < L, the mean over n_rollouts completions of
    x_<=t by `rollout` of sigmoid(D(completion)); Q_L = sigmoid(D(x))."""
    n, length = x.shape
    q = torch.empty(n, length, device=x.device)
    for t in range(1, length):
        prefix = x[:, :t].repeat(n_rollouts, 1)
        done = rollout.sample(len(prefix), prefix=prefix)
        q[:, t - 1] = torch.sigmoid(D(done)).view(n_rollouts, n).mean(0)
    q[:, length - 1] = torch.sigmoid(D(x))
    return q


class SeqGAN(_Sequence):
    name = "seqgan"
    ema = ("G",)

    def __init__(self, params: SeqGANParams, config):
        super().__init__(params, config)
        self.rollout = None    # the delayed copy (rollout_update > 0 only), made at the first adversarial step

    def setup(self, state) -> None:
        self._G = state.nets["G"]

    def state_dict(self) -> Dict:
        return {"rollout": None if self.rollout is None else self.rollout.state_dict()}

    def load_state_dict(self, sd: Dict) -> None:
        saved = sd.get("rollout")
        if self.p.rollout_update > 0 and saved is not None:
            self.rollout = copy.deepcopy(self._G).eval().requires_grad_(False)
            self.rollout.load_state_dict(saved)

    def rollout_net(self, G):
        """The net that completes prefixes: G itself at rollout_update 0 (what
        SeqGAN's code runs); otherwise the delayed copy, which starts as the G
        of the first adversarial step: after MLE pretraining and after
        train.init_from (a copy made when the nets are built would be the
        random initialization, as it was before issue 17)."""
        if self.p.rollout_update == 0:
            return G
        if self.rollout is None:
            self.rollout = copy.deepcopy(G).eval().requires_grad_(False)
        return self.rollout

    @torch.no_grad()
    def _update_rollout(self, G) -> None:
        rate = self.p.rollout_update
        if rate > 0:
            torch._foreach_lerp_(list(self.rollout.parameters()), list(G.parameters()), 1.0 - rate)

    def step(self, state, batches: List[Batch], log: bool) -> Stats:
        G, D = state.nets["G"], state.nets["D"]
        ph = phase(state.step, self.p.pretrain_g, self.p.pretrain_d)
        if ph == "mle":
            return self.mle_step(state, batches[-1].x, log)
        self.start_adversarial(state)
        stats: Stats = {}
        if ph == "adversarial":
            set_requires_grad(D, False)
            x, logp = G.sample(len(batches[-1].x), return_log_prob=True)
            rollout = self.rollout_net(G)
            with eval_mode(D, rollout):  # SeqGAN's rewards: D without dropout (keep_prob 1.0)
                q = rollout_rewards(rollout, D, x, self.p.rollouts)
            loss = policy_gradient_loss(q, logp)
            stats["reward"] = q.mean()
            self.pg_step(state, loss, log, stats)
            set_requires_grad(D, True)
            self._update_rollout(G)
        for b in batches:
            stats.update(self.d_step(state, b.x, log))
        return stats


@METHODS.register("seqgan", params=SeqGANParams)
def seqgan(params: SeqGANParams, config) -> Method:
    """SeqGAN: MLE pretraining, then REINFORCE with Monte Carlo rollout rewards from a CNN discriminator (Yu et al. 2017)."""
    return SeqGAN(params, config)


# ----------------------------------------------------------------------------- MaliGAN / BGAN

@dataclass(frozen=True)
class MaliGANParams:
    divergence: Divergence = "gan"
    samples: int = 16              # sequences per group; weights are normalized within a group
    pretrain_g: int = 0
    pretrain_d: int = 0
    adversarial_lr: float = 0.0    # G's learning rate after the MLE phase (0: optim.generator's)

    def validate(self, where: str) -> None:
        if self.adversarial_lr < 0:
            raise ConfigError(f"{where}.adversarial_lr: must be >= 0 (0 keeps optim.generator's), "
                              f"got {self.adversarial_lr}")
        if self.samples < 2:
            raise ConfigError(f"{where}.samples: at least 2 sequences per group to normalize over, "
                              f"got {self.samples}")
        if self.pretrain_g < 0 or self.pretrain_d < 0:
            raise ConfigError(f"{where}.pretrain_g, pretrain_d: must be >= 0")


class MaliGAN(_Sequence):
    name = "maligan"
    probability_rewards = False  # weights come from the divergence D was trained on (checked below)

    def __init__(self, params: MaliGANParams, config):
        super().__init__(params, config)
        check_loss_matches(params.divergence, config, "method.params")

    def step(self, state, batches: List[Batch], log: bool) -> Stats:
        G, D = state.nets["G"], state.nets["D"]
        ph = phase(state.step, self.p.pretrain_g, self.p.pretrain_d)
        if ph == "mle":
            return self.mle_step(state, batches[-1].x, log)
        self.start_adversarial(state)
        stats: Stats = {}
        for b in batches:
            stats.update(self.d_step(state, b.x, log))
        if ph == "adversarial":
            m = self.p.samples
            groups = max(1, len(batches[-1].x) // m)
            set_requires_grad(D, False)
            x, logp = G.sample(groups * m, return_log_prob=True)
            with torch.no_grad(), eval_mode(D):  # D's judgement without a dropout draw
                logw = log_weight(self.p.divergence, D(x)).view(groups, m)
            w, stats["log_z"], stats["ess"] = normalized_weights(logw)
            loss = weighted_likelihood_loss(w, logp.sum(1).view(groups, m))
            self.pg_step(state, loss, log, stats)
            set_requires_grad(D, True)
        return stats


@METHODS.register("maligan", params=MaliGANParams)
def maligan(params: MaliGANParams, config) -> Method:
    """MaliGAN / BGAN for sequences: normalized importance weights over sampled sequences (Che et al. 2017)."""
    return MaliGAN(params, config)


# ----------------------------------------------------------------------------- ScratchGAN

@dataclass(frozen=True)
class ScratchGANParams:
    discount: float = 0.23          # gamma of the discounted returns (ScratchGAN's)
    baseline_decay: float = 0.08    # b <- d b + (1 - d) mean of R over batch and positions (ScratchGAN's 0.08)

    def validate(self, where: str) -> None:
        if not 0.0 <= self.discount <= 1.0:
            raise ConfigError(f"{where}.discount: must be in [0, 1], got {self.discount}")
        if not 0.0 <= self.baseline_decay < 1.0:
            raise ConfigError(f"{where}.baseline_decay: must be in [0, 1), got {self.baseline_decay}")


def discounted_returns(r: Tensor, gamma: float) -> Tensor:
    """R_t = sum_{s >= t} gamma^(s - t) r_s along the last axis."""
    out = torch.empty_like(r)
    acc = torch.zeros_like(r[..., 0])
    for t in range(r.shape[-1] - 1, -1, -1):
        acc = r[..., t] + gamma * acc
        out[..., t] = acc
    return out


class ScratchGAN(_Sequence):
    name = "scratchgan"
    per_position = True

    def __init__(self, params: ScratchGANParams, config):
        super().__init__(params, config)
        self.baseline = torch.zeros(())  # one scalar, starting at 0 (ScratchGAN's ewma_reward)

    def build_nets(self, cfg, data):
        nets = super().build_nets(cfg, data)
        if not hasattr(nets["D"], "per_position"):
            raise ConfigError(f"method scratchgan needs a discriminator with a logit per position "
                              f"(model.discriminator.arch: lstm), got {cfg.model.discriminator.arch.name!r}")
        return nets

    def state_dict(self) -> Dict:
        return {"baseline": self.baseline}

    def load_state_dict(self, sd: Dict) -> None:
        b = sd.get("baseline")
        # checkpoints before issue 17 kept one value per position (or None before the first G step)
        self.baseline = torch.zeros(()) if b is None else torch.as_tensor(b).mean()

    def g_loss(self, v: Tensor, logp: Tensor) -> Dict[str, Tensor]:
        """From D's per-position logits v (N, L) and log g(x_t | x_<t) (N, L).
        As ScratchGAN's reinforce_loss: the baseline is updated with this
        batch's mean return first, then subtracted."""
        r = 2.0 * torch.sigmoid(v) - 1.0
        ret = discounted_returns(r, self.p.discount)
        mean = ret.mean()
        d = self.p.baseline_decay
        self.baseline = d * self.baseline.to(mean.device) + (1.0 - d) * mean.detach()
        loss = policy_gradient_loss(ret - self.baseline, logp)
        return {"loss": loss, "reward": r.mean(), "return": mean, "baseline": self.baseline}

    def step(self, state, batches: List[Batch], log: bool) -> Stats:
        G, D = state.nets["G"], state.nets["D"]
        stats: Stats = {}
        for b in batches:
            stats.update(self.d_step(state, b.x, log))
        set_requires_grad(D, False)
        x, logp = G.sample(len(batches[-1].x), return_log_prob=True)
        with torch.no_grad():
            v = D.per_position(x)
        out = self.g_loss(v, logp)
        stats["reward"], stats["return"] = out["reward"].detach(), out["return"].detach()
        stats["baseline"] = out["baseline"]
        self.pg_step(state, out["loss"], log, stats)
        set_requires_grad(D, True)
        return stats


@METHODS.register("scratchgan", params=ScratchGANParams)
def scratchgan(params: ScratchGANParams, config) -> Method:
    """ScratchGAN-style: no pretraining, dense per-token rewards 2 sigmoid(D_t) - 1, discounted returns, EMA baseline."""
    return ScratchGAN(params, config)
