"""Images stored as uint8 until the batch, and data streamed from a pack
(train/feed.py): the same batches, weights and resumes as in memory, and a
resident memory that does not grow with the data set."""
import copy
import os

import numpy as np
import pytest
import torch

import ganscape
from ganscape.config import from_dict
from ganscape.data.base import ArrayDataset
from ganscape.data.digits import DigitsParams, digits, digits_arrays
from ganscape.data.pack import PackedParams, pack_arrays, packed
from ganscape.train.feed import BatchOrder, Feed


def _tree(tiny_tree, path, **train):
    t = copy.deepcopy(tiny_tree)
    t["data"] = {"name": "packed", "params": {"path": str(path), "test_fraction": 0.1}}
    t["model"] = {"z_dim": 8, "generator": {"arch": {"name": "dcgan", "params": {"width": 8}}},
                  "discriminator": {"arch": {"name": "dcgan", "params": {"width": 8}}}}
    t["train"].update({"steps": 6, "batch_size": 16, "log_every": 1, "sample_every": 0, "checkpoint_every": 0,
                       "latest_every": 3, "threads": 1, **train})
    return t


@pytest.fixture(scope="module")
def pack16(tmp_path_factory):
    """300 random 3x16x16 images with smooth structure, as a pack."""
    out = tmp_path_factory.mktemp("packs") / "p16"
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (300, 3, 4, 4)).astype(np.uint8)
    images = base.repeat(4, axis=2).repeat(4, axis=3)
    pack_arrays(out, [images[:128], images[128:]], 300, (3, 16, 16))
    return out


def _weights(run):
    ck = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    return {f"{n}.{k}": v for n, sd in ck["nets"].items() for k, v in sd.items()}


def test_digits_are_stored_as_their_17_levels_and_decode_to_the_same_floats():
    d = digits(DigitsParams(size=8), "train")
    images, _ = digits_arrays("train", 0)
    assert d.x.dtype == torch.uint8 and d.coded and d.nbytes * 4 == d.floats().nbytes
    # independent: scikit-learn's values v / 16 mapped to [-1, 1] as 2 v / 16 - 1
    assert torch.equal(d.floats(), torch.from_numpy(images)[:, None] * 2.0 - 1.0)
    big = digits(DigitsParams(size=32), "train")   # stored at 8 px, resized per batch: 64x less than float32 at 32
    assert big.shape == (1, 32, 32) and big.x.shape[1:] == (1, 8, 8) and big.nbytes * 64 == big.floats().nbytes
    idx = torch.tensor([5, 0, 900])
    ref = torch.nn.functional.interpolate(torch.from_numpy(images[[5, 0, 900]])[:, None] * 2.0 - 1.0, size=(32, 32),
                                          mode="bilinear", align_corners=False).clamp(-1, 1)
    assert torch.equal(big.take(idx), ref)


def test_a_pack_is_a_memory_map_read_by_rows_in_the_asked_order(pack16):
    train = packed(PackedParams(path=str(pack16)), "train")
    images = np.load(pack16 / "images.npy")
    assert train.on_disk and 250 < len(train) < 300 and train.nbytes == len(train) * 3 * 16 * 16
    idx = torch.tensor([7, 3, 3, 4, 100, 0])
    want = torch.from_numpy(images[train.rows[idx.numpy()]]).float() / 127.5 - 1.0
    assert torch.equal(train.take(idx), want)
    assert torch.equal(train.floats()[idx], want)


def test_a_streamed_run_trains_the_same_weights_as_in_memory_and_resumes_exactly(tiny_tree, pack16, tmp_path):
    mem = ganscape.train(from_dict(_tree(tiny_tree, pack16)), run_dir=tmp_path / "mem")
    st = ganscape.train(from_dict(_tree(tiny_tree, pack16, data_memory_mb=0, data_workers=2)),
                        run_dir=tmp_path / "st")
    a, b = _weights(mem), _weights(st)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # a streamed run stopped after 3 steps and resumed (workers restart at batch 3) ends where one run does
    half = _tree(tiny_tree, pack16, data_memory_mb=0, data_workers=1, steps=3)
    ganscape.train(from_dict(half), run_dir=tmp_path / "half")
    ganscape.resume(tmp_path / "half", steps=6)
    c = _weights(tmp_path / "half")
    assert all(torch.equal(a[k], c[k]) for k in a)
    # and the comparison can fail: another seed ends elsewhere
    other = _tree(tiny_tree, pack16, steps=6)
    other["seed"] = 1
    d = _weights(ganscape.train(from_dict(other), run_dir=tmp_path / "other"))
    assert not all(torch.equal(a[k], d[k]) for k in a)


