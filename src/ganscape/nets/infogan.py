"""InfoGAN's nets (Chen et al. 2016), as wrappers around any architecture's.

The generator's latent is split into incompressible noise and codes
(categorical, continuous uniform on [-1, 1], Bernoulli). Every code takes ONE
slot of the latent z, which stays a standard normal vector of
``model.z_dim`` coordinates: the last ``n_slots`` coordinates are mapped
through the normal CDF Phi onto the codes' priors,

    categorical with K values:  c = floor(K * Phi(z_j))  (uniform on 0..K-1)
    continuous:                 c = 2 * Phi(z_j) - 1      (uniform on [-1, 1])
    Bernoulli:                  c = [z_j > 0]             (p = 1/2)

and the wrapped architecture's generator sees the paper's input: the noise,
the categorical codes one-hot, the continuous and Bernoulli codes as values
(digits preset: 62 noise coordinates + 10 + 2 = 74 inputs, as the paper's
MNIST model). Why slots instead of feeding one-hot codes in z: every part of
ganscape samples a generator as G(randn(n, z_dim)) (the training loop's
fixed grid, `ganscape sample`, `eval`, the study), and so G(z) with any
standard normal z is a sample with the right code priors, with no
InfoGAN-specific sampling anywhere. Explicit codes (traversals, the metric)
go through ``decode(noise, cat, cont, bern)``.

Q (``QHead``) maps the discriminator's trunk features h (shared with D,
D(x, return_features=True)) to the parameters of the approximate posterior
Q(c | x): categorical logits, means and log standard deviations of a
factored Gaussian for the continuous codes, Bernoulli logits. Its hidden
layer (fc 128, batch norm, LeakyReLU 0.2) is the official code's encoder
(openai/InfoGAN, models/regularized_gan.py).

ClusterGAN's latent (Mukherjee et al. 2019), as two options: ``noise_std``
scales the noise as the wrapped generator sees it (sigma * noise; ClusterGAN
uses sigma = 0.1 so that the noise cannot carry what tells the clusters
apart), and ``noise_out`` > 0 gives Q a regression head for that scaled noise
(``QOutput.noise``), which the method trains with ClusterGAN's squared error.
The sampler interface is unchanged: z stays standard normal.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, NamedTuple, Optional, Tuple

import torch
from torch import nn

from ..registry import ConfigError
from .layers import Generator


@dataclass(frozen=True)
class CodeSpec:
    """The latent codes: category counts, number of continuous and of Bernoulli codes."""
    categorical: Tuple[int, ...] = (10,)
    continuous: int = 2
    bernoulli: int = 0

    def validate(self, where: str) -> None:
        for i, k in enumerate(self.categorical):
            if k < 2:
                raise ConfigError(f"{where}.categorical[{i}]: a categorical code needs at least 2 values, got {k}")
        for k in ("continuous", "bernoulli"):
            if getattr(self, k) < 0:
                raise ConfigError(f"{where}.{k}: must be >= 0, got {getattr(self, k)}")
        if self.n_slots == 0:
            raise ConfigError(f"{where}: InfoGAN needs at least one code (categorical, continuous or bernoulli)")

    @property
    def n_slots(self) -> int:
        """Latent coordinates the codes take (one per code)."""
        return len(self.categorical) + self.continuous + self.bernoulli

    @property
    def input_dim(self) -> int:
        """Width of the codes as the wrapped generator sees them (categoricals one-hot)."""
        return sum(self.categorical) + self.continuous + self.bernoulli


class Codes(NamedTuple):
    cat: torch.Tensor    # (N, n_categorical) int64, code i in 0..K_i - 1
    cont: torch.Tensor   # (N, n_continuous) float in [-1, 1]
    bern: torch.Tensor   # (N, n_bernoulli) float in {0, 1}


class InfoGANGenerator(Generator):
    """forward(z (N, z_dim) standard normal) -> x; codes(z) -> Codes;
    decode(noise (N, noise_dim), cat, cont, bern) -> x. See the module docstring."""

    def __init__(self, net: nn.Module, z_dim: int, codes: CodeSpec, noise_std: float = 1.0):
        super().__init__(z_dim, net.shape)
        self.code_spec, self.noise_std = codes, noise_std
        self.noise_dim = z_dim - codes.n_slots
        if self.noise_dim < 1:
            raise ConfigError(f"model.z_dim: InfoGAN's {codes.n_slots} codes take one latent coordinate each, "
                              f"so z_dim = {z_dim} leaves no incompressible noise; set z_dim > {codes.n_slots}")
        self.net = net  # built for noise_dim + codes.input_dim inputs

    def codes(self, z: torch.Tensor) -> Codes:
        """The codes carried by the last n_slots coordinates of z (N, z_dim)."""
        s = self.code_spec
        u = torch.special.ndtr(z[:, self.noise_dim:])  # uniform on (0, 1)
        nc = len(s.categorical)
        ks = torch.tensor(s.categorical, device=z.device, dtype=u.dtype)
        # clamp: Phi rounds to exactly 1.0 for z_j > ~8.3 in float32
        cat = torch.minimum((u[:, :nc] * ks).floor(), ks - 1).long()
        cont = 2.0 * u[:, nc:nc + s.continuous] - 1.0
        bern = (z[:, self.noise_dim + nc + s.continuous:] > 0).to(z.dtype)
        return Codes(cat, cont, bern)

    def noise(self, z: torch.Tensor) -> torch.Tensor:
        """The standard normal noise coordinates of z (N, noise_dim), before noise_std."""
        return z[:, :self.noise_dim]

    def decode(self, noise: torch.Tensor, cat: torch.Tensor, cont: torch.Tensor, bern: torch.Tensor) -> torch.Tensor:
        """x from explicit standard normal noise (N, noise_dim), scaled by noise_std here, and codes (see Codes)."""
        onehots = [nn.functional.one_hot(cat[:, i], k).to(noise.dtype)
                   for i, k in enumerate(self.code_spec.categorical)]
        return self.net(torch.cat([self.noise_std * noise, *onehots, cont.to(noise.dtype), bern.to(noise.dtype)], dim=1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"InfoGAN generator expects z (N, {self.z_dim}), got {tuple(z.shape)}")
        return self.decode(self.noise(z), *self.codes(z))


class QOutput(NamedTuple):
    cat_logits: List[torch.Tensor]   # one (N, K_i) per categorical code
    mean: torch.Tensor               # (N, n_continuous)
    log_std: torch.Tensor            # (N, n_continuous); zeros when the std is fixed at 1
    bern_logits: torch.Tensor        # (N, n_bernoulli)
    noise: Optional[torch.Tensor] = None  # (N, noise_out): Q's estimate of the scaled noise (ClusterGAN)


class QHead(nn.Module):
    """h (N, F) -> QOutput. hidden = 0: a single linear layer. noise_out: outputs
    for the noise estimate (ClusterGAN's encoder of z_n; 0 = none)."""

    def __init__(self, in_features: int, codes: CodeSpec, hidden: int = 128, learn_std: bool = True,
                 noise_out: int = 0):
        super().__init__()
        self.code_spec, self.learn_std, self.noise_out = codes, learn_std, noise_out
        out = sum(codes.categorical) + codes.continuous * (2 if learn_std else 1) + codes.bernoulli + noise_out
        layers: List[nn.Module] = []
        if hidden:
            layers += [nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2)]
            in_features = hidden
        self.net = nn.Sequential(*layers, nn.Linear(in_features, out))

    def forward(self, h: torch.Tensor) -> QOutput:
        s = self.code_spec
        out = self.net(h)
        cat = list(torch.split(out[:, :sum(s.categorical)], list(s.categorical), dim=1))
        i = sum(s.categorical)
        mean = out[:, i:i + s.continuous]
        i += s.continuous
        if self.learn_std:
            log_std = out[:, i:i + s.continuous]
            i += s.continuous
        else:  # the official MNIST setting: Uniform(1, fix_std=True), std 1
            log_std = torch.zeros_like(mean)
        i += s.bernoulli
        return QOutput(cat, mean, log_std, out[:, i - s.bernoulli:i], out[:, i:i + self.noise_out])


