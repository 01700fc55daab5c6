"""The array-level metric API, ``ganscape.metrics``: one argument order
(fake, real), values checked against independent computations, tensors that
require grad accepted, wrong keywords refused with a message that says how to
call."""
import numpy as np
import pytest
import scipy.linalg
import torch
from scipy.stats import binomtest

import ganscape.metrics as gm

FEATURE_FUNCTIONS = ["fid_from_features", "kid_from_features", "precision_recall", "density_coverage",
                     "c2st_accuracy", "memorization"]


def features(seed, n=40, d=3, shift=0.0):
    return np.random.default_rng(seed).standard_normal((n, d)) + shift


def test_exports():
    for name in [*FEATURE_FUNCTIONS, "inception_score", "ms_ssim", "ms_ssim_diversity"]:
        assert name in gm.__all__ and callable(getattr(gm, name)), name


def test_fid_against_scipy_sqrtm():
    fake, real = features(0, 200, 4) * 1.3, features(1, 300, 4, 0.5)
    mu1, s1 = fake.mean(0), np.cov(fake, rowvar=False)
    mu2, s2 = real.mean(0), np.cov(real, rowvar=False)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
    assert gm.fid_from_features(fake, real) == pytest.approx(expected, rel=1e-9)


def test_kid_whole_sets_against_the_formula():
    fake, real = features(2, 6, 3), features(3, 6, 3, 0.5)
    k = lambda a, b: (a @ b.T / 3 + 1.0) ** 3  # noqa: E731

    def off_diagonal_mean(m):
        return (m.sum() - np.trace(m)) / (len(m) * (len(m) - 1))

    expected = off_diagonal_mean(k(fake, fake)) + off_diagonal_mean(k(real, real)) - 2 * k(fake, real).mean()
    # subsets of the whole set are permutations, and the estimator ignores order
    mean, std = gm.kid_from_features(fake, real, num_subsets=3, subset_size=6)
    assert mean == pytest.approx(expected, rel=1e-12) and std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_from_logits_or_probs():
    logits = np.random.default_rng(4).standard_normal((30, 5)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    marginal = probs.mean(0)
    expected = np.exp((probs * np.log(probs / marginal)).sum(1).mean())
    a = gm.inception_score(logits=logits, splits=1)
    b = gm.inception_score(probs=probs, splits=1)
    assert a[0] == pytest.approx(expected, rel=1e-12) and b[0] == pytest.approx(expected, rel=1e-12)
    assert gm.inception_score(logits=torch.tensor(logits, requires_grad=True), splits=3) == pytest.approx(
        gm.inception_score(probs=probs, splits=3), rel=1e-12)


def test_inception_score_takes_exactly_one_of_logits_and_probs():
    p = np.full((4, 2), 0.5)
    with pytest.raises(TypeError, match="exactly one of logits=.*probs="):
        gm.inception_score(splits=1)
    with pytest.raises(TypeError, match="exactly one of logits=.*probs="):
        gm.inception_score(logits=p, probs=p, splits=1)
    with pytest.raises(TypeError, match="by keyword"):
        gm.inception_score(p)
    # logits passed as probabilities: the message says which argument to use
    with pytest.raises(ValueError, match="pass logits="):
        gm.inception_score(probs=np.array([[2.0, -1.0], [0.5, 3.0]]), splits=1)


def brute_force_prdc(fake, real, k):
    d = lambda a, b: np.linalg.norm(a[:, None] - b[None], axis=2)  # noqa: E731
    r_real = np.sort(d(real, real), axis=1)[:, k]  # column 0 is the point itself
    r_fake = np.sort(d(fake, fake), axis=1)[:, k]
    fr = d(fake, real)
    precision = (fr <= r_real[None]).any(1).mean()
    recall = (fr.T <= r_fake[None]).any(1).mean()
    density = (fr <= r_real[None]).sum() / (k * len(fake))
    coverage = (fr <= r_real[None]).any(0).mean()
    return precision, recall, density, coverage


def test_precision_recall_density_coverage_against_brute_force():
    # continuous random data: no distance ties, so <= and < agree
    fake, real = features(5, 30, 2, 0.7), features(6, 50, 2)
    p, r, dens, cov = brute_force_prdc(fake, real, 3)
    assert gm.precision_recall(fake, real, k=3) == (pytest.approx(p), pytest.approx(r))
    p, r, dens, cov = brute_force_prdc(fake, real, 5)
    assert gm.density_coverage(fake, real, k=5) == (pytest.approx(dens), pytest.approx(cov))


def test_order_is_fake_then_real():
    # fakes on one corner of the real data: every fake is realistic (precision 1),
    # most reals are missed (recall low); the reverse order would swap them.
    real = features(7, 200, 2)
    fake = real[real[:, 0] > 1.0]
    precision, recall = gm.precision_recall(fake, real, k=3)
    assert precision == 1.0 and recall < 0.5
    assert gm.precision_recall(real=real, fake=fake, k=3) == (precision, recall)


def test_c2st_separable_sets_against_the_binomial():
    fake, real = features(8, 60, 2, 10.0), features(9, 60, 2)
    out = gm.c2st_accuracy(fake, real, seed=0)
    assert out["accuracy"] == 1.0 and out["n_test"] == 60
    assert out["p_value"] == pytest.approx(binomtest(60, 60, 0.5, alternative="greater").pvalue)


def test_memorization_hand_computed():
    real = np.array([[0.0], [10.0], [20.0]])     # the training set
    fake = np.array([[0.5], [9.0], [30.0]])      # nearest distances 0.5, 1, 10
    out = gm.memorization(fake, real, threshold=1.0)
    assert out["mean_nn_distance"] == pytest.approx(11.5 / 3) and out["fraction_near_copies"] == pytest.approx(2 / 3)
    assert out["n_samples"] == 3 and out["n_train"] == 3


def test_ms_ssim_is_one_for_identical_images():
    x = torch.rand(3, 1, 16, 16) * 2 - 1
    np.testing.assert_allclose(gm.ms_ssim(x, x), 1.0, rtol=1e-9)
    assert 0.0 <= gm.ms_ssim_diversity(x, n_pairs=5) < 1.0


def _call(name, fake, real):
    kwargs = {"memorization": {"threshold": 1.0}}.get(name, {})
    if name == "kid_from_features":
        kwargs = {"num_subsets": 2, "subset_size": 10}
    return getattr(gm, name)(fake, real, **kwargs)


@pytest.mark.parametrize("name", FEATURE_FUNCTIONS)
def test_tensors_that_require_grad_are_accepted(name):
    fake, real = features(10, 40, 3, 0.3), features(11, 40, 3)
    expected = _call(name, fake, real)
    got = _call(name, torch.tensor(fake, requires_grad=True), torch.tensor(real, requires_grad=True))
    assert got == expected


def test_image_functions_accept_tensors_that_require_grad():
    x = (torch.rand(3, 1, 16, 16) * 2 - 1).requires_grad_()
    np.testing.assert_allclose(gm.ms_ssim(x, x), 1.0, rtol=1e-9)
    assert gm.ms_ssim_diversity(x, n_pairs=4) == gm.ms_ssim_diversity(x.detach(), n_pairs=4)


@pytest.mark.parametrize("name", FEATURE_FUNCTIONS)
@pytest.mark.parametrize("keywords", [("features1", "features2"), ("generated", "reference"),
                                      ("real_features", "fake_features")])
def test_other_keyword_names_are_refused_clearly(name, keywords):
    a, b = features(12), features(13)
    with pytest.raises(TypeError, match=rf"{name}\(\).*{keywords[0]}.*takes {name}\(fake, real"):
        getattr(gm, name)(**{keywords[0]: a, keywords[1]: b})


@pytest.mark.parametrize("name", FEATURE_FUNCTIONS)
def test_keywords_fake_and_real_in_either_order(name):
    fake, real = features(14, 40, 3, 0.5), features(15, 40, 3)
    fn = getattr(gm, name)
    kwargs = {"memorization": {"threshold": 1.0}, "kid_from_features": {"subset_size": 10}}.get(name, {})
    assert fn(real=real, fake=fake, **kwargs) == fn(fake, real, **kwargs)
    with pytest.raises(TypeError, match="multiple values for argument 'fake'"):
        fn(fake, fake=fake, real=real)
