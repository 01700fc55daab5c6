"""Every registered metric through the evaluation pipeline, on real data whose
answer is known."""
import numpy as np
import pytest
import torch

from ganscape.metrics.evaluate import evaluate_arrays, reference_images
from ganscape.registry import DATASETS, METRICS


def test_every_metric_is_exercised_here():
    covered = {"fid", "kid", "is", "prdc", "msssim", "c2st", "memorization", "stacked-modes", "shapes",
               "intra-fid", "class-consistency", "per-class-pr"}
    assert covered <= set(METRICS.names())


def test_conditional_metrics_on_held_out_digits_with_true_and_shuffled_labels():
    train, ref, data = reference_images("digits", {"size": 8}, "train", None)
    test, _, test_data = reference_images("digits", {"size": 8}, "test", None)
    names = ["intra-fid", "class-consistency", "per-class-pr"]
    good = evaluate_arrays(test, train, names, reference=ref, fake_labels=test_data.y, real_labels=data.y)["results"]
    # the shipped classifier is 99.67% right on these very images
    assert good["class_consistency"] == pytest.approx(299 / 300, abs=0.004)
    wrong = (test_data.y + 1) % 10  # every image claimed to be of the next class
    bad = evaluate_arrays(test, train, names, reference=ref, fake_labels=wrong, real_labels=data.y)["results"]
    assert bad["class_consistency"] < 0.02
    assert bad["intra_fid"] > 3 * good["intra_fid"]
    assert bad["precision_mean"] < good["precision_mean"] - 0.5


def test_held_out_digits_look_real_and_are_not_copies():
    train, ref, data = reference_images("digits", {"size": 8}, "train", None)
    test, _, _ = reference_images("digits", {"size": 8}, "test", None)
    from ganscape.data.base import ArrayDataset
    out = evaluate_arrays(test, train, ["kid", "prdc", "msssim", "c2st", "memorization"], reference=ref,
                          train=ArrayDataset(x=train, kind="image"))["results"]
    assert abs(out["kid"]) < 3 * out["kid_std"] + 1.0
    assert out["precision"] > 0.85 and out["recall"] > 0.85
    assert 0.35 < out["c2st_accuracy"] < 0.65          # real vs real: chance
    assert out["memorization_fraction_near_copies"] < 0.05
    assert out["msssim"] == pytest.approx(out["msssim_real"], abs=0.05)
    # the training digits themselves are all copies
    copies = evaluate_arrays(train[:300], train, ["memorization"], reference=ref,
                             train=ArrayDataset(x=train, kind="image"))["results"]
    assert copies["memorization_fraction_near_copies"] == 1.0


def test_half_the_classes_high_precision_low_recall():
    # a "generator" that only draws digits 0-4: precision stays high, recall drops
    train, ref, data = reference_images("digits", {"size": 8}, "train", None)
    test_ds = DATASETS.build("digits", {"size": 8}, "test")
    half = test_ds.floats()[test_ds.y < 5]
    out = evaluate_arrays(half, train, ["prdc"], reference=ref)["results"]
    assert out["precision"] > 0.85 and out["recall"] < 0.7


def test_stacked_modes_on_real_stacked_digits():
    real = DATASETS.build("stacked-digits", {"n": 2000, "n_test": 2000}, "test")
    train = DATASETS.build("stacked-digits", {"n": 2000, "n_test": 2000}, "train")
    out = evaluate_arrays(real.floats(), train.floats(), ["stacked-modes"], extractor="digits-cnn")["results"]
    # the classifier recovers almost every stacked label (99.7% per digit)
    true_modes = len(np.unique(real.y.numpy()))
    assert abs(out["stacked_modes_captured"] - true_modes) <= 15
    assert out["stacked_kl_to_uniform"] < 0.6


def test_shapes_metric_on_real_shapes_and_noise():
    params = {"n": 200, "n_test": 200, "size": 32}
    real = DATASETS.build("shapes", params, "test")
    train = DATASETS.build("shapes", params, "train")
    out = evaluate_arrays(real.floats(), train.floats(), ["shapes"], extractor="random-conv", info=real.info)["results"]
    assert out["shapes_valid_fraction"] > 0.97
    assert out["shapes_kind_tv"] < 0.05
    assert out["shapes_coverage"] > 0.9
    noise = torch.rand(50, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    bad = evaluate_arrays(noise, train.floats(), ["shapes"], extractor="random-conv", info=real.info)["results"]
    assert bad["shapes_valid_fraction"] == 0.0 and bad["shapes_coverage"] == 0.0
