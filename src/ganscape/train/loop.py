"""The training loop: one readable function.

Phases per generator step (as data in the config): `train.n_disc`
discriminator updates, one generator update (both inside the method's step),
then the EMA update; penalties apply on their own `every` intervals inside the
D update. Around that: logging, sample grids, checkpoints, divergence checks,
and how a run ends:

    completed    all train.steps done
    interrupted  Ctrl-C, SIGTERM or SIGHUP: the step finishes, latest.pt is
                 saved; a second signal stops at once without saving. The
                 handlers are installed before anything is built or written,
                 so a signal at any moment ends in a recorded status (or, before
                 the run folder exists, in no folder at all)
    diverged     a loss, weight or buffer became NaN/Inf: nothing is saved
                 from the broken state, the last good checkpoint stays
    failed       a file could not be written (disk full, read-only folder)
                 or an error was raised: the reason is in status.json where
                 it can be written, temp files are removed, and every
                 checkpoint written before stays intact
"""
from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Union

import torch

from .. import ranks, viz
from ..registry import ConfigError
from ..config import Config, save_json
from . import checkpoint as ckpt_io
from . import rundir
from . import distributed, speed, staleness
from .feed import Feed
from . import threads as thr
from .state import (DataSpec, allocation_failure, build_state, load_data, no_labels_hint, resolve_device,
                    seed_everything, update_ema)


class Diverged(RuntimeError):
    """A loss, a weight or a buffer became NaN or Inf."""


class Pruned(RuntimeError):
    """Raised inside the loop when `on_eval` asks to stop (a study's pruner)."""


class StopRequest:
    """The signals that ask a run to stop: SIGINT (Ctrl-C), SIGTERM (what
    `kill`, `timeout` and cluster schedulers send) and SIGHUP (a closed
    terminal). The first one asks the loop to stop after the current step,
    save and exit with status "interrupted"; a second one interrupts at once
    (KeyboardInterrupt), and the loop still records "interrupted". Signals
    after that one, and every signal once the loop has ended, are only noted:
    the second or so that records how the run ended must not be cut short,
    or the folder would say "running" for ever."""

    SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))

    def __init__(self):
        self.requested = False
        self.signal_name: Optional[str] = None
        self.raised = False  # a second signal raised KeyboardInterrupt, or mute() was called

    def mute(self) -> None:
        """From now on signals are only noted: the run is recording how it
        ended (a second or so), which must not be cut short."""
        self.raised = True

    @contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield self
            return

        def handler(signum, frame):
            if self.requested and not self.raised:
                self.raised = True
                raise KeyboardInterrupt
            if not self.requested:
                self.requested = True
                self.signal_name = signal.Signals(signum).name

        previous = {s: signal.getsignal(s) for s in self.SIGNALS}
        for s in self.SIGNALS:
            signal.signal(s, handler)
        try:
            yield self
        finally:
            for s, h in previous.items():
                signal.signal(s, h)


class Logger:
    """stats.jsonl always; TensorBoard scalars when tensorboard is installed.

    TensorBoard writes its events from a thread of its own: an error there
    (a full disk) would print that thread's traceback and come back later
    without the path. The thread's error is kept quiet here and raised at
    the next write in the loop's thread, as a WriteError naming the folder."""

    def __init__(self, run: Path, enable_tb: bool = True):
        self.path = Path(run) / rundir.STATS
        self.tb_dir = Path(run) / rundir.TENSORBOARD
        self.tb = None
        self._hook = None
        if enable_tb:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is an optional extra
                return
            self._hook = threading.excepthook
            threading.excepthook = self._quiet_writer_thread
            try:
                self.tb = SummaryWriter(str(self.tb_dir))
            except OSError as e:
                self.close(quiet=True)
                raise ckpt_io.WriteError(self.tb_dir, e) from None

    def _quiet_writer_thread(self, args) -> None:
        if type(args.thread).__name__ == "_AsyncWriterThread":  # tensorboard's writer: raised again in write()
            return
        (self._hook or threading.__excepthook__)(args)

    def write(self, step: int, record: Dict[str, Any]) -> None:
        rundir.append_jsonl(self.path, {"step": step, **record})
        if self.tb is not None:
            try:
                for k, v in record.items():
                    if isinstance(v, (int, float)):
                        self.tb.add_scalar(k, v, step)
            except OSError as e:
                self.close(quiet=True)
                raise ckpt_io.WriteError(self.tb_dir, e) from None

    def close(self, quiet: bool = False) -> None:
        tb, self.tb = self.tb, None
        try:
            if tb is not None:
                tb.close()
        except OSError as e:  # the last events could not be flushed; stats.jsonl has them all
            if not quiet:
                import warnings
                warnings.warn(ckpt_io.describe_os_error(e, self.tb_dir), stacklevel=2)
        finally:
            if self._hook is not None:
                threading.excepthook, self._hook = self._hook, None


