"""A RealNVP normalizing flow (Dinh et al. 2017, "Density estimation using
Real NVP") with Glow's options (Kingma & Dhariwal 2018, "Glow: Generative
flow with invertible 1x1 convolutions"), for images (C, H, W).

Every layer maps x to y with `forward(x) -> (y, logdet)`, logdet the per
example log|det dy/dx| of shape (N,), and back with `inverse(y) -> x`. The
flow models R^D: inputs are taken in whatever scale they are given (no
dequantization, no logit transform, no output squashing).

Layout (mask="realnvp", RealNVP section 3.6), for each of `scales` levels but
the last: `steps` checkerboard couplings of alternating parity, a 2x2 squeeze
(space to depth), `steps` channel-wise couplings of alternating parity, then
half of the channels leave as latent (factor-out). The last level is `steps`
checkerboard couplings (RealNVP uses 3 / 3 / 4; one `steps` here).

Layout (mask="channel", Glow section 3): for each level a squeeze, `steps`
channel-wise couplings, and a factor-out except at the last level. Glow
alternates halves by a channel reversal or a 1x1 conv; without `invconv` the
couplings here alternate which half conditions (the same effect as reversal).

With `actnorm` / `invconv` every coupling is preceded by ActNorm and / or an
LU-parametrized invertible 1x1 convolution (Glow's step of flow), in both
layouts.

Deviations from the papers, on purpose:
- Coupling net: 3x3 conv in, `blocks` pre-activation residual blocks (ReLU,
  3x3 conv, ReLU, 3x3 conv), ReLU, a zero-initialized 3x3 conv out giving the
  shift t and the raw log-scale. No batch norm anywhere (RealNVP uses it in
  the coupling nets and as a flow layer): batch statistics make one example's
  density depend on the rest of the batch; ActNorm is Glow's replacement.
  Checkerboard couplings also see the mask itself as an extra input channel
  so that the conv knows which positions are the conditioning ones.
- Log-scale s = scale_factor * tanh(raw) with a learned per-channel
  scale_factor (RealNVP's code does this; Glow uses sigmoid(raw + 2)). The
  zero-initialized last layer makes every coupling the identity at start.
- All factored-out parts are standard normal (RealNVP); Glow's learned,
  conditional prior at each split is left out.
- Glow's ZeroConv output scaling exp(3 * logs) is left out (plain zero init).

Latent layout: z is one (N, C*H*W) tensor, the factored-out parts of levels
0, 1, ..., in order, each flattened (channel, row, column), then the last
level's output flattened.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import ranks
from ..likelihood.core import dequantize, discrete_log_prob_bound, quantize
from ..registry import ARCHITECTURES, ConfigError

MASKS = ("realnvp", "channel")


@dataclass(frozen=True)
class FlowParams:
    scales: int = 2          # multi-scale levels; sides must be divisible by 2**scales
    steps: int = 4           # couplings per group (per scale, per mask kind)
    hidden: int = 64         # channels of the coupling nets
    blocks: int = 2          # residual blocks in each coupling net
    actnorm: bool = False    # Glow's ActNorm before every coupling
    invconv: bool = False    # Glow's LU-parametrized 1x1 conv before every coupling
    mask: str = "realnvp"    # "realnvp" (checkerboard + channel) or "channel" (Glow)

    def validate(self, where: str) -> None:
        for key in ("scales", "steps", "hidden"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{where}.{key}: must be an integer >= 1, got {v!r}")
        if not isinstance(self.blocks, int) or isinstance(self.blocks, bool) or self.blocks < 0:
            raise ConfigError(f"{where}.blocks: must be an integer >= 0, got {self.blocks!r}")
        for key in ("actnorm", "invconv"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"{where}.{key}: must be true or false, got {getattr(self, key)!r}")
        if self.mask not in MASKS:
            raise ConfigError(f"{where}.mask: unknown mask {self.mask!r}; choices: {', '.join(MASKS)}")

    def validate_shape(self, shape: Sequence[int], where: str) -> None:
        """Shape (C, H, W): H and W divisible by 2**scales (one squeeze per level
        in Glow's layout; RealNVP's needs 2**(scales-1) squeezes and a side of
        at least 2 for the last checkerboard)."""
        if len(shape) != 3 or any(not isinstance(s, int) or s < 1 for s in shape):
            raise ConfigError(f"{where}: shape must be (C, H, W) of positive integers, got {tuple(shape)!r}")
        f = 2 ** self.scales
        if shape[1] % f or shape[2] % f:
            raise ConfigError(f"{where}.scales: image sides {shape[1]}x{shape[2]} must be divisible by "
                              f"2**scales = {f}; use fewer scales")


def checkerboard(h: int, w: int, parity: int, like: Tensor) -> Tensor:
    """(1, 1, H, W) mask, 1 where (row + column + parity) is even: the
    conditioning positions, left unchanged by the coupling."""
    i = torch.arange(h, device=like.device).view(h, 1)
    j = torch.arange(w, device=like.device).view(1, w)
    return ((i + j + parity) % 2 == 0).to(like.dtype).view(1, 1, h, w)


class _CouplingNet(nn.Module):
    """(N, in, H, W) -> (N, 2*out, H, W): shift and raw log-scale. The last
    conv is zero-initialized so the coupling starts as the identity."""

    def __init__(self, cin: int, cout: int, hidden: int, blocks: int):
        super().__init__()
        self.inp = nn.Conv2d(cin, hidden, 3, padding=1)
        self.res = nn.ModuleList(
            nn.Sequential(nn.ReLU(), nn.Conv2d(hidden, hidden, 3, padding=1),
                          nn.ReLU(), nn.Conv2d(hidden, hidden, 3, padding=1))
            for _ in range(blocks))
        self.out = nn.Conv2d(hidden, 2 * cout, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: Tensor) -> Tensor:
        h = self.inp(x)
        for block in self.res:
            h = h + block(h)
        return self.out(F.relu(h))


class AffineCoupling(nn.Module):
    """y = x * exp(s(x_cond)) + t(x_cond) on the transformed part, identity on
    the conditioning part (RealNVP eq. 7-9); logdet = sum of s over the
    transformed entries. s = scale_factor * tanh(raw), scale_factor learned
    per channel, bounds the log-scale for stability.

    mask="checkerboard": positions with (row + col + parity) even condition.
    mask="channel": channels [:C//2] condition when parity is 0, the other
    half when parity is 1 (C >= 2).
    """

    def __init__(self, channels: int, mask: str, parity: int, hidden: int, blocks: int):
        super().__init__()
        if mask not in ("checkerboard", "channel"):
            raise ConfigError(f"coupling mask: unknown {mask!r}; choices: checkerboard, channel")
        if mask == "channel" and channels < 2:
            raise ConfigError(f"coupling: a channel mask needs >= 2 channels, got {channels}")
        self.mask, self.parity, self.channels = mask, int(parity) % 2, channels
        if mask == "checkerboard":
            cin, cout = channels + 1, channels       # + the mask as an input channel
        else:
            half = channels // 2
            cin, cout = (half, channels - half) if self.parity == 0 else (channels - half, half)
        self.net = _CouplingNet(cin, cout, hidden, blocks)
        self.scale_factor = nn.Parameter(torch.ones(1, cout, 1, 1))

    def _split(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        half = self.channels // 2
        a, b = x[:, :half], x[:, half:]
        return (a, b) if self.parity == 0 else (b, a)          # (conditioning, transformed)

    def _join(self, cond: Tensor, trans: Tensor) -> Tensor:
        return torch.cat((cond, trans) if self.parity == 0 else (trans, cond), 1)

    def _st(self, cond_in: Tensor) -> Tuple[Tensor, Tensor]:
        t, raw = self.net(cond_in).chunk(2, 1)
        return self.scale_factor * torch.tanh(raw), t

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        if self.mask == "checkerboard":
            b = checkerboard(x.shape[2], x.shape[3], self.parity, x)
            s, t = self._st(torch.cat([x * b, b.expand(x.shape[0], 1, -1, -1)], 1))
            s, t = s * (1 - b), t * (1 - b)                     # zero at conditioning positions
            return x * torch.exp(s) + t, s.flatten(1).sum(1)
        cond, trans = self._split(x)
        s, t = self._st(cond)
        return self._join(cond, trans * torch.exp(s) + t), s.flatten(1).sum(1)

    def inverse(self, y: Tensor) -> Tensor:
        if self.mask == "checkerboard":
            b = checkerboard(y.shape[2], y.shape[3], self.parity, y)
            s, t = self._st(torch.cat([y * b, b.expand(y.shape[0], 1, -1, -1)], 1))
            s, t = s * (1 - b), t * (1 - b)
            return (y - t) * torch.exp(-s)
        cond, trans = self._split(y)
        s, t = self._st(cond)
        return self._join(cond, (trans - t) * torch.exp(-s))


class Squeeze(nn.Module):
    """Space to depth: (N, C, H, W) -> (N, 4C, H/2, W/2), channel c*4 + 2*di + dj
    holds x[c, 2i + di, 2j + dj] (RealNVP fig. 3). A permutation: logdet 0."""

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        n, c, h, w = x.shape
        y = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(n, 4 * c, h // 2, w // 2)
        return y, x.new_zeros(n)

    def inverse(self, y: Tensor) -> Tensor:
        n, c4, h, w = y.shape
        c = c4 // 4
        return y.reshape(n, c, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3).reshape(n, c, 2 * h, 2 * w)


class ActNorm(nn.Module):
    """y = (x + bias) * exp(log_scale) per channel (Glow section 3.1); logdet =
    H * W * sum(log_scale). On the first forward in training mode the
    parameters are set from the batch so that y has per-channel mean 0 and
    std 1. `initialized` is a buffer so the flag survives state_dict round trips."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))
        self.eps = eps

    @torch.no_grad()
    def _init(self, x: Tensor) -> None:
        mean = x.mean(dim=(0, 2, 3), keepdim=True)
        std = x.std(dim=(0, 2, 3), keepdim=True, unbiased=False)
        self.bias.copy_(-mean)
        self.log_scale.copy_(-torch.log(std + self.eps))
        self.initialized.fill_(True)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        if self.training and not bool(self.initialized):
            self._init(x)
        logdet = x.shape[2] * x.shape[3] * self.log_scale.sum()
        return (x + self.bias) * torch.exp(self.log_scale), logdet.expand(x.shape[0])

    def inverse(self, y: Tensor) -> Tensor:
        return y * torch.exp(-self.log_scale) - self.bias


class InvConv1x1(nn.Module):
    """Invertible 1x1 convolution, LU-parametrized (Glow section 3.2, eq. 10):
    W = P L (U + diag(sign_s * exp(log_s))), P a fixed permutation, L unit
    lower triangular, U strictly upper triangular, both learned, and log|s|
    learned; logdet = H * W * sum(log_s). Initialized from a random rotation."""

    def __init__(self, channels: int):
        super().__init__()
        w = torch.linalg.qr(torch.randn(channels, channels))[0]
        p, lower, upper = torch.linalg.lu(w)
        s = torch.diagonal(upper)
        self.register_buffer("perm", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.register_buffer("eye", torch.eye(channels))
        self.lower = nn.Parameter(torch.tril(lower, -1))   # entries on and above the diagonal unused
        self.upper = nn.Parameter(torch.triu(upper, 1))    # entries on and below the diagonal unused
        self.log_s = nn.Parameter(torch.log(s.abs()))

    def weight(self) -> Tensor:
        """The (C, C) matrix W; y[:, i] = sum_j W[i, j] x[:, j] at every pixel."""
        lower = self.lower * self.lower_mask + self.eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * torch.exp(self.log_s))
        return self.perm @ lower @ upper

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        w = self.weight()
        logdet = x.shape[2] * x.shape[3] * self.log_s.sum()
        return F.conv2d(x, w.view(*w.shape, 1, 1)), logdet.expand(x.shape[0])

    def inverse(self, y: Tensor) -> Tensor:
        w = torch.linalg.inv(self.weight())
        return F.conv2d(y, w.view(*w.shape, 1, 1))


class FlowSequence(nn.Module):
    """Layers applied in order; logdets add up; the inverse runs backwards."""

    def __init__(self, layers: List[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        logdet = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, ld = layer(x)
            logdet = logdet + ld
        return x, logdet

    def inverse(self, y: Tensor) -> Tensor:
        for layer in reversed(self.layers):
            y = layer.inverse(y)
        return y


class RealNVP(nn.Module):
    """The multi-scale flow x (N, C, H, W) <-> z (N, C*H*W), standard normal
    prior. See the module docstring for the layouts and deviations."""

    def __init__(self, params: FlowParams, shape: Tuple[int, int, int]):
        super().__init__()
        params.validate("flow")
        params.validate_shape(shape, "flow")
        self.params, self.shape = params, tuple(shape)
        self.dim = shape[0] * shape[1] * shape[2]
        c, h, w = shape
        levels, self.kept = [], []    # kept[i]: (C, H, W) left after level i's factor-out
        for i in range(params.scales):
            last = i == params.scales - 1
            layers: List[nn.Module] = []
            if params.mask == "realnvp":
                layers += self._steps(c, "checkerboard", params)
                if not last:
                    layers.append(Squeeze())
                    c, h, w = 4 * c, h // 2, w // 2
                    layers += self._steps(c, "channel", params)
            else:
                layers.append(Squeeze())
                c, h, w = 4 * c, h // 2, w // 2
                layers += self._steps(c, "channel", params)
            if not last:
                c = c // 2                # the other half leaves as latent
            levels.append(FlowSequence(layers))
            self.kept.append((c, h, w))
        self.levels = nn.ModuleList(levels)

    @staticmethod
    def _steps(c: int, mask: str, p: FlowParams) -> List[nn.Module]:
        out: List[nn.Module] = []
        for k in range(p.steps):
            if p.actnorm:
                out.append(ActNorm(c))
            if p.invconv:
                out.append(InvConv1x1(c))
            out.append(AffineCoupling(c, mask, k % 2, p.hidden, p.blocks))
        return out

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """x (N, C, H, W) -> z (N, C*H*W), logdet (N,) = log|det dz/dx|."""
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"flow: expected inputs (N, {', '.join(map(str, self.shape))}), got {tuple(x.shape)}")
        logdet = x.new_zeros(x.shape[0])
        zs = []
        for i, level in enumerate(self.levels):
            x, ld = level(x)
            logdet = logdet + ld
            if i < len(self.levels) - 1:
                keep = self.kept[i][0]
                zs.append(x[:, keep:].flatten(1))
                x = x[:, :keep]
        zs.append(x.flatten(1))
        return torch.cat(zs, 1), logdet

    def inverse(self, z: Tensor) -> Tensor:
        """z (N, C*H*W) -> x (N, C, H, W)."""
        if z.dim() != 2 or z.shape[1] != self.dim:
            raise ValueError(f"flow: expected latents (N, {self.dim}), got {tuple(z.shape)}")
        n, last = z.shape[0], len(self.levels) - 1
        sizes = [math.prod(k) for k in self.kept]   # each factored-out part has its level's kept shape
        parts = list(torch.split(z, sizes, 1))
        x = parts[last].reshape(n, *self.kept[last])
        for i in range(last, -1, -1):
            if i < last:
                x = torch.cat([x, parts[i].reshape(n, *self.kept[i])], 1)
            x = self.levels[i].inverse(x)
        return x

    def log_prob(self, x: Tensor) -> Tensor:
        """(N,) natural-log density of x under the flow: log N(z; 0, I) + logdet."""
        z, logdet = self(x)
        return -0.5 * (z * z).sum(1) - 0.5 * self.dim * math.log(2 * math.pi) + logdet

    def sample(self, n: int, temperature: float = 1.0, generator: Optional[torch.Generator] = None) -> Tensor:
        """(n, C, H, W) from z ~ N(0, temperature^2 I). Not under no_grad, so a
        loss on samples (e.g. an adversarial one) reaches the parameters."""
        p = next(self.parameters())
        z = torch.randn(n, self.dim, generator=generator, device=p.device, dtype=p.dtype)
        return self.inverse(z * temperature)


class FlowGenerator(nn.Module):
    """A flow as a generator (the `realnvp` architecture): forward(z) maps
    standard normal latents (N, C*H*W) through the inverse flow, at
    `temperature` (z scaled by it), and onto the data's level grid
    (likelihood.core.quantize, after clamping to [-1, 1]); `continuous(z)` is
    the same without clamping and quantizing (what flow-GAN's discriminator
    sees). The flow models dequantized data directly on [-1, 1] (no logit
    pre-transform: the few pixels a density puts outside cost nothing here)."""

    likelihood = "dequantized bound"

    def __init__(self, flow: RealNVP, levels: int, temperature: float = 1.0):
        super().__init__()
        self.flow, self.levels, self.temperature = flow, levels, temperature
        self.z_dim, self.shape = flow.dim, flow.shape

    def sample_z(self, n: int, generator: Optional[torch.Generator] = None, device=None) -> Tensor:
        device = device or next(self.parameters()).device
        return ranks.per_example(lambda m: torch.randn(m, self.z_dim, generator=generator), n).to(device)

    def continuous(self, z: Tensor) -> Tensor:
        return self.flow.inverse(z * self.temperature)

    def forward(self, z: Tensor) -> Tensor:
        x = self.continuous(z).clamp(-1, 1)
        return quantize(x, self.levels) if self.levels else x

    def log_density(self, y: Tensor) -> Tensor:
        """log p(y) (N,) of continuous (dequantized) images."""
        return self.flow.log_prob(y)

    def log_prob_discrete(self, x: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        """The uniform-dequantization bound on log P(v) (N,) for grid images x,
        with one draw of the dequantization noise (likelihood.core)."""
        y = dequantize(x, self.levels, generator)
        return discrete_log_prob_bound(self.flow.log_prob(y), self.z_dim, self.levels)


@ARCHITECTURES.register("realnvp", params=FlowParams, kinds=("image",), likelihood_model=("likelihood", "flowgan"))
def realnvp(params: FlowParams, spec) -> nn.Module:
    """RealNVP normalizing flow (Dinh et al. 2017) with Glow's actnorm / 1x1 convs: a generator with exact likelihood."""
    if spec.role != "generator":
        raise ConfigError("realnvp is a generator (a flow); choose an image discriminator for model.discriminator")
    params.validate_shape(tuple(spec.shape), "model.generator.arch.params")
    return FlowGenerator(RealNVP(params, tuple(spec.shape)), spec.levels)
