"""NetGAN's nets (Bojchevski et al. 2018, Section 3.1; the authors' code, netgan/netgan.py): an LSTM
generator of random walks and an LSTM discriminator of them. Architecture `netgan`, data kind tokens
(node ids, vocab_size = the number of nodes N).

Generator: latent z ~ N(0, I) (model.z_dim; NetGAN's 16) -> m = tanh(W_z z + b) -> the LSTM's initial
state h0 = tanh(W_h m + b), c0 = tanh(W_c m + b) (the code's shared hidden layer, its default; the
paper's g_theta'). The first input is zeros; at every step the LSTM output o_t is blown up to node
logits p_t = W_up o_t + b_up (N), a node is drawn, and its one-hot v_t is projected back down,
x_{t+1} = W_down^T v_t (W_down: N x 128, no bias), as the next input. For training the draw is
straight-through Gumbel-softmax at temperature tau (the code's hard=True: the forward pass is the
one-hot argmax of (p_t + Gumbel) / tau, the gradient that of the softmax), or the softmax itself
(relaxation "softmax", NetGAN's use_gumbel False). The discrete sample is the argmax of p_t + Gumbel
noise, i.e. a draw from softmax(p_t) whatever tau: here drawn by inverse CDF (nets.layers
.draw_categorical) so that `sample(..., generator=)` is reproducible.

Discriminator: one-hots (N, L, V) (or node ids) -> W_down (V x 128, no bias) -> LSTM -> the last
output -> a linear score. Its input may be relaxed one-hots, so WGAN-GP's interpolates reach it.

Deviations: torch's LSTM and Linear initializations (the code uses TensorFlow's Glorot-uniform
kernels and BasicLSTMCell's forget-gate bias of 1); W_down and W_up are Glorot-uniform as the code's
Xavier initializer, b_up zeros. One LSTM layer per net (the code allows a stack; its default is one).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..registry import ARCHITECTURES, ConfigError
from .layers import NetSpec, draw_categorical


@dataclass(frozen=True)
class NetGANParams:
    hidden: int = 40          # LSTM units: NetGAN's generator 40, discriminator 30
    down: int = 128           # W_down's width (both nets: 128)

    def validate(self, where: str) -> None:
        for k in ("hidden", "down"):
            if getattr(self, k) < 1:
                raise ConfigError(f"{where}.{k}: must be >= 1, got {getattr(self, k)}")


def _one_hot(x: Tensor, n: int) -> Tensor:
    """Node ids (B, L) -> float one-hots (B, L, n); floats pass (checked for n classes)."""
    if x.is_floating_point():
        if x.shape[-1] != n:
            raise ValueError(f"netgan: one-hot walks must have {n} nodes in the last axis, got {tuple(x.shape)}")
        return x
    return F.one_hot(x, n).to(torch.float32)


class NetGANGenerator(nn.Module):
    temperature = 1.0     # generate_tokens passes it to sample(); a discrete draw does not depend on it

    def __init__(self, p: NetGANParams, spec: NetSpec):
        super().__init__()
        if spec.vocab_size < 2:
            raise ConfigError("netgan generator: the data set gives no nodes (graph data needed: data: graph)")
        self.vocab_size, self.length, self.z_dim = spec.vocab_size, spec.shape[0], spec.z_dim
        self.hidden = p.hidden
        self.z_to_m = nn.Linear(self.z_dim, p.hidden)
        self.m_to_h = nn.Linear(p.hidden, p.hidden)
        self.m_to_c = nn.Linear(p.hidden, p.hidden)
        self.cell = nn.LSTMCell(p.down, p.hidden)
        self.W_up = nn.Linear(p.hidden, self.vocab_size)
        self.W_down = nn.Parameter(torch.empty(self.vocab_size, p.down))
        nn.init.xavier_uniform_(self.W_up.weight)
        nn.init.zeros_(self.W_up.bias)
        nn.init.xavier_uniform_(self.W_down)

    @property
    def device(self) -> torch.device:
        return self.W_down.device

    def sample_z(self, n: int, generator: Optional[torch.Generator] = None, device=None) -> Tensor:
        """N(0, I) latents (n, z_dim); drawn where `generator` lives (a CPU generator: the same draws on any
        device), then moved to the nets' device."""
        where = generator.device if generator is not None else (device or self.device)
        return torch.randn(n, self.z_dim, generator=generator, device=where).to(device or self.device)

    def _start(self, z: Tensor):
        m = torch.tanh(self.z_to_m(z))
        state = (torch.tanh(self.m_to_h(m)), torch.tanh(self.m_to_c(m)))
        return torch.zeros(len(z), self.W_down.shape[1], device=z.device, dtype=z.dtype), state

    def _walk(self, z: Tensor, draw) -> Tensor:
        """Run L steps; draw(logits (B, N)) -> the one-hot-like (B, N) fed back. Returns (B, L, N)."""
        inp, state = self._start(z)
        outs = []
        for _ in range(self.length):
            h, c = self.cell(inp, state)
            state = (h, c)
            v = draw(self.W_up(h))
            outs.append(v)
            inp = v @ self.W_down
        return torch.stack(outs, 1)

    def relaxed(self, z: Tensor, tau: float, hard: bool = True, relaxation: str = "gumbel") -> Tensor:
        """(B, L, N) walks as straight-through Gumbel one-hots at temperature tau (hard), soft Gumbel
        samples (not hard) or the softmax (relaxation "softmax"), differentiable in G's parameters."""
        if relaxation == "softmax":
            return self._walk(z, lambda lg: torch.softmax(lg, -1))
        return self._walk(z, lambda lg: F.gumbel_softmax(lg, tau=tau, hard=hard, dim=-1))

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, generator: Optional[torch.Generator] = None) -> Tensor:
        """n walks (n, L) of node ids: the argmax of the Gumbel-perturbed logits, i.e. a draw from
        softmax(p_t) at every step (temperature plays no part in it), reproducible with `generator`."""
        z = self.sample_z(n, generator)
        ids = []

        def draw(lg):
            tok = draw_categorical(lg, generator)            # (B, 1)
            ids.append(tok)
            return F.one_hot(tok.squeeze(1), self.vocab_size).to(lg.dtype)

        self._walk(z, draw)
        return torch.cat(ids, 1) if ids else torch.zeros(n, 0, dtype=torch.long, device=self.device)

    def forward(self, z: Tensor) -> Tensor:
        """len(z) walks (B, L) of node ids from the latents z."""
        with torch.no_grad():
            return self._walk(z, lambda lg: F.one_hot(draw_categorical(lg, None).squeeze(1),
                                                      self.vocab_size).to(lg.dtype)).argmax(-1)


