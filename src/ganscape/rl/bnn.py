"""VIME's Bayesian neural network dynamics model and its information gain
(Houthooft et al. 2016, "VIME: Variational Information Maximizing
Exploration"; official code openai/vime, read at `dynamics/bnn.py`,
`algos/batch_polopt_expl.py`, `sampler/parallel_sampler_expl.py` and
`experiments/run_trpo_expl.py`; REFERENCES.md, "Acting").

The model p(s' | s, a) is a BNN with a fully factorized Gaussian posterior
q(w) = prod N(mu, softplus(rho)^2) over every weight and bias, a prior
N(0, prior_std^2) and a Gaussian likelihood of fixed std. VIME rewards a
transition by how much the posterior moves when the model is updated on it:
the information gain KL(q_new || q_old). The official runs compute it by a
second-order approximation (one preconditioned step; `info_gain_second_order`
here, vectorized over the transitions), then divide it by the mean of recent
batch medians (`MedianNormalizer`).

Settings read from the official code (file:line of openai/vime):

* one hidden layer of 32, ReLU hidden, linear output (batch_polopt_expl.py
  146, 266-267); prior std 0.5 (bnn.py 253); likelihood std 5 (bnn.py 256);
  10 weight samples per loss (bnn.py 252, 358); n_batches = 5, hard-coded
  (batch_polopt_expl.py 251); 500 updates of minibatches of 10 drawn with
  replacement from the replay pool, Adam 1e-3 (batch_polopt_expl.py 137-148,
  321-343; the SwimmerGather script uses 5000 updates and Adam 1e-4).
* init (bnn.py 40, 50-72): mu ~ N(0, 1) for weights *and* biases
  (`lasagne.init.Normal(1., 0.)` is std=1, mean=0: Lasagne's signature is
  Normal(std, mean)); rho = log(exp(prior_std) - 1), so softplus(rho) equals
  the prior std (0.5) for every parameter at the start.
* loss (bnn.py 345-372): KL(q || prior) / n_batches - (sum over the minibatch
  and output dimensions of log N(y | f_w(x), sd^2)), averaged over the
  n_samples weight samples. The log-likelihood is *summed* over the minibatch
  there, so `BNN.loss` sums it too; `BNN.log_likelihood` defaults to the mean
  over the batch (the number one reads) and takes reduction="sum".
* inputs (s, a) and targets s' are standardized with the replay pool's mean
  and std, dividing by std + 1e-8 (batch_polopt_expl.py 318-332,
  parallel_sampler_expl.py 70-76); the model lives in that normalized space
  and the likelihood std 5 is in normalized units. `set_normalization` holds
  those statistics in buffers, so every method here takes raw data.
* information gain (parallel_sampler_expl.py 79-117, bnn.py 374-391,
  443-503): per transition (kl_batch_size 1), the gradient g of
  loss_last_sample = KL(q' || q) - mean_s log p(s'|s,a,w_s) at q' = q; the KL
  part has zero gradient there, so g is the gradient of the transition's
  negative log-likelihood alone (no share of KL-to-prior). Then
  KL ~ sum step^2 g^2 / H with H the diagonal Hessian of KL(q' || q) at q' = q,
  step 0.01, clipped to [0, 1000].
* normalization of the gains (batch_polopt_expl.py 232-236, 473-480): append
  the median of this iteration's gains to a queue of the last 10, then divide
  by the queue's mean (the current median included).

Deviations, each named where it happens:

1. Local reparameterization draws one noise value per example and unit
   (Kingma et al. 2015, which the paper cites); the official layer draws one
   per unit shared by all rows of a minibatch (bnn.py 156). Same marginal per
   example; the official noise is correlated across a minibatch.
2. The Gaussian KL has no 1e-8 in its denominator (bnn.py 181); our stds are
   softplus(rho) > 0.
3. The second-order information gain omits the 1/2 of the quadratic model
   0.5 d^T H d, as the official code does (bnn.py 494-495); the paper's
   formula has it, so our values (like the official ones) are twice the
   paper's. Only the ratio matters after `MedianNormalizer`.
4. The official per-transition Theano calls are replaced by one vectorized
   computation (torch.func.vmap over the per-transition gradient); each
   transition still gets its own independent draws of the n_samples noise
   values, as the official loop does (its random stream advances per call).
5. `MedianNormalizer` returns the gains unchanged when the mean of medians is
   not positive (the official code would divide by zero).
6. H for rho is computed as 2 sigmoid(rho)^2 / softplus(rho)^2, equal to the
   official 2 e^{2 rho} / ((1 + e^rho)^2 log(1 + e^rho)^2) but free of
   overflow; torch's softplus returns rho itself above rho = 20.
"""
from __future__ import annotations

