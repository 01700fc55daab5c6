"""One generic registry; every component kind (datasets, architectures,
normalizations, losses, penalties, optimizers, methods, feature extractors,
metrics) has exactly one instance of it.

A registered component is a callable plus a frozen dataclass of its
parameters. Configs name a component and give its parameters as a mapping;
`Registry.params(name, mapping)` turns that mapping into the typed dataclass,
rejecting unknown keys and wrong types with an error that names the key and the
allowed values. Names are the public API: they appear in configs, in
`ganscape list` and in the CLI's choices.
"""
from __future__ import annotations

import collections.abc
import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Type


class ConfigError(ValueError):
    """A configuration names something that does not exist or has a bad value.

    The message always names the offending key and, where there is a finite
    set, the allowed choices.
    """


@dataclass(frozen=True)
class NoParams:
    """Parameters of a component that takes none."""


@dataclass(frozen=True)
class Entry:
    name: str
    fn: Callable[..., Any]
    params_cls: Type
    description: str
    tags: Mapping[str, Any]


def _describe(fn: Callable) -> str:
    doc = (fn.__doc__ or "").strip()
    return doc.splitlines()[0].strip() if doc else ""


def coerce(value: Any, annotation: Any, where: str) -> Any:
    """Convert `value` (from YAML or a --set string) to `annotation`'s type.

    Supports bool, int, float, str, Optional[...], Literal[...], Tuple[...] and
    nested frozen dataclasses. Raises ConfigError naming `where` otherwise.
    """
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin is typing.Union:
        non_none = [a for a in args if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "~")):
            if type(None) in args:
                return None
        errors = []
        for a in non_none:
            try:
                return coerce(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if origin is typing.Literal:
        if isinstance(value, str):
            for a in args:
                if str(a) == value:
                    return a
        if value in args:
            return value
        raise ConfigError(f"{where}: {value!r} is not allowed; choose one of {', '.join(map(repr, args))}")
    if origin in (tuple, typing.Tuple):
        if isinstance(value, str):
            value = [v.strip() for v in value.strip("()[]").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
        return tuple(coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "off", "0"):
            return False
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                try:
                    f = float(value)
                    if f.is_integer():
                        return int(f)
                except ValueError:
                    pass
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        return build_dataclass(annotation, value, where)
    if origin in (dict, collections.abc.Mapping) or annotation in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    raise ConfigError(f"{where}: unsupported type {annotation!r}")


def build_dataclass(cls: Type, mapping: Any, where: str) -> Any:
    """Build frozen dataclass `cls` from a mapping; unknown keys are errors."""
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{where}: expected a mapping of {cls.__name__} fields, got {mapping!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown key {prefix}{unknown[0]!s}; valid keys are: {', '.join(sorted(fields)) or '(none)'}"
        )
    missing = [f.name for f in fields.values() if f.init and f.name not in mapping
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:  # named here: the dataclass would say "__init__() missing 1 required positional argument"
        prefix = f"{where}." if where else ""
        raise ConfigError(f"{prefix}{missing[0]} is required and has no default; set it, e.g. "
                          f"--set {prefix}{missing[0]}=VALUE")
    kwargs = {}
    for k, v in mapping.items():
        kwargs[k] = coerce(v, hints[k], f"{where}.{k}" if where else k)
    try:
        obj = cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{where or cls.__name__}: {e}") from None
    check = getattr(obj, "validate", None)
    if callable(check):
        check(where)
    return obj


class Registry:
    """Name -> (callable, params dataclass, description). Duplicates are rejected."""

    def __init__(self, kind: str, plural: str = ""):
        self.kind = kind
        self.plural = plural or kind + "s"
        self._entries: Dict[str, Entry] = {}

    def register(self, name: str, params: Optional[Type] = None, description: Optional[str] = None, **tags: Any):
        def deco(fn: Callable) -> Callable:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            p = params if params is not None else NoParams
            if not (dataclasses.is_dataclass(p) and p.__dataclass_params__.frozen):
                raise TypeError(f"{self.kind} {name!r}: params must be a frozen dataclass")
            self._entries[name] = Entry(name, fn, p, description or _describe(fn), dict(tags))
            return fn

        return deco

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(sorted(self._entries))}"
            ) from None

    def params(self, name: str, mapping: Optional[Mapping[str, Any]], where: str = "") -> Any:
        """Typed parameters of component `name` from a plain mapping."""
        entry = self.get(name)
        return build_dataclass(entry.params_cls, dict(mapping or {}), where or f"{self.kind}:{name}")

    def build(self, name: str, mapping: Optional[Mapping[str, Any]] = None, *args: Any, **kwargs: Any) -> Any:
        entry = self.get(name)
        return entry.fn(self.params(name, mapping), *args, **kwargs)

    def names(self) -> list:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries[n] for n in self.names())

    def __len__(self) -> int:
        return len(self._entries)


def param_doc(cls: Type) -> list:
    """[(name, type string, default)] for `ganscape list`."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else "required")
        out.append((f.name, type_name(hints[f.name]), default))
    return out


def type_name(t) -> str:
    """A parameter type as a user reads it: int, 1|3, int or null, List[float] (typing's own names
    say "Optional" for Optional[int] on Python 3.10 and 3.11)."""
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin is typing.Literal:
        return "|".join(map(str, args))
    if origin is typing.Union:
        named = [type_name(a) for a in args if a is not type(None)]
        return " or ".join(named + (["null"] if type(None) in args else []))
    if origin is not None:
        return str(t).replace("typing.", "")
    return getattr(t, "__name__", None) or str(t).replace("typing.", "")


# The registries. Modules register into these on import (see ganscape.components).
DATASETS = Registry("dataset")
ARCHITECTURES = Registry("architecture")
NORMALIZATIONS = Registry("normalization")
LOSSES = Registry("loss", "losses")
PENALTIES = Registry("penalty", "penalties")
OPTIMIZERS = Registry("optimizer")
METHODS = Registry("method")
EXTRACTORS = Registry("feature extractor")
METRICS = Registry("metric")
