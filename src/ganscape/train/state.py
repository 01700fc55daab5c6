"""Everything a run carries from step to step: the method's named nets,
optimizers and EMA copies, RNG state, counters. `build_state` makes it from a
config (the method says which nets and optimizers it needs); `state_dict` /
`load_state_dict` make checkpoints of it, by name."""
from __future__ import annotations

import copy
import random
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, Optional

import numpy as np
import torch
from torch import nn

from ..config import Config, NetConfig
from ..data.base import ArrayDataset
from ..nets.layers import NetSpec
from ..registry import ARCHITECTURES, DATASETS, METHODS, NORMALIZATIONS, OPTIMIZERS, ConfigError
from . import speed


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


def no_labels_hint(cfg: Config) -> str:
    """How to give the data set labels, where it can have them (its registry
    tag labels_hint, e.g. image-folder's labels_from_dirs), else ''."""
    hint = DATASETS.get(cfg.data.name).tags.get("labels_hint") if cfg.data.name in DATASETS else None
    return f"; {hint}" if hint else ""


def allocation_failure(e: BaseException) -> Optional[str]:
    """What an allocation failure asked for ("3.2 PB", or "more memory than
    there is"), or None when `e` is some other error. torch reports a failed
    CPU allocation as a RuntimeError from its allocator, a GPU one as
    torch.OutOfMemoryError; Python as MemoryError."""
    if not isinstance(e, (MemoryError, RuntimeError)):
        return None
    text = str(e)
    if not isinstance(e, MemoryError) and not isinstance(e, getattr(torch, "OutOfMemoryError", ())) \
            and "can't allocate memory" not in text and "out of memory" not in text.lower():
        return None
    m = re.search(r"allocate (\d+) bytes", text)
    if not m:
        return "more memory than there is"
    n = float(m.group(1))
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB", "EB"):
        if n < 1000 or unit == "EB":
            return f"{n:.3g} {unit}"
        n /= 1000


@contextmanager
def nets_fit_in_memory() -> Iterator[None]:
    """Turn an allocation failure while nets are built into one line that
    says what to change (a 34-line allocator traceback otherwise)."""
    try:
        yield
    except (MemoryError, RuntimeError) as e:
        asked = allocation_failure(e)
        if asked is None:
            raise
        raise ConfigError(f"model: the nets do not fit in memory (building them asked for {asked}); make them "
                          "smaller: model.generator.arch.params and model.discriminator.arch.params (width, "
                          "depth, ...)") from None


def load_data(cfg: Config, split: str = "train") -> ArrayDataset:
    entry = DATASETS.get(cfg.data.name)
    return entry.fn(DATASETS.params(cfg.data.name, cfg.data.params), split, cfg.seed)


def net_parts(cfg: Config, role: str, net: NetConfig, shape: tuple, *, kind: str = "", vocab_size: int = 0,
              output: str = "tanh", levels: int = 0):
    """(NetSpec, build) of the bare architecture of `role`: every check build_net makes on the
    architecture and the normalization, without building anything (so no random numbers are drawn).
    build(spec) makes the net; a wrapper that changes the spec (class conditioning here, text
    conditioning in methods/gancls.py) calls it with its own. Arguments as build_net's."""
    arch = ARCHITECTURES.get(net.arch.name)
    kind = kind or ("image" if len(shape) == 3 else "points")
    if kind not in arch.tags.get("kinds", ("image", "points")):
        fits = [e.name for e in ARCHITECTURES  # only those that can serve this role (a D-only net is no G)
                if kind in e.tags.get("kinds", ()) and role in e.tags.get("roles", (role,)) and not e.tags.get("toy")]
        raise ConfigError(f"model.{role}.arch: {net.arch.name!r} does not handle {kind} data; "
                          f"architectures for {kind}: {', '.join(fits)}")
    if arch.tags.get("likelihood_model") and not levels:
        raise ConfigError(f"model.{role}.arch: {net.arch.name!r} is a model with its own likelihood, trained by "
                          f"method {' or '.join(arch.tags['likelihood_model'])}, not as a "
                          f"{role} of method {cfg.method.name!r}")
    norm_entry = NORMALIZATIONS.get(net.norm.name)
    if role not in norm_entry.tags.get("roles", ()):
        allowed = [e.name for e in NORMALIZATIONS if role in e.tags.get("roles", ())]
        raise ConfigError(f"model.{role}.norm: {net.norm.name!r} is not offered for the {role}; "
                          f"choose one of: {', '.join(allowed)}")
    norm = norm_entry.fn(NORMALIZATIONS.params(net.norm.name, net.norm.params))
    pack = net.pack if role == "discriminator" else 1
    spec = NetSpec(role=role, shape=tuple(shape), z_dim=cfg.model.z_dim, norm=norm,
                   minibatch_features=net.minibatch_features,
                   minibatch_kernel_dim=net.minibatch_kernel_dim, pack=pack, kind=kind, vocab_size=vocab_size,
                   output=output, levels=levels)
    params = ARCHITECTURES.params(net.arch.name, net.arch.params)
    return spec, (lambda s: arch.fn(params, s))


