"""Typed, frozen configuration.

A run is fully described by one `Config`. It is built from a YAML preset, an
optional YAML file and `--set a.b=c` overrides, in that order; every key is
checked against these dataclasses and every component (dataset, architecture,
normalization, loss, penalty, optimizer, method) against its registry, so a
typo fails with an error naming the key and the valid choices. The resolved
config (all defaults filled in, component params included) is written to the
run folder as config.json and is enough to reproduce the run.

A component is written either as a bare name (`loss: hinge`) or as
`{name: ..., params: {...}}`.

A run's `name` (its folder is OUT/NAME-NNN) defaults to the preset's name
(`load_config`; a `--config` file given without a preset: the file's stem);
a Config built from a mapping without a name takes the data set's name.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import yaml

from .registry import (ARCHITECTURES, DATASETS, EXTRACTORS, LOSSES, METHODS, METRICS, NORMALIZATIONS,
                       OPTIMIZERS, PENALTIES, ConfigError, Registry, build_dataclass)

PRESET_DIR = Path(__file__).parent / "presets"
DEFAULT_PRESET = "digits"

# The values of NetConfig.cond (nets/conditional.py builds them). Here, not
# there, so that validating a config imports no net module.
GENERATOR_CONDITIONING = ("none", "concat", "cbn")
DISCRIMINATOR_CONDITIONING = ("none", "concat", "projection", "acgan")


def check_name(name: str) -> str:
    """A run name is one folder name: letters, digits, '.', '_', '-', not
    starting with '.' (anything else could place the run outside --out)."""
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}", name):
        raise ConfigError(f"name: {name!r} is not allowed; a run name is one folder name of letters, digits, "
                          "'.', '_' and '-', not starting with '.', at most 100 characters")
    return name


@dataclass(frozen=True)
class Component:
    """A registered component: its name and its parameters."""
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NetConfig:
    """One network: an architecture, the normalization of its hidden layers,
    and (discriminator only) minibatch discrimination (Salimans et al. 2016)."""
    arch: Component = Component("mlp")
    norm: Component = Component("none")
    minibatch_features: int = 0      # B in the paper; 0 disables minibatch discrimination
    minibatch_kernel_dim: int = 5    # C in the paper
    pack: int = 1                    # PacGAN packing degree (discriminator only); 1 = off
    # How a packed discriminator sees a batch (discriminator only).
    # "paper": as the PacGAN code (Lin et al. 2018, fjxmlzn/PacGAN): D gets
    #   train.batch_size packed inputs, i.e. pack * batch_size real examples
    #   and as many fakes (pack independent z batches).
    # "split": train.batch_size examples are split into batch_size / pack
    #   packed inputs, shrinking D's batch and G's samples by `pack`.
    pack_mode: str = "paper"
    # Class conditioning (nets/conditional.py; needs labelled data and the
    # cgan method). Generator: none | concat (label embedding of embed_dim
    # concatenated with z) | cbn (conditional batch norm). Discriminator:
    # none | concat (one-hot label maps as extra input channels) |
    # projection (Miyato & Koyama 2018) | acgan (auxiliary classifier).
    cond: str = "none"
    embed_dim: int = 16


@dataclass(frozen=True)
class ModelConfig:
    z_dim: int = 64
    generator: NetConfig = NetConfig()
    discriminator: NetConfig = NetConfig()

    def validate(self, where: str) -> None:
        if self.z_dim < 1:
            raise ConfigError(f"{where}.z_dim: must be >= 1, got {self.z_dim}")
        if self.generator.minibatch_features:
            raise ConfigError(f"{where}.generator.minibatch_features: minibatch discrimination "
                              "is a discriminator layer; set it under model.discriminator")
        if self.generator.pack != 1:
            raise ConfigError(f"{where}.generator.pack: packing is a discriminator option; "
                              "set model.discriminator.pack")
        if self.discriminator.pack < 1 or self.discriminator.minibatch_features < 0:
            raise ConfigError(f"{where}.discriminator: pack must be >= 1 and minibatch_features >= 0")
        for role, allowed in (("generator", GENERATOR_CONDITIONING), ("discriminator", DISCRIMINATOR_CONDITIONING)):
            cond = getattr(self, role).cond
            if cond not in allowed:
                raise ConfigError(f"{where}.{role}.cond: {cond!r} is not allowed; choose one of: {', '.join(allowed)}")
            if getattr(self, role).embed_dim < 1:
                raise ConfigError(f"{where}.{role}.embed_dim: must be >= 1, got {getattr(self, role).embed_dim}")
        for role in ("generator", "discriminator"):
            mode = getattr(self, role).pack_mode
            if mode not in ("paper", "split"):
                raise ConfigError(f"{where}.{role}.pack_mode: {mode!r} is not allowed; choose paper or split")


@dataclass(frozen=True)
class OptimConfig:
    generator: Component = Component("adam", {"lr": 2e-4, "betas": (0.5, 0.999)})
    discriminator: Component = Component("adam", {"lr": 2e-4, "betas": (0.5, 0.999)})


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000               # generator updates
    batch_size: int = 64
    n_disc: int = 1                 # discriminator updates per generator update
    ema_decay: float = 0.0          # EMA of generator weights; 0 disables it
    ema_start: int = 0              # generator step at which the EMA starts tracking
    log_every: int = 50             # stats.jsonl (and TensorBoard) interval, in G steps
    sample_every: int = 500         # samples/ grid interval; 0 = only at the end
    checkpoint_every: int = 1000    # keep checkpoints/step_N.pt; latest.pt is always kept
    latest_every: int = 250         # refresh checkpoints/latest.pt
    num_samples: int = 64           # images in each sample grid (points in each 2-D plot: x40)
    lr_schedule: str = "constant"   # constant | linear (decay both learning rates linearly to 0 at `steps`)
    progress: bool = True           # tqdm progress bar
    # The training doctor (probes/doctor.py): every doctor_every G steps (0: 20 times a run) measure
    # the sampler on a fixed latent batch (diversity, modes covered, memorized share: doctor.jsonl),
    # judge those checks and the stats so far, print each new finding (divergence, D overpowering,
    # mode collapse / dropping / hopping, memorization, oscillation) with its evidence and advice,
    # and write doctor.json and doctor.png at the end. `ganscape doctor RUN` does it afterwards.
    doctor: bool = False
    doctor_every: int = 0
    # Semi-supervised training: keep the labels of only this many training
    # examples per class (chosen with the run's seed), the rest count as
    # unlabelled (Batch.labelled); 0 = every label is known.
    labelled_per_class: int = 0
    # With labelled_per_class > 0: 0 = a method sees the labels of the
    # labelled examples that happen to be in the real batch (Batch.labelled,
    # about batch_size * labelled fraction of them); N > 0 = every
    # discriminator step also gets its own batch of N labelled examples drawn
    # from the labelled subset (Batch.labelled_batch), as the improved-GAN
    # code does. The semi-supervised methods (ssgan, supervised) use it.
    labelled_batch_size: int = 0
    # Warm start: "RUN_DIR" or "RUN_DIR:CHECKPOINT" (latest | best | a step):
    # every net of this run that the checkpoint holds under the same name
    # starts from its weights (e.g. SeqGAN's G from an mle run; set its
    # pretrain_g to 0). Optimizers, counters and RNG start fresh.
    init_from: str = ""
    # Stop after this many seconds of training steps (evaluations, samples and
    # checkpoints not counted), as a completed run whose status gives the
    # reason; 0: no limit. Counted from each start (a resumed run gets a fresh
    # budget). For comparisons at an equal wall-clock budget.
    max_seconds: float = 0.0
    # torch threads on a CPU: 0 = choose by measuring the first steps and
    # again when throughput changes (one thread with `deterministic`; see
    # train/threads.py); N = exactly N. `--threads` beats it.
    threads: int = 0
    # Device speed (train/speed.py), applied to the training step only: samples and
    # metrics are computed in fp32. fp32 | bf16 (autocast; CPU and GPU) | fp16 (CUDA;
    # autocast with a dynamic loss scaler per optimizer). channels_last: convolution
    # weights and image batches in NHWC memory order (faster convolutions on GPUs).
    precision: str = "fp32"
    channels_last: bool = False
    # torch.compile of the nets (train/speed.py: D stays eager with a double-backward penalty;
    # where compile is unavailable the run trains eagerly and warns).
    compile: bool = False
    # Data on disk (a pack, `ganscape data pack`) larger than this many MiB is streamed:
    # data_workers DataLoader processes read, decode and resize upcoming batches from the
    # file (0: in the training process). Smaller data sets are read into memory, as uint8.
    # Either way batch k is the same (train/feed.py), so both may change on resume.
    data_memory_mb: float = 4096.0
    data_workers: int = 2
    # Under torchrun (train/distributed.py): batch norm with the statistics of the global
    # batch, all ranks together (the large-scale studies' and BigGAN's cross-replica BN);
    # without it each rank normalizes by its own slice. One process: no effect.
    sync_batchnorm: bool = False
    # Stale gradients (train/staleness.py; asynchronous SGD simulated): each optimizer's update applies
    # the gradient computed with its parameters from k of its own steps before to its current ones
    # (every other net also k of its own steps old). 0: synchronous training, nothing installed.
    staleness: int = 0

    def validate(self, where: str) -> None:
        if self.data_memory_mb < 0 or self.data_workers < 0:
            raise ConfigError(f"{where}.data_memory_mb and {where}.data_workers: must be >= 0, got "
                              f"{self.data_memory_mb} and {self.data_workers}")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ConfigError(f"{where}.precision: {self.precision!r} is not allowed; choose fp32, bf16 or fp16")
        for k in ("steps", "batch_size", "n_disc", "log_every", "latest_every", "num_samples"):
            if getattr(self, k) < 1:
                raise ConfigError(f"{where}.{k}: must be >= 1, got {getattr(self, k)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"{where}.ema_decay: must be in [0, 1), got {self.ema_decay}")
        if self.lr_schedule not in ("constant", "linear"):
            raise ConfigError(f"{where}.lr_schedule: {self.lr_schedule!r} is not allowed; choose constant or linear")
        for k in ("sample_every", "checkpoint_every", "ema_start", "labelled_per_class", "labelled_batch_size",
                  "max_seconds", "threads", "doctor_every"):
            if getattr(self, k) < 0:
                raise ConfigError(f"{where}.{k}: must be >= 0, got {getattr(self, k)}")
        if isinstance(self.staleness, bool) or not isinstance(self.staleness, int) or self.staleness < 0:
            raise ConfigError(f"{where}.staleness: must be an integer >= 0 (optimizer steps of delay; 0: none), "
                              f"got {self.staleness!r}")
        if self.labelled_batch_size and not self.labelled_per_class:
            raise ConfigError(f"{where}.labelled_batch_size: needs labelled_per_class > 0 (the labelled subset "
                              f"it draws from); got labelled_batch_size {self.labelled_batch_size} with "
                              f"labelled_per_class 0")


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation during training (and the defaults of `ganscape eval`)."""
    every: int = 0                  # evaluate every N generator steps; 0 = only at the end if metrics are set
    metrics: Tuple[str, ...] = ()   # e.g. [fid, kid, is, prdc]; empty = no evaluation during training
    n: int = 2000                   # generated samples per evaluation
    split: str = "train"            # reference split of the training data set
    extractor: Optional[str] = None  # None = the data set's default (digits-cnn for digits)
    best: str = "fid"               # result that selects checkpoints/best.pt
    # {metric: {key: value}}: parameters of eval.metrics during training only (`ganscape eval` keeps each
    # metric's defaults), e.g. {nll: {split: val}} to select best.pt on a validation split; a metric
    # that eval.metrics does not list ignores its entry
    params: Mapping[str, Any] = field(default_factory=dict)

    def validate(self, where: str) -> None:
        if self.every < 0 or self.n < 2:
            raise ConfigError(f"{where}: need every >= 0 and n >= 2")
        if self.split not in ("train", "test"):
            raise ConfigError(f"{where}.split: {self.split!r} is not allowed; choose train or test")


