"""An allocation failure is one line that says what to change (issue 17,
item 19). The width asks for more than 10^17 bytes, more than any 64-bit address
space maps, so the allocation fails at once on every machine (never a real
out-of-memory that would endanger the test machine)."""
import re

import pytest
import torch

from ganscape.cli import main
from ganscape.registry import ConfigError
from ganscape.train.state import allocation_failure, nets_fit_in_memory

HUGE = 10 ** 16


def test_nets_too_big_for_memory_are_one_line(tmp_path, capsys):
    code = main(["train", "--run-dir", str(tmp_path / "run"), "--set", f"model.generator.arch.params.width={HUGE}",
                 "--set", "train.steps=2", "--set", "train.progress=false"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert re.match(r"error: model: the nets do not fit in memory \(building them asked for [\d.]+ [PE]B\)", err[0]), err
    assert "model.generator.arch.params" in err[0]
    assert not (tmp_path / "run").exists()


def test_allocation_failure_is_told_from_other_errors():
    with pytest.raises(RuntimeError) as e:
        torch.empty(HUGE, 8)
    assert allocation_failure(e.value) == "320 PB"
    assert allocation_failure(MemoryError()) == "more memory than there is"
    assert allocation_failure(RuntimeError("shape mismatch")) is None
    with pytest.raises(ConfigError, match="do not fit in memory"):
        with nets_fit_in_memory():
            torch.nn.Linear(8, HUGE)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        with nets_fit_in_memory():
            raise RuntimeError("shape mismatch")