def build_net(cfg: Config, role: str, net: NetConfig, shape: tuple, num_classes: int = 0, *,
              kind: str = "", vocab_size: int = 0, output: str = "tanh", levels: int = 0) -> nn.Module:
    """One net of `role` as `net` describes it; class-conditional (a wrapper
    from nets/conditional.py) when net.cond is set, for data with
    `num_classes` classes. kind: "image", "points" or "tokens" ("" infers
    image or points from the shape); vocab_size: token ids (tokens);
    output: "tanh" or "logits" (a generator of discrete images, see NetSpec);
    levels: the data's discrete levels per pixel (0: continuous)."""
    spec, build = net_parts(cfg, role, net, shape, kind=kind, vocab_size=vocab_size, output=output, levels=levels)
    if net.cond == "none":
        return build(spec)
    from ..nets.conditional import ConditionalDiscriminator, ConditionalGenerator
    if num_classes < 2:
        raise ConfigError(f"model.{role}.cond: {net.cond!r} needs a data set with class labels; "
                          f"{cfg.data.name!r} has none here{no_labels_hint(cfg)}")
    if role == "generator":
        return ConditionalGenerator(build, spec, net.cond, num_classes, net.embed_dim)
    return ConditionalDiscriminator(build, spec, net.cond, num_classes)


