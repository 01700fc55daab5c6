"""The public Python API: the same operations as the command line."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from . import components  # noqa: F401  (an entry point: the registries are filled before any config is built)
from .config import Config, load_config
from .registry import ConfigError
from .train import checkpoint as ckpt_io
from .train import rundir
from .train.loop import run as _run
from .train.state import DataSpec, build_method, build_sampler, load_data, resolve_device


def make_config(preset: Optional[str] = None, config_file: Optional[str] = None,
                overrides: Sequence[str] = ()) -> Config:
    """A validated Config from a preset, a YAML file and key=value overrides."""
    return load_config(preset, config_file, list(overrides))


def resolve_data(cfg: Config) -> Tuple[Config, str]:
    """`cfg` with the data parameters its data set infers from files made
    explicit (image-folder: size and channels from the images), and a note
    saying what was chosen ('' when nothing was). Done before a run exists so
    that config.json records what the nets were built for."""
    from .config import from_dict, to_plain
    from .registry import DATASETS

    resolve = DATASETS.get(cfg.data.name).tags.get("resolve")
    if resolve is None:
        return cfg, ""
    params, note = resolve(dict(cfg.data.params))
    if params == dict(cfg.data.params):
        return cfg, note
    tree = to_plain(cfg)
    tree["data"] = {"name": cfg.data.name, "params": params}
    return from_dict(tree), note


def train(config: Union[Config, str, None] = None, overrides: Sequence[str] = (), out: Union[str, Path] = "runs",
          run_dir: Union[str, Path, None] = None, progress: Optional[bool] = None,
          on_eval=None, threads: Optional[int] = None) -> Path:
    """Train a GAN; returns the run folder.

    config: a Config, a preset name, a path to a YAML file (layered on the
    default "digits" preset), or None (the "digits" preset). overrides:
    "key=value" strings applied on top. The run goes to `run_dir` (which must
    be new or empty) or to OUT/NAME-NNN; the folder is created only once
    data, nets and evaluation are built, so a start that fails leaves nothing.
    Raises RunFailed when a file cannot be written (disk full, ...).
    on_eval(step, results) -> bool: called after each evaluation during
    training; True stops the run with status "pruned". threads: torch's
    thread count, beating train.threads (None: train.threads, 0 there meaning
    a measured choice; see train/threads.py).
    """
    if not isinstance(config, Config):
        if config is not None and (str(config).endswith((".yaml", ".yml")) or Path(str(config)).is_file()):
            config = load_config(None, str(config), list(overrides))
        else:
            config = load_config(config, None, list(overrides))
    elif overrides:
        raise ValueError("overrides apply to presets and files; build the Config with make_config() instead")
    config, note = resolve_data(config)
    if note:
        import warnings
        warnings.warn(note, stacklevel=2)
    if run_dir is None:
        out = Path(out)
        rundir.check_out_dir(out)
        target = lambda: rundir.new_run_dir(out, config.name)  # noqa: E731
    else:
        from .train.distributed import from_env  # under torchrun rank 0 alone makes (and checks) the folder
        run_dir = rundir.check_new_run_dir(Path(run_dir)) if from_env().lead else Path(run_dir)

        def target() -> Path:
            run_dir.mkdir(parents=True, exist_ok=True)
            return run_dir
    from .train.threads import using
    with using(threads):
        result = _run(config, target, resume=False, progress=progress, on_eval=on_eval)
    return Path(result["run_dir"])


def resume(run_dir: Union[str, Path], steps: Optional[int] = None, progress: Optional[bool] = None,
           overrides: Sequence[str] = (), on_eval=None, threads: Optional[int] = None) -> Path:
    """Continue a run from its newest usable checkpoint.

    steps: train to this many generator steps (train.steps). overrides:
    "key=value" changes allowed on resume (config.RESUMABLE: train.steps,
    logging / sampling / checkpoint / eval settings, learning rates, device);
    anything else that differs from the checkpoint's config is an error.
    on_eval, threads: as in train().
    """
    from .config import ConfigError, apply_overrides, is_resumable, parse_override

    run_dir = Path(run_dir)
    cfg = load_run(run_dir)
    overrides = list(overrides)
    if steps is not None:
        if int(steps) < 1:
            raise ConfigError(f"steps: must be >= 1, got {steps}")
        overrides.append(f"train.steps={int(steps)}")
    for text in overrides:
        key, _ = parse_override(text)
        if not is_resumable(key):
            raise ConfigError(f"--set {key}: cannot change on resume (the nets and the objective must stay as "
                              f"they were trained); allowed: train.steps, train.log_every, train.sample_every, "
                              f"train.checkpoint_every, train.latest_every, train.num_samples, train.lr_schedule, train.threads, "
                              f"eval.*, optim.generator.params.lr, optim.discriminator.params.lr, device, name")
    if overrides:
        cfg = apply_overrides(cfg, overrides)
    from .train.threads import using
    with using(threads):
        _run(cfg, run_dir, resume=True, progress=progress, on_eval=on_eval)
    return run_dir


def load_run(run_dir: Union[str, Path]) -> Config:
    """The resolved Config of a run folder."""
    return rundir.load_config(run_dir)


def _sampler_name(cfg: Config) -> str:
    """The name under which a run's checkpoints store the net it samples from."""
    return build_method(cfg).sampler