import math
from collections import deque
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "BayesianLinear",
    "BNN",
    "gaussian_kl",
    "kl_hessian_diag",
    "info_gain_second_order",
    "info_gain_explicit",
    "MedianNormalizer",
    "train_bnn",
]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_NORM_EPS = 1e-8  # added to the pool std before dividing, as the official code


def gaussian_kl(mu_p: Tensor, s_p: Tensor, mu_q, s_q) -> Tensor:
    """Elementwise KL(N(mu_p, s_p^2) || N(mu_q, s_q^2))
    = log(s_q / s_p) + (s_p^2 + (mu_p - mu_q)^2) / (2 s_q^2) - 1/2."""
    s_q = torch.as_tensor(s_q, dtype=s_p.dtype, device=s_p.device)
    return torch.log(s_q / s_p) + (s_p ** 2 + (mu_p - mu_q) ** 2) / (2 * s_q ** 2) - 0.5


def _gauss_logpdf(y: Tensor, mean: Tensor, sd: float) -> Tensor:
    return -math.log(sd) - _LOG_SQRT_2PI - (y - mean) ** 2 / (2 * sd * sd)


def _preact(x: Tensor, w_mu: Tensor, w_rho: Tensor, b_mu: Tensor, b_rho: Tensor,
            eps: Tensor) -> Tensor:
    """Local reparameterization: the pre-activation of a layer whose weights
    are drawn from q is Gaussian with mean x @ mu_W + mu_b and variance
    x^2 @ s_W^2 + s_b^2; sample it directly (one eps per example and unit)."""
    mean = x @ w_mu + b_mu
    var = (x * x) @ F.softplus(w_rho) ** 2 + F.softplus(b_rho) ** 2
    return mean + torch.sqrt(var) * eps


