import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from ganscape.metrics.fid import (_times_lower, fid_from_features, frechet_distance,
                                  gaussian_stats, trace_sqrt_product)


def scipy_fid(mu1, s1, mu2, s2):
    """The pytorch-fid / clean-fid formula: sqrtm of the non-symmetric product."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean).real)


def random_orthogonal(d, rng):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diagonal(r))


def rel(a, b):
    return abs(a - b) / abs(b)


@pytest.mark.parametrize("n", [1, 5, 37, 64])
def test_triangular_product_matches_dense(n):
    rng = np.random.default_rng(n)
    a = torch.from_numpy(rng.standard_normal((9, n)))
    lower = torch.from_numpy(np.tril(rng.standard_normal((n, n))))
    # leaf=4 forces several levels of the block recursion, including odd splits.
    torch.testing.assert_close(_times_lower(a, lower, leaf=4), a @ lower, rtol=1e-12, atol=1e-12)


def test_large_dimension_uses_the_recursive_product_and_matches_scipy():
    rng = np.random.default_rng(11)
    d = 600  # above the 256 recursion leaf
    f1 = rng.standard_normal((1500, d)) @ rng.standard_normal((d, d)) / np.sqrt(d)
    f2 = rng.standard_normal((1500, d)) + 0.1
    mu1, s1 = gaussian_stats(f1)
    mu2, s2 = gaussian_stats(f2)
    assert rel(frechet_distance(mu1, s1, mu2, s2), scipy_fid(mu1, s1, mu2, s2)) <= 1e-6


def test_gaussian_stats_matches_numpy_cov():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 7)) @ rng.standard_normal((7, 7)) + 3.0
    mu, sigma = gaussian_stats(x.astype(np.float32))
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    np.testing.assert_allclose(mu, x.astype(np.float32).astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(x.astype(np.float32).astype(np.float64), rowvar=False),
                               rtol=1e-10, atol=1e-12)
    assert np.array_equal(sigma, sigma.T)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_scipy_sqrtm_on_random_covariances(seed):
    rng = np.random.default_rng(seed)
    d = 64
    f1 = rng.standard_normal((500, d)) @ rng.standard_normal((d, d))
    f2 = rng.standard_normal((700, d)) @ rng.standard_normal((d, d)) * 0.5 + 1.0
    mu1, s1 = gaussian_stats(f1)
    mu2, s2 = gaussian_stats(f2)
    ours = frechet_distance(mu1, s1, mu2, s2)
    assert rel(ours, scipy_fid(mu1, s1, mu2, s2)) <= 1e-6
    assert ours == pytest.approx(fid_from_features(f1, f2), rel=1e-12)


def test_moderately_ill_conditioned_matches_scipy():
    # Condition numbers ~1e6: scipy's sqrtm is still accurate here (checked by
    # the closed form in the next test), so it is a fair independent reference.
    rng = np.random.default_rng(3)
    d = 40
    s1 = random_orthogonal(d, rng) @ np.diag(np.logspace(-6, 0, d)) @ random_orthogonal(d, rng).T
    s1 = s1 @ s1.T
    s2 = random_orthogonal(d, rng) @ np.diag(np.logspace(-3, 1, d)) @ random_orthogonal(d, rng).T
    s2 = 0.5 * (s2 + s2.T) + d * np.eye(d) * 1e-3
    s2 = s2 @ s2.T
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    assert rel(frechet_distance(mu1, s1, mu2, s2), scipy_fid(mu1, s1, mu2, s2)) <= 1e-6


@pytest.mark.parametrize("low", [1e-4, 1e-10])
def test_commuting_ill_conditioned_closed_form(low):
    # S1 = Q diag(a) Q^T, S2 = Q diag(b) Q^T commute, so (S1 S2)^(1/2) = Q diag(sqrt(ab)) Q^T
    # and FID = ||mu1 - mu2||^2 + sum (sqrt(a) - sqrt(b))^2 exactly.
    rng = np.random.default_rng(4)
    d = 60
    q = random_orthogonal(d, rng)
    a = np.exp(rng.uniform(np.log(low), np.log(100.0), d))
    b = np.exp(rng.uniform(np.log(low), np.log(100.0), d))
    s1, s2 = (q * a) @ q.T, (q * b) @ q.T
    s1, s2 = 0.5 * (s1 + s1.T), 0.5 * (s2 + s2.T)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    exact = float(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    assert rel(frechet_distance(mu1, s1, mu2, s2), exact) <= 1e-6
    assert rel(trace_sqrt_product(s1, s2), float(np.sum(np.sqrt(a * b)))) <= 1e-6


def test_non_commuting_ill_conditioned_against_mpmath():
    # Independent 50-digit reference via S1^(1/2) S2 S1^(1/2), the textbook formula.
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(5)
    d = 8
    s1 = (random_orthogonal(d, rng) * np.logspace(-9, 0, d)) @ random_orthogonal(d, rng).T
    s1 = s1 @ s1.T  # condition number ~1e18 in exact arithmetic, PSD
    s2 = rng.standard_normal((d, d))
    s2 = s2 @ s2.T * np.logspace(-4, 0, d)[:, None] * np.logspace(-4, 0, d)[None, :]
    s1, s2 = 0.5 * (s1 + s1.T), 0.5 * (s2 + s2.T)
    with mpmath.workdps(50):
        m1, m2 = mpmath.matrix(s1.tolist()), mpmath.matrix(s2.tolist())
        e, q = mpmath.eigsy(m1)
        root = q * mpmath.diag([mpmath.sqrt(max(v, 0)) for v in e]) * q.T
        ev, _ = mpmath.eigsy(root * m2 * root)
        ref_tr = float(sum(mpmath.sqrt(max(v, 0)) for v in ev))
    assert rel(trace_sqrt_product(s1, s2), ref_tr) <= 1e-6
    mu1 = np.zeros(d)
    ref_fid = float(np.trace(s1) + np.trace(s2) - 2 * ref_tr)
    assert rel(frechet_distance(mu1, s1, mu1, s2), ref_fid) <= 1e-6


def test_diagonal_gaussians_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([3.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    # ||mu1-mu2||^2 = 9 + 0 + 4 = 13; sum (sqrt a - sqrt b)^2 = 1 + 1 + 6.25 = 8.25
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(21.25, rel=1e-12)


def test_symmetry_and_zero_for_identical_stats():
    rng = np.random.default_rng(6)
    d = 32
    f1 = rng.standard_normal((200, d)) @ rng.standard_normal((d, d))
    f2 = rng.standard_normal((300, d)) + 0.3
    mu1, s1 = gaussian_stats(f1)
    mu2, s2 = gaussian_stats(f2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(
        frechet_distance(mu2, s2, mu1, s1), rel=1e-10)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9 * np.trace(s1))
    assert fid_from_features(f1, f1) == pytest.approx(0.0, abs=1e-9 * np.trace(s1))


def test_singular_covariances_match_eigh_reference_and_warn():
    # N < D: both covariances singular, the eigendecomposition fallback is used.
    rng = np.random.default_rng(7)
    d = 50
    f1, f2 = rng.standard_normal((20, d)), rng.standard_normal((30, d)) + 0.1
    with pytest.warns(UserWarning, match="biased"):
        mu1, s1 = gaussian_stats(f1)
    with pytest.warns(UserWarning, match="singular"):
        mu2, s2 = gaussian_stats(f2)
    w, v = np.linalg.eigh(s1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    ev = np.linalg.eigvalsh(root @ s2 @ root)
    ref = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
                - 2 * np.sqrt(np.clip(ev, 0, None)).sum())
    assert rel(frechet_distance(mu1, s1, mu2, s2), ref) <= 1e-6
    # One singular, one full rank: the full-rank covariance is factored instead.
    mu3, s3 = gaussian_stats(rng.standard_normal((500, d)))
    w3 = np.linalg.eigvalsh(root @ s3 @ root)
    ref3 = float(np.sum((mu1 - mu3) ** 2) + np.trace(s1) + np.trace(s3)
                 - 2 * np.sqrt(np.clip(w3, 0, None)).sum())
    assert rel(frechet_distance(mu1, s1, mu3, s3), ref3) <= 1e-6
    assert rel(frechet_distance(mu3, s3, mu1, s1), ref3) <= 1e-6


def test_no_warning_when_enough_samples():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gaussian_stats(np.random.default_rng(0).standard_normal((10, 5)))


def test_bad_inputs_raise_clear_errors():
    rng = np.random.default_rng(8)
    good = rng.standard_normal((10, 3))
    bad = good.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        fid_from_features(bad, good)
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        gaussian_stats(bad)
    with pytest.raises(ValueError, match="dimensions differ"):
        fid_from_features(good, rng.standard_normal((10, 4)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        gaussian_stats(good[:1])
    with pytest.raises(ValueError, match=r"2-D array \(N, D\)"):
        gaussian_stats(good[0])
    with pytest.raises(TypeError, match="real numbers"):
        gaussian_stats(good.astype(complex))
    mu, s = gaussian_stats(good)
    with pytest.raises(ValueError, match="dimensions differ"):
        frechet_distance(mu, s, mu[:2], s[:2, :2])
    with pytest.raises(ValueError, match=r"sigma1 must be a \(3, 3\)"):
        frechet_distance(mu, s[:2, :2], mu, s)
    asym = s.copy()
    asym[0, 1] += 1.0
    with pytest.raises(ValueError, match="symmetric"):
        frechet_distance(mu, s, mu, asym)
    with pytest.raises(ValueError, match="NaN or Inf"):
        frechet_distance(mu * np.nan, s, mu, s)