@dataclass(frozen=True)
class EnvConfig:
    """The environment of a method that acts (expert, gail, airl, bc, vime):
    a gymnasium id and how it is built (envs/make.py). Unused by the other
    methods. A run's episodes come from `num_envs` copies stepped in lockstep
    (one policy forward per step for all of them), each episode seeded by
    (run seed, training step, episode number)."""
    id: str = ""                    # e.g. CartPole-v1, Pendulum-v1, ganscape/SparseMountainCar-v0
    params: Mapping[str, Any] = field(default_factory=dict)   # keyword arguments of gymnasium.make
    num_envs: int = 1               # copies stepped together while collecting episodes
    max_episode_steps: int = 0      # time limit; 0: the registered one
    # Every episode lasts exactly the time limit, in an absorbing state after
    # the task ends (envs/wrappers.py): GAIL's always-positive reward would
    # otherwise be a survival bonus on tasks that end early (CartPole).
    fixed_horizon: bool = False
    # Observations standardized inside the nets: none | demos (the
    # demonstrations' mean and std, as openai/imitation does).
    normalize_obs: str = "none"

    def validate(self, where: str) -> None:
        if self.num_envs < 1 or self.max_episode_steps < 0:
            raise ConfigError(f"{where}: need num_envs >= 1 and max_episode_steps >= 0, got {self.num_envs} and "
                              f"{self.max_episode_steps}")
        if self.normalize_obs not in ("none", "demos"):
            raise ConfigError(f"{where}.normalize_obs: {self.normalize_obs!r} is not allowed; choose none or demos")


