"""Training across processes with torch.distributed (issue 19, part 2).

Started by torchrun (one process per GPU, or several CPU processes with the
gloo backend), which sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous;
without WORLD_SIZE > 1 nothing here does anything.

Why gradients are averaged by hand and the nets are not wrapped in DDP (as
StyleGAN2-ADA's loop does): a GAN step runs several backward passes through
the same nets for different optimizers (D's loss also flows into G, G's loss
into D, penalties take a double backward, lazy regularization skips steps),
and DDP's bucketed hooks fire on every backward and expect each to be
followed by its one optimizer step. Here every optimizer gets a step
pre-hook that averages its parameters' gradients over the ranks just before
it steps: one place, whatever a method does between, for every recipe of
every family, double-backward penalties included. Cost: one flat all-reduce
per optimizer step, not overlapped with the backward pass as DDP's buckets are.

What makes 2 ranks x 32 train the weights of 1 process x 64:
- every rank draws the same global batch of indices and keeps its slice (feed.py);
- all ranks hold the same RNG state (same seed, same draws), and per-example
  noise inside a step (latents, a penalty's interpolation points) is drawn
  for the global batch and sliced (ganscape/ranks.py), so rank r's rows are
  the rows the one process would use;
- losses are means over a rank's slice, so the mean of the ranks' gradients
  is the gradient of the mean over the global batch;
- batch norm is per rank unless `train.sync_batchnorm`, which replaces it by
  a cross-replica batch norm (statistics summed over the ranks, with
  gradients through the all-reduce). torch's nn.SyncBatchNorm runs on GPUs
  only, so this one is written here and used on CPUs and GPUs alike.
Randomness drawn another way is the SAME on every rank (all hold one RNG
state): dropout masks repeat across ranks, and methods that sample their
fakes outside ganscape.ranks (sequence GANs, boundary-seeking GANs, the
recipes that act) are refused under torchrun (Method.distributed_refusal).
Batch statistics other than batch norm (minibatch discrimination, PacGAN's
packs) are per rank. A data-dependent initialization (the improved-GAN D's,
a flow's ActNorm) sees each rank's slice; the nets are set to rank 0's after
the first step. A per-batch transform of the data (dynamic binarization) is
applied to the global batch, then sliced (train/feed.py).

Rank 0 alone writes the run folder; every rank loads the same checkpoint on
resume. Stopping (a signal, train.max_seconds), pruning (rank 0's
evaluation) and non-finite weights are agreed on, so all ranks leave the
loop after the same step. A rank that dies makes the others' next
collective fail; each records the failure, rank 0 in status.json, and
torchrun reports which rank exited.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Dict, Optional

import torch
import torch.distributed as dist
from torch import nn

from .. import ranks
from ..registry import ConfigError


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def lead(self) -> bool:
        """The rank that writes the run folder."""
        return self.rank == 0


def from_env() -> Ranks:
    """This process's place in a torchrun launch (Ranks() when not launched so)."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise ConfigError("WORLD_SIZE, RANK and LOCAL_RANK must be integers (torchrun sets them)") from None
    return Ranks(rank, world, local) if world > 1 else Ranks()


def start(r: Ranks, device: torch.device, timeout_minutes: float = 120.0) -> torch.device:
    """Join the process group (nccl on CUDA, gloo otherwise); returns this rank's device. The long
    timeout lets the other ranks wait while rank 0 evaluates or writes samples."""
    if r.world == 1:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", r.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        # on GPUs nccl for the device's tensors and gloo for the few CPU ones (evaluation's gathers)
        dist.init_process_group("cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo",
                                timeout=timedelta(minutes=timeout_minutes))
    if dist.get_world_size() != r.world:
        raise ConfigError(f"the process group has {dist.get_world_size()} ranks, WORLD_SIZE says {r.world}")
    ranks.set_ranks(r.rank, r.world)
    return device


def stop() -> None:
    """Leave the process group (after the run, failed or not). The ranks first wait for each other:
    rank 0 still writes the run's last files when the others are done, and a rank that tore its
    group down meanwhile could abort at exit in gloo's threads ("terminate called without an active
    exception", seen under load). After a peer died the barrier fails at once, and is skipped."""
    ranks.set_ranks(0, 1)
    if dist.is_initialized():
        try:
            dist.barrier()
        except Exception:  # noqa: BLE001 (a dead peer: nothing to wait for)
            pass
        dist.destroy_process_group()


def peer_failure(e: BaseException, r: Ranks) -> Optional[str]:
    """One line for a collective that failed because another rank stopped (killed, crashed), or None
    when `e` is something else."""
    text = str(e)
    dist_error = getattr(dist, "DistError", ())
    if r.world == 1 or not (isinstance(e, dist_error) or (isinstance(e, RuntimeError) and any(
            s in text for s in ("gloo", "NCCL", "Connection reset", "Connection closed", "Broken pipe")))):
        return None
    first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    first = first.split("] ", 1)[-1][:160]  # gloo prefixes its source file
    return (f"another process of this {r.world}-process run stopped (rank {r.rank} saw: {first}); torchrun's "
            f"report names the rank that exited")


