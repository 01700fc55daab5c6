"""Tests of the shipped digits classifier ("digits-cnn")."""
import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import ganscape.data.digits  # noqa: F401  (registers the "digits" data set)
from ganscape.data.base import resize_images
from ganscape.data.digits import digits_arrays
from ganscape.metrics.features import digits_cnn as dc
from ganscape.metrics.features.base import extract
from ganscape.registry import DATASETS, EXTRACTORS, ConfigError


@pytest.fixture(scope="module")
def ext():
    return EXTRACTORS.build("digits-cnn", {})


@pytest.fixture(scope="module")
def test_set():
    d = DATASETS.build("digits", {"size": 8}, "test", 0)
    return d.floats(), d.y.numpy()


def test_shipped_file_sha_matches_json_and_constant(ext):
    path = dc.default_weights_path()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    record = json.loads(path.with_suffix(".json").read_text())
    assert digest == record["sha256"] == dc.WEIGHTS_SHA256 == ext.sha256
    assert record["bytes"] == path.stat().st_size < 400_000
    assert record["test_accuracy"] >= 0.985
    assert dc.WEIGHTS_SHA256 in ext.identity()


def test_no_batch_norm_and_frozen(ext):
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in ext.modules())
    assert not any(p.requires_grad for p in ext.parameters())
    assert (ext.name, ext.feature_dim, ext.num_classes) == ("digits-cnn", 128, 10)


def test_accuracy_on_test_split(ext, test_set):
    x, y = test_set
    assert len(x) == 300
    f = extract(ext, x, batch_size=128)
    assert f.features.shape == (300, 128) and f.probs.shape == (300, 10)
    assert (f.features >= 0).all()  # post-ReLU penultimate activations
    np.testing.assert_allclose(f.probs.sum(1), 1.0, atol=1e-9)
    assert (f.probs.argmax(1) == y).mean() >= 0.985


def test_features_do_not_depend_on_batch_size(ext, test_set):
    x, _ = test_set
    a, b = extract(ext, x, batch_size=7), extract(ext, x, batch_size=300)
    assert np.abs(a.features - b.features).max() < 1e-5
    assert np.abs(a.probs - b.probs).max() < 1e-5


def _conv3x3(x, w, b):
    """Plain numpy cross-correlation, zero padding 1: x (Ci, H, W), w (Co, Ci, 3, 3)."""
    ci, h, wd = x.shape
    xp = np.zeros((ci, h + 2, wd + 2))
    xp[:, 1:-1, 1:-1] = x
    out = np.zeros((w.shape[0], h, wd))
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("oi,ihw->ohw", w[:, :, dy, dx], xp[:, dy:dy + h, dx:dx + wd])
    return out + b[:, None, None]


def _maxpool2(x):
    c, h, w = x.shape
    return x.reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))


def test_forward_matches_independent_numpy_network(ext, test_set):
    # The architecture written out again in numpy (float64) from the raw
    # tensors of the safetensors file.
    p = {k: v.double().numpy() for k, v in load_file(str(dc.default_weights_path())).items()}
    relu = lambda a: np.maximum(a, 0)  # noqa: E731
    x = test_set[0][:5]
    out = ext(x)
    for i in range(5):
        h = relu(_conv3x3(x[i].double().numpy(), p["conv1.weight"], p["conv1.bias"]))
        h = _maxpool2(relu(_conv3x3(h, p["conv2.weight"], p["conv2.bias"])))
        h = _maxpool2(relu(_conv3x3(h, p["conv3.weight"], p["conv3.bias"])))
        feat = relu(p["fc1.weight"] @ h.reshape(-1) + p["fc1.bias"])
        logits = p["fc2.weight"] @ feat + p["fc2.bias"]
        np.testing.assert_allclose(out["features"][i].numpy(), feat, atol=1e-4)
        np.testing.assert_allclose(out["logits"][i].numpy(), logits, atol=1e-4)