@torch.no_grad()
def save_samples(state, method, cfg: Config, run: Path, fixed_z: torch.Tensor, real: torch.Tensor,
                 info: Dict[str, Any], step: int) -> List[Path]:
    """The sample grid of the sampler on fixed_z (a scatter plot for 2-D
    data), then the method's own pictures; returns the paths written."""
    from ..nets.conditional import generator_labels
    G = state.sampler
    labels = generator_labels(G, len(fixed_z))  # a conditional G: one class per grid column
    was_training = G.training
    G.eval()
    x = G(fixed_z) if labels is None else G(fixed_z, labels.to(fixed_z.device))
    G.train(was_training)
    folder = Path(run) / rundir.SAMPLES
    grid = folder / f"step_{step:06d}.png"
    if not x.is_floating_point():  # token sequences: one decoded sequence per line
        from ..data.text import decode
        text = folder / f"step_{step:06d}.txt"
        text.parent.mkdir(parents=True, exist_ok=True)
        rundir._write_text(text, "".join(line.replace("\n", "\\n") + "\n" for line in decode(x, info)))
        return [text]
    if x.ndim == 3:   # audio clips (N, 1, T): the grid shows their spectrograms (data/audio_files.py)
        from ..data.audio_files import display_spectrograms
        x = display_spectrograms(x.float().cpu())
    if x.ndim == 4:
        paths = [viz.save_image_grid(x, grid, nrow=getattr(G, "num_classes", 0) or None)]
    else:
        paths = [viz.save_scatter(x, grid, real=real[:2000], centers=info.get("centers"),
                                  title=f"{cfg.data.name}, step {step}")]
    for name, (images, nrow) in method.pictures(state).items():
        paths.append(viz.save_image_grid(images, folder / f"{name}_step_{step:06d}.png", nrow=nrow))
    return paths


