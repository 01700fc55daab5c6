"""Gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation
with PixelCNN Decoders"): an exact autoregressive likelihood model of images
whose pixels take K discrete levels.

The image is factorized in raster order, and within a pixel over its
channels as sub-pixels R, G, B (PixelCNN, van den Oord et al. 2016a):

    p(x) = prod_{i,j} prod_c p(x[c,i,j] | pixels before (i,j), x[<c,i,j]).

Inputs are floats in [-1, 1]; level v of K maps to 2 v / (K - 1) - 1.

Architecture (paper Fig. 2), without the blind spot of masked 3x3 stacks:

- vertical stack: convolutions of kernel (n//2 + 1) x n over the rows at or
  above the current one (top padding only). Its features at row r depend on
  rows <= r, so it is fed to the horizontal stack shifted down by one row
  (row r receives row r-1) through a 1x1 convolution;
- horizontal stack: convolutions of kernel 1 x (n//2 + 1) over the current
  row at or left of the current column, plus the shifted vertical features,
  a 1x1 convolution and a residual connection;
- gated activations tanh(a) * sigmoid(b) in both stacks;
- the first layer (kernel `kernel`) uses mask A at the current pixel, later
  layers (kernel `gated_kernel`) mask B;
- head: ReLU, 1x1 to `head_hidden`, ReLU, 1x1 to the output parameters;
- `dropout` (PixelCNN++'s regularizer, Salimans et al. 2017, who use 0.5 on
  CIFAR-10): in training, each gated activation of both stacks is dropped
  with that probability before it feeds the next convolution. An element-wise
  mask on hidden features cannot carry information from later pixels, so the
  causal order is unchanged; in eval mode (likelihoods, sampling) it is off.

Channel (sub-pixel) order: every hidden feature map belongs to one colour
group (contiguous, balanced: feature k of n is in group k * C // n). Every
connection at the current pixel (the horizontal convolution's last tap, the
1x1 convolutions of the horizontal stack and of the head) is masked so that
group g sees input channel c < g (mask A, first layer) or hidden group <= g
(mask B), exactly as PixelCNN's masks split by channel. Connections to
earlier pixels (left taps, the shifted vertical stack) are not masked. For
C = 1 mask A removes the current pixel and mask B is no mask.

Receptive field: it grows by gated_kernel // 2 per layer up and to both
sides; pixel (i, j) sees every earlier pixel when
kernel // 2 + (layers - 1) * (gated_kernel // 2) >= max(H, W) - 1
(defaults: 2 + 7 = 9, enough for 8x8 digits).

Outputs, per sub-pixel:
- "categorical": a K-way softmax (PixelCNN);
- "logistic": a discretized mixture of `mixtures` logistics (Salimans et al.
  2017, PixelCNN++) over K bins on [-1, 1], bin edges halfway between levels,
  outer bins extended to -inf / +inf.

Deviations from the papers:
- for C > 1 the logistic output is one independent mixture per channel, its
  dependence on earlier channels carried by the channel masks, instead of
  PixelCNN++'s mixture indicator shared across channels with means linear in
  earlier channels (this works for any C and keeps the sub-pixel order of
  the categorical output);
- no conditioning vector h, and no skip connections summed from every layer
  (the head reads the last horizontal stack, as in the paper's Fig. 2);
- dropout sits on the gated output of each layer (both stacks), where
  PixelCNN++ drops the hidden activation inside each gated residual block,
  between its two convolutions (this net's layers have one convolution
  before the gate);
- log_s is clamped at -7 as in PixelCNN++'s code; the bin mass is computed
  as sigma(a) sigma(-b) (1 - e^{-(a-b)}), exact in every tail and for bins
  much narrower than the scale, so PixelCNN++'s pdf fallback is not needed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import ranks
from ..likelihood.core import from_levels, to_levels
from ..registry import ARCHITECTURES, ConfigError
from .layers import draw_categorical

OUTPUTS = ("categorical", "logistic")
LOG_S_MIN = -7.0   # PixelCNN++'s clamp: a logistic narrower than ~1/1000 of [-1, 1] buys nothing


@dataclass(frozen=True)
class PixelCNNParams:
    hidden: int = 64                # channels of each stack
    layers: int = 8                 # gated layers, the first one (mask A) included
    kernel: int = 5                 # n of the first layer (vertical n//2+1 x n, horizontal 1 x n//2+1)
    gated_kernel: int = 3           # n of the later gated layers
    output: str = "categorical"     # "categorical" | "logistic"
    mixtures: int = 5               # logistics per sub-pixel (output "logistic")
    head_hidden: int = 256          # channels of the 1x1 output layers
    dropout: float = 0.0            # training only: drop probability of each gated activation (PixelCNN++)

    def validate(self, where: str) -> None:
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or \
                not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"{where}.dropout: must be a number in [0, 1), got {self.dropout!r}")
        for name in ("hidden", "layers", "mixtures", "head_hidden"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{where}.{name}: must be an integer >= 1, got {v!r}")
        for name in ("kernel", "gated_kernel"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 3 or v % 2 == 0:
                raise ConfigError(f"{where}.{name}: must be an odd integer >= 3, got {v!r}")
        if self.output not in OUTPUTS:
            raise ConfigError(f"{where}.output: must be one of {', '.join(OUTPUTS)}, got {self.output!r}")


def _log1mexp(d: Tensor) -> Tensor:
    """log(1 - exp(-d)) for d > 0, accurate for small and large d (Maechler 2012)."""
    return torch.where(d < math.log(2.0), torch.log(-torch.expm1(-d)), torch.log1p(-torch.exp(-d)))


def discretized_logistic_mixture_log_prob(x: Tensor, logit_pi: Tensor, mu: Tensor, log_s: Tensor,
                                          levels: int) -> Tensor:
    """log P(x) in nats under a mixture of logistics discretized to `levels` bins.

    x: (...) values in [-1, 1] on the level grid (rounded to the nearest
    level). logit_pi, mu, log_s: (..., M) unnormalized mixture log-weights,
    means and log-scales (log_s clamped at -7). Returns (...).

    Level v (value x_v, half bin width d = 1 / (levels - 1)) gets
    sigma((x_v + d - mu) / s) - sigma((x_v - d - mu) / s), the first level
    sigma((x_0 + d - mu) / s) and the last 1 - sigma((x_K-1 - d - mu) / s), so
    the K masses sum to 1. The difference sigma(a) - sigma(b) is evaluated as
    log sigma(a) + log sigma(-b) + log(1 - e^{-(a-b)}) with a - b = 2 d / s
    formed directly: no cancellation far in either tail or for tiny bins.
    """
    if levels < 2:
        raise ValueError(f"levels must be >= 2, got {levels}")
    half = 1.0 / (levels - 1)
    v = to_levels(x, levels).unsqueeze(-1)
    xq = from_levels(v, levels, mu.dtype)
    inv_s = torch.exp(-log_s.clamp(min=LOG_S_MIN))
    plus = (xq + half - mu) * inv_s
    minus = (xq - half - mu) * inv_s
    upper = F.logsigmoid(plus)       # log sigma(a): all the mass below the upper edge
    above = F.logsigmoid(-minus)     # log (1 - sigma(b)): all the mass above the lower edge
    inner = upper + above + _log1mexp((2.0 * half) * inv_s)
    lp = torch.where(v == 0, upper, torch.where(v == levels - 1, above, inner))
    return torch.logsumexp(F.log_softmax(logit_pi, -1) + lp, -1)


def _groups(n: int, channels: int) -> Tensor:
    """Colour group of each of n feature maps: contiguous, balanced blocks."""
    return torch.arange(n) * channels // n


def _gate(a: Tensor) -> Tensor:
    t, s = a.chunk(2, 1)
    return torch.tanh(t) * torch.sigmoid(s)


class _MaskedConv(nn.Conv2d):
    """A 1 x kw convolution (applied to left-padded input) whose last tap, the
    current pixel, connects output group g only to input groups < g (mask A)
    or <= g (mask B). The mask is rebuilt from the shapes, so it is not saved."""

    def __init__(self, cin: int, cout: int, kw: int, in_groups: Tensor, out_groups: Tensor, inclusive: bool):
        super().__init__(cin, cout, (1, kw))
        allowed = in_groups[None, :] <= out_groups[:, None] if inclusive else in_groups[None, :] < out_groups[:, None]
        mask = torch.ones(cout, cin, 1, kw)
        mask[:, :, 0, -1] = allowed.float()
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias)


class _GatedLayer(nn.Module):
    def __init__(self, cin: int, hidden: int, k: int, in_groups: Tensor, groups: Tensor, first: bool,
                 dropout: float = 0.0):
        super().__init__()
        self.n, self.first = k // 2, first
        self.drop = nn.Dropout(dropout)
        self.v_conv = nn.Conv2d(cin, 2 * hidden, (self.n + 1, k))
        self.v_to_h = nn.Conv2d(2 * hidden, 2 * hidden, 1)
        self.h_conv = _MaskedConv(cin, 2 * hidden, self.n + 1, in_groups, groups.repeat(2), inclusive=not first)
        self.h_out = _MaskedConv(hidden, hidden, 1, groups, groups, inclusive=True)

    def vertical(self, v: Tensor) -> Tuple[Tensor, Tensor]:
        """v: (N, Cin, R, W) -> (next v (N, hidden, R, W), link (N, 2 hidden, R, W));
        link row r depends on input rows < r only."""
        n = self.n
        a = self.v_conv(F.pad(v, (n, n, n, 0)))            # rows r-n..r, columns c-n..c+n
        link = self.v_to_h(F.pad(a, (0, 0, 1, 0))[:, :, :-1])   # shift down one row
        return self.drop(_gate(a)), link

    def horizontal(self, h: Tensor, link: Tensor) -> Tensor:
        """h: (N, Cin, R, W), link as from `vertical` -> (N, hidden, R, W);
        rows are independent and column c depends on columns <= c only."""
        out = self.h_out(self.drop(_gate(self.h_conv(F.pad(h, (self.n, 0, 0, 0))) + link)))
        return out if self.first else out + h

    # One-row / one-column versions for sampling: the same convolutions on the
    # smallest window that determines one output, zero-padded as above.
    def vertical_row(self, rows: Tensor) -> Tuple[Tensor, Tensor]:
        """rows: (N, Cin, <= n+1, W), input rows r-n..r (fewer at the top) ->
        (next v at row r (N, hidden, 1, W), link for row r+1 (N, 2 hidden, 1, W))."""
        n = self.n
        a = self.v_conv(F.pad(rows, (n, n, n + 1 - rows.shape[2], 0)))
        return self.drop(_gate(a)), self.v_to_h(a)

    def horizontal_col(self, cols: Tensor, link: Tensor) -> Tensor:
        """cols: (N, Cin, 1, <= n+1), input columns c-n..c of one row; link:
        (N, 2 hidden, 1, 1) at column c -> output at column c (N, hidden, 1, 1)."""
        out = self.h_out(self.drop(_gate(self.h_conv(F.pad(cols, (self.n + 1 - cols.shape[3], 0, 0, 0))) + link)))
        return out if self.first else out + cols[..., -1:]


class GatedPixelCNN(nn.Module):
    """Gated PixelCNN over (C, H, W) images with `levels` levels per sub-pixel.

    `logits(x)` (also `forward`): x (N, C, H, W) in [-1, 1] -> (N, C, P, H, W)
    raw parameters of each sub-pixel's distribution: P = levels logits
    ("categorical") or P = 3 M, [logit_pi | mu | log_s] ("logistic").
    `log_prob(x)` -> (N,) exact log-likelihood in nats (x rounded to levels).
    `sample(n, temperature, generator, return_log_prob=False)` -> (n, C, H, W) on
    the level grid (and (n,) log p under the untempered model).
    """

    def __init__(self, params: PixelCNNParams, shape: Tuple[int, int, int], levels: int):
        super().__init__()
        params.validate("pixelcnn")
        if len(shape) != 3 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
            raise ConfigError(f"pixelcnn: shape must be (C, H, W) of positive integers, got {shape!r}")
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 2:
            raise ConfigError(f"pixelcnn: levels must be an integer >= 2, got {levels!r}")
        C = shape[0]
        if params.hidden < C or params.head_hidden < C:
            raise ConfigError(f"pixelcnn.hidden, head_hidden: must be >= the {C} channels (one feature group "
                              f"per channel), got {params.hidden}, {params.head_hidden}")
        self.params, self.shape, self.levels = params, tuple(shape), levels
        self.per = levels if params.output == "categorical" else 3 * params.mixtures
        gh = _groups(params.hidden, C)
        self.layers = nn.ModuleList(
            _GatedLayer(C if l == 0 else params.hidden, params.hidden,
                        params.kernel if l == 0 else params.gated_kernel,
                        torch.arange(C) if l == 0 else gh, gh, first=l == 0, dropout=float(params.dropout))
            for l in range(params.layers))
        gm = _groups(params.head_hidden, C)
        self.head1 = _MaskedConv(params.hidden, params.head_hidden, 1, gh, gm, inclusive=True)
        self.head2 = _MaskedConv(params.head_hidden, C * self.per, 1, gm,
                                 torch.arange(C).repeat_interleave(self.per), inclusive=True)

    def _vertical(self, x: Tensor) -> List[Tensor]:
        links, v = [], x
        for layer in self.layers:
            v, link = layer.vertical(v)
            links.append(link)
        return links

    def _horizontal(self, x: Tensor, links: List[Tensor]) -> Tensor:
        h = x
        for layer, link in zip(self.layers, links):
            h = layer.horizontal(h, link)
        return self._head(h)

    def _head(self, h: Tensor) -> Tensor:
        out = self.head2(F.relu(self.head1(F.relu(h))))
        return out.view(out.shape[0], self.shape[0], self.per, *out.shape[2:])

    def _check(self, x: Tensor) -> None:
        if x.dim() != 4 or tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"pixelcnn: expected input (N, {', '.join(map(str, self.shape))}), got {tuple(x.shape)}")

    def logits(self, x: Tensor) -> Tensor:
        self._check(x)
        return self._horizontal(x, self._vertical(x))

    forward = logits

    def _split(self, out: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """(..., 3M, ...) at dim `-1` -> logit_pi, mu, log_s each (..., M)."""
        m = self.params.mixtures
        return out[..., :m], out[..., m:2 * m], out[..., 2 * m:]

    def log_prob(self, x: Tensor) -> Tensor:
        """x: (N, C, H, W) in [-1, 1] -> (N,) log p(x) in nats, the sum over sub-pixels.
        x is rounded to the level grid before it enters the net, so the value
        scored is the value conditioned on."""
        self._check(x)
        v = to_levels(x, self.levels)
        xq = from_levels(v, self.levels, x.dtype if x.is_floating_point() else torch.float32)
        out = self.logits(xq)
        if self.params.output == "categorical":
            lp = F.log_softmax(out, 2).gather(2, v.unsqueeze(2)).squeeze(2)
        else:
            lp = discretized_logistic_mixture_log_prob(xq, *self._split(out.movedim(2, -1)), self.levels)
        return lp.flatten(1).sum(1)

    def _level_log_probs(self, out: Tensor) -> Tensor:
        """One sub-pixel's raw output (N, P) -> (N, levels) log-probabilities."""
        if self.params.output == "categorical":
            return F.log_softmax(out, -1)
        grid = from_levels(torch.arange(self.levels, device=out.device), self.levels, out.dtype)
        pi, mu, log_s = (t.unsqueeze(1) for t in self._split(out))        # (N, 1, M)
        return discretized_logistic_mixture_log_prob(grid.expand(out.shape[0], -1), pi, mu, log_s, self.levels)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: Optional[torch.Generator] = None,
               return_log_prob: bool = False, uniforms: Optional[Tensor] = None):
        """n images (n, C, H, W) on the level grid in [-1, 1], drawn sub-pixel by
        sub-pixel. Each sub-pixel's K level probabilities are raised to 1 /
        temperature and renormalized (temperature 1: the model itself). With
        return_log_prob, also (n,) log p(x) under the untempered model.

        Cached (Ramachandran et al. 2017, "Fast Generation for Convolutional
        Autoregressive Models", in spirit): every layer's vertical input for
        the finished rows and its links for the current row, computed once
        per row on one output row; every layer's horizontal input for the
        finished columns of the current row. Per sub-pixel only one column
        of the horizontal stack and the head runs, so drawing an image costs
        about one full forward pass instead of H W C of them.

        Each level is drawn by inverting the cumulative probabilities at a
        uniform: from `generator`, or from `uniforms` (n, H W C) in raster
        order (row, column, channel) when given, which makes the sample a
        deterministic function of them (the method's generator interface
        feeds Phi(z) of a standard normal latent)."""
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        C, H, W = self.shape
        if uniforms is not None and tuple(uniforms.shape) != (n, C * H * W):
            raise ValueError(f"uniforms must be ({n}, {C * H * W}), got {tuple(uniforms.shape)}")
        p = next(self.parameters())
        x = torch.zeros(n, C, H, W, device=p.device, dtype=p.dtype)
        total = torch.zeros(n, device=p.device, dtype=p.dtype)
        hidden, layers = self.params.hidden, self.layers
        v_in = [x] + [x.new_zeros(n, hidden, H, W) for _ in layers[1:]]      # vertical inputs, rows < i valid
        h_in = [None] + [x.new_zeros(n, hidden, 1, W) for _ in layers[1:]]   # horizontal inputs, row i
        links = [l.v_to_h(x.new_zeros(n, 2 * hidden, 1, W)) for l in layers]  # row 0: nothing above
        for i in range(H):
            if i > 0:   # row i-1 is finished: advance the vertical stack by that one row
                for l, layer in enumerate(layers):
                    g, links[l] = layer.vertical_row(v_in[l][:, :, max(0, i - 1 - layer.n):i])
                    if l + 1 < len(layers):
                        v_in[l + 1][:, :, i - 1:i] = g
            h_in[0] = x[:, :, i:i + 1]   # a view: sees each sub-pixel as it is drawn
            for j in range(W):
                for c in range(C):
                    for l, layer in enumerate(layers):
                        h = layer.horizontal_col(h_in[l][..., max(0, j - layer.n):j + 1], links[l][..., j:j + 1])
                        if l + 1 < len(layers):
                            h_in[l + 1][..., j:j + 1] = h
                    lp = self._level_log_probs(self._head(h)[:, c, :, 0, 0])
                    k = (i * W + j) * C + c
                    v = draw_categorical(lp / temperature, generator, None if uniforms is None else uniforms[:, k])
                    total += lp.gather(1, v).squeeze(1)
                    x[:, c, i, j] = from_levels(v.squeeze(1), self.levels, x.dtype)
        return (x, total) if return_log_prob else x


