"""The training loop: one readable function.

Phases per generator step (as data in the config): `train.n_disc`
discriminator updates, one generator update (both inside the method's step),
then the EMA update; penalties apply on their own `every` intervals inside the
D update. Around that: logging, sample grids, checkpoints, divergence checks,
and a clean stop on Ctrl-C.
"""
from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from .. import viz
from ..config import Config, save_json
from . import checkpoint as ckpt_io
from . import rundir
from .state import build_state, load_data, resolve_device, seed_everything, update_ema


class Diverged(RuntimeError):
    """A loss became NaN or Inf."""


class BatchOrder:
    """Which examples form real batch number k: a seeded permutation per epoch
    (the last incomplete batch of an epoch is dropped). A pure function of
    (seed, k), so resuming needs only k."""

    def __init__(self, n: int, batch_size: int, seed: int, device: torch.device):
        if n < batch_size:
            raise ValueError(f"data set has {n} examples, fewer than train.batch_size={batch_size}")
        self.n, self.b, self.seed, self.device = n, batch_size, seed, device
        self.per_epoch = n // batch_size
        self._epoch, self._perm = -1, None

    def indices(self, k: int) -> torch.Tensor:
        epoch, i = divmod(k, self.per_epoch)
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.n, generator=g).to(self.device)
            self._epoch = epoch
        return self._perm[i * self.b:(i + 1) * self.b]


class StopRequest:
    """First Ctrl-C asks the loop to stop after the current step (and save);
    a second one interrupts at once."""

    def __init__(self):
        self.requested = False

    @contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            if self.requested:
                raise KeyboardInterrupt
            self.requested = True

        signal.signal(signal.SIGINT, handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)


class Logger:
    """stats.jsonl always; TensorBoard scalars when tensorboard is installed."""

    def __init__(self, run: Path, enable_tb: bool = True):
        self.path = Path(run) / rundir.STATS
        self.tb = None
        if enable_tb:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tb = SummaryWriter(str(Path(run) / rundir.TENSORBOARD))
            except ImportError:  # tensorboard is an optional extra
                self.tb = None

    def write(self, step: int, record: Dict[str, Any]) -> None:
        rundir.append_jsonl(self.path, {"step": step, **record})
        if self.tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


@torch.no_grad()
def save_samples(state, cfg: Config, run: Path, fixed_z: torch.Tensor, real: torch.Tensor,
                 info: Dict[str, Any], step: int) -> Path:
    G = state.sampler
    was_training = G.training
    G.eval()
    x = G(fixed_z)
    G.train(was_training)
    path = Path(run) / rundir.SAMPLES / f"step_{step:06d}.png"
    if x.ndim == 4:
        return viz.save_image_grid(x, path)
    return viz.save_scatter(x, path, real=real[:2000], centers=info.get("centers"),
                            title=f"{cfg.data.name}, step {step}")


class Evaluator:
    """Scores the sampler on a schedule (config `eval`), appends to
    metrics.jsonl, and tells when the chosen result is the best so far."""

    def __init__(self, cfg: Config, run_dir: Path, device: torch.device):
        from ..metrics.evaluate import build_extractor
        self.cfg, self.run_dir = cfg, run_dir
        self.extractor = build_extractor(cfg.eval.extractor, None, cfg.data.name, device=str(device))
        self.best = None
        self.last_step = -1
        for r in rundir.read_jsonl(run_dir / rundir.METRICS):  # on resume: the best so far
            if cfg.eval.best in r.get("results", {}):
                self._update_best(r["results"][cfg.eval.best])

    def _update_best(self, value: float) -> bool:
        from ..metrics.evaluate import is_better
        if is_better(self.cfg.eval.best, value, self.best):
            self.best = value
            return True
        return False

    def run(self, state) -> bool:
        from ..config import ConfigError
        from ..metrics.evaluate import evaluate_generator
        e = self.cfg.eval
        res = evaluate_generator(state.sampler, self.cfg, e.metrics, e.n, e.split, extractor_obj=self.extractor,
                                 seed=self.cfg.seed + 3)
        self.last_step = state.step
        rundir.append_jsonl(self.run_dir / rundir.METRICS, {"step": state.step, **res})
        if e.best not in res["results"]:
            raise ConfigError(f"eval.best: {e.best!r} is not among the results {sorted(res['results'])}")
        return self._update_best(res["results"][e.best])


def set_lr(state, cfg: Config, factor: float) -> None:
    """Both learning rates at `factor` times their configured value."""
    for opt, comp in ((state.opt_g, cfg.optim.generator), (state.opt_d, cfg.optim.discriminator)):
        for group in opt.param_groups:
            group["lr"] = comp.params["lr"] * factor


def _payload(state, method, cfg: Config) -> Dict[str, Any]:
    from ..config import to_plain
    return {**state.state_dict(), "method": method.state_dict(), "config": to_plain(cfg)}


def _finite(stats: Dict[str, torch.Tensor]) -> torch.Tensor:
    vals = [v for k, v in stats.items() if k.endswith("loss") or k.startswith("penalty/")]
    return torch.stack([torch.isfinite(v).all() for v in vals]).all()