class Evaluator:
    """Scores the run on a schedule (config `eval`), appends to metrics.jsonl,
    and tells when the chosen result is the best so far. Sample metrics score
    the method's sampler; classifier-error scores its classifier on the test
    split (ssgan, supervised)."""

    def __init__(self, cfg: Config, device: torch.device, method, shape: Optional[tuple] = None):
        from ..metrics.evaluate import build_extractor, check_extractor, split_metrics
        self.cfg = cfg
        # a metric the method has no net for is refused here, before the run folder exists
        self.on_samples, self.on_classifier = split_metrics(method, cfg.eval.metrics, cfg.method.name)
        from ..registry import METRICS
        for m in self.on_samples:   # a metric of a finished run folder (skill-rating) cannot score a run in training
            if METRICS.get(m).tags.get("run_folder"):
                from ..config import ConfigError
                raise ConfigError(f"eval.metrics: {m} scores a run folder against its kept checkpoints; it cannot "
                                  f"run during training: use `ganscape eval RUN --metrics {m}` afterwards")
        # token metrics and a policy's returns need no feature extractor
        tokens = getattr(method, "data_kind", "") in ("tokens", "policy")
        self.extractor = (build_extractor(cfg.eval.extractor, None, cfg.data.name, device=str(device))
                          if self.on_samples and not tokens else None)
        from ..registry import DATASETS
        # audio data: the extractor takes waveforms, which metrics/audio.py makes of any audio sample
        audio = cfg.data.name in DATASETS and "audio" in DATASETS.get(cfg.data.name).tags.get("kinds", ())
        if self.extractor is not None and shape is not None and len(shape) == 3 and not audio:
            # a pairing that cannot work fails here, before the run folder exists
            check_extractor(self.extractor, self.on_samples, shape, cfg.eval.extractor or "")
        self.test = load_data(cfg, "test") if self.on_classifier else None
        # a metric asked to score the held-out split (e.g. nll with split val) needs the data to hold one out:
        # refused here, before the run folder exists, not at the first evaluation
        if any(p.get("split") == "val" for m, p in cfg.eval.params.items() if m in self.on_samples):
            from ..config import ConfigError
            try:
                load_data(cfg, "val")
            except (ConfigError, ValueError) as err:
                raise ConfigError(f"eval.params: {err}") from None
        self.best = None
        self.last_step = -1
        self.last_results: Dict[str, Any] = {}

    def restore(self, run_dir: Path) -> None:
        """On resume: the best result training recorded so far."""
        for r in rundir.read_jsonl(run_dir / rundir.METRICS):
            if r.get("source") == "train" and self.cfg.eval.best in r.get("results", {}):
                self._update_best(r["results"][self.cfg.eval.best])

    def _update_best(self, value: float) -> bool:
        from ..metrics.evaluate import is_better
        if is_better(self.cfg.eval.best, value, self.best):
            self.best = value
            return True
        return False

    def run(self, state, run_dir: Path) -> bool:
        from ..config import ConfigError
        from ..metrics.classifier_error import error_rate
        from ..metrics.evaluate import evaluate_generator
        e = self.cfg.eval
        res: Dict[str, Any] = {"results": {}}
        if self.on_samples:
            res = evaluate_generator(state.sampler, self.cfg, self.on_samples, e.n, e.split,
                                     extractor_obj=self.extractor, seed=self.cfg.seed + 3,
                                     metric_params={m: p for m, p in e.params.items() if m in self.on_samples})
        if self.on_classifier:
            res["results"]["classifier_error"] = error_rate(state.classifier, self.test.floats(), self.test.y)
            res.setdefault("protocol", {})["classifier-error"] = {}
            res["classifier"] = {"split": "test", "n": len(self.test)}
        self.last_step = state.step
        self.last_results = res["results"]
        rundir.append_jsonl(run_dir / rundir.METRICS, {"step": state.step, "source": "train", **res})
        if e.best not in res["results"]:
            raise ConfigError(f"eval.best: {e.best!r} is not among the results {sorted(res['results'])}")
        return self._update_best(res["results"][e.best])


def set_lr(state, factor: float) -> None:
    """Every optimizer's learning rate at `factor` times its configured value."""
    for name, opt in state.optims.items():
        for group in opt.param_groups:
            group["lr"] = state.base_lr[name] * factor


def _payload(state, method, cfg: Config) -> Dict[str, Any]:
    from ..config import to_plain
    return {**state.state_dict(), **staleness.checkpoint_entry(state), "method": method.state_dict(),
            "config": to_plain(cfg)}


def _finite(stats: Dict[str, torch.Tensor]) -> torch.Tensor:
    vals = [v for k, v in stats.items() if k.endswith("loss") or k.startswith("penalty/")]
    vals = vals or list(stats.values())  # a method that names no loss: every statistic must be finite
    if not vals:
        return torch.ones((), dtype=torch.bool)
    return torch.stack([torch.isfinite(v).all() for v in vals]).all()


class RunFailed(RuntimeError):
    """Training stopped on an error it cannot recover from (a file that cannot
    be written, ...). The message is one line; status.json says "failed" with
    the same reason wherever the run folder is writable."""


def warm_start(state, source: str) -> Dict[str, str]:
    """train.init_from: load the nets of another run's checkpoint that this
    run also has (same name); their EMA copies start equal to them. A net of
    the same name whose shapes differ is an error; nets the source lacks
    keep their initialization. Returns {net: "source checkpoint"}."""
    folder, _, which = source.partition(":")
    ckpt, path = ckpt_io.load_newest(Path(folder) / rundir.CHECKPOINTS, which or "latest")
    shared = sorted(set(state.nets) & set(ckpt.get("nets", {})))
    if not shared:
        raise ConfigError(f"train.init_from: {path} holds nets {sorted(ckpt.get('nets', {}))}, none of this "
                          f"run's ({sorted(state.nets)})")
    done = {}
    for name in shared:
        try:
            state.nets[name].load_state_dict(ckpt["nets"][name])
        except RuntimeError as e:
            raise ConfigError(f"train.init_from: net {name} of {path} does not fit this run's "
                              f"({str(e).strip().splitlines()[0]})") from None
        if name in state.ema:
            state.ema[name].load_state_dict(state.nets[name].state_dict())
        done[name] = f"{path} (step {int(ckpt['step'])})"
    return done


