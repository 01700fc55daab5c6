import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from scipy.signal import correlate2d

from ganscape.metrics.msssim import ms_ssim, ms_ssim_diversity, num_scales, ssim

# The standard constants on [0, 1] images (L = 1); the references below are fed
# (x + 1) / 2, the [0, 1] version of ganscape's [-1, 1] images.
C1, C2 = 0.01 ** 2, 0.03 ** 2
WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])


def smooth_images(n, c, h, w, rng):
    """Natural-looking images in [-1, 1]: smoothed noise."""
    x = gaussian_filter(rng.standard_normal((n, c, h, w)), sigma=(0, 0, 2, 2))
    return np.tanh(x / x.std())


def unit(x):
    return (x + 1.0) / 2.0


def ref_terms_gaussian_filter(a, b):
    """Independent single-scale SSIM / cs of 2-D images in [0, 1] with an 11-tap,
    sigma 1.5 Gaussian (scipy's gaussian_filter, radius 5), cropped to the 'valid' region."""
    f = lambda im: gaussian_filter(im, 1.5, truncate=5 / 1.5)[5:-5, 5:-5]  # noqa: E731
    mu_a, mu_b = f(a), f(b)
    var_a, var_b = f(a * a) - mu_a ** 2, f(b * b) - mu_b ** 2
    cov = f(a * b) - mu_a * mu_b
    cs = (2 * cov + C2) / (var_a + var_b + C2)
    lum = (2 * mu_a * mu_b + C1) / (mu_a ** 2 + mu_b ** 2 + C1)
    return (lum * cs).mean(), cs.mean()


def ref_terms_window(a, b, size):
    """Same with an explicit size x size window, sigma 1.5 * size / 11 (small-image rule)."""
    sigma = 1.5 * size / 11
    t = np.arange(size) - (size - 1) / 2
    g = np.exp(-t ** 2 / (2 * sigma ** 2))
    win = np.outer(g, g) / np.outer(g, g).sum()
    f = lambda im: correlate2d(im, win, mode="valid")  # noqa: E731
    mu_a, mu_b = f(a), f(b)
    var_a, var_b = f(a * a) - mu_a ** 2, f(b * b) - mu_b ** 2
    cov = f(a * b) - mu_a * mu_b
    cs = (2 * cov + C2) / (var_a + var_b + C2)
    lum = (2 * mu_a * mu_b + C1) / (mu_a ** 2 + mu_b ** 2 + C1)
    return (lum * cs).mean(), cs.mean()


def pool2(im):
    h, w = im.shape[0] // 2 * 2, im.shape[1] // 2 * 2
    im = im[:h, :w]
    return 0.25 * (im[0::2, 0::2] + im[1::2, 0::2] + im[0::2, 1::2] + im[1::2, 1::2])


def analytic_pair(h=192, w=176):
    """Two smooth 3-channel image pairs in [0, 1], the second darker (mean 0.40
    against 0.50), where the luminance term shows the data range used."""
    i, j = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    a = np.stack([[0.5 + 0.4 * np.sin(0.11 * i + 0.07 * j + c) * np.cos(0.05 * i - 0.13 * j + n)
                   for c in range(3)] for n in range(2)])
    b = 0.05 + 0.7 * a + 0.1 * np.cos(0.3 * i + 0.2 * j)[None, None] * np.array([1, -1])[:, None, None, None]
    return a, b


def test_matches_pytorch_msssim_on_large_images():
    # Pinned from pytorch-msssim 1.0.0: ms_ssim(a, b, data_range=1.0,
    # size_average=False, win=<the 11-tap sigma 1.5 Gaussian in float64>) and
    # ssim(...) likewise, on analytic_pair() (its default float32 taps agree to
    # ~3e-7: 0.8295740579884204, 0.8305726641992893). Computed on [-1, 1]
    # with L = 2 the same pair gives MS-SSIM 0.4505.
    a, b = analytic_pair()
    np.testing.assert_allclose(ms_ssim(2 * a - 1, 2 * b - 1), [0.8295737923869826, 0.830572399094986],
                               rtol=1e-9)
    np.testing.assert_allclose(ssim(2 * a - 1, 2 * b - 1), [0.6820032412670397, 0.681883272020993],
                               rtol=1e-9)


def test_num_scales_rule():
    assert [num_scales(s, s) for s in (4, 7, 8, 16, 28, 32, 64, 128, 256)] == [1, 1, 2, 3, 3, 4, 5, 5, 5]
    assert num_scales(64, 16) == 3
    with pytest.raises(ValueError, match="at least 4x4"):
        num_scales(3, 10)


