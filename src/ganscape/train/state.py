"""Everything a run carries from step to step: nets, optimizers, EMA, RNG,
counters. `build_state` makes it from a config; `state_dict` /
`load_state_dict` make checkpoints of it."""
from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

import numpy as np
import torch
from torch import nn

from ..config import Config, NetConfig
from ..data.base import ArrayDataset
from ..nets.layers import NetSpec
from ..registry import ARCHITECTURES, DATASETS, METHODS, NORMALIZATIONS, OPTIMIZERS, ConfigError


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} requested but CUDA is not available; use device=auto or cpu")
    return dev


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=False)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    else:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark = True


def load_data(cfg: Config, split: str = "train") -> ArrayDataset:
    entry = DATASETS.get(cfg.data.name)
    return entry.fn(DATASETS.params(cfg.data.name, cfg.data.params), split, cfg.seed)


def build_net(cfg: Config, role: str, net: NetConfig, shape: tuple) -> nn.Module:
    arch = ARCHITECTURES.get(net.arch.name)
    kind = "image" if len(shape) == 3 else "points"
    if kind not in arch.tags.get("kinds", ("image", "points")):
        raise ConfigError(f"model.{role}.arch: {net.arch.name!r} does not handle {kind} data; "
                          f"architectures for {kind}: "
                          f"{', '.join(e.name for e in ARCHITECTURES if kind in e.tags.get('kinds', ()))}")
    norm_entry = NORMALIZATIONS.get(net.norm.name)
    if role not in norm_entry.tags.get("roles", ()):
        allowed = [e.name for e in NORMALIZATIONS if role in e.tags.get("roles", ())]
        raise ConfigError(f"model.{role}.norm: {net.norm.name!r} is not offered for the {role}; "
                          f"choose one of: {', '.join(allowed)}")
    norm = norm_entry.fn(NORMALIZATIONS.params(net.norm.name, net.norm.params))
    pack = net.pack if role == "discriminator" else 1
    spec = NetSpec(role=role, shape=tuple(shape), z_dim=cfg.model.z_dim, norm=norm,
                   minibatch_features=net.minibatch_features,
                   minibatch_kernel_dim=net.minibatch_kernel_dim, pack=pack)
    return arch.fn(ARCHITECTURES.params(net.arch.name, net.arch.params), spec)


def build_generator(cfg: Config, shape: tuple) -> nn.Module:
    return build_net(cfg, "generator", cfg.model.generator, shape)


@dataclass
class TrainState:
    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    G_ema: Optional[nn.Module] = None
    step: int = 0        # generator updates done
    d_step: int = 0      # discriminator updates done
    batch: int = 0       # real batches drawn (the data order is a function of it)
    extra: Dict[str, Any] = field(default_factory=dict)

    def modules(self) -> list:
        """Every net a checkpoint saves."""
        return [m for m in (self.G, self.D, self.G_ema) if m is not None]

    @property
    def sampler(self) -> nn.Module:
        """The generator to sample from: the EMA copy when there is one."""
        return self.G_ema if self.G_ema is not None else self.G

    def state_dict(self) -> Dict[str, Any]:
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        sd = {"G": self.G.state_dict(), "D": self.D.state_dict(),
              "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
              "step": self.step, "d_step": self.d_step, "batch": self.batch, "rng": rng}
        if self.G_ema is not None:
            sd["G_ema"] = self.G_ema.state_dict()
        return sd

    def load_state_dict(self, sd: Dict[str, Any]) -> None:
        self.G.load_state_dict(sd["G"])
        self.D.load_state_dict(sd["D"])
        self.opt_g.load_state_dict(sd["opt_g"])
        self.opt_d.load_state_dict(sd["opt_d"])
        if self.G_ema is not None:
            if "G_ema" not in sd:
                raise ConfigError("train.ema_decay > 0 but the checkpoint has no EMA generator")
            self.G_ema.load_state_dict(sd["G_ema"])
        self.step, self.d_step, self.batch = int(sd["step"]), int(sd["d_step"]), int(sd["batch"])
        torch.set_rng_state(sd["rng"]["torch"])
        if "cuda" in sd["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(sd["rng"]["cuda"])


def build_state(cfg: Config, shape: tuple, device: torch.device):
    """Nets, optimizers, EMA and the method, on `device`. Returns (state, method)."""
    G = build_net(cfg, "generator", cfg.model.generator, shape).to(device)
    D = build_net(cfg, "discriminator", cfg.model.discriminator, shape).to(device)
    opt_g = OPTIMIZERS.build(cfg.optim.generator.name, cfg.optim.generator.params, G.parameters())
    opt_d = OPTIMIZERS.build(cfg.optim.discriminator.name, cfg.optim.discriminator.params, D.parameters())
    G_ema = None
    if cfg.train.ema_decay > 0:
        G_ema = copy.deepcopy(G).eval()
        G_ema.requires_grad_(False)
    state = TrainState(G=G, D=D, opt_g=opt_g, opt_d=opt_d, G_ema=G_ema)
    method = METHODS.build(cfg.method.name, cfg.method.params, cfg)
    method.setup(state)
    return state, method


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model for parameters; buffers
    (batch-norm statistics, spectral-norm vectors) are copied."""
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)