def _rss() -> int:
    with open(f"/proc/{os.getpid()}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads resident memory from /proc")
def test_a_streamed_data_set_several_times_the_budget_keeps_resident_memory_flat(tmp_path):
    n, shape = 2400, (3, 64, 64)     # 29.5 MB on disk, the budget 4 MiB: streamed
    rng = np.random.default_rng(1)
    pack_arrays(tmp_path / "big", (rng.integers(0, 256, (400, *shape), dtype=np.uint8) for _ in range(6)), n, shape)
    data = packed(PackedParams(path=str(tmp_path / "big"), test_fraction=0.0), "train")
    cfg = from_dict({"name": "m", "data": {"name": "digits"},
                     "train": {"batch_size": 64, "data_memory_mb": 4, "data_workers": 0}})
    feed = Feed(cfg, data, torch.device("cpu"))
    assert feed.streamed and feed.x is None and data.nbytes > 7 * 4 * 2 ** 20
    for k in range(8):      # warm up the allocator
        feed(k)
    before = _rss()
    total = 0.0
    for k in range(8, n // 64 + 8):    # a whole epoch and a bit: every row of the file is read once
        total += float(feed(k).x.mean())
    grown = _rss() - before
    feed.close()
    assert abs(total) > 0 and grown < 8 * 2 ** 20, f"resident memory grew {grown / 2 ** 20:.1f} MiB"


def test_batch_order_is_a_pure_function_of_seed_and_batch_number():
    a, b = BatchOrder(100, 16, 3), BatchOrder(100, 16, 3)
    assert torch.equal(a.indices(13), b.indices(13)) and torch.equal(a.indices(0), b.indices(0))
    assert len(set(torch.cat([a.indices(k) for k in range(6)]).tolist())) == 96   # one epoch: no repeats
    assert not torch.equal(a.indices(0), BatchOrder(100, 16, 4).indices(0))


def test_a_global_batch_that_does_not_split_over_the_ranks_is_one_line():
    data = ArrayDataset(x=torch.zeros(64, 2), kind="points")
    cfg = from_dict({"name": "m", "data": {"name": "ring-8"}, "train": {"batch_size": 30}})
    with pytest.raises(ganscape.registry.ConfigError, match="global batch of 30 real examples does not split evenly "
                                                            "over 4 processes; make it a multiple of 4"):
        Feed(cfg, data, torch.device("cpu"), rank=1, world=4)


def test_reads_go_on_after_a_short_read_and_a_truncated_pack_is_one_error(pack16, monkeypatch):
    import ganscape.data.base as base
    train = packed(PackedParams(path=str(pack16)), "train")
    want = train.take(torch.arange(len(train)))
    real = os.preadv
    monkeypatch.setattr(os, "preadv", lambda fd, bufs, off: real(fd, [bufs[0][:100]], off))   # 100 bytes a call
    assert torch.equal(train.take(torch.arange(len(train))), want)
    monkeypatch.setattr(os, "preadv", lambda fd, bufs, off: 0)
    with pytest.raises(OSError, match="the file is truncated"):
        train.take(torch.tensor([3]))
    assert base.read_rows(train.x, np.zeros(0, np.int64)).shape == (0, 3, 16, 16)


def test_a_stream_worker_started_by_spawn_reopens_the_pack_by_name(pack16):
    import pickle

    from ganscape.train.feed import _Batches
    data = packed(PackedParams(path=str(pack16)), "train")
    job = _Batches(data, BatchOrder(len(data), 16, 0), 0, 0, 1)
    blob = pickle.dumps(job)
    assert len(blob) < 20_000                      # the file's name, not its 300 images
    again = pickle.loads(blob)
    i1, x1 = job[5]
    i2, x2 = again[5]
    assert torch.equal(i1, i2) and torch.equal(x1, x2)


def test_a_per_batch_transform_is_applied_to_the_global_batch_and_then_sliced():
    from ganscape.data.discrete import binary_digits, BinaryDigitsParams
    data = binary_digits(BinaryDigitsParams(dynamic=True), "train")
    cfg = from_dict({"name": "m", "data": {"name": "digits"}, "train": {"batch_size": 64}})
    one = Feed(cfg, data, torch.device("cpu"))(3).x
    halves = [Feed(cfg, data, torch.device("cpu"), rank=r, world=2)(3).x for r in (0, 1)]
    assert torch.equal(torch.cat(halves), one)