@dataclass
class TrainState:
    """Named nets, their optimizers and EMA copies, as the method declared
    them (a GAN: nets G and D, optimizers G and D, EMA of G), plus the
    counters and RNG state that make a resume bit-exact."""
    nets: Dict[str, nn.Module]
    optims: Dict[str, torch.optim.Optimizer]
    ema: Dict[str, nn.Module] = field(default_factory=dict)
    sampler_name: Optional[str] = "G"       # None: the method trains nothing to sample from
    classifier_name: Optional[str] = None   # the net classifier-error scores, if any
    # the configured learning rate of each optimizer (schedules scale it)
    base_lr: Dict[str, float] = field(default_factory=dict)
    step: int = 0        # training steps done (generator updates for a GAN)
    d_step: int = 0      # discriminator updates done
    batch: int = 0       # real batches drawn (the data order is a function of it)
    extra: Dict[str, Any] = field(default_factory=dict)
    scalers: Dict[str, Any] = field(default_factory=dict)  # fp16: a speed.LossScaler per optimizer

    def backward(self, loss: torch.Tensor, *opts: torch.optim.Optimizer) -> None:
        """loss.backward() for the optimizers `opts` that will step on its gradients: scaled under fp16
        by the smallest of their scales, and each one's gradients divided back (train/speed.py)."""
        scalers = [self.scalers[n] for n, o in self.optims.items() if n in self.scalers and any(o is p for p in opts)]
        if not scalers:
            loss.backward()
            return
        scale = min(s.scale for s in scalers)
        (loss.float() * scale).backward()
        for s in scalers:
            s.unscale(scale)

    def _averaged(self, name: str) -> nn.Module:
        return self.ema.get(name, self.nets[name])

    @property
    def sampler(self) -> nn.Module:
        """The net to sample from: the EMA copy of the method's sampler when there is one."""
        if self.sampler_name is None:
            raise ConfigError("this method trains no generator: there is nothing to sample from")
        return self._averaged(self.sampler_name)

    @property
    def classifier(self) -> nn.Module:
        """The method's classifier (its EMA copy when there is one)."""
        if self.classifier_name is None:
            raise ConfigError("this method trains no classifier")
        return self._averaged(self.classifier_name)

    def modules(self) -> list:
        """Every net a checkpoint saves."""
        return [*self.nets.values(), *self.ema.values()]

    def state_dict(self) -> Dict[str, Any]:
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {"nets": {k: m.state_dict() for k, m in self.nets.items()},
                "optims": {k: o.state_dict() for k, o in self.optims.items()},
                "ema": {k: m.state_dict() for k, m in self.ema.items()},
                "step": self.step, "d_step": self.d_step, "batch": self.batch, "rng": rng,
                **({"scalers": {k: s.state_dict() for k, s in self.scalers.items()}} if self.scalers else {})}

    def load_state_dict(self, sd: Dict[str, Any]) -> None:
        for group, own in (("nets", self.nets), ("optims", self.optims), ("ema", self.ema)):
            saved = sd.get(group, {})
            missing = sorted(set(own) - set(saved))
            if missing:
                hint = " (train.ema_decay > 0 but the run was trained without EMA)" if group == "ema" else ""
                raise ConfigError(f"the checkpoint has no {group} {', '.join(missing)}{hint}")
            for k, obj in own.items():
                obj.load_state_dict(saved[k])
        self.step, self.d_step, self.batch = int(sd["step"]), int(sd["d_step"]), int(sd["batch"])
        for k, s in self.scalers.items():   # fp16's loss scales (a run resumed from fp32 starts them afresh)
            if k in sd.get("scalers", {}):
                s.load_state_dict(sd["scalers"][k])
        torch.set_rng_state(sd["rng"]["torch"])
        if "cuda" in sd["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(sd["rng"]["cuda"])


@dataclass(frozen=True)
class DataSpec:
    """What a method needs to know of the data to build its nets."""
    shape: tuple               # one example: (C, H, W), (D,) or (L,)
    num_classes: int = 0       # 0: no labels
    kind: str = ""             # "image" | "points" | "tokens"; "" infers image or points from the shape
    vocab_size: int = 0        # tokens: the number of token ids
    info: Dict[str, Any] = field(default_factory=dict)  # the data set's info (levels of discrete images, ...)

    @classmethod
    def of(cls, data: ArrayDataset) -> "DataSpec":
        return cls(tuple(data.shape), data.num_classes, data.kind, data.vocab_size, dict(data.info))


def build_method(cfg: Config):
    return METHODS.build(cfg.method.name, cfg.method.params, cfg)


def _spec(shape, num_classes: int) -> DataSpec:
    return shape if isinstance(shape, DataSpec) else DataSpec(tuple(shape), num_classes)


def build_state(cfg: Config, shape, device: torch.device, num_classes: int = 0):
    """The method, its nets, optimizers and EMA copies, on `device`, for data
    of `shape` with `num_classes` classes (or a DataSpec, e.g.
    DataSpec.of(dataset), which also carries the kind and vocabulary).
    Returns (state, method)."""
    method = build_method(cfg)
    spec = _spec(shape, num_classes)
    with nets_fit_in_memory():
        nets = {k: m.to(device) for k, m in method.build_nets(cfg, spec).items()}
        if cfg.train.channels_last:
            speed.to_channels_last(nets)
        optims, base_lr = {}, {}
        for name, (comp, params) in method.optimizers(cfg, nets).items():
            optims[name] = OPTIMIZERS.build(comp.name, comp.params, params)
            base_lr[name] = comp.params["lr"]
        ema = {}
        if cfg.train.ema_decay > 0:
            for name in method.ema:
                ema[name] = copy.deepcopy(nets[name]).eval()
                ema[name].requires_grad_(False)
    state = TrainState(nets=nets, optims=optims, ema=ema, sampler_name=method.sampler,
                       classifier_name=method.classifier, base_lr=base_lr)
    method.setup(state)
    return state, method


def build_sampler(cfg: Config, shape, num_classes: int = 0) -> nn.Module:
    """The net a run samples from (its generator), built as the method builds
    it; shape as in build_state."""
    method = build_method(cfg)
    if method.sampler is None:
        raise ConfigError(f"method {cfg.method.name!r} trains no generator: there is nothing to sample; "
                          f"evaluate its classifier with `ganscape eval RUN --metrics classifier-error`")
    with nets_fit_in_memory():
        return method.build_nets(cfg, _spec(shape, num_classes))[method.sampler]


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model for parameters; buffers
    (batch-norm statistics, spectral-norm vectors) are copied."""
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)

