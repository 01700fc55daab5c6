"""The VAE's bounds against closed forms (a linear Gaussian model), and the
IAF's autoregressive structure."""
import math

import pytest
import torch
from torch import nn

from ganscape.nets.vae import VAE, IAFStep


class Flat(nn.Module):
    """An 'encoder trunk' whose features are the flattened image."""

    def features(self, x):
        return x.flatten(1)


class LinearGaussianDecoder(nn.Module):
    """z -> (mean W z + b, log sigma) as the 2 channels of a (2, 1, D) image."""

    def __init__(self, W, b, log_sigma):
        super().__init__()
        self.W, self.b = nn.Parameter(W), nn.Parameter(b)
        self.log_sigma = log_sigma

    def forward(self, z):
        mean = z @ self.W.T + self.b
        return torch.stack([mean, torch.full_like(mean, self.log_sigma)], 1)[:, :, None, :]


def linear_vae(D=4, d=2, sigma=0.5, seed=0):
    torch.set_default_dtype(torch.float64)
    try:
        g = torch.Generator().manual_seed(seed)
        W, b = torch.randn(D, d, generator=g), 0.1 * torch.randn(D, generator=g)
        vae = VAE(Flat(), D, LinearGaussianDecoder(W, b, math.log(sigma)), (1, 1, D), d, "gaussian", 17)
        # an encoder near the exact posterior N(A (x - b), S), S = (I + W'W / s^2)^-1,
        # A = S W' / s^2, with a diagonal covariance and a perturbed mean: a real
        # but small gap, and low-variance importance weights
        S = torch.linalg.inv(torch.eye(d) + W.T @ W / sigma ** 2)
        A = S @ W.T / sigma ** 2
        with torch.no_grad():
            vae.head.weight.copy_(torch.cat([A + 0.2 * torch.randn(d, D, generator=g), torch.zeros(d, D)]))
            vae.head.bias.copy_(torch.cat([-A @ b, 0.5 * torch.log(torch.diagonal(S)) + 0.2]))
    finally:
        torch.set_default_dtype(torch.float32)
    return vae.double(), W, b, sigma


def test_elbo_of_a_linear_gaussian_vae_matches_the_closed_form():
    vae, W, b, s = linear_vae()
    x = torch.randn(3, 1, 1, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    a = vae.head(x.flatten(1))
    mu, log_sd = a[:, :2], a[:, 2:]
    var = torch.exp(2 * log_sd)
    r = x.flatten(1) - mu @ W.T - b
    D = 4
    # E_q log N(x; W z + b, s^2 I) = -D/2 log(2 pi s^2) - (|r|^2 + sum_j var_j |W_j|^2) / (2 s^2)
    rec = -0.5 * D * math.log(2 * math.pi * s * s) - (r.pow(2).sum(1) + (var * W.pow(2).sum(0)).sum(1)) / (2 * s * s)
    kl = 0.5 * (var + mu.pow(2) - 1 - 2 * log_sd).sum(1)
    want = rec - kl
    torch.manual_seed(0)
    with torch.no_grad():
        w = vae.log_weights(x, 200_000)                     # Monte Carlo ELBO
    se = w.std(1) / math.sqrt(w.shape[1])
    assert ((w.mean(1) - want).abs() < 4 * se + 1e-6).all(), (w.mean(1), want, se)
    assert (se < 0.05).all()


def test_iwae_tightens_towards_the_exact_marginal():
    vae, W, b, s = linear_vae()
    x = torch.randn(4, 1, 1, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    exact = torch.distributions.MultivariateNormal(b, W @ W.T + s * s * torch.eye(4, dtype=torch.float64)
                                                   ).log_prob(x.flatten(1))
    torch.manual_seed(0)
    with torch.no_grad():
        elbo = vae.log_weights(x, 20_000).mean(1)
        iwae_10 = torch.stack([vae.iwae(x, 10) for _ in range(200)]).mean(0)
        iwae_big = vae.iwae(x, 100_000)
    assert (elbo < iwae_10).all() and (iwae_10 < iwae_big + 1e-3).all()
    assert torch.allclose(iwae_big, exact, atol=0.05), (iwae_big, exact)
    assert (exact - elbo > 0.1).all()                  # the ELBO's gap is real, and IWAE closes it


@pytest.mark.parametrize("reverse", [False, True])
def test_iaf_step_is_autoregressive_with_the_reported_log_det(reverse):
    torch.manual_seed(0)
    step = IAFStep(dim=5, hidden=20, context=3, reverse=reverse).double()
    with torch.no_grad():
        step.out.weight.normal_(0, 0.5)
        step.out.bias.normal_(0, 0.5)
    z, h = torch.randn(5, dtype=torch.float64), torch.randn(3, dtype=torch.float64)
    J = torch.autograd.functional.jacobian(lambda v: step(v[None], h[None])[0][0], z)
    order = torch.arange(5).flip(0) if reverse else torch.arange(5)
    Jp = J[order][:, order]                                        # in the autoregressive order
    assert torch.allclose(Jp, torch.tril(Jp)), "output i depends on a later input"
    assert torch.count_nonzero(torch.tril(Jp, -1)) > 0              # and does depend on earlier ones
    _, logdet = step(z[None], h[None])
    assert float(logdet.detach()) == pytest.approx(float(torch.linalg.slogdet(J)[1]), abs=1e-10)


def test_posterior_log_q_with_iaf_is_the_density_of_its_samples():
    """log q from the IAF posterior equals the change of variables computed by
    brute force: log N(eps) - log|det dz/deps|."""
    torch.manual_seed(0)
    vae, *_ = linear_vae()
    vae.iaf = nn.ModuleList([IAFStep(2, 8, 2, reverse=bool(t)) for t in range(2)]).double()
    vae.context_dim = 2
    vae.head = nn.Linear(4, 2 * 2 + 2).double()
    x = torch.randn(1, 1, 1, 4, dtype=torch.float64)
    a = vae.head(x.flatten(1))
    mu, log_sd, h = a[0, :2], a[0, 2:4], a[0, 4:]

    def transform(eps):
        z = mu + torch.exp(log_sd) * eps
        for st in vae.iaf:
            z, _ = st(z[None], h[None])
            z = z[0]
        return z

    torch.manual_seed(3)
    z, log_q = vae.posterior(x, 1)
    torch.manual_seed(3)
    eps = torch.randn(1, 1, 2, dtype=torch.float64)[0, 0]
    assert torch.allclose(transform(eps), z[0, 0])
    J = torch.autograd.functional.jacobian(transform, eps)
    want = -0.5 * eps.pow(2).sum() - math.log(2 * math.pi) - torch.linalg.slogdet(J)[1]
    assert float(log_q) == pytest.approx(float(want), abs=1e-9)