class RunInterrupted(RunFailed):
    """A signal stopped a run before it had a folder to record that in
    (nothing was written), or a second one stopped a resume before it
    changed anything."""


class RunBusy(RunFailed):
    """Another live process is training in the run folder (its lock is held);
    nothing in the folder was touched."""


def _lock(run_dir: Path) -> Optional[int]:
    try:
        return rundir.lock_run(run_dir)
    except rundir.RunBusy as e:
        raise RunBusy(str(e)) from None


def _no_checkpoint_yet(run_dir: Path) -> bool:
    """Whether the run stopped before its first checkpoint was written (a kill
    or a signal in the first steps): no checkpoint file of any kind, and no
    status that says one was written. Such a run resumes from step 0."""
    ckpt_dir = run_dir / rundir.CHECKPOINTS
    if ckpt_dir.is_dir() and any(p.name.endswith((".pt", ".pt" + ckpt_io.CORRUPT_SUFFIX)) for p in ckpt_dir.iterdir()):
        return False
    try:
        written = rundir.read_status(run_dir).get("checkpoint_step")
    except (ValueError, OSError):  # status.json torn by a kill: it cannot say a checkpoint exists
        written = None
    return written is None


def _prepare_resume(cfg: Config, run_dir: Path, state, method, lead: bool = True):
    """Load the newest usable checkpoint into state and method; check that the
    config it was written with agrees with `cfg` wherever a change is not
    allowed on resume. Returns (checkpoint, path), or (None, None) for a run
    that has no checkpoint yet (it starts from step 0, as a new run would)."""
    from ..config import ConfigError, config_diff, is_resumable, to_plain
    import warnings
    ckpt_dir = run_dir / rundir.CHECKPOINTS
    if _no_checkpoint_yet(run_dir):
        warnings.warn(f"{run_dir} has no checkpoint (it stopped before the first one was written); training "
                      "starts from step 0", ckpt_io.CheckpointWarning, stacklevel=3)
        if cfg.train.init_from:
            warm_start(state, cfg.train.init_from)
        return None, None
    ckpt, path = ckpt_io.load_newest(ckpt_dir, move_aside=lead)  # rank 0 alone moves a bad one aside
    if "config" in ckpt:
        diff = [d for d in config_diff(ckpt["config"], to_plain(cfg)) if not is_resumable(d[0])]
        if diff:
            lines = "; ".join(f"{k}: {a!r} in the checkpoint, {b!r} now" for k, a, b in diff[:8])
            raise ConfigError(
                f"cannot resume {run_dir}: its config differs from the one checkpoint {path.name} "
                f"(step {ckpt.get('step')}) was trained with at {len(diff)} key(s): {lines}. Restore "
                f"{rundir.CONFIG}; on resume only these may change (with --set KEY=VALUE): "
                f"train.steps, logging, sample, checkpoint and eval settings, learning rates, device")
    try:
        state.load_state_dict(ckpt)
        staleness.load_checkpoint_entry(state, ckpt)   # train.staleness: the queues of stale parameters
        method.load_state_dict(ckpt["method"])
    except (RuntimeError, KeyError) as e:
        raise ckpt_io.CheckpointError(f"checkpoint {path} does not fit this run's nets "
                                      f"({str(e).strip().splitlines()[0]})") from None
    set_lr(state, 1.0)  # the config's learning rates (they may change on resume), not the saved ones
    return ckpt, path


def run(cfg: Config, run_dir: Union[Path, Callable[[], Path]], resume: bool = False,
        progress: Optional[bool] = None,
        on_eval: Optional[Callable[[int, Dict[str, Any]], bool]] = None) -> Dict[str, Any]:
    """Train `cfg` in `run_dir`. Returns the final status.

    on_eval(step, results) is called after every evaluation during training
    (config `eval`); when it returns True the run stops there with status
    "pruned" (what a study's pruner uses).

    For a new run, `run_dir` may be a function that creates the folder: it is
    called only once everything is built (data, nets, extractor), so that a
    start that fails leaves no folder behind. For a resumed run the folder's
    config.json is rewritten when `cfg` changed one of the keys allowed on
    resume.

    The signal handlers are installed first of all, and the run folder is
    locked (RUN/.lock) from before anything in it is read until the run has
    recorded how it ended: a second process training in it gets RunBusy.
    """
    stop = StopRequest()
    held: Dict[str, Any] = {"lock": None, "folder": Path(run_dir) if resume else None}
    with stop.installed():
        try:
            return _run(cfg, run_dir, resume, progress, on_eval, stop, held)
        except KeyboardInterrupt:  # a second signal before the loop began (_run records any later one)
            folder = held["folder"]
            where = ("no run folder was written" if folder is None else
                     f"resume {folder} with --resume (from its newest checkpoint, or step 0 if it has none)")
            raise RunInterrupted(f"stopped by a second {stop.signal_name} before training started; {where}") \
                from None
        finally:
            if held.get("feed") is not None:
                held["feed"].close()  # a streamed data set's reader processes
            rundir.unlock_run(held["lock"])
            if held.get("ranks") is not None and held["ranks"].world > 1:
                distributed.stop()


