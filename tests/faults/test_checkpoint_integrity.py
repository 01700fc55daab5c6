"""Checkpoint integrity (issue 17, items 20 and 22): bytes overwritten inside
a checkpoint fail its digest and the usual fallback takes over; a pickle that
refers to code is refused with a message that says so."""
import os
import zipfile

import pytest
import torch

import ganscape
from ganscape.config import from_dict
from ganscape.train import checkpoint as ckpt_io
from ganscape.train.digest import payload_digest


def _largest_record_offset(path):
    """(offset, size) of the data of the largest record in a torch zip file:
    the bytes of the biggest tensor storage."""
    with zipfile.ZipFile(path) as z:
        info = max(z.infolist(), key=lambda i: i.file_size)
    with open(path, "rb") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
    return info.header_offset + 30 + name_len + extra_len, info.file_size


def _overwrite_4k(path):
    start, size = _largest_record_offset(path)
    assert size >= 8192
    with open(path, "r+b") as f:
        f.seek(start + size // 2 - 2048)
        f.write(b"\x7f" * 4096)  # float32 0x7f7f7f7f = 3.39e38, as in the issue


def test_4k_overwritten_inside_latest_fails_the_digest_and_resume_falls_back(tiny_tree, tmp_path):
    tiny_tree["model"]["generator"]["arch"]["params"]["width"] = 128
    tiny_tree["train"].update(steps=10, latest_every=5, checkpoint_every=0)
    run = ganscape.train(from_dict(tiny_tree), run_dir=tmp_path / "run")
    ck = run / "checkpoints"
    _overwrite_4k(ck / "latest.pt")
    # torch alone loads the damaged file without complaint: only the digest notices
    raw = torch.load(ck / "latest.pt", weights_only=True)
    assert raw["step"] == 10
    with pytest.raises(ckpt_io.CheckpointError, match="does not match the digest"):
        ckpt_io.load(ck / "latest.pt")
    with pytest.warns(ckpt_io.CheckpointWarning, match="latest.pt fails its digest check; moved aside"):
        ganscape.resume(run, steps=12)
    assert ckpt_io.load(ck / "latest.pt")["step"] == 12
    assert (ck / "latest.pt.corrupt").exists()


def test_digest_covers_every_value_and_old_checkpoints_load(tmp_path):
    payload = {"step": 7, "nets": {"G": {"w": torch.arange(6.0).view(2, 3)}},
               "optims": {"G": {"state": {0: {"exp_avg": torch.ones(3)}}, "param_groups": [{"lr": 2e-4,
                                                                                            "betas": (0.5, 0.9)}]}}}
    ckpt_io.save(tmp_path / "a.pt", payload)
    stored = torch.load(tmp_path / "a.pt", weights_only=True)
    assert stored["digest"].startswith("sha256:") and len(stored["digest"]) == len("sha256:") + 64
    assert ckpt_io.load(tmp_path / "a.pt")["step"] == 7
    # any change of a tensor, a float, an int or a key, saved with the old digest, is caught
    changes = [lambda d: d["nets"]["G"]["w"].__setitem__((1, 2), 5.0000005),
               lambda d: d["optims"]["G"]["param_groups"][0].__setitem__("lr", 2.0001e-4),
               lambda d: d.__setitem__("step", 8),
               lambda d: d["optims"]["G"]["state"].__setitem__(1, d["optims"]["G"]["state"].pop(0))]
    for i, change in enumerate(changes):
        d = torch.load(tmp_path / "a.pt", weights_only=True)
        change(d)
        torch.save(d, tmp_path / f"b{i}.pt")
        with pytest.raises(ckpt_io.CheckpointError, match="does not match the digest"):
            ckpt_io.load(tmp_path / f"b{i}.pt")
    # a checkpoint written before digests existed loads as before
    torch.save({"format": 2, "step": 3, "nets": {}}, tmp_path / "old.pt")
    assert ckpt_io.load(tmp_path / "old.pt")["step"] == 3
    # the same content gives the same digest; a dtype or shape change gives another
    w = torch.arange(6.0)
    assert payload_digest({"w": w}) == payload_digest({"w": w.clone()})
    assert payload_digest({"w": w}) != payload_digest({"w": w.view(2, 3)})
    assert payload_digest({"w": w}) != payload_digest({"w": w.double()})


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("form", ["torch-zip", "plain-pickle"])
def test_a_pickle_that_holds_code_is_refused_and_says_so(form, tmp_path):
    import pickle
    ckpt_io.save_latest(tmp_path, {"step": 1})
    ckpt_io.save_latest(tmp_path, {"step": 2})
    marker = tmp_path / "pwned"
    if form == "torch-zip":
        torch.save({"format": 2, "step": 3, "x": _Evil(marker)}, tmp_path / "latest.pt")
    else:
        (tmp_path / "latest.pt").write_bytes(pickle.dumps(_Evil(marker), protocol=4))
    with pytest.raises(ckpt_io.CheckpointError) as e:
        ckpt_io.load(tmp_path / "latest.pt")
    msg = str(e.value)
    assert "holds code (posix.system) and was refused" in msg or "holds code (nt.system) and was refused" in msg
    assert "weights_only" not in msg and "truncated" not in msg and "\n" not in msg
    with pytest.warns(ckpt_io.CheckpointWarning, match="latest.pt holds code and was refused; moved aside"):
        ckpt, path = ckpt_io.load_newest(tmp_path, move_aside=True)
    assert path.name == "previous.pt" and ckpt["step"] == 1
    assert not marker.exists()


def test_random_bytes_and_truncation_are_corrupt_not_code(tmp_path):
    (tmp_path / "r.pt").write_bytes(bytes(range(256)) * 20)
    ckpt_io.save(tmp_path / "t.pt", {"step": 1, "w": torch.zeros(5000)})
    (tmp_path / "t.pt").write_bytes((tmp_path / "t.pt").read_bytes()[:3000])
    for name in ("r.pt", "t.pt"):
        with pytest.raises(ckpt_io.CheckpointError, match="is truncated or corrupt") as e:
            ckpt_io.load(tmp_path / name)
        assert "weights_only" not in str(e.value) and "\n" not in str(e.value)
