"""`ganscape sample` writes samples as they are generated, one bounded batch
at a time, and the files are what the in-memory path wrote, bit for bit
(issue 17, item 16)."""
import numpy as np
import pytest
import torch
from PIL import Image

import ganscape
from ganscape import api, sample_writer
from ganscape.cli import main
from ganscape.config import from_dict
from ganscape.metrics import evaluate


def _tree(method=None):
    tree = {"model": {"z_dim": 8, "generator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 1}}},
                      "discriminator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 1}}}},
            "train": {"steps": 2, "batch_size": 16, "progress": False, "sample_every": 2}}
    if method:  # cgan: a generator given the class, a projection discriminator
        tree["method"] = method
        tree["model"]["generator"]["cond"] = "concat"
        tree["model"]["discriminator"]["cond"] = "projection"
    return tree


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return ganscape.train(from_dict(_tree()), run_dir=tmp_path_factory.mktemp("chunks") / "run")


@pytest.fixture
def watched(monkeypatch):
    """Records the size of every batch the generator is asked for."""
    sizes = []
    real = evaluate.generate_batches

    def spy(G, n, seed, batch_size=500, source="the generator", labels=None):
        for x in real(G, n, seed, batch_size, source, labels):
            sizes.append(len(x))
            yield x
    monkeypatch.setattr(evaluate, "generate_batches", spy)
    return sizes


def _old_npz(run, n, out, batch_size=500, **kw):
    # the in-memory path that `sample` took before (and still takes for tokens)
    x, y = api.sample_with_labels(run, n=n, seed=3, batch_size=batch_size, **kw)
    return api.save_samples(x, out, labels=y)


def test_the_npz_is_written_in_chunks_and_equals_the_in_memory_one(run, tmp_path, monkeypatch, watched):
    monkeypatch.setattr(sample_writer, "CHUNK", 7)
    out, count = api.write_samples(run, tmp_path / "s.npz", n=30, seed=3)
    assert count == 30 and watched == [7, 7, 7, 7, 2]  # never more than a chunk at once
    old = np.load(_old_npz(run, 30, tmp_path / "old.npz", batch_size=7))
    new = np.load(out)
    assert sorted(new.files) == sorted(old.files) == ["uint8", "x"]
    for k in old.files:
        assert new[k].dtype == old[k].dtype and new[k].shape == old[k].shape
        assert np.array_equal(new[k], old[k]), k
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.npz", "s.npz"]  # no temporary file left


def test_the_default_chunk_gives_the_samples_sample_gave(run, tmp_path, capsys):
    # 1100 samples: three batches of the default chunk (500), the same draws as one generate call
    assert main(["sample", str(run), "-n", "1100", "--out", str(tmp_path / "s.npz")]) == 0
    assert "wrote 1100 samples" in capsys.readouterr().out
    old = np.load(_old_npz(run, 1100, tmp_path / "old.npz"))
    new = np.load(tmp_path / "s.npz")
    assert np.array_equal(new["x"], api.sample(run, n=1100, seed=0).numpy())
    assert new["x"].shape == old["x"].shape == (1100, 1, 8, 8)


def test_a_png_folder_is_written_in_chunks_with_the_same_files(run, tmp_path, monkeypatch, watched):
    monkeypatch.setattr(sample_writer, "CHUNK", 7)
    api.write_samples(run, tmp_path / "new", n=20, seed=3)
    assert max(watched) == 7
    x, y = api.sample_with_labels(run, n=20, seed=3, batch_size=7)
    api.save_samples(x, tmp_path / "old", labels=y)
    names = sorted(p.name for p in (tmp_path / "old").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "new").iterdir()) and len(names) == 20
    for name in names + ["../old.png"]:
        a = np.asarray(Image.open(tmp_path / "old" / name))
        b = np.asarray(Image.open(tmp_path / "new" / name.replace("../old", "../new")))
        assert np.array_equal(a, b), name