class PixelCNNGenerator(nn.Module):
    """PixelCNN as a generator (the `pixelcnn` architecture). Its randomness
    is its latent: z ~ N(0, I) of one dimension per sub-pixel, turned into the
    uniforms Phi(z) at which each sub-pixel's level is drawn by inverse CDF
    (in raster order), so forward(z) is a deterministic, exact sample of the
    model and seeded sampling and evaluation work as for any generator."""

    likelihood = "exact"

    def __init__(self, net: GatedPixelCNN, temperature: float = 1.0):
        super().__init__()
        self.net, self.temperature = net, temperature
        self.shape = tuple(net.shape)
        self.z_dim = math.prod(self.shape)

    def sample_z(self, n: int, generator: Optional[torch.Generator] = None, device=None) -> Tensor:
        device = device or next(self.parameters()).device
        return ranks.per_example(lambda m: torch.randn(m, self.z_dim, generator=generator), n).to(device)

    def forward(self, z: Tensor) -> Tensor:
        # Phi(z) in (0, 1); clamped away from 1 so the inverse CDF never runs off the last level
        u = torch.special.ndtr(z.double()).clamp(0.0, 1.0 - 1e-12)
        return self.net.sample(len(z), self.temperature, uniforms=u)

    def log_prob_discrete(self, x: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
        """Exact log P(v) (N,) of grid images x."""
        return self.net.log_prob(x)


@ARCHITECTURES.register("pixelcnn", params=PixelCNNParams, kinds=("image",), likelihood_model=("likelihood",))
def pixelcnn(params: PixelCNNParams, spec) -> nn.Module:
    """Gated PixelCNN (van den Oord et al. 2016): an autoregressive generator with exact likelihood, sampled pixel by pixel."""
    if spec.role != "generator":
        raise ConfigError("pixelcnn is a generator (an autoregressive model); choose an image discriminator "
                          "for model.discriminator")
    if spec.levels < 2:
        raise ConfigError("pixelcnn models images on a grid of discrete levels (the 8x8 digits: 17, "
                          "binary-digits: 2); this data set declares none")
    return PixelCNNGenerator(GatedPixelCNN(params, tuple(spec.shape), spec.levels))
