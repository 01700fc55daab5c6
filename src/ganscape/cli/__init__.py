"""The command line: parse -> config -> library call. No logic of its own.

One module per command group (train, sample, eval, compare, listing,
download, data, demo, demos, study, report, probe, doctor); each has add(sub), which declares its
parser and sets `handler`, and run(args) -> exit code. This module builds
the parser and turns the library's errors into one line and an exit code.
`ganscape` (pyproject) and `python -m ganscape.cli` both call main()."""
from __future__ import annotations

import argparse
import sys
import warnings
from typing import List, Optional

# Registration is explicit: the parser's choices and `list` come from the
# registries, which this import fills (before any parser is built).
from .. import components  # noqa: F401
from . import compare, data, demo, demos, doctor, download, listing, probe, report, sample, study, train
from . import eval as eval_

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
  ganscape data pack ~/photos --size 64 --out data/photos64   # decode once into a memory-mapped uint8 pack
  ganscape study run loss-digits --out studies/loss-digits --workers 2
  ganscape report studies/loss-digits             # an HTML report of a study (or of a run folder)
  ganscape compare runs/digits-001 runs/vae-digits-001 --out compare/   # GAN vs VAE vs flow vs PixelCNN
  ganscape train --preset expert-cartpole         # a policy by PPO on CartPole (the rl extra)
  ganscape demos runs/expert-cartpole-001 --episodes 10 --out demos/cartpole.npz
  ganscape sample runs/expert-cartpole-001 --episodes 2 --out rollouts.gif   # rendered episodes
  ganscape doctor runs/digits-001                 # diagnosis with evidence and advice (live: --set train.doctor=true)
  ganscape probe convergence --out conv/           # Dirac-GAN: which regularizers converge (Jacobian, trajectories)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganscape", description="Train, evaluate and compare GANs across the design landscape.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES)
    from .. import __version__
    parser.add_argument("--version", action="version", version=f"ganscape {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train.add(sub, EXAMPLES)
    for group in (sample, eval_, demos, compare, listing, download, data, demo, study, report, probe, doctor):  # probe: also `tournament`
        group.add(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    with warnings.catch_warnings():  # restores the caller's warning display afterwards
        warnings.showwarning = _show_warning
        return _run(a)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning is one line, "warning: ...": Python's own display adds the
    file, line and source of the code that warned, which say nothing to a user."""
    print(f"warning: {' '.join(str(message).split())}", file=file or sys.stderr)


def _run(a) -> int:
    from ..fetch import DownloadError
    from ..registry import ConfigError
    from ..train.checkpoint import CheckpointError, describe_os_error
    from ..train.loop import RunFailed

    from ..train import threads
    try:
        with threads.using(getattr(a, "threads", None)):  # --threads beats train.threads and the measured choice
            return a.handler(a)
    except (ConfigError, CheckpointError, DownloadError, FileNotFoundError, FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except RunFailed as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # disk full, read-only folder, ...: one line, not a traceback
        print(f"error: {describe_os_error(e)}", file=sys.stderr)
        return 1