@dataclass(frozen=True)
class Config:
    name: str = ""                  # run folder name; load_config: the preset's (or file's) name; else the data set's
    seed: int = 0
    deterministic: bool = False     # bit-exact reproducibility (slower on GPU)
    device: str = "auto"            # auto | cpu | cuda | cuda:N
    data: Component = Component("digits")
    model: ModelConfig = ModelConfig()
    loss: Component = Component("ns")
    penalties: Tuple[Component, ...] = ()
    method: Component = Component("gan")
    optim: OptimConfig = OptimConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    env: EnvConfig = EnvConfig()

    def validate(self, where: str) -> None:
        if self.name:
            check_name(self.name)
        if self.device != "auto" and not (self.device == "cpu" or self.device.startswith("cuda")
                                          or self.device == "mps"):
            raise ConfigError(f"device: {self.device!r} is not allowed; choose auto, cpu, cuda, cuda:N or mps")
        for role in ("generator", "discriminator"):
            net = getattr(self.model, role)
            # batch norm in training mode needs at least two values per channel
            inputs = self.train.batch_size // (net.pack if role == "discriminator" and net.pack_mode == "split" else 1)
            if net.norm.name == "batch" and inputs < 2:
                raise ConfigError(f"train.batch_size: model.{role}.norm batch needs at least 2 examples per "
                                  f"batch, got {inputs}; raise train.batch_size or choose another norm")
        d = self.model.discriminator
        if d.pack_mode == "split" and self.train.batch_size % d.pack:
            raise ConfigError(f"train.batch_size: {self.train.batch_size} is not divisible by "
                              f"model.discriminator.pack={d.pack} (pack_mode split)")

    @property
    def real_batch_size(self) -> int:
        """Real examples per discriminator step: train.batch_size * pack in
        PacGAN's "paper" packing mode (D sees batch_size packed inputs),
        train.batch_size in "split" mode."""
        d = self.model.discriminator
        return self.train.batch_size * (d.pack if d.pack_mode == "paper" else 1)


