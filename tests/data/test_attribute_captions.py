"""Multi-label attributes (CelebA's list_attr_celeba.txt layout) as captions: the table by hand, the
image-folder data set that reads them, and method gancls trained, sampled and evaluated on it."""
import numpy as np
import pytest
import torch
from PIL import Image

import ganscape
from ganscape.api import sample_text
from ganscape.config import from_dict
from ganscape.data import captions as C
from ganscape.data.files import DataFileError
from ganscape.registry import DATASETS, ConfigError

NAMES = ("Black_Hair", "Smiling", "5_o_Clock_Shadow")


def test_attribute_captions_by_hand():
    values = np.array([[1, 0, 1], [0, 0, 0], [1, 0, 1], [0, 1, 0]], dtype=np.uint8)
    y, t = C.attribute_captions(values, NAMES)
    # distinct vectors in np.unique's (lexicographic) order: 000, 010, 101
    assert y.tolist() == [2, 0, 2, 1]
    assert t["attributes"].tolist() == [[0, 0, 0], [0, 1, 0], [1, 0, 1]]
    assert t["vocab"] == ["<pad>", "black_hair", "smiling", "5_o_clock_shadow", "none"]
    assert t["text"] == [["none"], ["smiling"], ["black_hair 5_o_clock_shadow"]]
    assert t["tokens"].shape == (3, 1, 2)
    assert t["tokens"][:, 0].tolist() == [[4, 0], [2, 0], [1, 3]]
    # each caption's meanings sum back to its attribute vector (the attributes encoder's input)
    sums = t["meanings"][t["tokens"][:, 0]].sum(1)
    assert sums.tolist() == t["attributes"].astype(np.float32).tolist()
    # a user's text, in any case and order, tokenizes to the same words
    assert C.tokenize(["Black_Hair, 5_o_Clock_Shadow"], 2, t["vocab"]).tolist() == [[1, 3]]
    with pytest.raises(ValueError, match="distinct single words"):
        C.attribute_captions(values, ("Black Hair", "Smiling", "Young"))
    with pytest.raises(ValueError, match=r"\(N >= 1, 3\)"):
        C.attribute_captions(values[:, :2], NAMES)


def _folder(tmp_path, rows):
    """8x8 PNGs in root/img/ and an attribute file listing `rows` {file: (v1, v2, v3)} plus one extra row."""
    root = tmp_path / "img"
    root.mkdir()
    rng = np.random.default_rng(0)
    for name in rows:
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / name)
    lines = [str(len(rows) + 1), " ".join(NAMES)]
    lines += [f"{f} " + " ".join("1" if v else "-1" for v in vs) for f, vs in rows.items()]
    lines.append("999999.png -1 -1 1")           # a row without an image: still part of the table
    (tmp_path / "list_attr.txt").write_text("\n".join(lines) + "\n")
    return root, tmp_path / "list_attr.txt"


def _rows():
    vecs = [(1, 0, 0), (0, 1, 0), (1, 1, 0), (0, 0, 0)]
    return {f"{i:06d}.png": vecs[i % 4] for i in range(12)}


def test_image_folder_labels_images_by_their_attribute_row(tmp_path):
    rows = _rows()
    root, attr = _folder(tmp_path, rows)
    p = {"root": str(root), "attributes": str(attr), "size": 8, "test_fraction": 0.25}
    tr, te = DATASETS.build("image-folder", p, "train", 0), DATASETS.build("image-folder", p, "test", 0)
    assert len(tr) + len(te) == 12 and tr.info["captions"]["text"] == te.info["captions"]["text"]
    table = tr.info["captions"]
    assert tr.num_classes == 5          # 000, 001 (the extra row), 010, 100, 110
    for d in (tr, te):
        for f, k in zip(d.info["files"], d.y.tolist()):
            assert tuple(table["attributes"][k]) == rows[f]
    assert tr.info["sample_labels"] == "data"
    del rows["000003.png"]                 # an image whose row is missing from the file
    lines = [str(len(rows)), " ".join(NAMES)] + [f"{f} " + " ".join("1" if v else "-1" for v in vs)
                                                  for f, vs in rows.items()]
    attr.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataFileError, match="1 image.s. have no row in .*000003.png"):
        DATASETS.build("image-folder", {**p, "test_fraction": 0.0}, "train", 0)
    with pytest.raises(ConfigError, match="attributes and labels_from_dirs both label"):
        DATASETS.params("image-folder", {**p, "labels_from_dirs": True})
    with pytest.raises(FileNotFoundError, match="attributes file .*nowhere.txt does not exist"):
        DATASETS.build("image-folder", {**p, "attributes": str(tmp_path / "nowhere.txt")}, "train", 0)


@pytest.mark.parametrize("encoder", ["attributes", "bag"])
def test_gancls_trains_samples_and_evaluates_on_attributes(tmp_path, monkeypatch, encoder):
    root, attr = _folder(tmp_path, _rows())
    run = tmp_path / "run"
    ganscape.train(from_dict({
        "data": {"name": "image-folder", "params": {"root": str(root), "attributes": str(attr), "size": 8,
                                                    "test_fraction": 0.25}},
        "model": {"z_dim": 4,
                  "generator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 1}}, "norm": "batch"},
                  "discriminator": {"arch": {"name": "mlp", "params": {"width": 16, "depth": 1}}, "norm": "none"}},
        "loss": {"name": "hinge"}, "eval": {"metrics": []},
        "method": {"name": "gancls", "params": {"encoder": encoder, "text_dim": 8, "embed_dim": 4, "d_hidden": 8}},
        "train": {"steps": 3, "batch_size": 4, "sample_every": 0, "checkpoint_every": 3, "progress": False,
                  "num_samples": 4}}), run_dir=run)
    x = sample_text(run, "smiling black_hair", n=3)
    assert x.shape == (3, 3, 8, 8) and torch.isfinite(x).all()
    with pytest.raises(ValueError, match="the word 'young' is not in the vocabulary"):
        sample_text(run, "young", n=1)
    import ganscape.metrics.evaluate as E
    seen = {}
    real_evaluate_arrays = E.evaluate_arrays

    def spy(*args, **kw):
        seen["fake"], seen["real"] = kw["fake_labels"], kw["real_labels"]
        return real_evaluate_arrays(*args, **kw)

    monkeypatch.setattr(E, "evaluate_arrays", spy)
    out = ganscape.evaluate(run, metrics=["fid"], n=7, extractor="random-conv")
    assert np.isfinite(out["results"]["fid"])
    # the samples are conditioned on the test images' own combinations (a seeded order, then in turn),
    # not on all 5 uniformly
    real = seen["real"].tolist()
    order = torch.randperm(len(real), generator=torch.Generator().manual_seed(0)).tolist()
    assert seen["fake"].tolist() == [real[order[i % len(real)]] for i in range(7)]
    with pytest.raises(ConfigError, match="caption-accuracy reads the attributes of shapes-captions samples only"):
        ganscape.evaluate(run, metrics=["caption-accuracy"], n=4, extractor="random-conv")
