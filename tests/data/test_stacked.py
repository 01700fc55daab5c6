import numpy as np
import pytest
import torch

from ganscape.data.base import resize_images
from ganscape.data.digits import digits_arrays
from ganscape.data.stacked import NUM_MODES, mode_labels, stacked_digits
from ganscape.registry import DATASETS, ConfigError


def build(split="train", seed=0, **params):
    return DATASETS.build("stacked-digits", params, split, seed)


def test_registered_with_1000_modes():
    assert "stacked-digits" in DATASETS
    ds = build(n=40)
    assert ds.floats().shape == (40, 3, 8, 8) and ds.floats().dtype == torch.float32
    assert ds.kind == "image" and ds.num_classes == NUM_MODES == 1000
    assert ds.y.dtype == torch.int64 and 0 <= int(ds.y.min()) and int(ds.y.max()) < 1000


def test_each_channel_is_the_recorded_digit_and_label_matches():
    ds = build(n=60, seed=3)
    images, labels = digits_arrays("train")
    idx = ds.info["digit_indices"]
    for i in range(60):
        expected_label = 0
        for c in range(3):
            np.testing.assert_array_equal(ds.floats()[i, c].numpy(), images[idx[i, c]] * 2.0 - 1.0)
            expected_label = expected_label * 10 + int(labels[idx[i, c]])
        assert int(ds.y[i]) == expected_label
    np.testing.assert_array_equal(ds.info["digit_labels"], labels[idx])


def test_test_split_uses_only_test_digits_and_a_different_stream():
    train, test = build("train", n=50), build("test", n=50)
    assert len(test) == 10  # n // 5
    test_images, _ = digits_arrays("test")
    idx = test.info["digit_indices"]
    assert idx.max() < len(test_images)
    np.testing.assert_array_equal(test.floats()[:, 0].numpy(), test_images[idx[:, 0]] * 2.0 - 1.0)
    assert not np.array_equal(train.info["digit_indices"][:10], idx)
    assert len(build("test", n=50, n_test=7)) == 7


def test_deterministic_given_seed():
    a, b, c = build(n=30, seed=5), build(n=30, seed=5), build(n=30, seed=6)
    assert torch.equal(a.floats(), b.floats()) and torch.equal(a.y, b.y)
    assert not torch.equal(a.y, c.y)


def test_default_size_covers_all_modes_nearly_uniformly():
    ds = build()  # 25600 images
    assert len(ds) == 25600
    counts = np.bincount(ds.y.numpy(), minlength=1000)
    assert (counts > 0).all()
    p = counts / counts.sum()
    kl = float(np.sum(p * np.log(p * 1000)))
    # Sampling noise alone gives about (K - 1) / (2 N) = 0.0195 nats.
    assert kl < 0.05


@pytest.mark.parametrize("size", [16, 32])
def test_resized_channels_match_resized_digits(size):
    ds = build(n=8, size=size)
    images, _ = digits_arrays("train")
    idx = ds.info["digit_indices"]
    assert ds.floats().shape == (8, 3, size, size)
    assert ds.floats().min() >= -1 and ds.floats().max() <= 1
    ref = resize_images(torch.from_numpy(images[idx[:, 1]])[:, None] * 2 - 1, size).clamp(-1, 1)
    torch.testing.assert_close(ds.floats()[:, 1:2], ref)


def test_mode_labels():
    assert mode_labels(np.array([[1, 2, 3], [0, 0, 0], [9, 9, 9]])).tolist() == [123, 0, 999]
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        mode_labels(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="0..9"):
        mode_labels(np.array([[1, 10, 0]]))


@pytest.mark.parametrize("params, match", [
    ({"size": 12}, "size"),
    ({"n": 0}, "n"),
    ({"n": 3}, "n_test"),
    ({"n": 10, "n_test": 0}, "n_test"),
])
def test_bad_params(params, match):
    with pytest.raises(ConfigError, match=match):
        DATASETS.params("stacked-digits", params)


def test_bad_split():
    with pytest.raises(ValueError, match="split"):
        stacked_digits(DATASETS.params("stacked-digits", {"n": 10}), "val")
