"""The packed format (data/pack.py): every source decodes to image-folder's arrays,
corrupt and truncated packs are one clear error, an interrupted pack leaves nothing."""
import io
import json
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from ganscape.cli import main
from ganscape.data.files import DataFileError, ImageFolderParams, image_folder, load_image
from ganscape.data.pack import PackedParams, open_pack, pack, packed


def _png(rng, w=13, h=9) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for k in range(5):
            (root / cls / f"{k}.png").write_bytes(_png(rng, 13 + k, 9 + cls.startswith("d")))
    return root


def test_a_folder_packs_to_the_decoded_images_with_its_classes(folder, tmp_path):
    m = pack(folder, tmp_path / "p", 8, labels_from_dirs=True)
    images, labels, names, manifest = open_pack(tmp_path / "p", verify=True)
    assert m == manifest and manifest["count"] == 10 and manifest["classes"] == ["cat", "dog"]
    assert names[0] == "cat/0.png" and names[-1] == "dog/4.png"
    for i, n in enumerate(names):   # byte for byte what image-folder decodes
        assert np.array_equal(images[i], load_image(folder / n, 8, 3))
    assert labels.tolist() == [0] * 5 + [1] * 5
    assert images.dtype == np.uint8 and isinstance(images, np.memmap)


def test_the_packed_data_set_equals_image_folder_on_both_splits(folder, tmp_path):
    pack(folder, tmp_path / "p", 8, labels_from_dirs=True)
    for split in ("train", "test"):
        a = packed(PackedParams(path=str(tmp_path / "p"), test_fraction=0.3), split)
        b = image_folder(ImageFolderParams(root=str(folder), size=8, channels=3, labels_from_dirs=True,
                                           test_fraction=0.3), split)
        assert torch.equal(a.floats(), b.floats()) and torch.equal(a.y, b.y) and a.info["files"] == b.info["files"]
        assert a.num_classes == 2


def test_a_tar_and_an_lmdb_pack_like_the_folder(folder, tmp_path):
    with tarfile.open(tmp_path / "imgs.tar.gz", "w:gz") as tf:
        tf.add(folder, arcname="imgs")
    pack(tmp_path / "imgs.tar.gz", tmp_path / "t", 8)
    pack(folder, tmp_path / "f", 8)
    t, f = open_pack(tmp_path / "t")[0], open_pack(tmp_path / "f")[0]
    assert np.array_equal(t, f) and open_pack(tmp_path / "t")[2][0] == "imgs/cat/0.png"
    lmdb = pytest.importorskip("lmdb", reason="the lmdb package is not installed (pip install 'ganscape[data]')")
    env = lmdb.open(str(tmp_path / "db"), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for k, p in enumerate(sorted(folder.rglob("*.png"))):
            txn.put(f"{k:04d}".encode(), p.read_bytes())
    env.close()
    pack(tmp_path / "db", tmp_path / "l", 8)
    assert np.array_equal(open_pack(tmp_path / "l")[0], f)


def test_truncated_corrupt_and_foreign_packs_are_one_clear_error(folder, tmp_path):
    pack(folder, tmp_path / "p", 8)
    img = tmp_path / "p" / "images.npy"
    data = bytearray(img.read_bytes())
    data[-1] ^= 0xFF                       # same size, one byte changed: only the checksum sees it
    img.write_bytes(bytes(data))
    open_pack(tmp_path / "p")
    with pytest.raises(DataFileError, match=r"images\.npy: SHA-256 differs"):
        open_pack(tmp_path / "p", verify=True)
    img.write_bytes(bytes(data[:-100]))    # truncated
    with pytest.raises(DataFileError, match=r"images\.npy: \d+ bytes, the manifest says \d+; the file is truncated"):
        open_pack(tmp_path / "p")
    (tmp_path / "p" / "manifest.json").write_text("{not json")
    with pytest.raises(DataFileError, match="not a ganscape-pack manifest"):
        open_pack(tmp_path / "p")
    with pytest.raises(DataFileError, match="no manifest.json"):
        open_pack(folder)
    with pytest.raises(FileExistsError, match="never overwritten"):
        pack(folder, tmp_path / "p", 8)


def test_an_interrupted_pack_leaves_nothing_a_run_would_accept(folder, tmp_path, monkeypatch):
    import ganscape.data.pack as pk
    calls = {"n": 0}
    real = pk.load_image

    def dies(*a, **k):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(pk, "load_image", dies)
    with pytest.raises(KeyboardInterrupt):
        pack(folder, tmp_path / "p", 8)
    assert not (tmp_path / "p").exists() and list(tmp_path.iterdir()) == [folder]


def test_bad_images_fail_or_are_skipped_and_listed(folder, tmp_path):
    (folder / "cat" / "9.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    with pytest.raises(DataFileError, match=r"cannot decode cat/9\.png .*--skip-bad"):
        pack(folder, tmp_path / "p", 8)
    assert not (tmp_path / "p").exists()
    m = pack(folder, tmp_path / "p", 8, skip_bad=True)
    images, _, names, _ = open_pack(tmp_path / "p", verify=True)
    assert m["source"]["skipped"] == ["cat/9.png"] and len(names) == len(images) == 10 and "cat/9.png" not in names


def test_the_cli_packs_verifies_and_trains_on_a_pack(folder, tmp_path, capsys):
    assert main(["data", "pack", str(folder), "--size", "8", "--out", str(tmp_path / "p"), "--no-progress"]) == 0
    assert "10 images of 3x8x8" in capsys.readouterr().out
    assert main(["data", "verify", str(tmp_path / "p")]) == 0
    assert "every file matches its SHA-256" in capsys.readouterr().out
    assert main(["data", "pack", str(tmp_path / "nothing"), "--size", "8", "--out", str(tmp_path / "q")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert manifest["files"]["images.npy"]["bytes"] == (tmp_path / "p" / "images.npy").stat().st_size
    run = tmp_path / "run"
    assert main(["train", "--set", "data.name=packed", "--set", f"data.params.path={tmp_path / 'p'}",
                 "--set", "data.params.test_fraction=0.2", "--set", "train.steps=3", "--set", "train.batch_size=4",
                 "--set", "eval.metrics=[]", "--run-dir", str(run), "--no-progress"]) == 0
    assert (run / "checkpoints" / "latest.pt").is_file()