# Which registry checks which component, by dotted path.
_COMPONENT_REGISTRIES: Dict[str, Registry] = {
    "data": DATASETS,
    "model.generator.arch": ARCHITECTURES,
    "model.discriminator.arch": ARCHITECTURES,
    "model.generator.norm": NORMALIZATIONS,
    "model.discriminator.norm": NORMALIZATIONS,
    "loss": LOSSES,
    "method": METHODS,
    "optim.generator": OPTIMIZERS,
    "optim.discriminator": OPTIMIZERS,
}


def _normalize_components(tree: Any, cls: type, where: str) -> Any:
    """Expand bare-name components ("hinge" -> {name: hinge}) before typing."""
    if cls is Component:
        if isinstance(tree, str):
            return {"name": tree, "params": {}}
        return tree
    if not dataclasses.is_dataclass(cls) or not isinstance(tree, Mapping):
        return tree
    hints = typing.get_type_hints(cls)
    out = dict(tree)
    for k, v in tree.items():
        t = hints.get(k)
        if t is None:
            continue
        if typing.get_origin(t) is tuple and typing.get_args(t)[0] is Component:
            if isinstance(v, (str, Mapping)):
                v = [v]
            if isinstance(v, (list, tuple)):
                out[k] = [{"name": c, "params": {}} if isinstance(c, str) else c for c in v]
        else:
            out[k] = _normalize_components(v, t, f"{where}.{k}" if where else k)
    return out


