"""The command line: parse -> config -> library call. No logic of its own."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

EXAMPLES = """\
examples:
  ganscape train                                  # the default preset (MLP GAN on 8x8 digits)
  ganscape train --preset ring8 --set train.steps=2000
  ganscape train --set loss=hinge --set model.discriminator.norm=spectral \\
                 --set 'penalties=[{name: gp, params: {weight: 1}}]'
  ganscape train --config my.yaml --dry-run       # print the resolved config only
  ganscape train --resume runs/digits-001         # continue where it stopped
  ganscape train --resume runs/digits-001 --steps 8000 --set optim.generator.params.lr=1e-4
  ganscape sample runs/digits-001 -n 1000 --out samples.npz
  ganscape eval runs/digits-001 --metrics fid,kid,is,prdc
  ganscape eval --samples samples.npz --reference digits
  ganscape list                                   # every component and its parameters
  ganscape download mnist --root data/mnist       # verified by SHA-256
  ganscape study run loss-digits --out studies/loss-digits --workers 2
  ganscape report studies/loss-digits             # an HTML report of a study (or of a run folder)
  ganscape compare runs/digits-001 runs/vae-digits-001 --out compare/   # GAN vs VAE vs flow vs PixelCNN
"""


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a GAN from a preset / YAML config",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES)
    from .config import list_presets
    p.add_argument("--preset", choices=list_presets(),
                   help="named configuration (default: digits, an MLP GAN on 8x8 digits)")
    p.add_argument("--config", metavar="FILE.yaml",
                   help="YAML config, layered on the preset (on digits when no --preset is given)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config key, e.g. --set train.steps=500 (repeatable); with --resume "
                        "only train.steps, logging/sample/checkpoint/eval settings, learning rates and device")
    p.add_argument("--out", default="runs", help="folder that receives the run folder OUT/NAME-NNN, NAME being "
                                                 "the config's name (default: the data set's) (default: runs)")
    p.add_argument("--run-dir", help="exact run folder to create; must be new or empty (default: OUT/NAME-NNN)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its newest usable checkpoint")
    p.add_argument("--steps", type=_positive_int, help="train to this many generator steps (train.steps)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def _add_sample(sub) -> None:
    from .cli_eval import checkpoint_name
    p = sub.add_parser("sample", help="draw samples from a trained run")
    p.add_argument("run_dir")
    p.add_argument("-n", type=_positive_int, default=64, help="number of samples (default 64)")
    p.add_argument("--out", required=True, help="FILE.npz (arrays) or a folder (PNG grid + images)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", type=checkpoint_name, default="latest",
                   help="latest | best | a step number (default: latest)")
    p.add_argument("--temperature", type=float, default=None,
                   help="sampling temperature of flows (z scaled by T), PixelCNN and sequence generators "
                        "(probabilities to the power 1/T); default: the model's own (1)")
    p.add_argument("--class", dest="class_", metavar="K|all",
                   help="class-conditional runs: N samples of class K, or N of every class ('all': the grid has "
                        "one row per class); the npz holds the labels as 'y'")


def _add_list(sub) -> None:
    p = sub.add_parser("list", help="list every registered component with its parameters")
    p.add_argument("kind", nargs="?", help="only this kind (e.g. loss, penalty, dataset)")


def _add_download(sub) -> None:
    from .data.download import available
    p = sub.add_parser("download", help="download a data set or the FID weights, verifying every file's SHA-256")
    # choices, so that a wrong name lists every one (the weights too) at parse time
    p.add_argument("name", choices=[*available(), "inception-v3-fid"],
                   help=f"{' | '.join(available())} | inception-v3-fid (the FID network's weights)")
    p.add_argument("--root", help="folder to download into (default: ~/.cache/ganscape/...)")


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="train the default preset on digits and report how good it is")
    p.add_argument("--out", default="runs")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganscape", description="Train, evaluate and compare GANs across the design landscape.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES)
    from . import __version__
    parser.add_argument("--version", action="version", version=f"ganscape {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from .cli_eval import add_compare, add_eval
    from .cli_study import add_report, add_study
    for add in (_add_train, _add_sample, add_eval, add_compare, _add_list, _add_download, _add_demo, add_study,
                add_report):
        add(sub)
    return parser


def cmd_train(a) -> int:
    from . import api
    from .config import dumps_yaml

    if a.resume:
        if a.preset or a.config or a.run_dir:
            print("error: --resume continues a run with its saved config; drop --preset/--config/--run-dir "
                  "(--set and --steps may change what is allowed on resume)", file=sys.stderr)
            return 2
        if a.dry_run:
            print(dumps_yaml(api.load_run(a.resume)))
            return 0
        run = api.resume(a.resume, steps=a.steps, overrides=a.overrides,
                         progress=False if a.no_progress else None)
    else:
        overrides = list(a.overrides) + ([f"train.steps={a.steps}"] if a.steps else [])
        cfg = api.make_config(a.preset, a.config, overrides)
        if a.dry_run:
            print(dumps_yaml(cfg))
            return 0
        run = api.train(cfg, out=a.out, run_dir=a.run_dir, progress=False if a.no_progress else None)
    return _report(run)


def _report(run: Path) -> int:
    from .train import rundir

    status = rundir.read_status(run)
    print(f"run folder: {run}")
    print(f"status: {status.get('status')} at step {status.get('step')}"
          + (f" ({status['reason']})" if status.get("reason") else ""))
    samples = sorted((Path(run) / rundir.SAMPLES).glob("step_*.png"))  # the grids, not a method's pictures
    if samples:
        print(f"samples: {samples[-1]}")
    if "mode_coverage" in status:
        mc = status["mode_coverage"]
        print("mode coverage: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                           for k, v in mc.items()))
    return 0 if status.get("status") in ("completed", "interrupted") else 1


def cmd_sample(a) -> int:
    from . import api
    from .evaluation import describe_generator
    from .metrics.evaluate import NonFiniteSamplesError

    try:
        x, y = api.sample_with_labels(a.run_dir, n=a.n, seed=a.seed, checkpoint=a.checkpoint, class_=a.class_,
                                      temperature=a.temperature)
    except NonFiniteSamplesError as e:
        # Name the run, checkpoint and step; nothing has been written.
        raise e.about(describe_generator(a.run_dir, a.checkpoint)) from None
    info = api.data_info(a.run_dir) if not x.is_floating_point() else None  # tokens: decode with the vocabulary
    out = api.save_samples(x, a.out, labels=y, nrow=a.n if a.class_ == "all" else None, info=info)
    print(f"wrote {len(x)} samples to {out}")
    return 0


def cmd_list(a) -> int:
    from . import components  # noqa: F401
    from .config import list_presets
    from .registry import (ARCHITECTURES, DATASETS, EXTRACTORS, LOSSES, METHODS, METRICS, NORMALIZATIONS,
                           OPTIMIZERS, PENALTIES, param_doc)

    regs = [DATASETS, ARCHITECTURES, NORMALIZATIONS, LOSSES, PENALTIES, OPTIMIZERS, METHODS, EXTRACTORS, METRICS]
    kinds = {r.kind.replace(" ", "-"): r for r in regs}
    if a.kind and a.kind not in kinds and a.kind != "preset":
        print(f"error: unknown kind {a.kind!r}; choose one of: {', '.join(sorted(kinds))}, preset", file=sys.stderr)
        return 2
    for name, reg in kinds.items():
        if a.kind and a.kind != name or not len(reg):
            continue
        print(f"{reg.plural}:")
        for e in reg:
            print(f"  {e.name:<18} {e.description}")
            for pname, ptype, default in param_doc(e.params_cls):
                print(f"      {pname}: {ptype} = {default!r}")
        print()
    if not a.kind or a.kind == "preset":
        print("presets: " + ", ".join(list_presets()))
    return 0


def cmd_download(a) -> int:
    if a.name == "inception-v3-fid":  # weights, not a data set: the extractor finds them in the cache
        from .metrics.features.inception import FID_WEIGHTS_FILENAME, download_fid_weights
        path = download_fid_weights(Path(a.root) / FID_WEIGHTS_FILENAME if a.root else None)
        print(f"inception-v3-fid weights verified: {path}")
        return 0
    from .data.download import download

    paths = download(a.name, a.root)
    print(f"{a.name}: {len(paths)} files verified in {paths[0].parent if paths else a.root}")
    return 0


def cmd_demo(a) -> int:
    from .demo import demo

    return demo(out=a.out, overrides=a.overrides)


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    from .fetch import DownloadError
    from .registry import ConfigError
    from .train.checkpoint import CheckpointError, describe_os_error
    from .train.loop import RunFailed

    from .cli_eval import cmd_compare, cmd_eval
    from .cli_study import cmd_report, cmd_study
    handlers = {"train": cmd_train, "sample": cmd_sample, "eval": cmd_eval, "compare": cmd_compare, "list": cmd_list,
                "download": cmd_download, "demo": cmd_demo, "study": cmd_study, "report": cmd_report}
    try:
        return handlers[a.command](a)
    except (ConfigError, CheckpointError, DownloadError, FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except RunFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # disk full, read-only folder, ...: one line, not a traceback
        print(f"error: {describe_os_error(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
