"""Tests of the FID InceptionV3 extractor (random weights, no network)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ganscape.metrics.features import inception as inc
from ganscape.metrics.features.base import extract
from ganscape.metrics.features.inception import (
    FID_WEIGHTS_FILENAME,
    FID_WEIGHTS_SHA256,
    FIDInceptionV3,
    InceptionParams,
    InceptionV3FID,
    build_inception_v3_fid,
    preprocess_images,
    resize_bilinear_tf1,
    resize_bilinear_torch,
)
from ganscape.metrics.features.weights_io import WeightsIntegrityError, sha256_file
from ganscape.registry import EXTRACTORS, ConfigError


# ----------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def state():
    """A random state dict of the network whose activations stay O(1) (He init,
    random BN statistics), so numerical checks are not on ~1e-8 values."""
    torch.manual_seed(0)
    net = FIDInceptionV3()
    with torch.no_grad():
        _init_for_tests(net)
    return {k: v.clone() for k, v in net.state_dict().items()}


def _init_for_tests(net):
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        elif isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.8, 1.2)
            m.bias.uniform_(-0.1, 0.1)
    torch.nn.init.normal_(net.fc.bias)


@pytest.fixture(scope="module")
def weights_file(state, tmp_path_factory):
    p = tmp_path_factory.mktemp("w") / FID_WEIGHTS_FILENAME
    torch.save(state, p)
    return p, sha256_file(p)


@pytest.fixture(scope="module")
def extractor(state):
    return InceptionV3FID(state, weights_sha256="1" * 64)


# ----------------------------------------------------------------- architecture
def test_parameter_count_and_keys():
    net = FIDInceptionV3()
    # torchvision's inception_v3 has 27,161,264 parameters, of which 3,326,696
    # are AuxLogits (absent here); 1008 instead of 1000 classes adds 8*2048 + 8.
    assert sum(p.numel() for p in net.parameters()) == 27_161_264 - 3_326_696 + 8 * 2048 + 8
    sd = net.state_dict()
    # 94 conv+BN units (5 stem, 3x7 A, 4 B, 4x10 C, 6 D, 2x9 E) x 6 tensors + fc.weight/bias.
    assert len(sd) == 94 * 6 + 2
    shapes = {
        "Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3),
        "Conv2d_1a_3x3.bn.running_mean": (32,),
        "Conv2d_4a_3x3.conv.weight": (192, 80, 3, 3),
        "Mixed_5b.branch1x1.conv.weight": (64, 192, 1, 1),
        "Mixed_5b.branch_pool.conv.weight": (32, 192, 1, 1),
        "Mixed_5d.branch5x5_2.conv.weight": (64, 48, 5, 5),
        "Mixed_6a.branch3x3.conv.weight": (384, 288, 3, 3),
        "Mixed_6b.branch7x7_2.conv.weight": (128, 128, 1, 7),
        "Mixed_6e.branch7x7dbl_5.conv.weight": (192, 192, 1, 7),
        "Mixed_7a.branch3x3_2.conv.weight": (320, 192, 3, 3),
        "Mixed_7a.branch7x7x3_4.conv.weight": (192, 192, 3, 3),
        "Mixed_7b.branch3x3dbl_1.conv.weight": (448, 1280, 1, 1),
        "Mixed_7c.branch3x3_2b.conv.weight": (384, 384, 3, 1),
        "Mixed_7c.branch_pool.bn.running_var": (192,),
        "fc.weight": (1008, 2048),
        "fc.bias": (1008,),
    }
    for k, s in shapes.items():
        assert tuple(sd[k].shape) == s, k
    assert all(m.eps == 0.001 for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert not any(m.bias is not None for m in net.modules() if isinstance(m, torch.nn.Conv2d))


def test_block_pooling_variants():
    net = FIDInceptionV3()
    assert net.Mixed_7b.pool == "avg" and net.Mixed_7c.pool == "max"
    # TF average pooling ignores the padding: a constant map stays constant at
    # the border (count_include_pad=True would give 4/9 in the corners).
    ones = torch.ones(1, 1, 5, 5)
    assert torch.equal(inc._avg_pool_tf(ones), ones)


# ----------------------------------------------------------------- forward
@pytest.mark.parametrize("size", [8, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_preprocess_shapes(extractor, size, channels):
    x = torch.rand(2, channels, size, size) * 2 - 1
    y = extractor.preprocess(x)
    assert y.shape == (2, 3, 299, 299) and y.dtype == torch.float32
    if channels == 1:  # grey is repeated to RGB before anything else
        assert torch.equal(y, extractor.preprocess(x.repeat(1, 3, 1, 1)))


def test_forward_shapes_logits_and_extract(state, extractor):
    """Three full forwards cover sizes 8/32/64 and 1/3 channels (the network
    input is always 3x299x299, see test_preprocess_shapes), both logits modes
    and `extract`."""
    torch.manual_seed(0)
    w, b = state["fc.weight"].double(), state["fc.bias"].double()
    outs = []
    for size, channels in [(8, 1), (64, 1)]:
        with torch.no_grad():
            out = extractor(torch.rand(1, channels, size, size) * 2 - 1)
        assert set(out) == {"features", "logits"}
        assert out["features"].shape == (1, 2048) and out["logits"].shape == (1, 1008)
        assert out["features"].dtype == torch.float32 and out["logits"].dtype == torch.float32
        f = out["features"].double()
        assert torch.isfinite(f).all() and (f >= 0).all() and f.max() > 1e-3  # mean of ReLU maps
        # Default logits have no bias, as the reference Inception Score code.
        assert torch.allclose(out["logits"].double(), f @ w.T, rtol=1e-4, atol=1e-4)
        outs.append(f)
    assert not torch.allclose(outs[0], outs[1])

    biased = InceptionV3FID(state, weights_sha256="1" * 64, logits_bias=True)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    feats = extract(biased, x, batch_size=4)
    assert feats.features.shape == (1, 2048) and feats.features.dtype == np.float64
    assert feats.probs.shape == (1, 1008)
    f = torch.from_numpy(feats.features)
    np.testing.assert_allclose(feats.probs, torch.softmax(f @ w.T + b, dim=1).numpy(), rtol=1e-4, atol=1e-7)
    assert feats.extractor == biased.identity() != extractor.identity()


# ----------------------------------------------------------------- preprocessing
@pytest.mark.parametrize("resize", ["tf", "torch"])
@pytest.mark.parametrize("c,expected", [(-1.0, -1.0), (1.0, 127.0 / 128.0), (0.0, -0.5 / 128.0)])
def test_scaling_constant_images(c, expected, resize):
    # [-1, 1] -> [0, 255] as (c + 1) * 127.5, then (x - 128) / 128:
    # c = -1 -> 0 -> -1;  c = 1 -> 255 -> 127/128;  c = 0 -> 127.5 -> -1/256.
    y = preprocess_images(torch.full((1, 1, 7, 10), c), resize=resize)
    assert torch.allclose(y, torch.full_like(y, expected), rtol=0, atol=1e-6)


def test_tf_resize_hand_computed_2x2_to_3x3():
    # TF1 legacy mapping: src = dst * 2/3 -> 0, 2/3, 4/3; neighbours
    # (0,1), (0,1), (1,1 clamped); weights 0, 2/3, 1/3.
    # Row 0 [0, 3] -> [0, 2, 3]; row 1 [6, 9] -> [6, 8, 9];
    # output rows: row0, row0 + (row1 - row0) * 2/3, row1.
    x = torch.tensor([[0.0, 3.0], [6.0, 9.0]])[None, None]
    expected = torch.tensor([[0.0, 2.0, 3.0], [4.0, 6.0, 7.0], [6.0, 8.0, 9.0]])
    assert torch.allclose(resize_bilinear_tf1(x, (3, 3))[0, 0], expected, atol=1e-5)
    # Half-pixel (torch) mapping: src = (dst + 0.5) * 2/3 - 0.5 -> -1/6 (clamped
    # to 0), 1/2, 7/6 (clamped to 1): rows/cols [a, (a + b)/2, b].
    expected_torch = torch.tensor([[0.0, 1.5, 3.0], [3.0, 4.5, 6.0], [6.0, 7.5, 9.0]])
    assert torch.allclose(resize_bilinear_torch(x, (3, 3))[0, 0], expected_torch, atol=1e-5)


def _tf1_resize_numpy(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Independent per-pixel transcription of TF1 ResizeBilinear (legacy scaler)."""
    in_h, in_w = img.shape
    sh = np.float32(in_h) / np.float32(out_h)
    sw = np.float32(in_w) / np.float32(out_w)
    out = np.zeros((out_h, out_w), np.float64)
    for i in range(out_h):
        yy = np.float32(i) * sh
        y0 = int(math.floor(yy)); y1 = min(y0 + 1, in_h - 1); ly = float(yy) - y0
        for j in range(out_w):
            xx = np.float32(j) * sw
            x0 = int(math.floor(xx)); x1 = min(x0 + 1, in_w - 1); lx = float(xx) - x0
            top = img[y0, x0] + (img[y0, x1] - img[y0, x0]) * lx
            bot = img[y1, x0] + (img[y1, x1] - img[y1, x0]) * lx
            out[i, j] = top + (bot - top) * ly
    return out