def test_an_npz_that_cannot_fit_on_the_disk_is_refused_in_one_line(run, tmp_path, monkeypatch, capsys):
    from collections import namedtuple

    from ganscape import resources
    usage = namedtuple("usage", "total used free")
    # 1000 samples of 1x8x8: 1000 * 64 * (4 + 1) = 320 KB of arrays before compression; 100 KB free
    monkeypatch.setattr(resources.shutil, "disk_usage", lambda p: usage(10 ** 9, 10 ** 9 - 100_000, 100_000))
    assert main(["sample", str(run), "-n", "1000", "--out", str(tmp_path / "s.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: 1000 samples in s.npz would take at least 320 KB of disk, more than the 100 KB free "
                   f"on {tmp_path.resolve()}; ask for fewer"], err
    assert list(tmp_path.iterdir()) == []
    # a count that cannot fit any machine: refused by the disk check, not grown in memory
    monkeypatch.undo()
    assert main(["sample", str(run), "-n", "100000000000", "--out", str(tmp_path / "s.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: 100000000000 samples in s.npz would take at least 32 TB"), err


def test_a_failure_midway_leaves_nothing_behind(run, tmp_path, monkeypatch):
    monkeypatch.setattr(sample_writer, "CHUNK", 7)
    real = evaluate.generate_batches

    def breaks(*a, **kw):
        for i, x in enumerate(real(*a, **kw)):
            if i == 2:
                raise evaluate.NonFiniteSamplesError("the generator", "test")
            yield x
    monkeypatch.setattr(evaluate, "generate_batches", breaks)
    for out in (tmp_path / "s.npz", tmp_path / "pngs"):
        with pytest.raises(evaluate.NonFiniteSamplesError):
            api.write_samples(run, out, n=30)
    assert [p.name for p in tmp_path.iterdir()] in ([], ["pngs"])
    assert not (tmp_path / "pngs").exists() or list((tmp_path / "pngs").iterdir()) == []


def test_class_labels_and_all_classes_grid_match_the_in_memory_path(tmp_path, monkeypatch):
    run = ganscape.train(from_dict(_tree("cgan")), run_dir=tmp_path / "crun")
    monkeypatch.setattr(sample_writer, "CHUNK", 7)
    api.write_samples(run, tmp_path / "c.npz", n=4, class_="all", seed=3)
    x, y = api.sample_with_labels(run, n=4, class_="all", seed=3, batch_size=7)
    new = np.load(tmp_path / "c.npz")
    assert np.array_equal(new["x"], x.numpy()) and np.array_equal(new["y"], y.numpy())
    api.write_samples(run, tmp_path / "new", n=4, class_="all", seed=3)
    api.save_samples(x, tmp_path / "old", labels=y, nrow=4)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "old.png")), np.asarray(Image.open(tmp_path / "new.png")))
    assert sorted(p.name for p in (tmp_path / "old").iterdir()) == sorted(p.name for p in (tmp_path / "new").iterdir())
    assert torch.equal(torch.as_tensor(new["y"][:5]), torch.tensor([0, 0, 0, 0, 1]))


def test_evaluation_extracts_features_as_the_images_come_with_the_same_scores(run, monkeypatch, tmp_path):
    # a private feature cache: reference statistics that an earlier test computed (at another thread
    # count) would differ from a fresh computation in the last bits, and this test compares bit for bit
    monkeypatch.setenv("GANSCAPE_CACHE", str(tmp_path / "cache"))
    G, cfg = api.load_generator(run, "latest"), api.load_run(run)
    metrics = ["fid", "kid", "is", "prdc"]
    sizes = []
    real = evaluate.generate_batches

    def small(G, n, seed, batch_size=500, source="the generator", labels=None):
        # generated batches of 11 against extraction batches of 8: cuts that do not line up
        for x in real(G, n, seed, 11, source, labels):
            sizes.append(len(x))
            yield x
    monkeypatch.setattr(evaluate, "generate_batches", small)
    old_generate = evaluate.generate
    monkeypatch.setattr(evaluate, "generate", lambda *a, **k: pytest.fail("all n images were generated at once"))
    new = evaluate.evaluate_generator(G, cfg, metrics, 60, batch_size=8)
    assert max(sizes) == 11 and sum(sizes) == 60
    monkeypatch.setattr(evaluate, "generate", old_generate)
    fake = evaluate.generate(G, 60, 0)  # the images, all at once, scored as before
    ref_x, ref, data = evaluate.reference_images(cfg.data.name, dict(cfg.data.params), "train", None)
    old = evaluate.evaluate_arrays(fake, ref_x, metrics, reference=ref, info=data.info, batch_size=8,
                                   extractor=evaluate.build_extractor(None, None, cfg.data.name), value_range="11")
    assert new["results"] == old["results"] and new["n_fake"] == old["n_fake"] == 60
    # a metric that reads the images themselves still gets them
    monkeypatch.setattr(evaluate, "generate", old_generate)
    assert "msssim" in evaluate.evaluate_generator(G, cfg, ["msssim"], 20)["results"]