class BayesianLinear(nn.Module):
    """A dense layer with a fully factorized Gaussian posterior over its
    weights (in_features x out_features, applied as x @ W, the official
    layout) and biases, std = softplus(rho), prior N(0, prior_std^2).

    Parameters, in the official order (bnn.py 50-72): weight_mu, weight_rho,
    bias_mu, bias_rho. Init as the official code: every mu ~ N(0, 1) and every
    rho = log(exp(prior_std) - 1), i.e. softplus(rho) = prior_std.
    """

    def __init__(self, in_features: int, out_features: int, prior_std: float = 0.5,
                 generator: Optional[torch.Generator] = None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.prior_std = float(prior_std)
        self.weight_mu = nn.Parameter(torch.empty(self.in_features, self.out_features))
        self.weight_rho = nn.Parameter(torch.empty(self.in_features, self.out_features))
        self.bias_mu = nn.Parameter(torch.empty(self.out_features))
        self.bias_rho = nn.Parameter(torch.empty(self.out_features))
        self.reset_parameters(generator)

    @staticmethod
    def std_to_rho(std: float) -> float:
        """Inverse of softplus: rho with softplus(rho) = std."""
        return math.log(math.expm1(std))

    @torch.no_grad()
    def reset_parameters(self, generator: Optional[torch.Generator] = None) -> None:
        rho0 = self.std_to_rho(self.prior_std)
        self.weight_mu.normal_(0.0, 1.0, generator=generator)
        self.bias_mu.normal_(0.0, 1.0, generator=generator)
        self.weight_rho.fill_(rho0)
        self.bias_rho.fill_(rho0)

    def params(self) -> List[Tensor]:
        """[weight_mu, weight_rho, bias_mu, bias_rho] (the official order)."""
        return [self.weight_mu, self.weight_rho, self.bias_mu, self.bias_rho]

    def forward(self, x: Tensor, generator: Optional[torch.Generator] = None,
                noise: Optional[Tensor] = None) -> Tensor:
        """Sampled pre-activations (no nonlinearity), shape x.shape[:-1] +
        (out_features,). `noise` (standard normal, that shape) replaces the
        draw; otherwise it is drawn from `generator` (or the global RNG)."""
        if noise is None:
            noise = torch.randn(x.shape[:-1] + (self.out_features,), generator=generator,
                                dtype=x.dtype, device=x.device)
        return _preact(x, *self.params(), noise)

    def kl_to_prior(self) -> Tensor:
        """Closed form sum over weights and biases of KL(N(mu, s^2) || N(0, p^2))
        = log(p / s) + (s^2 + mu^2) / (2 p^2) - 1/2 (bnn.py 199-204)."""
        return sum(gaussian_kl(m, F.softplus(r), 0.0, self.prior_std).sum()
                   for m, r in ((self.weight_mu, self.weight_rho), (self.bias_mu, self.bias_rho)))

    def kl_to(self, old_mu: Sequence[Tensor], old_rho: Sequence[Tensor]) -> Tensor:
        """Closed form KL(q_self || q_old) summed over the layer, where
        old_mu = (weight_mu, bias_mu) and old_rho = (weight_rho, bias_rho) of
        the old posterior (the information gain, bnn.py 185-190)."""
        new = ((self.weight_mu, self.weight_rho), (self.bias_mu, self.bias_rho))
        return sum(gaussian_kl(m, F.softplus(r), mo, F.softplus(ro)).sum()
                   for (m, r), mo, ro in zip(new, old_mu, old_rho))


class BNN(nn.Module):
    """in_dim -> hidden (ReLU) -> out_dim (linear) of BayesianLinear layers,
    with a Gaussian likelihood of fixed std `likelihood_std`.

    Every public method takes raw x (s, a) and y (s') and standardizes them
    with the buffers set by `set_normalization` (identity until then); the
    network, its outputs and the likelihood live in the standardized space,
    as in the official code. `predict` maps a sample back to raw units.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int] = (32,),
                 prior_std: float = 0.5, likelihood_std: float = 5.0, n_samples: int = 10,
                 generator: Optional[torch.Generator] = None):
        super().__init__()
        dims = [int(in_dim), *[int(h) for h in hidden], int(out_dim)]
        self.layers = nn.ModuleList(
            BayesianLinear(a, b, prior_std, generator) for a, b in zip(dims[:-1], dims[1:]))
        self.in_dim, self.out_dim = dims[0], dims[-1]
        self.prior_std = float(prior_std)
        self.likelihood_std = float(likelihood_std)
        self.n_samples = int(n_samples)
        self.register_buffer("x_mean", torch.zeros(self.in_dim))
        self.register_buffer("x_std", torch.ones(self.in_dim))
        self.register_buffer("y_mean", torch.zeros(self.out_dim))
        self.register_buffer("y_std", torch.ones(self.out_dim))

    # --- parameters -------------------------------------------------------
    def params(self) -> List[Tensor]:
        """Flat list of all posterior parameters: per layer weight_mu,
        weight_rho, bias_mu, bias_rho (the official order)."""
        return [p for layer in self.layers for p in layer.params()]

    def snapshot(self) -> List[Tensor]:
        """Detached copies of `params()`, the old posterior for `kl_to`."""
        return [p.detach().clone() for p in self.params()]

    def kl_to_prior(self) -> Tensor:
        return sum(layer.kl_to_prior() for layer in self.layers)

    def kl_to(self, old: Sequence[Tensor]) -> Tensor:
        """KL(q_current || q_old), `old` as returned by `snapshot()`."""
        return sum(layer.kl_to((old[4 * i], old[4 * i + 2]), (old[4 * i + 1], old[4 * i + 3]))
                   for i, layer in enumerate(self.layers))

    # --- normalization ----------------------------------------------------
    @torch.no_grad()
    def set_normalization(self, x_mean, x_std, y_mean, y_std) -> None:
        """Pool statistics of inputs (s, a) and targets s' (the official code
        uses the observation statistics for both s and s')."""
        for buf, v in ((self.x_mean, x_mean), (self.x_std, x_std),
                       (self.y_mean, y_mean), (self.y_std, y_std)):
            buf.copy_(torch.as_tensor(v, dtype=buf.dtype, device=buf.device).expand_as(buf))

    def normalize_x(self, x: Tensor) -> Tensor:
        return (x - self.x_mean) / (self.x_std + _NORM_EPS)

    def normalize_y(self, y: Tensor) -> Tensor:
        return (y - self.y_mean) / (self.y_std + _NORM_EPS)

    # --- sampling ---------------------------------------------------------
    def draw_noise(self, n: int, generator: Optional[torch.Generator] = None) -> List[Tensor]:
        """Standard normal noise for n examples and n_samples weight samples:
        one (n_samples, n, width) tensor per layer, drawn layer by layer."""
        ref = self.layers[0].weight_mu
        return [torch.randn((self.n_samples, n, layer.out_features), generator=generator,
                            dtype=ref.dtype, device=ref.device) for layer in self.layers]

    def _net(self, params: Sequence[Tensor], xn: Tensor, noise: Sequence[Tensor]) -> Tensor:
        h = xn
        last = len(self.layers) - 1
        for i in range(len(self.layers)):
            h = _preact(h, *params[4 * i:4 * i + 4], noise[i])
            if i < last:
                h = torch.relu(h)
        return h

    def forward(self, x: Tensor, generator: Optional[torch.Generator] = None,
                noise: Optional[Sequence[Tensor]] = None) -> Tensor:
        """One sampled prediction in standardized target units (local
        reparameterization: each example gets its own pre-activation noise).
        `noise`: one tensor per layer shaped like its output, else drawn."""
        xn = self.normalize_x(x)
        if noise is None:
            noise, shape = [], xn.shape[:-1]
            for layer in self.layers:
                noise.append(torch.randn(shape + (layer.out_features,), generator=generator,
                                         dtype=xn.dtype, device=xn.device))
        return self._net(self.params(), xn, noise)

    def predict(self, x: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        """One sampled prediction of s' in raw units."""
        return self.forward(x, generator) * (self.y_std + _NORM_EPS) + self.y_mean

    def log_likelihood(self, x: Tensor, y: Tensor, generator: Optional[torch.Generator] = None,
                       reduction: str = "mean") -> Tensor:
        """log N(y | f_w(x), likelihood_std^2) in standardized units, summed
        over output dimensions, averaged over n_samples weight samples, then
        averaged ("mean") or summed ("sum", the official loss) over the batch."""
        xn, yn = self.normalize_x(x), self.normalize_y(y)
        noise = self.draw_noise(xn.shape[0], generator)
        pred = self._net(self.params(), xn.unsqueeze(0).expand(self.n_samples, -1, -1), noise)
        lp = _gauss_logpdf(yn, pred, self.likelihood_std).sum(-1).mean(0)  # (N,)
        if reduction == "mean":
            return lp.mean()
        if reduction == "sum":
            return lp.sum()
        raise ValueError(f"reduction must be 'mean' or 'sum', not {reduction!r}")

    def loss(self, x: Tensor, y: Tensor, n_batches: float = 5,
             generator: Optional[torch.Generator] = None) -> Tensor:
        """The official minibatch objective (bnn.py 354-372):
        KL(q || prior) / n_batches - sum over the minibatch of E_q log p(y|x,w)
        (the expectation by n_samples samples)."""
        return self.kl_to_prior() / n_batches - self.log_likelihood(x, y, generator, "sum")

    def _nll_one(self, params: Sequence[Tensor], xn_i: Tensor, yn_i: Tensor,
                 noise_i: Sequence[Tensor]) -> Tensor:
        """Negative log-likelihood of one standardized transition averaged over
        the n_samples weight samples; noise_i[l] has shape (n_samples, width)."""
        pred = self._net(params, xn_i.unsqueeze(0).expand(self.n_samples, -1), noise_i)
        return -_gauss_logpdf(yn_i, pred, self.likelihood_std).sum(-1).mean()


def kl_hessian_diag(params: Sequence[Tensor]) -> List[Tensor]:
    """Diagonal Hessian of KL(q' || q) with respect to q' = (mu', rho') at
    q' = q, for `params` in the order of `BNN.params()`. For mu: 1 / s^2;
    for rho: 2 sigmoid(rho)^2 / s^2 = 2 e^{2 rho} / ((1 + e^rho)^2 s^2), with
    s = softplus(rho) (bnn.py 483-492). Because q' = q it is also the Hessian
    of KL(q || prior) at s = prior std, the posterior's initial state."""
    out = []
    for i in range(0, len(params), 2):
        rho = params[i + 1]  # H of a mu (params[i]) depends on its rho only
        s2 = F.softplus(rho) ** 2
        out.append(1.0 / s2)
        out.append(2.0 * torch.sigmoid(rho) ** 2 / s2)
    return out


def _per_transition_grads(bnn: BNN, params, xn, yn, noise, chunk_size=None):
    grad_fn = torch.func.grad(bnn._nll_one)
    return torch.func.vmap(grad_fn, in_dims=(None, 0, 0, 1), chunk_size=chunk_size)(
        params, xn, yn, noise)


def info_gain_second_order(bnn: BNN, x: Tensor, y: Tensor, step_size: float = 0.01,
                           generator: Optional[torch.Generator] = None,
                           chunk_size: Optional[int] = None,
                           clip: Tuple[float, float] = (0.0, 1000.0)) -> Tensor:
    """VIME's per-transition information gain by the second-order
    approximation, as the official runs compute it (second_order_update=True,
    kl_batch_size=1; bnn.py 474-503, parallel_sampler_expl.py 88-96), for all
    N transitions at once: returns (N,)

        KL_i = sum over every mu and rho of step_size^2 g_i^2 / H,

    g_i = gradient of transition i's loss_last_sample, KL(q' || q) -
    mean_s log p(y_i | x_i, w_s), at q' = q. The KL term's gradient is zero
    there, so g_i is the gradient of the transition's negative log-likelihood
    alone (no KL-to-prior share). H = `kl_hessian_diag`.

    Deviations: the paper's quadratic model has a factor 1/2 that the official
    code omits; this follows the code (values twice the paper's formula).
    Vectorized with torch.func.vmap(grad) (`chunk_size` bounds memory); each
    transition uses its own independent n_samples noise draws, like the
    official per-transition calls (not one shared draw, not the exact
    expectation). Clipped to `clip` = [0, 1000] as the official code.
    """
    with torch.no_grad():
        xn, yn = bnn.normalize_x(x), bnn.normalize_y(y)
    noise = bnn.draw_noise(xn.shape[0], generator)
    params = tuple(p.detach() for p in bnn.params())
    grads = _per_transition_grads(bnn, params, xn, yn, noise, chunk_size)
    hess = kl_hessian_diag(params)
    kl = sum((g.flatten(1) ** 2 / h.flatten()).sum(1) for g, h in zip(grads, hess))
    return (step_size ** 2 * kl).clamp(*clip).detach()


def info_gain_explicit(bnn: BNN, x: Tensor, y: Tensor, step_size: float = 0.01,
                       preconditioned: bool = True,
                       generator: Optional[torch.Generator] = None,
                       clip: Tuple[float, float] = (0.0, 1000.0)) -> Tensor:
    """Reference information gain: for each transition, copy the posterior,
    take one gradient step on that transition's loss_last_sample (whose
    gradient at the start is the negative log-likelihood's, as in
    `info_gain_second_order`) and return the closed form KL(q_new || q_old),
    clipped to `clip`. Slow (a Python loop over transitions); `bnn` is not
    modified.

    preconditioned=True: the official "second order update" (bnn.py 450-472,
    commented out in favour of the approximation): theta -= step_size H^-1 g.
    Then, to second order, KL = 0.5 step_size^2 sum g^2 / H, half of what
    `info_gain_second_order` returns (the official code omits the 1/2).
    preconditioned=False: plain gradient descent, theta -= step_size g.
    The official default path (second_order_update=False) instead takes
    n_itr_update Adam steps with the optimizer shared with training
    (bnn.py 434-441, 511-512); that is not reproduced here.
    Draws its noise exactly as `info_gain_second_order` does, so equally
    seeded generators give both the same weight samples.
    """
    with torch.no_grad():
        xn, yn = bnn.normalize_x(x), bnn.normalize_y(y)
    noise = bnn.draw_noise(xn.shape[0], generator)
    old = [p.detach().clone() for p in bnn.params()]
    hess = kl_hessian_diag(old)
    out = torch.empty(xn.shape[0], dtype=xn.dtype, device=xn.device)
    for i in range(xn.shape[0]):
        params = [p.clone().requires_grad_(True) for p in old]
        loss = bnn._nll_one(params, xn[i], yn[i], [e[:, i] for e in noise])
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            if preconditioned:
                new = [p - step_size * g / h for p, g, h in zip(old, grads, hess)]
            else:
                new = [p - step_size * g for p, g in zip(old, grads)]
            kl = sum(gaussian_kl(new[j], F.softplus(new[j + 1]),
                                 old[j], F.softplus(old[j + 1])).sum()
                     for j in range(0, len(old), 2))
        out[i] = kl
    return out.clamp(*clip)


class MedianNormalizer:
    """Divides a batch of information gains by the mean of the medians of the
    last k batches, this one included: the official code appends the current
    median to its queue *before* dividing (batch_polopt_expl.py 477-480), so
    the first call divides by its own median. (REFERENCES.md's "previous 10
    iterations" reads this loosely: the current one is among the 10.)
    The median is numpy's (mean of the two middle values for an even count).
    Deviation: when the mean of medians is not positive (all gains zero) the
    gains come back unchanged instead of dividing by zero.
    """

    def __init__(self, k: int = 10):
        self.k = int(k)
        self.medians: deque = deque(maxlen=self.k)

    def normalize(self, kl: Tensor) -> Tensor:
        self.medians.append(float(torch.quantile(kl.detach().double().flatten(), 0.5)))
        denom = sum(self.medians) / len(self.medians)
        if not (denom > 0.0 and math.isfinite(denom)):
            return kl
        return kl / denom

    __call__ = normalize

    def state_dict(self) -> Dict:
        return {"k": self.k, "medians": list(self.medians)}

    def load_state_dict(self, state: Dict) -> None:
        self.k = int(state["k"])
        self.medians = deque((float(m) for m in state["medians"]), maxlen=self.k)


def train_bnn(bnn: BNN, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor,
              updates: int = 500, batch_size: int = 10,
              generator: Optional[torch.Generator] = None, n_batches: float = 5) -> float:
    """The official per-iteration dynamics fit (batch_polopt_expl.py 317-343):
    `updates` minibatches of `batch_size` transitions drawn uniformly with
    replacement (all indices drawn first, from `generator`), one optimizer
    step each on `BNN.loss` with n_batches = 5 (hard-coded there). Weight
    noise comes from the same generator. Returns the mean loss over updates.
    (The official pool also skips the newest sample, which has no successor;
    here x, y are already complete transitions.)"""
    n = x.shape[0]
    idx = torch.randint(0, n, (updates, batch_size), generator=generator, device=x.device)
    total = 0.0
    for b in idx:
        optimizer.zero_grad()
        loss = bnn.loss(x[b], y[b], n_batches, generator)
        loss.backward()
        optimizer.step()
        total += float(loss.detach())
    return total / max(updates, 1)