@pytest.mark.parametrize("in_hw,out_hw", [((5, 7), (11, 13)), ((13, 17), (6, 5)), ((8, 8), (299, 299))])
def test_tf_resize_matches_numpy_reference(in_hw, out_hw):
    rng = np.random.default_rng(1)
    img = rng.uniform(0, 255, size=(2, 1) + in_hw).astype(np.float32)
    got = resize_bilinear_tf1(torch.from_numpy(img), out_hw).numpy()
    assert got.shape == (2, 1) + out_hw
    for n in range(2):
        for c in range(1):
            np.testing.assert_allclose(got[n, c], _tf1_resize_numpy(img[n, c].astype(np.float64), *out_hw),
                                       rtol=0, atol=1e-3)


def test_tf_resize_identity_and_differs_from_torch():
    x = torch.rand(1, 2, 9, 9)
    assert torch.equal(resize_bilinear_tf1(x, (9, 9)), x)
    assert not torch.allclose(resize_bilinear_tf1(x, (20, 20)), resize_bilinear_torch(x, (20, 20)))


def test_bad_inputs(extractor):
    with pytest.raises(ValueError, match="1 or 3 channels"):
        extractor.preprocess(torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        extractor.preprocess(torch.zeros(3, 8, 8))
    with pytest.raises(TypeError, match="float"):
        extractor.preprocess(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="resize.*'tf', 'torch'"):
        preprocess_images(torch.zeros(1, 3, 8, 8), resize="bicubic")
    with pytest.raises(ValueError, match="resize"):
        InceptionV3FID(resize="bicubic")


# ----------------------------------------------------------------- weights via params
def test_published_digest_matches_filename_convention():
    # torch hub names files <name>-<first 8 hex of SHA-256>.<ext>.
    assert len(FID_WEIGHTS_SHA256) == 64
    assert FID_WEIGHTS_FILENAME.rsplit("-", 1)[1].split(".")[0] == FID_WEIGHTS_SHA256[:8]


def test_load_with_matching_hash(weights_file, state):
    path, digest = weights_file
    e = build_inception_v3_fid(InceptionParams(weights=str(path), sha256=digest))
    got = e.net.state_dict()
    for k in ("Conv2d_1a_3x3.conv.weight", "Mixed_7c.branch_pool.bn.running_var", "fc.bias"):
        assert torch.equal(got[k], state[k])
    assert digest in e.identity() and "resize=tf" in e.identity()
    e2 = EXTRACTORS.build("inception-v3-fid", {"weights": str(path), "sha256": digest, "resize": "torch"})
    assert e2.resize == "torch" and e2.identity() != e.identity()
    assert not any(p.requires_grad for p in e.parameters()) and not e.training


def test_load_with_wrong_hash(weights_file):
    path, digest = weights_file
    # Default expectation is the published digest, which a random file cannot match.
    with pytest.raises(WeightsIntegrityError) as err:
        build_inception_v3_fid(InceptionParams(weights=str(path)))
    assert FID_WEIGHTS_SHA256 in str(err.value) and digest in str(err.value)
    with pytest.raises(WeightsIntegrityError, match="a" * 64):
        build_inception_v3_fid(InceptionParams(weights=str(path), sha256="a" * 64))


def test_truncated_weights_file(weights_file, tmp_path):
    data = weights_file[0].read_bytes()
    p = tmp_path / "cut.pth"
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="truncated"):
        build_inception_v3_fid(InceptionParams(weights=str(p), sha256=sha256_file(p)))