@pytest.mark.parametrize("side", [8, 16, 28, 64])
def test_identical_images_score_one(side):
    x = smooth_images(3, 3, side, side, np.random.default_rng(side))
    np.testing.assert_allclose(ms_ssim(x, x), 1.0, atol=1e-12)
    np.testing.assert_allclose(ssim(x, x), 1.0, atol=1e-12)


def test_single_scale_ssim_matches_gaussian_filter_reference():
    rng = np.random.default_rng(0)
    a = smooth_images(2, 3, 40, 48, rng)
    b = np.clip(a + 0.3 * rng.standard_normal(a.shape), -1, 1)
    expected = [np.mean([ref_terms_gaussian_filter(unit(a[i, c]), unit(b[i, c]))[0] for c in range(3)])
                for i in range(2)]
    np.testing.assert_allclose(ssim(a, b), expected, rtol=1e-10)


def test_ms_ssim_five_scales_matches_reference():
    # 176 x 176: five scales with the full 11 x 11 window (176 / 16 = 11).
    rng = np.random.default_rng(1)
    a = smooth_images(2, 1, 176, 176, rng)
    b = np.clip(0.8 * a + 0.2 * smooth_images(2, 1, 176, 176, rng), -1, 1)
    expected = []
    for i in range(2):
        x, y, vals = unit(a[i, 0]), unit(b[i, 0]), []
        for j in range(5):
            if j:
                x, y = pool2(x), pool2(y)
            full, cs = ref_terms_gaussian_filter(x, y)
            vals.append(full if j == 4 else cs)
        expected.append(np.prod(np.maximum(vals, 0) ** WEIGHTS))
    np.testing.assert_allclose(ms_ssim(a, b), expected, rtol=1e-10)


def test_ms_ssim_small_image_rule_matches_reference():
    # 9 x 9 (odd side): scales 9 -> 4 (last row/column dropped), windows 9 and 4, 2 weights.
    rng = np.random.default_rng(2)
    a = smooth_images(1, 1, 9, 9, rng)
    b = np.clip(a + 0.2 * rng.standard_normal(a.shape), -1, 1)
    x, y = unit(a[0, 0]), unit(b[0, 0])
    _, cs0 = ref_terms_window(x, y, 9)
    full1, _ = ref_terms_window(pool2(x), pool2(y), 4)
    w = WEIGHTS[:2] / WEIGHTS[:2].sum()
    expected = max(cs0, 0) ** w[0] * max(full1, 0) ** w[1]
    np.testing.assert_allclose(ms_ssim(a, b), [expected], rtol=1e-10)


def test_noise_versus_constant_is_low():
    rng = np.random.default_rng(3)
    noise = rng.uniform(-1, 1, size=(4, 1, 64, 64))
    grey = np.full_like(noise, 0.5)
    assert ms_ssim(noise, grey).max() < 0.2
    assert ssim(noise, grey).max() < 0.02
    # Against a constant equal to the noise mean, the coarse scales (where block
    # averaging has removed most of the noise) agree in luminance and partly in
    # contrast, so MS-SSIM stays well above single-scale SSIM but still low.
    zero = np.zeros_like(noise)
    assert ssim(noise, zero).max() < 0.02
    assert ms_ssim(noise, zero).max() < 0.25


def test_more_noise_lowers_score():
    rng = np.random.default_rng(4)
    a = smooth_images(4, 3, 32, 32, rng)
    scores = [ms_ssim(a, np.clip(a + s * rng.standard_normal(a.shape), -1, 1)).mean()
              for s in (0.05, 0.2, 0.8)]
    assert scores[0] > scores[1] > scores[2]


def test_diversity():
    rng = np.random.default_rng(5)
    same = np.repeat(smooth_images(1, 3, 32, 32, rng), 10, axis=0)
    assert ms_ssim_diversity(same, n_pairs=20) == pytest.approx(1.0)
    diverse = rng.uniform(-1, 1, size=(50, 3, 32, 32))
    value = ms_ssim_diversity(diverse, n_pairs=100, seed=1, batch_size=16)
    assert value < 0.15
    assert value == ms_ssim_diversity(diverse, n_pairs=100, seed=1, batch_size=100)


def test_bad_inputs():
    x = np.zeros((2, 1, 16, 16))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        ms_ssim(x + 2.0, x)
    with pytest.raises(ValueError, match="same shape"):
        ms_ssim(x, np.zeros((2, 1, 16, 8)))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ssim(x[0], x[0])
    with pytest.raises(ValueError, match="at least 4x4"):
        ms_ssim(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="at least 2 images"):
        ms_ssim_diversity(x[:1])
    with pytest.raises(ValueError, match="NaN"):
        ms_ssim(x * np.nan, x)
