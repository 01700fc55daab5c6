"""Which process of a distributed run this is, for the code below train/ that
draws per-example noise (nets' latents, penalties' interpolation points).

Inside a distributed training step (`sharded()`, entered by the loop around
each step), `per_example(draw, n)` draws the noise of the whole global batch,
n x world rows, from the RNG every rank holds in the same state, and keeps
this rank's n rows: rank r gets exactly the rows one process training the
global batch would use (train/distributed.py says why that matters). Outside
it (sampling, evaluation, one process), it is draw(n). Imports nothing of
ganscape, so nets/ and objectives/ may use it.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch

_STATE = {"rank": 0, "world": 1, "sharded": False, "eval_sharded": False}


def set_ranks(rank: int, world: int) -> None:
    _STATE["rank"], _STATE["world"] = int(rank), int(world)


def rank() -> int:
    return _STATE["rank"]


def world() -> int:
    return _STATE["world"]


@contextmanager
def _set(key: str, value: bool) -> Iterator[None]:
    before = _STATE[key]
    _STATE[key] = value
    try:
        yield
    finally:
        _STATE[key] = before


def sharded():
    """Per-example draws in this block are slices of the global batch's draw."""
    return _set("sharded", True)


def sharded_eval():
    """Feature extraction in this block splits its batches over the ranks (every rank must enter it:
    `ganscape eval` under torchrun). The training loop's evaluations run on rank 0 alone, outside it."""
    return _set("eval_sharded", _STATE["world"] > 1)


def unsharded_eval():
    """Feature extraction in this block is this rank's own (inside a sharded evaluation)."""
    return _set("eval_sharded", False)


def eval_shard() -> tuple:
    """(rank, world) that share feature extraction now; (0, 1) when it is not split."""
    return (_STATE["rank"], _STATE["world"]) if _STATE["eval_sharded"] else (0, 1)


def any_rank(flag: bool) -> bool:
    """True on every rank when `flag` is True on any (inside a distributed run; else flag)."""
    if _STATE["world"] == 1:
        return bool(flag)
    import torch.distributed as dist
    t = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def per_example(draw: Callable[[int], torch.Tensor], n: int) -> torch.Tensor:
    """draw(n), or inside a distributed step this rank's n rows of draw(n x world)."""
    w = _STATE["world"]
    if w == 1 or not _STATE["sharded"]:
        return draw(n)
    r = _STATE["rank"]
    return draw(n * w)[r * n:(r + 1) * n]