def _resolve_component(c: Component, registry: Registry, where: str) -> Component:
    """Check a component against its registry and fill in default parameters."""
    if c.name not in registry:
        raise ConfigError(f"{where}: unknown {registry.kind} {c.name!r}; choose one of: "
                          f"{', '.join(registry.names())}")
    typed = registry.params(c.name, c.params, where=f"{where}.params")
    return Component(c.name, to_plain(typed))


def resolve(cfg: Config) -> Config:
    """Validate every component against its registry; return the config with
    all component defaults filled in. The registries are filled by
    ganscape.components, which the entry points import (importing any part
    of ganscape does, through the package's __init__); config imports no
    component module, so that no component's import reaches back here."""

    def get(path):
        obj = cfg
        for p in path.split("."):
            obj = getattr(obj, p)
        return obj

    replaced: Dict[str, Any] = {}
    for path, reg in _COMPONENT_REGISTRIES.items():
        replaced[path] = _resolve_component(get(path), reg, path)
    for i, m in enumerate(cfg.eval.metrics):
        if m not in METRICS:
            raise ConfigError(f"eval.metrics[{i}]: unknown metric {m!r}; choose one of: {', '.join(METRICS.names())}")
    if cfg.eval.metrics:
        # checked here, not after the first evaluation of a long run
        results = [r for m in cfg.eval.metrics for r in METRICS.get(m).tags.get("results", ())]
        if results and cfg.eval.best not in results:
            raise ConfigError(f"eval.best: {cfg.eval.best!r} is not a result of eval.metrics "
                              f"{list(cfg.eval.metrics)}; choose one of: {', '.join(results)}")
    eval_params = {}
    for m, mp in cfg.eval.params.items():
        # parameters of a registered metric that eval.metrics does not list are kept, unused: a preset's
        # {nll: ...} must not break `--set eval.metrics=[fid]`
        if m not in METRICS:
            raise ConfigError(f"eval.params.{m}: unknown metric {m!r}; choose one of: {', '.join(METRICS.names())}")
        if not isinstance(mp, Mapping):
            raise ConfigError(f"eval.params.{m}: expected a mapping of the metric's parameters, got {mp!r}")
        eval_params[m] = to_plain(METRICS.params(m, mp, where=f"eval.params.{m}"))
    if cfg.eval.params:
        replaced["eval"] = dataclasses.replace(cfg.eval, params=eval_params)
    if cfg.eval.extractor is not None and cfg.eval.extractor not in EXTRACTORS:
        raise ConfigError(f"eval.extractor: unknown extractor {cfg.eval.extractor!r}; "
                          f"choose one of: {', '.join(EXTRACTORS.names())}")
    if not 0 <= cfg.seed < SEED_LIMIT:  # torch, numpy and the batch order all take it; say so before they overflow
        raise ConfigError(f"seed: must be an integer from 0 to {SEED_LIMIT - 1}, got {cfg.seed}")
    pens = tuple(_resolve_component(p, PENALTIES, f"penalties[{i}]") for i, p in enumerate(cfg.penalties))
    names = [p.name for p in pens]
    if len(set(names)) != len(names):
        raise ConfigError(f"penalties: {names} lists a penalty twice")

    def rebuild(obj, prefix):
        changes = {}
        for f in dataclasses.fields(obj):
            path = f"{prefix}{f.name}"
            if path in replaced:
                changes[f.name] = replaced[path]
            elif dataclasses.is_dataclass(getattr(obj, f.name)) and not isinstance(getattr(obj, f.name), Component):
                changes[f.name] = rebuild(getattr(obj, f.name), path + ".")
        return dataclasses.replace(obj, **changes)

    out = dataclasses.replace(rebuild(cfg, ""), penalties=pens)
    return out if out.name else dataclasses.replace(out, name=out.data.name)