@pytest.mark.parametrize("size", [16, 32])
def test_downsampling_is_antialiased_bilinear(size):
    # Antialiased bilinear by its definition: output pixel i averages input
    # pixels j with the triangle weight max(0, 1 - |j + 0.5 - s (i + 0.5)| / s),
    # s = size / 8, normalised to sum 1 (border pixels renormalised).
    s = size / 8
    j = np.arange(size)[None, :] + 0.5
    i = np.arange(8)[:, None] + 0.5
    m = np.maximum(0.0, 1.0 - np.abs(j - s * i) / s)
    m /= m.sum(1, keepdims=True)
    x = torch.rand(2, 1, size, size, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    expected = np.einsum("ah,nchw,bw->ncab", m, x.numpy(), m)
    np.testing.assert_allclose(dc.to_native(x).numpy(), expected, atol=1e-10)
    y = torch.zeros(1, 1, 8, 8)
    assert dc.to_native(y) is y  # native size passes through untouched


@pytest.mark.parametrize("size", [16, 32])
def test_upsampled_digits_are_classified(ext, size):
    d = DATASETS.build("digits", {"size": size}, "test", 0)
    assert d.floats().shape[-1] == size
    f = extract(ext, d.floats(), batch_size=300)
    assert f.features.shape == (300, 128)
    assert (f.probs.argmax(1) == d.y.numpy()).mean() >= 0.97
    # the same images resized with the shared helper agree
    imgs, _ = digits_arrays("test")
    x = resize_images(torch.from_numpy(imgs)[:, None] * 2 - 1, size).clamp(-1, 1)
    assert torch.allclose(ext(x)["logits"], ext(d.floats())["logits"], atol=1e-5)


@pytest.mark.parametrize("size", [8, 16])
def test_stacked_digits_are_classified_per_channel(ext, test_set, size):
    x, _ = test_set
    g = torch.Generator().manual_seed(1)
    stacked = torch.cat([x[torch.randperm(300, generator=g)[:40]] for _ in range(3)], dim=1)
    stacked = resize_images(stacked, size).clamp(-1, 1)
    cl = ext.channel_logits(stacked)
    assert cl.shape == (40, 3, 10)
    out = ext(stacked)
    assert set(out) == {"features"} and out["features"].shape == (40, 3 * 128)
    for k in range(3):
        single = ext(stacked[:, k:k + 1])
        assert torch.allclose(cl[:, k], single["logits"], atol=1e-5)
        assert torch.allclose(out["features"][:, 128 * k:128 * (k + 1)], single["features"], atol=1e-5)
    f = extract(ext, stacked, batch_size=16)
    assert f.probs is None and f.features.shape == (40, 384)


def _copy_weights(tmp_path, with_sidecar=True):
    src = dc.default_weights_path()
    dst = tmp_path / src.name
    shutil.copyfile(src, dst)
    if with_sidecar:
        shutil.copyfile(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def _flip_one_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_tampered_file_with_sidecar_is_rejected(tmp_path):
    path = _copy_weights(tmp_path)
    assert EXTRACTORS.build("digits-cnn", {"weights": str(path)}).sha256 == dc.WEIGHTS_SHA256
    _flip_one_byte(path)
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        EXTRACTORS.build("digits-cnn", {"weights": str(path)})


def test_tampered_shipped_file_is_rejected(tmp_path, monkeypatch):
    path = _copy_weights(tmp_path)
    _flip_one_byte(path)
    # Rewriting the sidecar does not help: the shipped file is checked
    # against the digest pinned in the module.
    rec = json.loads(path.with_suffix(".json").read_text())
    rec["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    path.with_suffix(".json").write_text(json.dumps(rec))
    monkeypatch.setattr(dc, "default_weights_path", lambda: path)
    with pytest.raises(ValueError, match="SHA-256 mismatch.*expected " + dc.WEIGHTS_SHA256):
        dc.load_digits_cnn()


def test_custom_weights_without_sidecar_and_wrong_contents(tmp_path):
    path = _copy_weights(tmp_path, with_sidecar=False)
    ext = EXTRACTORS.build("digits-cnn", {"weights": str(path)})
    assert ext.sha256 == dc.WEIGHTS_SHA256
    bad = tmp_path / "other.safetensors"
    save_file({"conv1.weight": torch.zeros(3, 1, 3, 3)}, str(bad))
    with pytest.raises(ValueError, match="does not hold DigitsCnn weights"):
        EXTRACTORS.build("digits-cnn", {"weights": str(bad)})
    with pytest.raises(FileNotFoundError, match="not found"):
        EXTRACTORS.build("digits-cnn", {"weights": str(tmp_path / "missing.safetensors")})


def test_bad_inputs_and_params(ext):
    with pytest.raises(ValueError, match="size 8, 16 or 32"):
        ext(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match="size 8, 16 or 32"):
        ext(torch.zeros(2, 1, 16, 8))
    with pytest.raises(ValueError, match="\\(N, C, H, W\\)"):
        ext(torch.zeros(8, 8))
    with pytest.raises(ConfigError, match="weights"):
        EXTRACTORS.params("digits-cnn", {"weights": " "})
    with pytest.raises(ConfigError, match="unknown key"):
        EXTRACTORS.params("digits-cnn", {"path": "x"})