def load_generator(run_dir: Union[str, Path], checkpoint: str = "latest", ema: bool = True,
                   device: str = "cpu") -> torch.nn.Module:
    """The run's generator in eval mode (the EMA copy when there is one and ema=True).

    The generator is built from the config saved in the checkpoint (the one
    its weights were trained with); if config.json was edited since, a
    warning names the keys that differ.
    """
    import warnings

    from .config import config_diff, from_dict, to_plain
    from .train.state import load_data

    cfg = load_run(run_dir)
    ckpt, path = ckpt_io.load_newest(Path(run_dir) / rundir.CHECKPOINTS, checkpoint)
    if "config" in ckpt:
        diff = [k for k, _, _ in config_diff(ckpt["config"], to_plain(cfg))]
        if diff:
            warnings.warn(f"{Path(run_dir) / rundir.CONFIG} differs from the config of {path.name} at "
                          f"{', '.join(diff[:6])}; using the checkpoint's", stacklevel=2)
            cfg = from_dict(ckpt["config"])
    data = load_data(cfg, "test")
    G = build_sampler(cfg, DataSpec.of(data))
    name = _sampler_name(cfg)
    weights = ckpt["ema"][name] if ema and name in ckpt.get("ema", {}) else ckpt["nets"][name]
    try:
        G.load_state_dict(weights)
    except (RuntimeError, KeyError) as e:
        raise ckpt_io.CheckpointError(f"checkpoint {path} does not fit the run's generator "
                                      f"({str(e).strip().splitlines()[0]})") from None
    return G.to(resolve_device(device)).eval()


def is_policy_run(run_dir: Union[str, Path]) -> bool:
    """Whether the run's method trains a policy (its `sample` renders episodes)."""
    from .train.state import build_method
    try:
        return getattr(build_method(load_run(run_dir)), "data_kind", "") == "policy"
    except ConfigError:
        return False


def class_labels(G: torch.nn.Module, n: int, class_: Union[int, str, None]) -> Optional[torch.Tensor]:
    """The labels for `n` samples of `class_`: an int K (n of class K), "all"
    (n of every class, class by class), or None (the generator's default:
    classes in turn for a conditional generator, none otherwise)."""
    k = getattr(G, "num_classes", 0)
    if class_ is None:
        return None
    if not k:
        raise ValueError("--class: this run's generator is not class-conditional (train it with method cgan)")
    if class_ == "all":
        return torch.arange(k).repeat_interleave(n)
    try:
        c = int(class_)
    except (TypeError, ValueError):
        raise ValueError(f"--class {class_!r}: give a class index or 'all'") from None
    if not 0 <= c < k:
        raise ValueError(f"--class {c} is out of range: this generator has classes 0..{k - 1}")
    return torch.full((n,), c, dtype=torch.int64)