class NetGANDiscriminator(nn.Module):
    def __init__(self, p: NetGANParams, spec: NetSpec):
        super().__init__()
        self.vocab_size = spec.vocab_size
        self.W_down = nn.Parameter(torch.empty(self.vocab_size, p.down))
        nn.init.xavier_uniform_(self.W_down)
        self.lstm = nn.LSTM(p.down, p.hidden, batch_first=True)
        self.out = nn.Linear(p.hidden, 1)

    def features(self, x: Tensor) -> Tensor:
        h, _ = self.lstm(_one_hot(x, self.vocab_size) @ self.W_down)
        return h[:, -1]

    def forward(self, x: Tensor, return_features: bool = False):
        f = self.features(x)
        v = self.out(f).squeeze(-1)
        return (v, f) if return_features else v


@ARCHITECTURES.register("netgan", params=NetGANParams, kinds=("tokens",))
def netgan(params: NetGANParams, spec: NetSpec) -> nn.Module:
    """NetGAN's LSTM nets over random walks: latent-initialized generator with W_up/W_down, LSTM critic."""
    if getattr(spec.norm, "name", "none") != "none":
        raise ConfigError(f"model.{spec.role}.norm: netgan takes none, not {spec.norm.name!r}")
    if spec.role == "generator":
        return NetGANGenerator(params, spec)
    return NetGANDiscriminator(params, spec)