def to_plain(obj: Any) -> Any:
    """Dataclasses / tuples -> plain dicts / lists (JSON- and YAML-safe)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj


def from_dict(tree: Mapping[str, Any]) -> Config:
    """Typed Config from a plain mapping (unknown keys are errors), resolved."""
    tree = _normalize_components(tree, Config, "")
    return resolve(build_dataclass(Config, tree, ""))


def _set_dotted(tree: Dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = tree
    for i, p in enumerate(parts[:-1]):
        nxt = node.get(p)
        if isinstance(nxt, str) and parts[i + 1] in ("params", "name"):
            nxt = {"name": nxt, "params": {}}  # expand a bare-name component
        if nxt is None:
            nxt = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"--set {key}: {'.'.join(parts[:i + 1])} is a value, not a section")
        node[p] = nxt = dict(nxt)
        node = nxt
    node[parts[-1]] = value


def parse_override(text: str) -> Tuple[str, Any]:
    """'a.b=c' -> ('a.b', parsed c). Values are parsed as YAML scalars/lists so
    that 1e-4, true, [0.5, 0.99] and {name: gp} work; types are checked later."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected key=value, e.g. train.steps=500")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except (yaml.YAMLError, RecursionError):
        value = raw
    _check_expansion(value, f"--set {key}")
    return key, value


def list_presets() -> list:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


# Seeds are derived from cfg.seed by small multiples and offsets (the batch
# order seeds torch with seed * 1_000_003 + epoch); 2^32 keeps every one of
# them inside the 64 bits torch.manual_seed takes.
SEED_LIMIT = 2 ** 32

# A YAML alias names a value once and repeats it by reference: ten levels of
# ten aliases each read in a moment and expand to 10^10 values (a "billion
# laughs"), which merging and validating the config would copy out, gigabytes
# of it. A config is a few hundred values; this bounds what one may expand to.
MAX_YAML_VALUES = 100_000


def _check_expansion(tree: Any, where: str) -> None:
    """ConfigError unless `tree` expands to at most MAX_YAML_VALUES values and
    refers to no part of itself; linear in the distinct values (shared ones
    are counted once per use without being walked again)."""
    sizes: Dict[int, int] = {}
    open_: set = set()

    def size(x: Any) -> int:
        if not isinstance(x, (dict, list)):
            return 1
        if id(x) in open_:
            raise ConfigError(f"{where}: a YAML alias refers to a value that contains it; write the values out")
        if id(x) not in sizes:
            open_.add(id(x))
            n = 1 + sum(size(v) for v in (x.values() if isinstance(x, dict) else x))
            open_.discard(id(x))
            if n > MAX_YAML_VALUES:
                raise ConfigError(f"{where}: its YAML aliases expand to more than {MAX_YAML_VALUES} values; a config "
                                  "needs a few hundred (write repeated values out instead of aliasing them)")
            sizes[id(x)] = n
        return sizes[id(x)]

    try:
        size(tree)
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply") from None


def _read_yaml(path: Path) -> Dict[str, Any]:
    try:
        tree = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {e}") from None
    except RecursionError:
        raise ConfigError(f"config file {str(path)!r} is nested too deeply") from None
    _check_expansion(tree, f"config file {str(path)!r}")
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping at the top level")
    return tree


def _renamed(base: Any, over: Any) -> bool:
    """True when `over` names another component than `base`: then base's
    params belong to the other component and must not be kept (issue 17,
    item 33: data.name=image-folder kept the digits preset's size 8)."""
    name = lambda c: c if isinstance(c, str) else c.get("name") if isinstance(c, Mapping) else None  # noqa: E731
    return name(base) is not None and name(over) is not None and name(base) != name(over)


def _merge(base: Dict[str, Any], over: Mapping[str, Any]) -> Dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict) and not _renamed(out[k], v):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _stem_name(path: str) -> str:
    """A file's stem as a run name: characters a folder name may not hold become '-'."""
    stem = re.sub(r"[^A-Za-z0-9._-]", "-", Path(path).stem).lstrip(".-")[:100]
    return stem or "run"


