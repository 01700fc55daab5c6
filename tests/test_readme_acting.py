"""The README's acting section is true: the commands of its first ```bash
block, run in order in an empty folder, succeed and create the run folders
and files the later commands use.

Test-sized as in test_readme_tour.py, and only that: `train` gets a few
iterations of a few hundred transitions (VIME's model a few updates), `eval`
and `demos` a few episodes. `pip install` is skipped (the test runs in the
installed package), and so is `study run` (a study of 12 trials; the spec is
loaded and validated, and tests/study runs studies)."""
import shlex
from pathlib import Path

import pytest

pytest.importorskip("gymnasium", reason="the rl extra (gymnasium) is not installed")

from ganscape.cli import main  # noqa: E402
from test_readme_tour import RUN  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"
TRAIN = ["--no-progress", "--set", "train.steps=2", "--set", "train.checkpoint_every=0", "--set", "eval.every=0",
         "--set", "eval.params={return: {episodes: 2}}", "--set", "method.params.steps_per_iter=200",
         "--set", "env.num_envs=1"]
VIME = ["--set", "method.params.bnn_updates=3", "--set", "method.params.min_pool=50"]
# a 2-iteration expert's episodes are short: 4 of them, every 10th step, make a handful of pairs
GAIL = ["--set", "train.batch_size=2"]


def acting_commands(text: str) -> list:
    section = text[text.index("## Generative models that act"):]
    block = section[section.index("```bash\n") + len("```bash\n"):]
    return [line.strip() for line in block[:block.index("```")].splitlines() if line.strip()]


def tiny(args: list) -> list:
    if args[0] == "train":
        return args + TRAIN + (VIME if "vime" in " ".join(args) else []) + (GAIL if "gail" in " ".join(args) else [])
    if args[0] == "eval":
        metrics = args[args.index("--metrics") + 1].split(",") if "--metrics" in args else ["return"]
        return args + [x for m in metrics for x in ("--param", f"{m}.episodes=2")]
    if args[0] == "demos":
        i = args.index("--episodes")
        return args[:i + 1] + ["4"] + args[i + 2:]  # the README trains GAIL on 4 of them
    if args[0] == "sample":
        i = args.index("--episodes")
        return args[:i + 1] + ["1"] + args[i + 2:]
    return args


def test_the_acting_commands_run_in_order(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    commands = acting_commands(README.read_text())
    assert any(c.startswith("ganscape demos") for c in commands)
    for command in commands:
        words = shlex.split(command, comments=True)
        if words[0] == "pip":
            continue
        assert words[0] == "ganscape", command
        args = words[1:]
        if args[:2] == ["study", "run"]:
            from ganscape.study.spec import load_spec
            assert load_spec(args[2]).objective.direction == "maximize"
            continue
        for used in RUN.findall(" ".join(args)):
            assert (tmp_path / used).is_dir(), f"{command!r} uses {used}, which the commands before it did not create"
        code = main(tiny(args))
        out = capsys.readouterr()
        assert code == 0, f"{command!r} failed:\n{out.err[-2000:]}"
    assert (tmp_path / "demos" / "cartpole.npz").is_file()
    assert (tmp_path / "rollouts.gif").is_file() and (tmp_path / "rollouts.npz").is_file()