def run(cfg: Config, run_dir: Path, resume: bool = False, progress: Optional[bool] = None) -> Dict[str, Any]:
    """Train `cfg` in `run_dir` (created by the caller). Returns the final status."""
    run_dir = Path(run_dir)
    tc = cfg.train
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed, cfg.deterministic)
    data = load_data(cfg, "train")
    x = data.x.to(device)
    state, method = build_state(cfg, data.shape, device)
    ckpt_dir = run_dir / rundir.CHECKPOINTS
    if resume:
        ckpt, path = ckpt_io.load_newest(ckpt_dir)
        state.load_state_dict(ckpt)
        method.load_state_dict(ckpt["method"])
        # Records written after that checkpoint will be written again.
        rundir.truncate_jsonl(run_dir / rundir.STATS, state.step)
        rundir.truncate_jsonl(run_dir / rundir.METRICS, state.step)
    else:
        save_json(cfg, run_dir / rundir.CONFIG)
    order = BatchOrder(len(x), cfg.real_batch_size, cfg.seed, device)
    n_fixed = tc.num_samples if data.kind == "image" else tc.num_samples * 40
    fixed_z = torch.randn(n_fixed, cfg.model.z_dim, generator=torch.Generator().manual_seed(cfg.seed + 1)).to(device)
    logger = Logger(run_dir)
    rundir.write_status(run_dir, "running", step=state.step)
    ok = torch.ones((), dtype=torch.bool, device=device)  # all losses finite so far
    status, last_log_time, last_log_step = "completed", time.perf_counter(), state.step
    show = tc.progress if progress is None else progress
    from tqdm.auto import tqdm
    bar = tqdm(total=tc.steps, initial=state.step, desc=cfg.name, unit="step", disable=not show, dynamic_ncols=True)
    stop = StopRequest()
    saved_step = [state.step if resume else -1]

    def checkpoint(kind: str) -> None:
        if not bool(ok):  # never let a NaN model replace the last good one
            raise Diverged
        if kind == "latest" and saved_step[0] == state.step:
            return
        saved_step[0] = state.step
        payload = _payload(state, method, cfg)
        ckpt_io.save_latest(ckpt_dir, payload)
        if kind == "keep":
            ckpt_io.save(ckpt_dir / f"step_{state.step:06d}.pt", payload)

    evaluator = Evaluator(cfg, run_dir, device) if cfg.eval.metrics else None

    def evaluate() -> None:
        if not bool(ok):
            raise Diverged
        if evaluator.run(state):
            ckpt_io.save(ckpt_dir / "best.pt", _payload(state, method, cfg))

    try:
        with stop.installed():
            while state.step < tc.steps:
                if tc.lr_schedule == "linear":
                    set_lr(state, cfg, 1.0 - state.step / tc.steps)
                log = (state.step + 1) % tc.log_every == 0 or state.step + 1 == tc.steps
                reals = [x[order.indices(state.batch + i)] for i in range(tc.n_disc)]
                state.batch += tc.n_disc
                stats = method.step(state, reals, log)
                state.step += 1
                if state.G_ema is not None:
                    # Before ema_start the EMA simply follows G.
                    update_ema(state.G_ema, state.G, tc.ema_decay if state.step > tc.ema_start else 0.0)
                ok = ok & _finite(stats)
                if log:
                    if not bool(ok):
                        raise Diverged
                    now = time.perf_counter()
                    record = {k: float(v) for k, v in stats.items()}
                    record["sec_per_step"] = (now - last_log_time) / max(state.step - last_log_step, 1)
                    last_log_time, last_log_step = now, state.step
                    logger.write(state.step, record)
                    bar.set_postfix(d=f"{record['d_loss']:.3f}", g=f"{record['g_loss']:.3f}", refresh=False)
                bar.update(1)
                if tc.sample_every and state.step % tc.sample_every == 0:
                    save_samples(state, cfg, run_dir, fixed_z, data.x, data.info, state.step)
                if evaluator and cfg.eval.every and state.step % cfg.eval.every == 0:
                    evaluate()
                if tc.checkpoint_every and state.step % tc.checkpoint_every == 0:
                    checkpoint("keep")
                elif state.step % tc.latest_every == 0:
                    checkpoint("latest")
                if stop.requested:
                    checkpoint("latest")
                    status = "interrupted"
                    break
            else:
                checkpoint("latest")
                save_samples(state, cfg, run_dir, fixed_z, data.x, data.info, state.step)
                if evaluator and evaluator.last_step != state.step:
                    evaluate()
    except Diverged:
        status = "diverged"
    finally:
        bar.close()
        logger.close()
    extra: Dict[str, Any] = {"step": state.step}
    if status == "diverged":
        extra["reason"] = "a loss became NaN or Inf; the last good checkpoint is kept"
    if status == "completed" and "centers" in data.info:
        from ..metrics.evaluate import generate
        from ..metrics.mode_coverage import mode_coverage
        samples = generate(state.sampler, 2500, seed=cfg.seed + 2)
        if torch.isfinite(samples).all():
            cov = mode_coverage(samples.numpy(), data.info["centers"], data.info["sigma"])
            rundir.append_jsonl(run_dir / rundir.METRICS, {"step": state.step, "metric": "mode_coverage",
                                                           "n": 2500, **cov})
            extra["mode_coverage"] = cov
        else:
            status, extra["reason"] = "diverged", "the generator outputs NaN or Inf"
    viz.save_stats_plot(rundir.read_jsonl(run_dir / rundir.STATS), run_dir / "stats.png",
                        title=f"{cfg.name}: {status} at step {state.step}")
    rundir.write_status(run_dir, status, **extra)
    return {"status": status, **extra}