def gather_batches(mine: Dict[int, torch.Tensor], count: int) -> list:
    """Every rank's batches {global batch index: rows (n_i, d)} joined into the list of all `count`
    batches in index order, on every rank (all_gather of padded float64 tensors; nothing is pickled)."""
    world = dist.get_world_size()
    width = next(iter(mine.values())).shape[1] if mine else 0
    width_t = torch.tensor([width], dtype=torch.int64)
    dist.all_reduce(width_t, op=dist.ReduceOp.MAX)
    width = int(width_t.item())
    index = sorted(mine)
    rows = [mine[i].to(torch.float64).reshape(-1, width) for i in index]
    local = torch.cat(rows) if rows else torch.zeros(0, width, dtype=torch.float64)
    meta = torch.tensor([[i, len(r)] for i, r in zip(index, rows)], dtype=torch.int64).reshape(-1, 2)
    n_meta = torch.tensor([len(meta), len(local)], dtype=torch.int64)
    sizes = [torch.zeros(2, dtype=torch.int64) for _ in range(world)]
    dist.all_gather(sizes, n_meta)
    most_b = max(int(s[0]) for s in sizes)
    most_r = max(int(s[1]) for s in sizes)
    pad_meta = torch.full((most_b, 2), -1, dtype=torch.int64)
    pad_meta[:len(meta)] = meta
    pad_rows = torch.zeros(most_r, width, dtype=torch.float64)
    pad_rows[:len(local)] = local
    metas = [torch.zeros_like(pad_meta) for _ in range(world)]
    datas = [torch.zeros_like(pad_rows) for _ in range(world)]
    dist.all_gather(metas, pad_meta)
    dist.all_gather(datas, pad_rows)
    out: Dict[int, torch.Tensor] = {}
    for m, d in zip(metas, datas):
        at = 0
        for i, n in m.tolist():
            if i < 0:
                break
            out[i] = d[at:at + n]
            at += n
    if sorted(out) != list(range(count)):
        raise RuntimeError(f"sharded evaluation: gathered batches {sorted(out)[:5]}..., expected 0..{count - 1}")
    return [out[i] for i in range(count)]


def _average_gradients(opt: torch.optim.Optimizer, args, kwargs) -> None:
    grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    at = 0
    for g in grads:
        g.copy_(flat[at:at + g.numel()].view_as(g))
        at += g.numel()


def sync_nets(nets: Dict[str, nn.Module]) -> None:
    """Every rank's nets become rank 0's: parameters and buffers (also after the first step, since a
    data-dependent initialization, the improved-GAN D's or a flow's ActNorm, sees each rank's slice)."""
    if ranks.world() == 1:
        return
    for net in nets.values():
        for t in [*net.parameters(), *net.buffers()]:
            dist.broadcast(t.data, 0)


def prepare(nets: Dict[str, nn.Module], optims: Dict[str, torch.optim.Optimizer], r: Ranks) -> None:
    """Every net starts from rank 0's weights, and every optimizer averages its gradients over the ranks
    before it steps."""
    if r.world == 1:
        return
    sync_nets(nets)
    for opt in optims.values():
        opt.register_step_pre_hook(_average_gradients)


def agree(flag: bool, device: torch.device) -> bool:
    """True on every rank when it is True on any (stop after this step)."""
    if not ranks.world() > 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def mean_stats(stats: Dict[str, torch.Tensor], device: torch.device) -> Dict[str, torch.Tensor]:
    """A step's logged statistics averaged over the ranks (each rank's are of its slice)."""
    if ranks.world() == 1 or not stats:
        return stats
    keys = sorted(stats)
    t = torch.stack([torch.as_tensor(stats[k], dtype=torch.float32, device=device).detach().reshape(())
                     for k in keys])
    dist.all_reduce(t)
    t /= ranks.world()
    return {k: t[i] for i, k in enumerate(keys)}


def share_path(path: Optional[Path], device: torch.device) -> Path:
    """Rank 0's run folder, told to every rank (as UTF-8 bytes; nothing is unpickled)."""
    if ranks.world() == 1:
        return Path(path)
    data = str(path).encode("utf-8") if ranks.rank() == 0 else b""
    n = torch.tensor([len(data)], dtype=torch.int64, device=device)
    dist.broadcast(n, 0)
    buf = torch.zeros(int(n.item()), dtype=torch.uint8, device=device)
    if ranks.rank() == 0:
        buf.copy_(torch.frombuffer(bytearray(data), dtype=torch.uint8))
    dist.broadcast(buf, 0)
    return Path(bytes(buf.cpu().tolist()).decode("utf-8"))


class CrossReplicaBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are those of the global batch: per-channel sums and sums of
    squares all-reduced over the ranks (torch.distributed.nn's all_reduce, so gradients flow through
    them). In eval mode, or in one process, it is nn.BatchNorm. Running variance is unbiased over the
    global count, as nn.BatchNorm's over its batch."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {x.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and ranks.world() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce
        dims = [0, *range(2, x.dim())]
        c = x.shape[1]
        out_dtype, x = x.dtype, x.float()   # the statistics in float32 (a float16 count or sum overflows)
        local = torch.cat([x.sum(dims), (x * x).sum(dims),
                           torch.full((1,), x.numel() / c, dtype=x.dtype, device=x.device)])
        total = all_reduce(local)
        n = total[-1]
        mean = total[:c] / n
        var = (total[c:2 * c] / n - mean * mean).clamp_min(0.0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1), alpha=m)
        shape = (1, c) + (1,) * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(out_dtype)


def sync_batchnorm(module: nn.Module) -> nn.Module:
    """`module` with every BatchNorm1d/2d/3d replaced by a CrossReplicaBatchNorm that shares its
    parameters and buffers (the same tensors: optimizers and EMA copies are unaffected)."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CrossReplicaBatchNorm):
        new = CrossReplicaBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                    module.track_running_stats)
        if module.affine:
            new.weight, new.bias = module.weight, module.bias
        if module.track_running_stats:
            new.running_mean, new.running_var = module.running_mean, module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        setattr(module, name, sync_batchnorm(child))
    return module
