import numpy as np
import pytest

from ganscape.metrics.prdc import (density_coverage, knn_distances, knn_radii, prdc,
                                   precision_recall)


def brute_radii(x, k):
    radii = []
    for i in range(len(x)):
        d = sorted(np.sqrt(np.sum((x[i] - x[j]) ** 2)) for j in range(len(x)) if j != i)
        radii.append(d[k - 1])
    return radii


def brute_prdc(real, fake, k_pr, k_dc, dc_inside=np.less):
    """Loops over every pair. "Inside a ball" is <= for precision/recall
    (Kynkaanniemi et al.'s code) and, by default, < for density/coverage
    (Naeem et al.'s code)."""
    dist = lambda a, b: np.sqrt(np.sum((a - b) ** 2))  # noqa: E731
    r_pr, f_pr, r_dc = brute_radii(real, k_pr), brute_radii(fake, k_pr), brute_radii(real, k_dc)
    precision = np.mean([any(dist(f, real[i]) <= r_pr[i] for i in range(len(real))) for f in fake])
    recall = np.mean([any(dist(r, fake[j]) <= f_pr[j] for j in range(len(fake))) for r in real])
    density = sum(dc_inside(dist(f, real[i]), r_dc[i]) for f in fake for i in range(len(real))) / (k_dc * len(fake))
    coverage = np.mean([any(dc_inside(dist(real[i], f), r_dc[i]) for f in fake) for i in range(len(real))])
    return dict(precision=precision, recall=recall, density=density, coverage=coverage)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_loops(seed):
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((40, 3))
    fake = rng.standard_normal((30, 3)) * 1.3 + 0.4
    expected = brute_prdc(real, fake, 3, 5)
    # block_bytes small enough to force many row blocks.
    got = prdc(real, fake, block_bytes=8 * 64)
    for key in expected:
        assert got[key] == pytest.approx(expected[key], abs=1e-12), key
    assert precision_recall(real, fake) == (pytest.approx(expected["precision"]),
                                            pytest.approx(expected["recall"]))
    assert density_coverage(real, fake) == (pytest.approx(expected["density"]),
                                            pytest.approx(expected["coverage"]))


def test_knn_radii_exclude_self_but_keep_duplicates():
    x = np.array([[0.0], [0.0], [1.0], [3.0]])
    # Neighbours of point 0 (excluding itself by index): its duplicate at 0, then 1, then 3.
    np.testing.assert_allclose(knn_radii(x, 1), [0.0, 0.0, 1.0, 2.0], atol=1e-7)
    np.testing.assert_allclose(knn_radii(x, 2), [1.0, 1.0, 1.0, 3.0], atol=1e-7)
    np.testing.assert_allclose(knn_radii(x, 3), brute_radii(x, 3), atol=1e-7)


def test_knn_distances_sorted_and_exclusion():
    rng = np.random.default_rng(3)
    q, ref = rng.standard_normal((7, 4)), rng.standard_normal((20, 4))
    full = np.sqrt(((q[:, None] - ref[None]) ** 2).sum(-1))
    np.testing.assert_allclose(knn_distances(q, ref, 4, block_bytes=8 * 20 * 2),
                               np.sort(full, 1)[:, :4], rtol=1e-10)
    exclude = np.argmin(full, axis=1)
    np.testing.assert_allclose(knn_distances(q, ref, 2, exclude_index=exclude),
                               np.sort(full, 1)[:, 1:3], rtol=1e-10)


def mixture(n, centers, rng, scale=0.1):
    idx = rng.integers(len(centers), size=n)
    return centers[idx] + scale * rng.standard_normal((n, centers.shape[1]))


def test_missing_modes_give_high_precision_low_recall_not_swapped():
    rng = np.random.default_rng(4)
    # 2-D, so that k-NN balls cover each mode well (in high dimension even a
    # perfect model has precision well below 1 at k = 3).
    angles = 2 * np.pi * np.arange(10) / 10
    centers = 10.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)  # modes ~6 apart, scale 0.1
    real = mixture(2000, centers, rng)
    fake = mixture(2000, centers[:5], rng)
    p, r = precision_recall(real, fake)
    assert p > 0.9   # every fake lies on the real manifold
    assert r < 0.6   # half of the real modes have no fake nearby
    density, coverage = density_coverage(real, fake)
    assert coverage < 0.6
    # Density counts real balls around each fake; inside the covered modes the
    # real density is unchanged, so dropping modes leaves it near 1.
    assert density == pytest.approx(1.0, abs=0.15)


