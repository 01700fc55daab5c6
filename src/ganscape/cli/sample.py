"""`ganscape sample`: draw samples from a trained run."""
from __future__ import annotations

from .args import checkpoint_name, positive_int


def add(sub) -> None:
    p = sub.add_parser("sample", help="draw samples from a trained run")
    p.add_argument("run_dir")
    p.add_argument("-n", type=positive_int, default=64, help="number of samples (default 64)")
    p.add_argument("--out", required=True,
                   help="FILE.npz (arrays) or a folder DIR (one PNG per image; their grid goes beside it as DIR.png; "
                        "audio runs: one .wav per clip, their spectrograms in DIR.png)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", type=checkpoint_name, default=None,
                   help="latest | best | a step number (default: best where the run's evaluation during "
                        "training chose one, else latest)")
    p.add_argument("--temperature", type=float, default=None,
                   help="sampling temperature of flows (z scaled by T), PixelCNN and sequence generators "
                        "(probabilities to the power 1/T); default: the model's own (1)")
    p.add_argument("--class", dest="class_", metavar="K|all",
                   help="class-conditional runs: N samples of class K, or N of every class ('all': the grid has "
                        "one row per class); the npz holds the labels as 'y'")
    p.add_argument("--episodes", type=positive_int, default=None,
                   help="runs of a policy (expert, gail, airl, bc, vime): render this many episodes into --out, "
                        ".gif (an animation) or .png (a strip of frames), their trajectories beside it as .npz "
                        "(default 1)")
    p.add_argument("--deterministic", action="store_true", help="episodes: the policy's most likely actions")
    p.add_argument("--text", default=None,
                   help="text-to-image runs (method gancls): N samples for this caption, e.g. \"a large blue "
                        "triangle\"; --out grid.png writes one grid (else a .npz or a folder)")
    p.set_defaults(handler=run)


def run(a) -> int:
    from .. import api
    if a.episodes is not None or api.is_policy_run(a.run_dir):
        from ..episodes import render
        r = render(a.run_dir, a.out, a.episodes or 1, a.checkpoint or api.default_checkpoint(a.run_dir), a.seed,
                   a.deterministic)
        print(f"wrote {r['episodes']} episodes ({r['frames']} frames) to {r['path']}, returns "
              f"{', '.join(f'{x:g}' for x in r['returns'])}; trajectories: {r['trajectories']}")
        return 0
    from ..metrics.evaluate import NonFiniteSamplesError
    from ..metrics.evaluate_run import describe_generator

    which = a.checkpoint or api.default_checkpoint(a.run_dir)
    if a.text is not None:
        out = api.write_text_samples(a.run_dir, a.text, a.out, n=a.n, seed=a.seed, checkpoint=which)
        print(f"wrote {a.n} samples for {a.text!r} to {out} (checkpoint: {which})")
        return 0
    try:
        # written batch by batch as they are generated (api.write_samples): memory holds one batch
        out, count = api.write_samples(a.run_dir, a.out, n=a.n, seed=a.seed, checkpoint=which, class_=a.class_,
                                       temperature=a.temperature, progress=True)
    except NonFiniteSamplesError as e:
        # Name the run, checkpoint and step; nothing has been written.
        raise e.about(describe_generator(a.run_dir, which)) from None
    print(f"wrote {count} samples to {out} (checkpoint: {which})")
    if out.is_dir() and api.grid_path(out).exists():
        print(f"grid: {api.grid_path(out)}")
    return 0