def test_state_dict_variants(state, tmp_path):
    # Files saved before BatchNorm had num_batches_tracked still load.
    old = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    InceptionV3FID(old, weights_sha256="2" * 64)
    bad = dict(state)
    bad["fc.extra"] = bad.pop("fc.bias")
    with pytest.raises(ValueError, match=r"missing keys \[fc\.bias\].*unexpected keys \[fc\.extra\]"):
        InceptionV3FID(bad, weights_sha256="2" * 64)
    wrong_shape = dict(state)
    wrong_shape["fc.weight"] = torch.zeros(1000, 2048)  # torchvision's 1000-class head
    with pytest.raises(ValueError, match="size mismatch for fc.weight"):
        InceptionV3FID(wrong_shape, weights_sha256="2" * 64)
    with pytest.raises(ValueError, match="weights_sha256"):
        InceptionV3FID(state)


def test_missing_weights_message(monkeypatch, tmp_path):
    monkeypatch.setenv("GANSCAPE_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        build_inception_v3_fid(InceptionParams())
    msg = str(err.value)
    expected_path = tmp_path / "weights" / FID_WEIGHTS_FILENAME
    assert str(expected_path) in msg and "weights=PATH" in msg and "download=true" in msg


def test_download_when_missing(monkeypatch, tmp_path, weights_file):
    path, digest = weights_file
    monkeypatch.setenv("GANSCAPE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(inc, "FID_WEIGHTS_URL", path.as_uri())  # no network in tests
    e = build_inception_v3_fid(InceptionParams(sha256=digest, download=True))
    installed = tmp_path / "cache" / "weights" / FID_WEIGHTS_FILENAME
    assert installed.read_bytes() == path.read_bytes() and digest in e.identity()


def test_params_validation():
    with pytest.raises(ConfigError, match="resize.*'tf', 'torch'"):
        EXTRACTORS.params("inception-v3-fid", {"resize": "bicubic"})
    with pytest.raises(ConfigError, match="sha256"):
        EXTRACTORS.params("inception-v3-fid", {"sha256": "xyz"})
    with pytest.raises(ConfigError, match="unknown key"):
        EXTRACTORS.params("inception-v3-fid", {"weight": "a.pth"})
    p = EXTRACTORS.params("inception-v3-fid", {"download": "true", "logits_bias": "false"})
    assert p.download is True and p.logits_bias is False and p.resize == "tf"