def _run(cfg: Config, run_dir, resume: bool, progress: Optional[bool], on_eval, stop: StopRequest,
         held: Dict[str, Any]) -> Dict[str, Any]:
    tc = cfg.train
    r = held["ranks"] = distributed.from_env()  # torchrun's RANK and WORLD_SIZE, or one process
    lead = r.lead   # the process that writes the run folder
    if resume:  # before anything reads the folder: a second process must not change it under us
        run_dir = Path(run_dir)
        held["lock"] = _lock(run_dir) if lead else None
    device = distributed.start(r, resolve_device(cfg.device))
    seed_everything(cfg.seed, cfg.deterministic)
    data = load_data(cfg, "train")
    if tc.labelled_per_class and data.y is None:
        raise ConfigError(f"train.labelled_per_class: data set {cfg.data.name!r} has no labels{no_labels_hint(cfg)}")
    state, method = build_state(cfg, DataSpec.of(data), device)
    speed.check(cfg, method, device)
    if not len(data) and getattr(method, "uses_data", True):
        raise ConfigError(f"data: {cfg.data.name!r} has no examples, and method {cfg.method.name!r} trains on data")
    # a method that learns from an environment alone (data: none) gets no batches
    if len(data) and len(data) < cfg.real_batch_size:
        from ..registry import DATASETS
        hint = DATASETS.get(cfg.data.name).tags.get("too_small_hint", "") if cfg.data.name in DATASETS else ""
        raise ConfigError(f"train.batch_size: data set {cfg.data.name!r} has {len(data)} examples, fewer than the "
                          f"{cfg.real_batch_size} real examples a step needs (train.batch_size, times "
                          f"model.discriminator.pack in pack_mode paper){'; ' + hint if hint else ''}")
    feed = held["feed"] = Feed(cfg, data, device, r.rank, r.world,
                                layout=lambda xb: speed.batch_layout(cfg, xb)) if len(data) else None
    if tc.sync_batchnorm:
        for net in state.nets.values():
            distributed.sync_batchnorm(net)
    distributed.prepare(state.nets, state.optims, r)
    speed.compile_nets(cfg, state.nets, device)   # train.compile
    speed.attach_scalers(cfg, state)              # train.precision fp16
    staleness.attach(cfg, state, method)          # train.staleness (its hooks after the two above)
    evaluator = Evaluator(cfg, device, method, data.shape) if cfg.eval.metrics and lead else None
    evaluates = bool(cfg.eval.metrics)   # every rank takes part in the evaluation steps (rank 0 evaluates)
    if r.world > 1 and method.distributed_refusal:
        raise ConfigError(f"torchrun: method {cfg.method.name!r} cannot train across processes: "
                          f"{method.distributed_refusal}; train it in one process")
    if evaluator and evaluator.on_samples and not getattr(state.sampler, "vocab_size", 0) \
            and not getattr(state.sampler, "is_policy", False):
        from ..metrics.evaluate import check_room  # eval.n that cannot fit: refused now, not after training
        check_room(state.sampler, cfg.eval.n, getattr(state.sampler, "num_classes", 0))
    if resume:
        if lead:
            rundir.clean_orphans(run_dir)
        loaded, _ = _prepare_resume(cfg, run_dir, state, method, lead)
        if lead:
            # Records training wrote after that checkpoint will be written again
            # (a torn last line goes too); what `ganscape eval` wrote stays.
            rundir.truncate_jsonl(run_dir / rundir.STATS, state.step)
            # a run stopped after its last steps' evaluation was recorded but before it finished evaluates
            # that step again below (best.pt may not have been written): drop the record, not duplicate it
            final = state.step >= cfg.train.steps
            rundir.truncate_jsonl(run_dir / rundir.METRICS, state.step - 1 if final else state.step, source="train")
            rundir.truncate_jsonl(run_dir / rundir.THREADS, state.step)
            rundir.truncate_jsonl(run_dir / rundir.DOCTOR, state.step)
            save_json(cfg, run_dir / rundir.CONFIG)
        if evaluator:
            evaluator.restore(run_dir)
    else:
        loaded = None
        if tc.init_from:  # before the folder exists: a bad source leaves nothing behind
            warm_start(state, tc.init_from)
        if stop.requested:  # a signal while the run was being built: stop before writing anything
            raise RunInterrupted(f"stopped by {stop.signal_name} before training started; no run folder was "
                                 "written")
        if lead:
            run_dir = Path(run_dir() if callable(run_dir) else run_dir)
        run_dir = held["folder"] = distributed.share_path(run_dir if lead else None, device)
        if lead:
            held["lock"] = _lock(run_dir)
            rundir.clean_orphans(run_dir)
            save_json(cfg, run_dir / rundir.CONFIG)
    ckpt_dir = run_dir / rundir.CHECKPOINTS
    # a classifier-only method has no sample grids, nor has a policy (`ganscape sample` renders its episodes)
    can_sample = lead and state.sampler_name is not None and not getattr(state.sampler, "is_policy", False)
    n_fixed = tc.num_samples * 40 if data.kind == "points" else tc.num_samples
    doctor = None
    if tc.doctor and can_sample:   # train.doctor: checks on a schedule, findings printed as they come
        from tqdm.auto import tqdm as _tqdm

        from ..probes.doctor_run import LiveDoctor
        doctor = LiveDoctor(cfg, data, run_dir, say=_tqdm.write, device=str(device))
    # the sampler's own latent size where it has one (a flow or PixelCNN: one per pixel)
    z_dim = getattr(state.sampler, "z_dim", cfg.model.z_dim) if can_sample else cfg.model.z_dim
    fixed_z = torch.randn(n_fixed, z_dim, generator=torch.Generator().manual_seed(cfg.seed + 1)).to(device)
    saved_step = state.step if loaded is not None else None   # step of the newest checkpoint on disk
    ok = torch.ones((), dtype=torch.bool, device=device)  # all losses finite so far
    status, reason = "completed", None
    last_log_time, last_log_step = time.perf_counter(), state.step
    show = tc.progress if progress is None else progress
    logger = bar = None
    tuner = thr.tuner(tc.threads, cfg.deterministic, str(device),
                      lambda rec: rundir.append_jsonl(run_dir / rundir.THREADS, {"step": state.step, **rec})
                      if lead else None)

    def set_status(name: str, **extra: Any) -> None:
        if lead:
            rundir.write_status(run_dir, name, step=state.step, checkpoint_step=saved_step, **extra)

    def checkpoint(keep: bool = False) -> None:
        """latest.pt (and step_N.pt) of the current state, unless it is broken."""
        nonlocal saved_step
        if not bool(ok):  # never let a NaN model replace the last good one
            raise Diverged("a loss became NaN or Inf")
        if not keep and saved_step == state.step:
            return
        if distributed.agree(not ckpt_io.all_finite(state.modules()), device):   # any rank's buffers
            raise Diverged("a weight or buffer of the nets became NaN or Inf while the losses were finite")
        if lead:
            payload = _payload(state, method, cfg)
            if keep:  # first, so that a kill before latest.pt moves on means this step is trained (and kept) again
                ckpt_io.save(ckpt_io.step_path(ckpt_dir, state.step), payload)
            ckpt_io.save_latest(ckpt_dir, payload)
        saved_step = state.step
        set_status("running")

    def evaluate() -> None:
        """Rank 0 evaluates; every rank of a distributed run comes here at the same steps and learns
        whether the run was pruned, so that all leave the loop together."""
        if not bool(ok):
            raise Diverged("a loss became NaN or Inf")
        pruned = None
        if evaluator is not None:
            if evaluator.run(state, run_dir):
                ckpt_io.save(ckpt_dir / "best.pt", _payload(state, method, cfg))
            if on_eval is not None and on_eval(state.step, evaluator.last_results):
                pruned = (f"pruned at step {state.step} on {cfg.eval.best} "
                          f"{evaluator.last_results.get(cfg.eval.best)}")
        if distributed.agree(pruned is not None, device):
            raise Pruned(pruned or f"pruned at step {state.step} by rank 0's evaluation")

    try:
        try:
            set_status("running")
            if resume and tc.checkpoint_every and state.step % tc.checkpoint_every == 0 \
                    and not ckpt_io.step_path(ckpt_dir, state.step).exists() and state.step > 0:
                checkpoint(keep=True)  # a kept checkpoint lost to a kill during its write
            logger = Logger(run_dir) if lead else None
            from tqdm.auto import tqdm
            bar = tqdm(total=tc.steps, initial=state.step, desc=cfg.name, unit="step", disable=not (show and lead),
                       dynamic_ncols=True)
            synced = False
            train_seconds = 0.0  # time in training steps only (train.max_seconds), counted from this start
            out_of_time = False
            tuner.begin()  # a signal during its short look at the machine's load asks to stop as usual
            while state.step < tc.steps and not out_of_time:
                if distributed.agree(stop.requested, device):  # every rank stops after the same step  # before a step: a signal that came while the run started stops it here too
                    checkpoint()
                    status, reason = "interrupted", f"stopped by {stop.signal_name or 'a signal to another rank'}; resume with --resume"
                    break
                t_step = time.perf_counter()
                if tc.lr_schedule == "linear":
                    set_lr(state, 1.0 - state.step / tc.steps)
                log = (state.step + 1) % tc.log_every == 0 or state.step + 1 == tc.steps
                batches = [feed(state.batch + i) for i in range(tc.n_disc)] if feed is not None else []
                state.batch += len(batches)
                # train.precision; a rank's noise; train.staleness's stale parameters during the step
                with speed.step_context(cfg, device), ranks.sharded(), staleness.around_step(state):
                    stats = distributed.mean_stats(method.step(state, batches, log), device)
                state.step += 1
                if r.world > 1 and not synced:   # after a data-dependent init in the first step: rank 0's
                    distributed.sync_nets(state.nets)
                    synced = True
                for name, ema in state.ema.items():
                    # Before ema_start the EMA simply follows its net.
                    update_ema(ema, state.nets[name], tc.ema_decay if state.step > tc.ema_start else 0.0)
                ok = ok & _finite(stats)
                step_seconds = time.perf_counter() - t_step
                train_seconds += step_seconds
                tuner.record(step_seconds)  # the thread count for the next step (train/threads.py)
                out_of_time = distributed.agree(bool(tc.max_seconds) and train_seconds >= tc.max_seconds, device)
                if log or out_of_time:
                    if not bool(ok):
                        raise Diverged("a loss became NaN or Inf")
                    now = time.perf_counter()
                    record = {k: float(v) for k, v in stats.items()}
                    record["sec_per_step"] = (now - last_log_time) / max(state.step - last_log_step, 1)
                    last_log_time, last_log_step = now, state.step
                    if logger is not None:
                        logger.write(state.step, record)
                    # the method's top-level losses (d_loss -> d, g_loss -> g, ...)
                    bar.set_postfix({k[:-5]: f"{v:.3f}" for k, v in record.items()
                                     if k.endswith("_loss") and "/" not in k}, refresh=False)
                bar.update(1)
                if can_sample and tc.sample_every and state.step % tc.sample_every == 0:
                    save_samples(state, method, cfg, run_dir, fixed_z, data.x, data.info, state.step)
                if evaluates and cfg.eval.every and state.step % cfg.eval.every == 0:
                    evaluate()
                if doctor is not None and doctor.due(state.step) and bool(ok):
                    doctor = doctor.check(state.sampler, state.step)   # None: it failed and is off
                if tc.checkpoint_every and state.step % tc.checkpoint_every == 0:
                    checkpoint(keep=True)
                elif state.step % tc.latest_every == 0:
                    checkpoint()
            else:
                tuner.finish()
                if out_of_time:
                    reason = (f"time budget reached: {train_seconds:.1f} s of training steps "
                              f"(train.max_seconds {tc.max_seconds:g}) at step {state.step} of {tc.steps}")
                checkpoint()
                if can_sample:
                    save_samples(state, method, cfg, run_dir, fixed_z, data.x, data.info, state.step)
                # rank 0 knows whether this step was evaluated already (also before a resume): all follow it
                if evaluates and distributed.agree(evaluator is not None and evaluator.last_step != state.step,
                                                   device):
                    evaluate()
        finally:
            stop.mute()  # how the run ended is recorded below, whatever signals come now
    except Pruned as e:
        status, reason = "pruned", str(e)
    except Diverged as e:
        status = "diverged"
        reason = f"{e} at step {state.step}; " + (
            f"the last good checkpoint (step {saved_step}) is kept" if saved_step is not None
            else "no checkpoint had been written")
    except KeyboardInterrupt:  # a second signal: stop at once, mid-step, without saving
        status, reason = "interrupted", ("stopped at once by a second signal; resume continues from the "
                                         + (f"checkpoint of step {saved_step}" if saved_step is not None
                                            else "start (no checkpoint had been written)"))
    except OSError as e:
        return _fail(run_dir if lead else None, state.step, saved_step, ckpt_io.describe_os_error(e))
    except BaseException as e:
        peer = distributed.peer_failure(e, r)
        if peer is not None:  # a rank died: one line, and the last checkpoint stays the one to resume from
            return _fail(run_dir if lead else None, state.step, saved_step, peer)
        asked = allocation_failure(e)
        if asked is not None:  # a batch too big for memory: one line, not the allocator's traceback
            return _fail(run_dir if lead else None, state.step, saved_step, f"out of memory at step {state.step} (asked for {asked}); "
                         "make train.batch_size or the nets smaller")
        _fail(run_dir if lead else None, state.step, saved_step, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
              raise_=False)
        raise
    finally:
        tuner.close()  # torch's count as it was: a library call must not keep ours
        if bar is not None:
            bar.close()
        if logger is not None:
            logger.close()
    extra: Dict[str, Any] = {"reason": reason} if reason else {}
    try:
        if lead:
            status = _finish(cfg, run_dir, state, data, status, extra, can_sample)
            if doctor is not None:
                doctor.finish({"status": status, "step": state.step, **extra},
                              state.sampler if status == "completed" else None)
    except OSError as e:
        return _fail(run_dir if lead else None, state.step, saved_step, ckpt_io.describe_os_error(e))
    except Exception as e:
        _fail(run_dir if lead else None, state.step, saved_step, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
              raise_=False)
        raise
    try:
        set_status(status, **extra)
    except OSError as e:
        return _fail(run_dir if lead else None, state.step, saved_step, ckpt_io.describe_os_error(e))
    return {"status": status, "step": state.step, "checkpoint_step": saved_step, "run_dir": str(run_dir), **extra}