def default_checkpoint(run_dir: Union[str, Path]) -> str:
    """The checkpoint `ganscape sample` draws from when none is named: "best"
    where the run's evaluation during training chose one (best.pt, by
    eval.best), else "latest"."""
    return "best" if (Path(run_dir) / rundir.CHECKPOINTS / "best.pt").exists() else "latest"


def _set_temperature(G: torch.nn.Module, temperature: float) -> None:
    if not hasattr(G, "temperature"):
        raise ValueError("temperature: this run's generator has no sampling temperature (flows, PixelCNN "
                         "and sequence generators have one)")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    G.temperature = float(temperature)


def sample_with_labels(run_dir: Union[str, Path], n: int = 64, seed: int = 0, checkpoint: str = "latest",
                       batch_size: int = 500, device: str = "cpu", class_: Union[int, str, None] = None,
                       temperature: Optional[float] = None):
    """(x, y): n samples from a run's generator and their class labels (None
    for an unconditional generator). class_: a class index, "all" (n samples
    of each class, so K * n in all) or None (classes in turn). temperature:
    for generators that have one (flows: z scaled by it; PixelCNN and
    sequence generators: each categorical's probabilities to the power 1/T);
    None: the model's own (1)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    from .metrics.evaluate import check_room, generate
    from .nets.conditional import generator_labels
    G = load_generator(run_dir, checkpoint, device=device)
    if getattr(G, "is_policy", False):
        raise ConfigError(f"{run_dir} trains a policy: its samples are episodes (`ganscape sample RUN --episodes N "
                          f"--out FILE.gif`, ganscape.episodes.render or ganscape.episodes.demos)")
    if temperature is not None:
        _set_temperature(G, temperature)
    # before anything of size n (the labels too): refused in one line if it cannot fit in memory
    check_room(G, n * (getattr(G, "num_classes", 0) if class_ == "all" else 1), getattr(G, "num_classes", 0))
    y = class_labels(G, n, class_)
    if y is None:
        y = generator_labels(G, n)
    x = generate(G, len(y) if y is not None else n, seed, batch_size, labels=y)
    return x, y


def write_samples(run_dir: Union[str, Path], out: Union[str, Path], n: int = 64, seed: int = 0,
                  checkpoint: str = "latest", batch_size: Optional[int] = None, device: str = "cpu",
                  class_: Union[int, str, None] = None, temperature: Optional[float] = None,
                  progress: bool = False) -> Tuple[Path, int]:
    """sample_with_labels then save_samples (same arguments, same files, the
    same samples bit for bit), but images and points to FILE.npz and images
    to a folder are written batch by batch as they are generated, so memory
    holds one batch, not n samples (sample_writer). A count whose output
    cannot fit the disk is refused in one line before anything is generated.
    Returns (the path written, the number of samples). progress: a tqdm bar."""
    from . import sample_writer
    from .metrics.evaluate import generate_batches, sample_shape
    from .nets.conditional import generator_labels
    from .resources import block_size, check_disk, check_memory
    out = Path(out)
    batch_size = batch_size or sample_writer.CHUNK
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    G = load_generator(run_dir, checkpoint, device=device)
    if getattr(G, "audio", "") and out.suffix == "":  # audio: a .wav per clip, their spectrograms in DIR.png
        from . import viz
        from .data.audio_files import as_waves, display_spectrograms, write_wavs
        if rundir.enclosing_run(out) is not None:
            save_samples(torch.zeros(1, 2), out)  # its one-line refusal, before anything is generated
        info = data_info(run_dir)
        x = as_waves(sample(run_dir, n, seed, checkpoint, batch_size, device), info)  # SpecGAN: Griffin-Lim
        write_wavs(x, out, info.get("sample_rate", 16000))
        viz.save_image_grid(display_spectrograms(x[:256]), grid_path(out))
        return out, len(x)
    shape = None if getattr(G, "vocab_size", 0) else sample_shape(G)
    streamed = shape is not None and (out.suffix == ".npz" or (out.suffix == "" and len(shape) == 3))
    if not streamed:  # tokens, points to a folder (the scatter needs them all): in memory, as before
        x, y = sample_with_labels(run_dir, n, seed, checkpoint, batch_size, device, class_, temperature)
        info = data_info(run_dir) if not x.is_floating_point() else None  # tokens: decode with the vocabulary
        return save_samples(x, out, labels=y, nrow=n if class_ == "all" else None, info=info), len(x)
    if temperature is not None:
        _set_temperature(G, temperature)
    k = getattr(G, "num_classes", 0)
    count = n * (k if class_ == "all" else 1)
    if k:  # the labels are the one thing of size n held in memory
        check_memory(count * 8, f"n={n}: {count} labels", "ask for fewer")
    run = rundir.enclosing_run(out)
    if run is not None:
        save_samples(torch.zeros(1, *shape), out)  # its one-line refusal, before anything is generated
    if out.suffix == "":
        check_disk(out, count * block_size(out), f"{count} PNG files", "ask for fewer, or write a .npz file")
    else:  # (write_npz checks again; here it comes before the progress bar shows)
        check_disk(out.parent, sample_writer.npz_bytes(count, shape, bool(k)), f"{count} samples in {out.name}",
                   "ask for fewer")
    y = class_labels(G, n, class_)
    if y is None:
        y = generator_labels(G, n)
    from tqdm.auto import tqdm
    with tqdm(total=count, unit="sample", desc="sampling", dynamic_ncols=True,
              disable=not progress or count <= batch_size) as bar:
        batches = generate_batches(G, count, seed, batch_size, labels=y)
        if out.suffix == ".npz":
            sample_writer.write_npz(batches, out, count, shape, y, progress=bar.update)
        else:
            sample_writer.write_pngs(batches, out, grid_path(out), y, n if class_ == "all" else None, count,
                                     progress=bar.update)
    return out, count


def sample(run_dir: Union[str, Path], n: int = 64, seed: int = 0, checkpoint: str = "latest",
           batch_size: int = 500, device: str = "cpu", class_: Union[int, str, None] = None,
           temperature: Optional[float] = None) -> torch.Tensor:
    """n samples from a run's generator: images (n, C, H, W) in [-1, 1],
    points (n, D) or tokens (n, L); for a class-conditional run, of class
    `class_`; at `temperature` where the generator has one (see sample_with_labels)."""
    return sample_with_labels(run_dir, n, seed, checkpoint, batch_size, device, class_, temperature)[0]


def sample_text(run_dir: Union[str, Path], text: str, n: int = 16, seed: int = 0, checkpoint: str = "latest",
                device: str = "cpu") -> torch.Tensor:
    """n samples (n, C, H, W) in [-1, 1] of a text-conditional run (method gancls) for the caption `text`
    (any words of the data set's vocabulary, e.g. "a large blue triangle"); latents from `seed`."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    G = load_generator(run_dir, checkpoint, device=device)
    if not hasattr(G, "text"):
        raise ValueError("--text: this run's generator is not text-conditional (train one with method gancls, "
                         "e.g. --preset text2img-shapes)")
    from .data.captions import tokenize
    tokens = tokenize([text], G.text.prompts.shape[1], data_info(run_dir)["captions"]["vocab"])
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    at = next(G.parameters()).device
    with torch.no_grad():
        x = G(z.to(at), tokens.repeat(n, 1).to(at)).cpu().float()
    if not torch.isfinite(x).all():
        raise ValueError(f"--text: the generator of {run_dir} gave NaN or Inf for {text!r}")
    return x


def write_text_samples(run_dir: Union[str, Path], text: str, out: Union[str, Path], n: int = 16, seed: int = 0,
                       checkpoint: str = "latest", device: str = "cpu") -> Path:
    """sample_text written to OUT.png (one grid), OUT.npz or a folder (as save_samples)."""
    x = sample_text(run_dir, text, n, seed, checkpoint, device)
    out = Path(out)
    if out.suffix.lower() != ".png":
        return save_samples(x, out)
    from . import viz
    if rundir.enclosing_run(out) is not None:
        save_samples(x[:1], out.with_suffix(""))   # its one-line refusal of a path inside the run folder
    out.parent.mkdir(parents=True, exist_ok=True)
    viz.save_image_grid(x, out, nrow=max(1, int(round(len(x) ** 0.5))))
    return out


def data_info(run_dir: Union[str, Path]) -> Dict[str, Any]:
    """The info of a run's data set (its test split): vocabulary, levels, ground truth."""
    return load_data(load_run(run_dir), "test").info


def grid_path(out: Union[str, Path]) -> Path:
    """Where save_samples puts the grid of a folder of images: DIR.png beside DIR."""
    out = Path(out).resolve()
    return out.parent / f"{out.name}.png"


def save_samples(x: torch.Tensor, out: Union[str, Path], labels: Optional[torch.Tensor] = None,
                 nrow: Optional[int] = None, info: Optional[Dict[str, Any]] = None) -> Path:
    """Write samples to FILE.npz (key "x", float32 in [-1, 1], plus "uint8" for
    images and "y" for class labels) or to a folder DIR (one PNG per image),
    with the grid of them (`nrow` images a row) beside it as DIR.png
    (grid_path): inside DIR, `eval --samples DIR` would count it as a sample.

    Token sequences (int64 (N, L)): FILE.txt, one sequence per line, decoded
    with the data set's `info` (text: its tokens joined, nothing between
    characters, a space between words; otherwise the ids, space-separated;
    a newline inside a sequence is written as \\n), or FILE.npz with the ids
    under "tokens"."""
    from . import viz
    from .data.base import float_to_uint8

    out = Path(out)
    if x.is_floating_point() and x.ndim == 4 and out.suffix == "":  # a file per image: each takes a block at least
        from .resources import block_size, check_disk
        check_disk(out, len(x) * block_size(out), f"{len(x)} PNG files", "ask for fewer, or write a .npz file")
    run = rundir.enclosing_run(out)
    if run is not None:  # the run folder is training's record: `report` and `eval` read what is in it
        raise ValueError(f"--out {out} is inside the run folder {run}; write samples outside it, e.g. "
                         f"--out {run.parent / (run.name + '-samples')}")
    if not x.is_floating_point():
        from .data.text import decode
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix == ".txt":
            out.write_text("".join(s.replace("\n", "\\n") + "\n" for s in decode(x, info or {})),
                           encoding="utf-8")
        elif out.suffix == ".npz":
            np.savez_compressed(out, tokens=x.numpy().astype(np.int64))
        else:
            raise ValueError(f"--out {out}: token sequences go to a .txt file (one per line) or a .npz file")
        return out
    if out.suffix == ".npz":
        out.parent.mkdir(parents=True, exist_ok=True)
        arrays: Dict[str, Any] = {"x": x.numpy().astype(np.float32)}
        if x.ndim == 4:
            arrays["uint8"] = float_to_uint8(x)
        if labels is not None:
            arrays["y"] = labels.numpy().astype(np.int64)
        np.savez_compressed(out, **arrays)
        return out
    if out.suffix:
        raise ValueError(f"--out {out}: give a .npz file or a folder")
    out.mkdir(parents=True, exist_ok=True)
    if x.ndim == 4:
        from PIL import Image
        if nrow and len(x) % nrow == 0:  # rows of nrow (one class each): show at most 16 of each row
            cols = min(nrow, 16)
            viz.save_image_grid(x.view(-1, nrow, *x.shape[1:])[:, :cols].reshape(-1, *x.shape[1:]),
                                grid_path(out), nrow=cols)
        else:
            viz.save_image_grid(x[:256], grid_path(out))
        imgs = float_to_uint8(x)
        for i, im in enumerate(imgs):
            a = im.transpose(1, 2, 0)
            name = f"{i:06d}.png" if labels is None else f"{i:06d}_class{int(labels[i])}.png"
            Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a).save(out / name)
    else:
        viz.save_scatter(x, out / "scatter.png")
        np.savetxt(out / "samples.csv", x.numpy(), delimiter=",", header="x,y", comments="")
    return out
