"""The README's tour is true (issue 17, item 32): its commands, run in order
in an empty folder, create every run folder that a later command or a
comment names.

How it runs: the ```bash block under "## A tour" is split into commands
(backslash continuations joined, comments dropped). `ganscape ARGS` runs as
`ganscape.cli.main(ARGS)`, which is what `python -m ganscape.cli` and the
console script call (in-process, so that fourteen commands do not pay for
fourteen interpreter starts); any other line (`echo ... > my.yaml`) runs in
bash. What is changed, and only to make it test-sized: `train` (not
--resume, not --dry-run) gets TINY appended (4 steps, evaluation during
training on 40 samples, no progress bar); `train --resume RUN --steps N`
runs to step 6 instead of N; `eval` gets `--n 40`; `sample -n N` keeps N.
`ganscape download` is skipped: it needs the network.
"""
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from ganscape.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
TINY = ["--no-progress", "--set", "train.steps=4", "--set", "train.log_every=2", "--set", "train.sample_every=4",
        "--set", "train.checkpoint_every=0", "--set", "train.latest_every=4", "--set", "eval.every=0",
        "--set", "eval.n=40"]
RUN = re.compile(r"\bruns/[A-Za-z0-9_][A-Za-z0-9._-]*-\d{3}\b")


def tour_commands(text: str) -> list:
    """The commands of the ```bash block that follows "## A tour", one string each."""
    section = text[text.index("## A tour"):]
    block = section[section.index("```bash\n") + len("```bash\n"):]
    block = block[:block.index("```")]
    commands, pending = [], ""
    for line in block.splitlines():
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        if pending.strip():
            commands.append(pending.strip())
        pending = ""
    return commands


def test_the_tour_block_is_found_and_names_run_folders():
    commands = tour_commands(README.read_text())
    assert len(commands) >= 10 and all(c.split()[0] in ("ganscape", "echo") for c in commands)
    assert {"runs/digits-001", "runs/cgan-digits-001", "runs/infogan-digits-001"} <= {
        m for c in commands for m in RUN.findall(c)}


def tiny(args: list) -> list:
    """The command made test-sized, as the module docstring says."""
    if args[0] == "train" and "--resume" in args:
        return [*(a for i, a in enumerate(args) if a != "--steps" and (i == 0 or args[i - 1] != "--steps")),
                "--steps", "6", "--no-progress"]
    if args[0] == "train" and "--dry-run" not in args:
        return args + TINY
    if args[0] == "eval":
        return args + ["--n", "40"]
    return args


def test_the_tour_runs_in_order_and_every_named_run_folder_exists(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for command in tour_commands(README.read_text()):
        words = shlex.split(command, comments=True)
        if words[0] != "ganscape":
            assert subprocess.run(["bash", "-c", command], cwd=tmp_path).returncode == 0, command
            continue
        args = words[1:]
        if args[0] == "download":
            continue  # needs the network: skipped, as the module docstring says
        for used in RUN.findall(" ".join(args)):
            assert (tmp_path / used).is_dir(), f"{command!r} uses {used}, which the commands before it did not create"
        code = main(tiny(args))
        out = capsys.readouterr()
        assert code == 0, f"{command!r} failed:\n{out.err[-2000:]}"
        # the folder a comment says this command creates ("-> runs/NAME-NNN") is the one it created
        said = re.search(r"->\s*(runs/\S+)", command)
        if said:
            assert f"run folder: {said.group(1)}" in out.out, (command, out.out)
    for named in {m for c in tour_commands(README.read_text()) for m in RUN.findall(c)}:
        assert (tmp_path / named / "config.json").exists(), named
    assert (tmp_path / "samples.npz").exists() and (tmp_path / "grid.png").exists()
