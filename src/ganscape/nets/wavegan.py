"""WaveGAN (Donahue, McAuley & Puckette 2019, "Adversarial Audio Synthesis", section 3 and Table 3).

Generator: z -> dense -> (16d, 16) -> ReLU -> k transposed 1-D convolutions,
kernel 25, stride 4 (each multiplies the length by 4 and halves the channels:
16d, 8d, 4d, 2d, d, then 1), ReLU between, tanh at the end. k = 5 for the
paper's 16384 samples; any length 16 * 4^k (k >= 1) works.
Discriminator: the mirror image: k convolutions, kernel 25, stride 4, channels
d, 2d, 4d, 8d, 16d, LeakyReLU(0.2) after each, phase shuffle after every one
but the last, flattened (16 * 16d) into a linear output. `d` is the paper's
model size (64 there).

Phase shuffle (section 3.3): each layer's activations are shifted by a random
whole number of samples in [-n, n] (n = 2 in the paper), the samples shifted in
filled by reflection, so that D cannot use the periodic artifacts of the
transposed convolutions to tell real from fake.

Deviations, named:
- the shift is drawn per example; the official code (wavegan.py,
  ``phase_shuffle``) draws one shift per call, shared by the whole batch. Per
  example is what "each layer's activations" reads as and keeps a rank's slice
  of a distributed batch the same draw as one process's (ranks.per_example);
- padding: PyTorch's ConvTranspose1d with padding 11 and output_padding 1
  (Conv1d: padding 11) makes every layer exactly x4 (/4) as TensorFlow's "SAME"
  does; TF's SAME puts the odd extra sample after, not before: the same shapes,
  the sampling grid one sample apart;
- weights start N(0, 0.02) (DCGAN's init, nets/layers.dcgan_init) instead of
  TensorFlow's default Glorot uniform;
- batch norm is off in the paper's WaveGAN; here the generator takes whatever
  model.generator.norm says (the presets say none). Feature normalizations
  whose layer is not BatchNorm1d-like (one that normalizes the channel axis of
  (N, C, L)) are refused.
- the paper's post-processing filter (an optional learned 512-tap filter) is
  not implemented (the paper's SC09 results do not use it).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import ranks
from ..registry import ARCHITECTURES, ConfigError
from .layers import Discriminator, Generator, NetSpec, dcgan_init, output_layer

KERNEL = 25
STRIDE = 4
PAD = 11           # (25 - 4 + 1) / 2: each conv exactly divides the length by 4
BASE_LENGTH = 16   # the dense layer's output length


@dataclass(frozen=True)
class WaveGANParams:
    d: int = 64              # model size: the channels of the highest-resolution hidden layer
    phase_shuffle: int = 2   # n: shifts in [-n, n] after each discriminator layer but the last; 0: off

    def validate(self, where: str) -> None:
        if self.d < 1:
            raise ConfigError(f"{where}.d: need >= 1, got {self.d}")
        if not 0 <= self.phase_shuffle < 8:
            raise ConfigError(f"{where}.phase_shuffle: need 0 <= n < 8, got {self.phase_shuffle}")


def phase_shuffle(x: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """x (N, C, L) with example i shifted right by shifts[i] samples (negative: left):
    out[i, :, t] = x[i, :, t - shifts[i]], with reflection at both ends (x[-j] = x[j],
    x[L - 1 + j] = x[L - 1 - j])."""
    n = int(shifts.abs().max()) if len(shifts) else 0
    if n == 0:
        return x
    length = x.shape[-1]
    if n >= length:
        raise ValueError(f"phase shuffle of up to {n} samples needs more than {n} samples, got {length}")
    padded = F.pad(x, (n, n), mode="reflect")
    idx = torch.arange(length, device=x.device)[None, :] + n - shifts.to(x.device).long()[:, None]
    return padded.gather(2, idx[:, None, :].expand(-1, x.shape[1], -1))


class PhaseShuffle(nn.Module):
    """Random shifts in [-n, n] per example in training mode; the identity in eval mode."""

    def __init__(self, n: int):
        super().__init__()
        self.n = int(n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.n == 0:
            return x
        shifts = ranks.per_example(lambda m: torch.randint(-self.n, self.n + 1, (m,), device=x.device), len(x))
        return phase_shuffle(x, shifts)

    def extra_repr(self) -> str:
        return f"n={self.n}"


def _stages(spec: NetSpec) -> int:
    if spec.data_kind != "audio" or len(spec.shape) != 2:
        raise ConfigError(f"wavegan needs audio (1, T) (data kind audio), got {spec.data_kind} {tuple(spec.shape)}")
    length, k = spec.shape[1], 0
    while length > BASE_LENGTH and length % STRIDE == 0:
        length //= STRIDE
        k += 1
    if length != BASE_LENGTH or k < 1:
        raise ConfigError(f"wavegan needs clips of 16 * 4^k samples (64, 256, 1024, 4096, 16384, ...), "
                          f"got {spec.shape[1]}")
    return k


def _norm_1d(spec: NetSpec, channels: int) -> nn.Module:
    layer = spec.norm.feature(channels, spatial=False)
    if not isinstance(layer, (nn.Identity, nn.BatchNorm1d)):
        raise ConfigError(f"wavegan: normalization {type(layer).__name__} does not apply to (N, C, L) "
                          f"activations; choose none or batch")
    return layer


class WaveGANGenerator(Generator):
    audio = "wave"   # evaluation inverts nothing: samples are waveforms (metrics/audio.py)

    def __init__(self, p: WaveGANParams, spec: NetSpec):
        super().__init__(spec.z_dim, spec.shape)
        k = _stages(spec)
        widths = [p.d * 2 ** (k - 1 - i) for i in range(k)] + [spec.shape[0]]
        self.w0 = widths[0]
        self.stem = nn.Linear(spec.z_dim, BASE_LENGTH * widths[0])
        layers = [_norm_1d(spec, widths[0]), nn.ReLU()]
        for i in range(k):
            layers.append(nn.ConvTranspose1d(widths[i], widths[i + 1], KERNEL, STRIDE, PAD, output_padding=1))
            layers += [_norm_1d(spec, widths[i + 1]), nn.ReLU()] if i < k - 1 else [output_layer(spec)]
        self.blocks = nn.Sequential(*layers)
        dcgan_init(self)
        for m in self.modules():   # dcgan_init knows the 2-D layers only
            if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(z).view(-1, self.w0, BASE_LENGTH))


def _trunk(p: WaveGANParams, spec: NetSpec) -> tuple:
    k = _stages(spec)
    layers, c = [], spec.shape[0] * spec.pack
    for i in range(k):
        out = p.d * 2 ** i
        conv = nn.Conv1d(c, out, KERNEL, STRIDE, PAD)
        nn.init.normal_(conv.weight, 0.0, 0.02)
        nn.init.zeros_(conv.bias)
        layers.append(spec.norm.weight(conv))
        if i > 0:   # as DCGAN's D: no activation normalization on the first layer (none in the paper)
            layers.append(_norm_1d(spec, out))
        layers.append(nn.LeakyReLU(0.2))
        if i < k - 1 and p.phase_shuffle:
            layers.append(PhaseShuffle(p.phase_shuffle))
        c = out
    return nn.Sequential(*layers, nn.Flatten()), c * BASE_LENGTH


@ARCHITECTURES.register("wavegan", params=WaveGANParams, kinds=("audio",))
def wavegan(params: WaveGANParams, spec: NetSpec) -> nn.Module:
    """WaveGAN: 1-D transposed convs (kernel 25, stride 4); D with phase shuffle; audio clips of 16 * 4^k samples."""
    if spec.role == "generator":
        return WaveGANGenerator(params, spec)
    trunk, dim = _trunk(params, spec)
    return Discriminator(trunk, dim, spec)