def _finish(cfg: Config, run_dir: Path, state, data, status: str, extra: Dict[str, Any], can_sample: bool) -> str:
    """What follows the loop: the mode coverage of 2-D mixtures (into
    `extra`) and the training curves, about a second. Returns the status:
    "completed" becomes "diverged" when the generator's samples are NaN."""
    if status == "completed" and can_sample and "centers" in data.info:
        from ..metrics.evaluate import NonFiniteSamplesError, generate
        from ..metrics.mode_coverage import mode_coverage
        try:
            samples = generate(state.sampler, 2500, seed=cfg.seed + 2)
        except NonFiniteSamplesError:
            status, extra["reason"] = "diverged", "the generator outputs NaN or Inf"
        else:
            cov = mode_coverage(samples.numpy(), data.info["centers"], data.info["sigma"])
            rundir.append_jsonl(run_dir / rundir.METRICS, {"step": state.step, "source": "train",
                                                           "metric": "mode_coverage", "n": 2500, **cov})
            extra["mode_coverage"] = cov
    viz.save_stats_plot(rundir.read_jsonl(run_dir / rundir.STATS), run_dir / "stats.png",
                        title=f"{cfg.name}: {status} at step {state.step}")
    return status


def _fail(run_dir: Path, step: int, saved_step: Optional[int], reason: str, raise_: bool = True):
    """Record status "failed" where the folder is still writable, remove temp
    files, and raise RunFailed with one line saying what happened. run_dir
    None: a rank of a distributed run other than 0, which writes nothing."""
    if run_dir is not None:
        try:
            rundir.write_status(run_dir, "failed", step=step, checkpoint_step=saved_step, reason=reason)
        except OSError:
            pass
        rundir.clean_orphans(run_dir)
    kept = (f"checkpoints up to step {saved_step} are intact" if saved_step is not None
            else "no checkpoint had been written")
    if raise_:
        raise RunFailed(f"{reason} (training stopped at step {step}; {kept})")
