import math

import numpy as np
import pytest
import torch

from ganscape.data.shapes import (SHAPE_KINDS, fit_shape, fit_shapes, render_ground_truth,
                                  render_shapes)
from ganscape.registry import DATASETS, ConfigError


def build(split="train", seed=0, **params):
    return DATASETS.build("shapes", params, split, seed)


def one(kind, cx, cy, s, color=(1.0, 1.0, 1.0), S=16, ss=4, kinds=SHAPE_KINDS):
    """Render a single shape: (3, S, S) in [0, 1]."""
    return render_shapes(np.array([[kinds.index(kind)]]), np.array([[cx]]), np.array([[cy]]),
                         np.array([[s]]), np.array([[color]], dtype=float), S, kinds, ss)[0]


def brute_force(kind, cx, cy, s, S, ss):
    """Coverage by looping over every sub-sample point (independent of the vectorized code)."""
    cov = np.zeros((S, S))
    for i in range(S):
        for j in range(S):
            inside = 0
            for a in range(ss):
                for b in range(ss):
                    x, y = j + (b + 0.5) / ss, i + (a + 0.5) / ss
                    dx, dy = x - cx, y - cy
                    if kind == "square":
                        inside += abs(dx) <= s / 2 and abs(dy) <= s / 2
                    elif kind == "circle":
                        inside += dx * dx + dy * dy <= s * s / 4
                    else:  # apex (cx, cy - s/2), base corners (cx -+ s/2, cy + s/2)
                        top = cy - s / 2
                        inside += top <= y <= cy + s / 2 and abs(dx) <= (y - top) / 2
            cov[i, j] = inside / ss ** 2
    return cov


# --- rendering -----------------------------------------------------------------------------------

def test_square_on_pixel_grid_is_exact():
    img = one("square", 4.0, 4.0, 4.0, color=(0.2, 0.4, 0.6), S=8)
    expected = np.zeros((3, 8, 8))
    expected[:, 2:6, 2:6] = np.array([0.2, 0.4, 0.6])[:, None, None]
    np.testing.assert_allclose(img, expected, atol=1e-6)


def test_half_pixel_offset_gives_half_coverage():
    # x from 2.5 to 6.5: columns 2 and 6 are half covered (2 of 4 sub-sample columns).
    img = one("square", 4.5, 4.0, 4.0, S=8)[0]
    np.testing.assert_allclose(img[3], [0, 0, 0.5, 1, 1, 1, 0.5, 0], atol=1e-6)
    np.testing.assert_allclose(img[1], 0, atol=1e-6)


@pytest.mark.parametrize("kind", SHAPE_KINDS)
def test_matches_brute_force_coverage(kind):
    got = one(kind, 7.3, 8.6, 9.1, S=16, ss=3)[0]
    np.testing.assert_allclose(got, brute_force(kind, 7.3, 8.6, 9.1, 16, 3), atol=1e-6)


@pytest.mark.parametrize("kind, fraction", [("square", 1.0), ("circle", math.pi / 4), ("triangle", 0.5)])
def test_area_matches_geometry(kind, fraction):
    s = 40.0
    area = one(kind, 32.2, 31.7, s, S=64, ss=8)[0].sum()
    assert area == pytest.approx(fraction * s * s, rel=0.01)


def test_triangle_points_up():
    img = one("triangle", 8.0, 8.0, 12.0, S=16)[0]
    rows = img.sum(axis=1)
    assert rows[3] < rows[7] < rows[12]  # wider towards the bottom
    assert rows[1] == 0 and rows[14] == 0


def test_later_shapes_occlude_earlier_ones():
    kind = np.array([[0, 0]])
    img = render_shapes(kind, np.array([[4.0, 4.0]]), np.array([[4.0, 4.0]]), np.array([[4.0, 2.0]]),
                        np.array([[[1.0, 0, 0], [0, 0, 1.0]]]), 8)[0]
    np.testing.assert_allclose(img[:, 4, 4], [0, 0, 1])  # inside both: the second (blue) wins
    np.testing.assert_allclose(img[:, 2, 2], [1, 0, 0])  # only the first


