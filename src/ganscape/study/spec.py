"""Study specs: what a landscape study sweeps, how, and what it optimizes.

A spec is a YAML mapping, typed and strict like run configs (an unknown key
is an error naming the allowed ones):

    name: loss-digits                  # the Optuna study name
    description: one line
    base: digits                       # a preset name, or a path to a run config YAML
    set: [train.steps=2000]            # overrides of every trial's config
    space:                             # the search space, applied in this order
      loss:                            # a categorical: labels (or label: value)
        key: loss.name
        choices: [minimax, ns, least-squares]
      penalty:
        key: penalties
        choices: {none: [], gp: [{name: gp}], dragan: [{name: dragan}]}
      penalty_weight:                  # a conditional number
        key: penalties.0.params.weight
        float: [0.1, 100]
        log: true
        when: {penalty: [gp, dragan]}
      lr:                              # one number set at several keys
        keys: [optim.generator.params.lr, optim.discriminator.params.lr]
        float: [1.0e-5, 1.0e-2]
        log: true
      n_disc: {key: train.n_disc, int: [1, 5]}
    sampler: {name: random, seed: 0}   # random | grid | tpe | gp (Optuna's samplers)
    trials: 20
    seeds: 1                           # seeds per setting: the objective is their mean
    objective: {metric: fid, n: 1000, every: 500, reduce: best}
    pruner: {name: none}               # none | median | hyperband

Keys are dotted paths into the run config; an integer part indexes a list
(``optim.generator.params.betas.0``, ``penalties.0.params.weight``).
A categorical's Optuna parameter is its label (Optuna stores scalars only);
the value it stands for is set in the config. ``scale`` on a number makes
other keys follow it: ``scale: {keys: [...lr], rule: sqrt, reference: 64}``
multiplies those keys by (value / reference) ** 1/2 (``linear``: ** 1),
the batch-size study's learning-rate rule.

The grid sampler needs every number to list its values (``grid: [...]``);
the grid is the product of all parameters, so a conditional parameter adds
duplicates of the settings where it is inactive (Optuna's GridSampler knows
no conditions).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import yaml

from ..registry import ConfigError

SPEC_DIR = Path(__file__).resolve().parent.parent / "studies"
SAMPLERS = ("random", "grid", "tpe", "gp")
PRUNERS = ("none", "median", "hyperband")
RULES = ("linear", "sqrt")


def _strict(tree: Any, allowed: Tuple[str, ...], where: str) -> Dict[str, Any]:
    if not isinstance(tree, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(tree).__name__}")
    unknown = sorted(set(tree) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}")
    return dict(tree)


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"{where}: expected a finite number, got {v!r}")
    return float(v)


@dataclass(frozen=True)
class Scale:
    keys: Tuple[str, ...]
    rule: str = "linear"
    reference: float = 1.0

    def factor(self, value: float) -> float:
        r = value / self.reference
        return r if self.rule == "linear" else math.sqrt(r)


@dataclass(frozen=True)
class Param:
    """One dimension of the search space."""
    name: str
    keys: Tuple[str, ...]
    kind: str                                   # categorical | float | int
    choices: Tuple[Tuple[str, Any], ...] = ()   # (label, value) of a categorical
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: Optional[float] = None
    grid: Tuple[Any, ...] = ()
    when: Tuple[Tuple[str, Tuple[Any, ...]], ...] = ()  # (param, allowed labels/values): all must hold
    scale: Optional[Scale] = None

    def active(self, chosen: Mapping[str, Any]) -> bool:
        return all(p in chosen and chosen[p] in allowed for p, allowed in self.when)

    def value_of(self, label: Any) -> Any:
        """The config value a sampled Optuna value stands for."""
        if self.kind == "categorical":
            return copy.deepcopy(dict(self.choices)[label])
        return label

    def grid_values(self) -> List[Any]:
        if self.kind == "categorical":
            return [label for label, _ in self.choices]
        return list(self.grid)


def _param(name: str, tree: Any, where: str) -> Param:
    t = _strict(tree, ("key", "keys", "choices", "float", "int", "log", "step", "grid", "when", "scale"), where)
    if ("key" in t) == ("keys" in t):
        raise ConfigError(f"{where}: give exactly one of key (a dotted config key) or keys (a list of them)")
    keys = (t["key"],) if "key" in t else tuple(t["keys"] or ())
    if not keys or not all(isinstance(k, str) and k and all(keys) for k in keys):
        raise ConfigError(f"{where}.key: expected dotted config keys such as loss.name, got {keys!r}")
    kinds = [k for k in ("choices", "float", "int") if k in t]
    if len(kinds) != 1:
        raise ConfigError(f"{where}: give exactly one of choices (categorical), float: [low, high] or "
                          f"int: [low, high]; got {kinds or 'none'}")
    kind = {"choices": "categorical"}.get(kinds[0], kinds[0])
    when = []
    for p, allowed in _strict(t.get("when") or {}, tuple(t.get("when") or ()), f"{where}.when").items():
        allowed = tuple(allowed) if isinstance(allowed, (list, tuple)) else (allowed,)
        when.append((str(p), allowed))
    scale = None
    if "scale" in t:
        s = _strict(t["scale"], ("keys", "rule", "reference"), f"{where}.scale")
        if s.get("rule", "linear") not in RULES:
            raise ConfigError(f"{where}.scale.rule: {s.get('rule')!r} is not allowed; choose {' or '.join(RULES)}")
        ref = _number(s.get("reference", 1.0), f"{where}.scale.reference")
        if ref <= 0 or not s.get("keys"):
            raise ConfigError(f"{where}.scale: needs keys and a reference > 0")
        scale = Scale(tuple(s["keys"]), s.get("rule", "linear"), ref)
    if kind == "categorical":
        raw = t["choices"]
        if isinstance(raw, Mapping):
            choices = tuple((str(k), v) for k, v in raw.items())
        elif isinstance(raw, (list, tuple)):
            for v in raw:
                if not isinstance(v, (str, int, float, bool)) and v is not None:
                    raise ConfigError(f"{where}.choices: {v!r} is not a scalar; give a mapping label: value "
                                      f"for lists and sections")
            choices = tuple((v, v) for v in raw)
        else:
            raise ConfigError(f"{where}.choices: expected a list or a mapping label: value")
        if len(choices) < 1 or len({c for c, _ in choices}) != len(choices):
            raise ConfigError(f"{where}.choices: needs at least one choice and no repeated labels")
        for k in ("log", "step", "grid"):
            if k in t:
                raise ConfigError(f"{where}.{k}: only for numbers, not for choices")
        if scale and not all(isinstance(v, (int, float)) and not isinstance(v, bool) for _, v in choices):
            raise ConfigError(f"{where}.scale: the choices must be numbers to scale other keys by")
        return Param(name, keys, kind, choices=choices, when=tuple(when), scale=scale)
    rng = t[kinds[0]]
    if not isinstance(rng, (list, tuple)) or len(rng) != 2:
        raise ConfigError(f"{where}.{kinds[0]}: expected [low, high], got {rng!r}")
    low, high = (_number(v, f"{where}.{kinds[0]}") for v in rng)
    if not low < high:
        raise ConfigError(f"{where}.{kinds[0]}: low must be below high, got [{low:g}, {high:g}]")
    log = bool(t.get("log", False))
    if log and low <= 0:
        raise ConfigError(f"{where}.log: a log-uniform range needs low > 0, got {low:g}")
    step = t.get("step")
    if step is not None:
        step = _number(step, f"{where}.step")
        if step <= 0 or log:
            raise ConfigError(f"{where}.step: must be > 0, and cannot be combined with log")
    if kind == "int" and (low != int(low) or high != int(high)):
        raise ConfigError(f"{where}.int: bounds must be integers, got [{low:g}, {high:g}]")
    grid = tuple(t.get("grid") or ())
    for g in grid:
        if not low <= _number(g, f"{where}.grid") <= high:
            raise ConfigError(f"{where}.grid: {g!r} is outside [{low:g}, {high:g}]")
    return Param(name, keys, kind, low=low, high=high, log=log, step=step, grid=grid, when=tuple(when),
                 scale=scale)


@dataclass(frozen=True)
class Objective:
    metric: str = "fid"            # a metric of `ganscape eval`, computed during training
    result: str = ""               # the result key it optimizes ("" = metric)
    n: int = 1000                  # samples per evaluation
    every: int = 0                 # evaluate every N steps (0 = only at the end); gives the curves
    reduce: str = "best"           # best (over the evaluations, as the studies) | last
    direction: str = "minimize"

    @property
    def key(self) -> str:
        return self.result or self.metric


@dataclass(frozen=True)
class StudySpec:
    name: str
    description: str = ""
    base: str = "digits"
    set: Tuple[str, ...] = ()
    space: Tuple[Param, ...] = ()
    sampler: str = "random"
    sampler_seed: int = 0
    trials: int = 10
    seeds: int = 1
    objective: Objective = field(default_factory=Objective)
    pruner: str = "none"
    pruner_params: Tuple[Tuple[str, Any], ...] = ()
    text: str = ""                 # the YAML it was read from (for the report)

    def param(self, name: str) -> Param:
        return {p.name: p for p in self.space}[name]

    @property
    def factors(self) -> List[str]:
        """The categorical parameters: what the analysis compares levels of."""
        return [p.name for p in self.space if p.kind == "categorical"]


SPEC_KEYS = ("name", "description", "base", "set", "space", "sampler", "trials", "seeds", "objective", "pruner")


def parse_spec(tree: Any, text: str = "") -> StudySpec:
    t = _strict(tree, SPEC_KEYS, "study spec")
    name = t.get("name")
    if not isinstance(name, str) or not name or "/" in name:
        raise ConfigError(f"study spec.name: expected a name without '/', got {name!r}")
    sets = t.get("set") or []
    if isinstance(sets, str) or not all(isinstance(s, str) and "=" in s for s in sets):
        raise ConfigError("study spec.set: expected a list of key=value strings, e.g. [train.steps=2000]")
    space_tree = t.get("space") or {}
    if not isinstance(space_tree, Mapping) or not space_tree:
        raise ConfigError("study spec.space: expected a mapping of at least one parameter")
    space = tuple(_param(str(k), v, f"study spec.space.{k}") for k, v in space_tree.items())
    names = [p.name for p in space]
    for i, p in enumerate(space):
        for dep, allowed in p.when:
            if dep not in names[:i]:
                raise ConfigError(f"study spec.space.{p.name}.when: {dep!r} must be a parameter listed before "
                                  f"{p.name!r}; known: {', '.join(names[:i]) or 'none'}")
            d = space[names.index(dep)]
            valid = d.grid_values() if d.kind == "categorical" else None
            for a in allowed:
                if valid is not None and a not in valid:
                    raise ConfigError(f"study spec.space.{p.name}.when: {a!r} is not a choice of {dep!r}; "
                                      f"choices: {', '.join(map(str, valid))}")
    sm = t.get("sampler", "random")
    sm = {"name": sm} if isinstance(sm, str) else _strict(sm, ("name", "seed"), "study spec.sampler")
    if sm.get("name") not in SAMPLERS:
        raise ConfigError(f"study spec.sampler.name: {sm.get('name')!r} is not allowed; choose one of "
                          f"{', '.join(SAMPLERS)}")
    if sm["name"] == "grid":
        for p in space:
            if p.kind != "categorical" and not p.grid:
                raise ConfigError(f"study spec.space.{p.name}.grid: the grid sampler needs the values of every "
                                  f"number (grid: [...])")
    pr = t.get("pruner", "none")
    pr = {"name": pr} if isinstance(pr, str) else dict(pr)
    pname = pr.pop("name", "none")
    if pname not in PRUNERS:
        raise ConfigError(f"study spec.pruner.name: {pname!r} is not allowed; choose one of {', '.join(PRUNERS)}")
    ob = _strict(t.get("objective") or {}, ("metric", "result", "n", "every", "reduce", "direction"),
                 "study spec.objective")
    objective = Objective(**ob)
    if objective.reduce not in ("best", "last"):
        raise ConfigError(f"study spec.objective.reduce: {objective.reduce!r} is not allowed; choose best or last")
    if objective.direction not in ("minimize", "maximize"):
        raise ConfigError("study spec.objective.direction: choose minimize or maximize")
    if not isinstance(objective.n, int) or objective.n < 2 or not isinstance(objective.every, int) \
            or objective.every < 0:
        raise ConfigError("study spec.objective: n must be an integer >= 2 and every an integer >= 0")
    if pname != "none" and not objective.every:
        raise ConfigError("study spec.pruner: pruning needs intermediate values; set objective.every > 0")
    trials, seeds = t.get("trials", 10), t.get("seeds", 1)
    for k, v in (("trials", trials), ("seeds", seeds)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(f"study spec.{k}: must be an integer >= 1, got {v!r}")
    return StudySpec(name=name, description=str(t.get("description", "")), base=str(t.get("base", "digits")),
                     set=tuple(sets), space=space, sampler=sm["name"], sampler_seed=int(sm.get("seed", 0)),
                     trials=trials, seeds=seeds, objective=objective, pruner=pname,
                     pruner_params=tuple(sorted(pr.items())), text=text)


def list_specs() -> List[str]:
    return sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))


def load_spec(source: Union[str, Path]) -> StudySpec:
    """A shipped spec by name, or a YAML file."""
    path = Path(source)
    if not str(source).endswith((".yaml", ".yml")) and not path.is_file():
        path = SPEC_DIR / f"{source}.yaml"
        if not path.exists():
            raise ConfigError(f"unknown study {str(source)!r}: not a file, and not a shipped spec "
                              f"({', '.join(list_specs())})")
    try:
        text = path.read_text()
        tree = yaml.safe_load(text)
    except FileNotFoundError:
        raise ConfigError(f"study spec {str(path)!r} does not exist") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"study spec {str(path)!r} is not valid YAML: {e}") from None
    return parse_spec(tree, text)


# ---- from sampled parameters to a run config ----------------------------------------
def set_key(tree: Dict[str, Any], key: str, value: Any) -> None:
    """tree[a][b][0][c] = value for key 'a.b.0.c'; missing sections are
    created, a bare component name ('hinge') becomes {name, params}."""
    parts = key.split(".")
    node: Any = tree
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[:i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"space key {key}: {where} indexes a list of {len(node)} items")
            idx: Any = int(part)
        elif isinstance(node, dict):
            idx = part
        else:
            raise ConfigError(f"space key {key}: {'.'.join(parts[:i])} is a value, not a section")
        if last:
            node[idx] = value
            return
        nxt = node[idx] if isinstance(node, list) else node.get(idx)
        if isinstance(nxt, str) and parts[i + 1] in ("params", "name"):
            nxt = {"name": nxt, "params": {}}
        elif nxt is None:
            nxt = {}
        elif isinstance(nxt, (list, dict)):
            nxt = copy.copy(nxt)
        node[idx] = nxt
        node = nxt


def get_key(tree: Dict[str, Any], key: str) -> Any:
    node: Any = tree
    for part in key.split("."):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def apply_params(spec: StudySpec, tree: Dict[str, Any], chosen: Mapping[str, Any]) -> Dict[str, Any]:
    """The run config tree with the chosen parameters (Optuna's values:
    labels for categoricals) set, in the order of the space."""
    tree = copy.deepcopy(tree)
    for p in spec.space:
        if p.name not in chosen:
            continue
        value = p.value_of(chosen[p.name])
        for k in p.keys:
            set_key(tree, k, copy.deepcopy(value))
        if p.scale is not None:
            f = p.scale.factor(float(value))
            for k in p.scale.keys:
                set_key(tree, k, float(get_key(tree, k)) * f)
    return tree