@torch.no_grad()
def traversal_grid(G: InfoGANGenerator, cat_index: int = 0, cont_index: int = 0, steps: int = 10,
                   seed: int = 0, device: Optional[torch.device] = None) -> Tuple[torch.Tensor, int]:
    """A code traversal: rows = the values of categorical code `cat_index`,
    columns = continuous code `cont_index` swept over [-1, 1] in `steps`
    steps; the noise and every other code are fixed (one draw from a private
    generator seeded with `seed`). Without categorical codes there is one
    row; without continuous codes the columns are `steps` noise draws.

    Returns (images (rows * steps, *G.shape), images per row = steps). G is
    run in eval mode (batch norm uses its running statistics) and restored.
    """
    device = device or next(G.parameters()).device
    s = G.code_spec
    if s.categorical and not 0 <= cat_index < len(s.categorical):
        raise ValueError(f"cat_index {cat_index} out of range: {len(s.categorical)} categorical codes")
    if s.continuous and not 0 <= cont_index < s.continuous:
        raise ValueError(f"cont_index {cont_index} out of range: {s.continuous} continuous codes")
    g = torch.Generator().manual_seed(seed)
    rows = s.categorical[cat_index] if s.categorical else 1
    z = torch.randn(1 if s.continuous else steps, G.z_dim, generator=g).repeat(rows * (steps if s.continuous else 1), 1)
    z = z.to(device)
    noise, (cat, cont, bern) = G.noise(z), G.codes(z)
    if s.categorical:
        cat[:, cat_index] = torch.arange(rows, device=device).repeat_interleave(steps)
    if s.continuous:
        cont[:, cont_index] = torch.linspace(-1.0, 1.0, steps, device=device).repeat(rows)
    was_training = G.training
    G.eval()
    try:
        x = G.decode(noise, cat, cont, bern)
    finally:
        G.train(was_training)
    return x, steps
