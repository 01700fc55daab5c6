"""Normalizations of hidden layers, one registry entry each.

A normalization is applied in two places a network builder asks for:
``norm.weight(layer)`` wraps a weight layer (spectral and weight normalization
reparameterize the weights) and ``norm.feature(channels, spatial)`` returns the
module that follows a hidden layer (batch and layer normalization normalize
activations). The identity is returned where a normalization does not act.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn
from torch.nn.utils import parametrizations

from ..registry import NORMALIZATIONS, ConfigError, NoParams


class Norm:
    """No normalization; the base of the others."""
    name = "none"

    def weight(self, layer: nn.Module) -> nn.Module:
        return layer

    def feature(self, channels: int, spatial: bool) -> nn.Module:
        return nn.Identity()


@NORMALIZATIONS.register("none", roles=("generator", "discriminator"))
def none(params: NoParams) -> Norm:
    """No normalization."""
    return Norm()


@dataclass(frozen=True)
class BatchParams:
    momentum: float = 0.1
    eps: float = 1e-5


class _Batch(Norm):
    name = "batch"

    def __init__(self, p: BatchParams):
        self.p = p

    def feature(self, channels: int, spatial: bool) -> nn.Module:
        cls = nn.BatchNorm2d if spatial else nn.BatchNorm1d
        return cls(channels, eps=self.p.eps, momentum=self.p.momentum)


@NORMALIZATIONS.register("batch", params=BatchParams, roles=("generator", "discriminator"))
def batch(params: BatchParams) -> Norm:
    """Batch normalization (Ioffe & Szegedy 2015) after each hidden layer."""
    return _Batch(params)


@dataclass(frozen=True)
class LayerParams:
    eps: float = 1e-5


class _Layer(Norm):
    name = "layer"

    def __init__(self, p: LayerParams):
        self.p = p

    def feature(self, channels: int, spatial: bool) -> nn.Module:
        # Layer norm over all of (C, H, W) per example, as in the landscape
        # study; GroupNorm with one group is exactly that, with per-channel affine.
        if spatial:
            return nn.GroupNorm(1, channels, eps=self.p.eps)
        return nn.LayerNorm(channels, eps=self.p.eps)


@NORMALIZATIONS.register("layer", params=LayerParams, roles=("discriminator",))
def layer(params: LayerParams) -> Norm:
    """Layer normalization (Ba et al. 2016) over (C, H, W) after each hidden layer."""
    return _Layer(params)


@dataclass(frozen=True)
class SpectralParams:
    power_iterations: int = 1

    def validate(self, where: str) -> None:
        if self.power_iterations < 1:
            raise ConfigError(f"{where}.power_iterations: must be >= 1")


class _Spectral(Norm):
    name = "spectral"

    def __init__(self, p: SpectralParams):
        self.p = p

    def weight(self, layer: nn.Module) -> nn.Module:
        return parametrizations.spectral_norm(layer, n_power_iterations=self.p.power_iterations)


@NORMALIZATIONS.register("spectral", params=SpectralParams, roles=("discriminator",))
def spectral(params: SpectralParams) -> Norm:
    """Spectral normalization (Miyato et al. 2018) of every weight layer, one power iteration per step."""
    return _Spectral(params)


class _Weight(Norm):
    name = "weight"

    def weight(self, layer: nn.Module) -> nn.Module:
        return parametrizations.weight_norm(layer)


@NORMALIZATIONS.register("weight", roles=("discriminator",))
def weight(params: NoParams) -> Norm:
    """Weight normalization (Salimans & Kingma 2016) of every weight layer."""
    return _Weight()