def load_config(preset: Optional[str] = None, config_file: Optional[str] = None,
                overrides: Tuple[str, ...] | list = ()) -> Config:
    """Preset, then YAML file, then --set overrides -> validated Config.

    Without a preset, the "digits" preset is the base (a YAML file is
    layered on top of it and need only say what differs).
    """
    tree: Dict[str, Any] = {}
    # Runs are named after what the user chose (issue 17, item 32): the
    # preset, or the file when a file alone was given; naming them after the
    # data set made every digits-based preset write runs/digits-NNN.
    default_name = preset if preset is not None else (_stem_name(config_file) if config_file else DEFAULT_PRESET)
    if preset is None:
        preset = DEFAULT_PRESET
    path = PRESET_DIR / f"{preset}.yaml"
    if not path.exists():
        raise ConfigError(f"unknown preset {preset!r}; choose one of: {', '.join(list_presets())}")
    tree = _read_yaml(path)
    if config_file is not None:
        tree = _merge(tree, _read_yaml(Path(config_file)))
    if not tree.get("name"):
        tree["name"] = default_name
    parsed = [parse_override(text) for text in overrides]
    for key, value in parsed:
        # --set X.name=OTHER: the preset's / file's params of X were another
        # component's; drop them first, so that params given by --set (before
        # or after) are all that OTHER gets.
        if key.endswith(".name") and _renamed(_get_dotted(tree, key[:-5]), value):
            _set_dotted(tree, key[:-5] + ".params", {})
    for key, value in parsed:
        _set_dotted(tree, key, value)
    return from_dict(tree)


def _get_dotted(tree: Mapping[str, Any], key: str) -> Any:
    node: Any = tree
    for p in key.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(p)
    return node


def save_json(cfg: Config, path: Path) -> None:
    Path(path).write_text(json.dumps(to_plain(cfg), indent=2) + "\n")


def load_json(path: Path) -> Config:
    try:
        tree = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"cannot read config {str(path)!r}: {e}") from None
    return from_dict(tree)


def dumps_yaml(cfg: Config) -> str:
    return yaml.safe_dump(to_plain(cfg), sort_keys=False)


# ---- changing a run's config on resume --------------------------------------------
# Keys that may differ between a checkpoint and the config it resumes with:
# they change how long or how fast training goes on, or what is logged and
# evaluated, never the shapes of the nets or the objective.
RESUMABLE = ("name", "device", "train.steps", "train.max_seconds", "train.log_every", "train.sample_every", "train.checkpoint_every",
             "train.latest_every", "train.num_samples", "train.progress", "train.lr_schedule", "train.threads",
             "train.precision", "train.channels_last", "train.compile",
             "train.data_memory_mb", "train.data_workers", "train.doctor", "train.doctor_every", "eval",
             "optim.generator.params.lr", "optim.discriminator.params.lr")


def flatten(tree: Any, prefix: str = "") -> Dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists are values."""
    if isinstance(tree, Mapping) and tree:
        out: Dict[str, Any] = {}
        for k, v in tree.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: tree}


def config_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> List[Tuple[str, Any, Any]]:
    """(key, old value, new value) for every dotted key where two plain
    config trees differ. Both are completed with the current defaults first,
    so a key added to ganscape since a run was saved (at its default) is no
    difference: old runs still load and resume."""
    a, b = flatten(_with_defaults(old)), flatten(_with_defaults(new))
    missing = object()
    return [(k, a.get(k, missing), b.get(k, missing)) for k in sorted(set(a) | set(b))
            if a.get(k, missing) != b.get(k, missing)]


def _with_defaults(tree: Mapping[str, Any]) -> Dict[str, Any]:
    try:
        return to_plain(from_dict(to_plain(tree)))
    except ConfigError:  # not a valid config today (a removed key): compare it as it is
        return to_plain(tree)


def is_resumable(key: str) -> bool:
    return any(key == r or key.startswith(r + ".") for r in RESUMABLE)


def apply_overrides(cfg: Config, overrides: List[str]) -> Config:
    """`cfg` with key=value overrides applied (validated like any config)."""
    tree = to_plain(cfg)
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(tree, key, value)
    return from_dict(tree)
