"""A full disk while TensorBoard writes its events (issue 17, item 21): one
line that names the folder, no thread traceback, status "failed"."""
import os
import subprocess
import sys

import pytest

from ganscape.train import rundir

pytest.importorskip("torch.utils.tensorboard")

# TensorBoard's record writer runs in its own thread; make its file writes fail
# the way a full disk does (ENOSPC), in the child process only.
PATCH = """
import errno
from tensorboard.summary.writer import record_writer
def _full(self, data):
    raise OSError(errno.ENOSPC, "No space left on device")
record_writer.RecordWriter.write = _full
"""


def test_a_full_disk_in_tensorboards_thread_is_one_line_naming_the_folder(tmp_path):
    run = tmp_path / "run"
    args = ["train", "--run-dir", str(run), "--set", "train.steps=40", "--set", "train.log_every=1",
            "--set", "train.sample_every=0", "--set", "train.progress=false",
            "--set", "model.generator.arch.params.width=16", "--set", "model.discriminator.arch.params.width=16"]
    code = PATCH + f"\nfrom ganscape.cli import main\nimport sys\nsys.exit(main({args!r}))\n"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 1, out.stderr[-3000:]
    assert "Traceback" not in out.stderr and "Exception in thread" not in out.stderr, out.stderr[-3000:]
    err = out.stderr.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"error: cannot write {run / 'tensorboard'}: no space left on device"), err
    status = rundir.read_status(run)
    assert status["status"] == "failed" and "tensorboard" in status["reason"]