def test_render_input_checks():
    with pytest.raises(ValueError, match="shape"):
        render_shapes(np.zeros(3, int), np.zeros(3), np.zeros(3), np.zeros(3), np.zeros((3, 3)), 8)
    with pytest.raises(ValueError, match="kind indices"):
        render_shapes(np.array([[5]]), np.ones((1, 1)), np.ones((1, 1)), np.ones((1, 1)), np.ones((1, 1, 3)), 8)
    with pytest.raises(ValueError, match="finite"):
        render_shapes(np.array([[0]]), np.full((1, 1), np.nan), np.ones((1, 1)), np.ones((1, 1)),
                      np.ones((1, 1, 3)), 8)


# --- the data set ----------------------------------------------------------------------------------

def test_dataset_is_its_ground_truth_rendered():
    ds = build(n=50, max_count=3)
    assert ds.floats().shape == (50, 3, 32, 32) and ds.floats().dtype == torch.float32
    assert ds.floats().min() >= -1 and ds.floats().max() <= 1
    np.testing.assert_array_equal(ds.floats().numpy(), render_ground_truth(ds.info) * 2 - 1)
    assert ds.info["kinds"] == SHAPE_KINDS
    assert ds.info["ranges"]["count"] == (1, 3)


def test_ground_truth_follows_the_configured_law():
    S = 32
    ds = build(n=400, min_count=2, max_count=4, min_size=0.2, max_size=0.4, color_min=0.5, color_max=0.8)
    gt = ds.info["shapes"]
    count, kind = gt["count"], gt["kind"]
    assert kind.shape == (400, 4) and set(np.unique(count)) == {2, 3, 4}
    used = np.arange(4)[None] < count[:, None]
    assert (kind[used] >= 0).all() and (kind[~used] == -1).all()
    assert np.isnan(gt["cx"][~used]).all()
    s, cx, cy = gt["size"][used], gt["cx"][used], gt["cy"][used]
    assert s.min() >= 0.2 * S and s.max() <= 0.4 * S
    assert (cx - s / 2 >= 0).all() and (cx + s / 2 <= S).all()  # every shape fits
    assert (cy - s / 2 >= 0).all() and (cy + s / 2 <= S).all()
    for c in "rgb":
        assert gt[c][used].min() >= 0.5 and gt[c][used].max() <= 0.8
    assert ds.y is None and ds.num_classes == 0  # several shapes: no single class


def test_kinds_subset_jitter_and_labels():
    ds = build(n=60, kinds=("circle", "triangle"), position_jitter=0.0, color_min=1.0, color_max=1.0)
    gt = ds.info["shapes"]
    assert set(np.unique(gt["kind"])) == {0, 1} and ds.info["kinds"] == ("circle", "triangle")
    np.testing.assert_array_equal(gt["cx"], 16.0)  # jitter 0: always centred
    np.testing.assert_array_equal(gt["r"], 1.0)  # white
    assert ds.num_classes == 2 and ds.y.tolist() == gt["kind"][:, 0].tolist()


def test_deterministic_and_split_streams_differ():
    a, b = build(n=20, seed=1), build(n=20, seed=1)
    assert torch.equal(a.floats(), b.x)
    assert not torch.equal(a.floats(), build(n=20, seed=2).floats())
    test = build("test", n=20, seed=1)
    assert len(test) == 4 and not torch.equal(test.floats(), a.floats()[:4])


@pytest.mark.parametrize("params, match", [
    ({"kinds": ["hexagon"]}, "kinds"),
    ({"kinds": ["circle", "circle"]}, "twice"),
    ({"min_size": 0.5, "max_size": 0.3}, "min_size"),
    ({"min_size": 0.01}, "below one pixel"),
    ({"color_min": 0.0}, "color_min"),
    ({"min_count": 3, "max_count": 2}, "min_count"),
    ({"position_jitter": 1.5}, "position_jitter"),
    ({"size": 4}, "size"),
    ({"supersample": 0}, "supersample"),
])
def test_bad_params(params, match):
    with pytest.raises(ConfigError, match=match):
        DATASETS.params("shapes", params)


