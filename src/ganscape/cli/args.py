"""Argument types shared by the command groups: a bad value stops at parsing,
with argparse's "argument --NAME: ..." message and exit code 2."""
from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """An integer >= 1 (sample counts, --steps, batch sizes)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


THREADS_TRAIN = ("torch threads, beating train.threads (default: train.threads; its 0: measured on the first "
                 "steps and again when throughput changes; see the README's Threads)")
THREADS_EVAL = ("torch threads (default: measured on a throwaway batch of samples, AIS on its own steps; see the "
                "README's Threads)")


def add_threads(p, text: str = THREADS_TRAIN) -> None:
    """--threads N: the torch thread count (cli/__init__ applies it around the command)."""
    p.add_argument("--threads", type=positive_int, default=None, metavar="N", help=text)


def checkpoint_name(text: str) -> str:
    """latest | best | a step number (a non-negative integer), normalised."""
    from ..train.checkpoint import parse_which
    try:
        return parse_which(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not allowed; choose latest, best or a step number (e.g. 1000)") from None


def parse_metric_params(items) -> dict:
    """["nll.ais_steps=200", ...] -> {"nll": {"ais_steps": 200}} (values parsed as YAML)."""
    import yaml

    from ..registry import ConfigError
    out: dict = {}
    for item in items or ():
        key, eq, value = item.partition("=")
        metric, dot, name = key.partition(".")
        if not eq or not dot or not metric or not name:
            raise ConfigError(f"--param {item!r}: expected METRIC.KEY=VALUE, e.g. nll.ais_steps=200")
        out.setdefault(metric.strip(), {})[name.strip()] = yaml.safe_load(value)
    return out
