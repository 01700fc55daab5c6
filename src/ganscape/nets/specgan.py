"""SpecGAN (Donahue, McAuley & Puckette 2019, section 3.2 and Table 4): a DCGAN on spectrograms.

The data are SpecGAN's spectrograms (data kind "spectrogram", data/audio_files.py:
log-magnitude STFT, 128 bins x 128 frames, each bin normalized and clipped
into [-1, 1]); samples are turned back into sound by Griffin-Lim with the
training data's per-bin moments (data/audio_files.spectrogram_to_wave).

The nets are nets/dcgan.py's with kernel 5 and stride 2: the generator a dense
layer to (16d, 4, 4), ReLU, then transposed convolutions to 8d, 4d, 2d, d and
1 channel (128 x 128), ReLU between, tanh at the end; the discriminator strided
convolutions d, 2d, 4d, 8d, 16d with LeakyReLU(0.2), flattened into a linear
output. `d` is the paper's model size (64 there). With kernel 5 and
output_padding 1 every transposed convolution exactly doubles the side, as
TensorFlow's "SAME" padding does (nets/dcgan.py's docstring says how the
padding differs).

Deviations, named: batch norm is off in the paper's SpecGAN; here the nets take
what model.*.norm says (the preset: none). Weights start N(0, 0.02) (DCGAN's
init) rather than TensorFlow's Glorot uniform.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from torch import nn

from ..registry import ARCHITECTURES, ConfigError
from .dcgan import DCGANParams, dcgan
from .layers import NetSpec


@dataclass(frozen=True)
class SpecGANParams:
    d: int = 64   # model size: the channels of the highest-resolution hidden layer

    def validate(self, where: str) -> None:
        if self.d < 1:
            raise ConfigError(f"{where}.d: need >= 1, got {self.d}")


@ARCHITECTURES.register("specgan", params=SpecGANParams, kinds=("spectrogram",))
def specgan(params: SpecGANParams, spec: NetSpec) -> nn.Module:
    """SpecGAN: DCGAN (kernel 5, stride 2, widths d..16d) on 128 x 128 normalized log-magnitude spectrograms."""
    if spec.data_kind != "spectrogram":
        raise ConfigError(f"specgan needs spectrograms (data kind spectrogram: data.params.representation "
                          f"spectrogram), got {spec.data_kind}")
    net = dcgan(DCGANParams(width=params.d, max_width=16 * params.d, kernel=5),
                dataclasses.replace(spec, kind="image"))
    if spec.role == "generator":
        net.audio = "spectrogram"   # evaluation and `sample` invert its samples by Griffin-Lim
    return net