# --- fit_shape ---------------------------------------------------------------------------------------

def test_fit_shape_recovers_ground_truth():
    ds = build(n=300, min_size=0.2, max_size=0.6, seed=4)
    gt = ds.info["shapes"]
    fits = fit_shapes(ds.floats())
    assert all(f is not None for f in fits)
    kinds = [f["kind"] for f in fits]
    assert kinds == [SHAPE_KINDS[k] for k in gt["kind"][:, 0]]  # 100% kind accuracy
    cx = np.array([f["cx"] for f in fits])
    cy = np.array([f["cy"] for f in fits])
    s = np.array([f["size"] for f in fits])
    color = np.array([f["color"] for f in fits])
    assert np.abs(cx - gt["cx"][:, 0]).max() < 1.0
    assert np.abs(cy - gt["cy"][:, 0]).max() < 1.0
    assert np.abs(s / gt["size"][:, 0] - 1).max() < 0.1
    np.testing.assert_allclose(color, np.stack([gt[c][:, 0] for c in "rgb"], 1), atol=0.02)
    assert max(f["residual"] for f in fits) < 0.05


def test_fit_shape_accepts_tensors_and_grey_images():
    img = one("circle", 14.2, 17.9, 11.0, color=(0.7, 0.7, 0.7), S=32) * 2 - 1
    f = fit_shape(torch.from_numpy(img[:1]))
    assert f["kind"] == "circle" and len(f["color"]) == 1
    assert f["cx"] == pytest.approx(14.2, abs=0.2) and f["cy"] == pytest.approx(17.9, abs=0.2)
    assert f["size"] == pytest.approx(11.0, rel=0.03) and f["color"][0] == pytest.approx(0.7, abs=1e-6)
    assert fit_shape(img, kinds=("square", "triangle")) is None  # a circle fits neither well


def _rejects(image01):
    return fit_shape(image01 * 2 - 1) is None


def test_fit_shape_rejects_invalid_images():
    rng = np.random.default_rng(0)
    S = 32
    for _ in range(5):
        assert fit_shape(rng.uniform(-1, 1, (3, S, S))) is None  # noise
    assert _rejects(np.zeros((3, S, S)))  # empty
    two = render_shapes(np.array([[0, 1]]), np.array([[8.0, 24.0]]), np.array([[8.0, 24.0]]),
                        np.array([[8.0, 8.0]]), np.ones((1, 2, 3)), S)[0]
    assert _rejects(two)  # two separate shapes
    square = one("square", 16, 16, 14, S=S)
    ramp = np.clip(np.linspace(-0.2, 1.6, S), 0.4, 1.0)  # 0.4 to 1.0 across the square's columns
    assert _rejects(square * ramp[None, None, :])  # not one colour
    hue = square.copy()
    hue[0, :, 16:] *= 0.5
    assert _rejects(hue)  # two colours
    ring = square.copy()
    ring[:, 13:19, 13:19] = 0
    assert _rejects(ring)  # a hole
    speck = square.copy()
    speck[:, 2, 28] = 0.8
    assert _rejects(speck)  # something besides the shape
    yy, xx = np.mgrid[0:S, 0:S] + 0.5
    ellipse = ((((xx - 16) / 12) ** 2 + ((yy - 16) / 6) ** 2) <= 1).astype(float)
    assert _rejects(np.repeat(ellipse[None], 3, 0))  # a 2:1 ellipse is none of the kinds
    u = (xx - 16) * math.cos(0.35) + (yy - 16) * math.sin(0.35)
    v = -(xx - 16) * math.sin(0.35) + (yy - 16) * math.cos(0.35)
    rotated = ((np.abs(u) <= 6) & (np.abs(v) <= 6)).astype(float)
    assert _rejects(np.repeat(rotated[None], 3, 0))  # shapes are never rotated


def test_fit_shape_input_checks():
    with pytest.raises(ValueError, match=r"\(C, S, S\)"):
        fit_shape(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="kinds"):
        fit_shape(np.zeros((3, 8, 8)), kinds=("hexagon",))
