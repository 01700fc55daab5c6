"""Binarized and quantized digits against numpy and scikit-learn."""
import numpy as np
import pytest
import torch

from ganscape.data.digits import digits_arrays
from ganscape.data.discrete import binarize_batch, dequantize, fit_palette, quantize
from ganscape.registry import DATASETS, ConfigError


def test_fixed_binarization_is_a_threshold():
    d = DATASETS.build("binary-digits", {"threshold": 0.3}, "train", 0)
    grey, labels = digits_arrays("train")
    expected = np.where(grey > 0.3, 1.0, -1.0)[:, None]
    np.testing.assert_array_equal(d.floats().numpy(), expected)
    np.testing.assert_array_equal(d.y.numpy(), labels)
    assert d.transform is None and d.info["discrete"] == {"mode": "channel", "values": [-1.0, 1.0]}
    assert DATASETS.build("binary-digits", {"size": 16}, "test", 0).floats().shape == (300, 1, 16, 16)


def test_dynamic_binarization_is_pure_and_unbiased():
    d = DATASETS.build("binary-digits", {"dynamic": True}, "train", 0)
    p = d.floats()[:64]
    a, b, c = d.transform(p, 3, 10), d.transform(p, 3, 10), d.transform(p, 3, 11)
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, d.transform(p, 4, 10))
    assert set(a.unique().tolist()) <= {-1.0, 1.0}
    draws = torch.stack([d.transform(p, 0, k) for k in range(400)])
    freq = (draws > 0).float().mean(0)
    torch.testing.assert_close(freq, (p + 1) / 2, atol=0.1, rtol=0)  # 400 draws: sd <= 0.025
    test = DATASETS.build("binary-digits", {"dynamic": True}, "test", 0)
    assert test.transform is None and set(test.floats().unique().tolist()) <= {-1.0, 1.0}
    torch.testing.assert_close(test.floats(), DATASETS.build("binary-digits", {"dynamic": True}, "test", 5).floats())


def test_quantize_round_trip_and_uniform_palette():
    colors = torch.tensor([[-1.0], [0.0], [1.0]])
    x = torch.tensor([[[[-0.9, -0.4], [0.2, 0.7]]]])
    idx, xq = quantize(x, colors)
    assert idx.tolist() == [[[0, 1], [1, 2]]]
    assert xq.tolist() == [[[[-1.0, 0.0], [0.0, 1.0]]]]
    torch.testing.assert_close(dequantize(idx, colors), xq)
    assert fit_palette(x, 3, "uniform") == [[-1.0], [0.0], [1.0]]
    d = DATASETS.build("quantized-digits", {"levels": 5}, "train", 0)
    assert sorted(d.floats().unique().tolist()) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    grey, _ = digits_arrays("train")
    t = (grey * 2 - 1) * 2  # in units of the 0.5 spacing; a tie goes to the lower (first) level
    np.testing.assert_allclose(d.floats().numpy()[:, 0], np.ceil(t - 0.5) / 2, atol=1e-6)


def test_kmeans_palette_is_sklearns():
    from sklearn.cluster import KMeans
    d = DATASETS.build("quantized-digits", {"levels": 4, "palette": "kmeans"}, "test", 0)
    grey, _ = digits_arrays("train")  # the palette is fitted on the training pixels
    km = KMeans(n_clusters=4, n_init=10, random_state=0).fit((grey * 2 - 1).reshape(-1, 1).astype(np.float64))
    expected = sorted(km.cluster_centers_.flatten().tolist())
    np.testing.assert_allclose([c[0] for c in d.info["discrete"]["colors"]], expected, rtol=1e-6)
    np.testing.assert_allclose(sorted(d.floats().unique().tolist()), expected, rtol=1e-5)


@pytest.mark.parametrize("name,params,match", [
    ("binary-digits", {"threshold": 1.0}, "threshold"),
    ("binary-digits", {"size": 12}, "size"),
    ("quantized-digits", {"levels": 1}, "levels"),
    ("quantized-digits", {"palette": "median-cut"}, "palette"),
])
def test_bad_params(name, params, match):
    with pytest.raises(ConfigError, match=match):
        DATASETS.build(name, params, "train", 0)


def test_binarize_batch_keeps_the_device_and_shape():
    p = torch.zeros(2, 1, 3, 3)
    out = binarize_batch(p, 0, 0)
    assert out.shape == p.shape and out.dtype == p.dtype
    assert 0.2 < (out > 0).float().mean() < 0.8  # p = 1/2


def test_the_loop_binarizes_real_batch_k_with_the_run_seed(tiny_tree, tmp_path, monkeypatch):
    """The loop hands the transform the run seed and the batch number k, and
    trains on what it returns; resuming then redraws the same pixels (the
    bit-exact resume of dynamic data: tests/methods/test_discrete_contract.py)."""
    import ganscape
    import ganscape.data.discrete as discrete
    from ganscape.config import from_dict

    calls = []

    def recording(x, seed, k):
        out = binarize_batch(x, seed, k)
        calls.append((seed, k, x.clone(), out))
        return out

    monkeypatch.setattr(discrete, "binarize_batch", recording)  # looked up when the data set is built
    tiny_tree.update(seed=5, data={"name": "binary-digits", "params": {"dynamic": True}})
    tiny_tree["train"].update(steps=3, n_disc=2)
    ganscape.train(from_dict(tiny_tree), run_dir=tmp_path / "run")
    train_calls = [c for c in calls if c[0] == 5]
    assert [k for _, k, _, _ in train_calls] == list(range(6))  # 3 steps x 2 D steps, in order
    grey = DATASETS.build("binary-digits", {"dynamic": True}, "train", 0).floats()
    for seed, k, x, out in train_calls:
        assert x.shape == (16, 1, 8, 8)                                  # training images went in ...
        assert (x.flatten(1)[:, None] == grey.flatten(1)[None]).all(-1).any(-1).all()
        assert torch.equal(out, binarize_batch(x, 5, k))               # binary pixels came out