def test_same_distribution_density_and_coverage_near_one():
    rng = np.random.default_rng(5)
    real, fake = rng.standard_normal((2000, 8)), rng.standard_normal((2000, 8))
    out = prdc(real, fake)
    assert out["density"] == pytest.approx(1.0, abs=0.1)
    assert out["coverage"] > 0.9  # expectation 1 - 2^-5 ~ 0.97 for k = 5, N = M
    assert out["precision"] > 0.6 and out["recall"] > 0.6


def test_identical_sets_are_perfect():
    x = np.random.default_rng(6).standard_normal((50, 5))
    out = prdc(x, x)
    assert out["precision"] == out["recall"] == out["coverage"] == 1.0
    assert out["density"] >= 1.0


def test_bad_inputs():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((10, 3))
    with pytest.raises(ValueError, match="dimensions differ"):
        prdc(a, rng.standard_normal((10, 4)))
    with pytest.raises(ValueError, match="more than 3 fake samples"):
        precision_recall(a, a[:3])
    with pytest.raises(ValueError, match="k_dc=5 needs more than 5 real"):
        prdc(a[:5], a)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        density_coverage(a, a, k=0)
    bad = a.copy()
    bad[1, 1] = np.inf
    with pytest.raises(ValueError, match="real contains NaN or Inf"):
        prdc(bad, a)
    with pytest.raises(ValueError, match=r"2-D array \(N, D\)"):
        prdc(a[0], a)
    with pytest.raises(ValueError, match="k must be an integer in"):
        knn_distances(a, a, 10, exclude_index=np.arange(10))


def test_shrunk_and_expanded_fakes_not_swapped():
    # Fakes from a shrunk Gaussian sit inside the real support (precision ~1) but
    # miss most of it (recall ~0), and crowd where real balls overlap (density >> 1);
    # an expanded Gaussian is the mirror image.
    rng = np.random.default_rng(8)
    real = rng.standard_normal((1000, 16))
    shrunk = prdc(real, 0.5 * rng.standard_normal((1000, 16)))
    assert shrunk["precision"] > 0.95 and shrunk["recall"] < 0.1 and shrunk["density"] > 3.0
    expanded = prdc(real, 2.0 * rng.standard_normal((1000, 16)))
    assert expanded["precision"] < 0.1 and expanded["recall"] > 0.95
    assert expanded["density"] < 0.1 and expanded["coverage"] < 0.2


@pytest.mark.parametrize("seed", [0, 1])
def test_ties_on_quantized_data_follow_each_reference(seed):
    # Quarter-integer coordinates: many exactly equal distances (every distance
    # here is computed exactly in float64, by the loops and by the Gram formula).
    rng = np.random.default_rng(seed)
    real = rng.integers(0, 5, size=(40, 2)) / 4.0
    fake = rng.integers(0, 5, size=(30, 2)) / 4.0
    expected = brute_prdc(real, fake, 3, 5)
    got = prdc(real, fake, block_bytes=8 * 64)
    for key in expected:
        assert got[key] == pytest.approx(expected[key], abs=1e-12), key
    # the ties are real: with <= (the previous rule) density and coverage differ
    lenient = brute_prdc(real, fake, 3, 5, dc_inside=np.less_equal)
    assert lenient["density"] > expected["density"] + 0.1
    assert lenient["coverage"] > expected["coverage"]


def test_exact_copies_of_inexact_values():
    # Coordinates that are not exact in binary, so the Gram formula may put a
    # copy at ~1e-8 rather than 0; ties are recomputed directly. The first
    # three reals are copies of one point p (their k = 2 radius is 0); the
    # fourth, q, has the three copies as its nearest neighbours. The fakes
    # are three more copies of p.
    p, q = np.array([0.3, 0.7]) * 7.1, np.array([0.1, 0.9]) * 7.1
    real = np.stack([p, p, p, q, np.array([0.9, 0.2]) * 7.1, np.array([0.5, 0.5]) * 7.1])
    fake = np.stack([p, p, p])
    out = prdc(real, fake, k_pr=2, k_dc=2)
    assert out == pytest.approx(brute_prdc(real, fake, 2, 2), abs=1e-12)
    # <= (precision/recall): every copy lies in the radius-0 balls of p, and
    # the three reals at p in the fakes' radius-0 balls
    assert out["precision"] == 1.0 and out["recall"] == 0.5
    # < (density/coverage): a copy is in no ball: p's have radius 0 and each
    # of the three other reals has p among its two nearest neighbours, i.e.
    # exactly on its boundary; with <= every copy would be in all six balls
    assert out["density"] == 0.0 and out["coverage"] == 0.0
    lenient = brute_prdc(real, fake, 2, 2, dc_inside=np.less_equal)
    assert lenient["density"] == 3 * 6 / (2 * 3) and lenient["coverage"] == 1.0
