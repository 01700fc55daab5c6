"""Penalties on discriminators whose input gradients are known in closed form,
checked against direct NumPy recomputations of the references' formulas."""

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrizations

from ganscape.nets.layers import Discriminator, MinibatchDiscrimination, NetSpec
from ganscape.nets.norms import Norm
from ganscape.objectives.penalties import discriminator_kernels
from ganscape.registry import PENALTIES


class Linear(nn.Module):
    """D(x) = w . x + b through an nn.Linear: the input gradient is w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.fc = nn.Linear(len(w), 1, dtype=torch.float64)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([w], dtype=torch.float64))
            self.fc.bias.fill_(0.3)

    def forward(self, x):
        return self.fc(x.flatten(1)).squeeze(1)


class Quadratic(nn.Module):
    """D(x) = ||x||^2 / 2 per packed input: the input gradient is x itself, so
    the penalty reveals the points it was taken at. Records its last input."""

    def __init__(self, pack=1):
        super().__init__()
        self.pack = pack
        self.seen = None

    def forward(self, x):
        self.seen = x.detach().clone()
        return 0.5 * x.reshape(x.shape[0] // self.pack, -1).pow(2).sum(1)


REAL = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]], dtype=torch.float64)
FAKE = torch.tensor([[0.5, 0.5], [-1.0, 1.0], [2.0, -2.0]], dtype=torch.float64)


def pen(name, D, real=REAL, fake=FAKE, **params):
    return PENALTIES.build(name, params, D, real, fake).item()


def unit_penalty(points, eps=0.0):
    """mean over rows of (sqrt(||row||^2 + eps) - 1)^2, in NumPy."""
    points = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    return np.mean((np.sqrt((points ** 2).sum(1) + eps) - 1.0) ** 2)


def test_gp_and_dragan_on_linear_critic():
    D = Linear([3.0, 4.0])  # ||w|| = 5
    assert pen("gp", D, weight=10.0) == pytest.approx(10 * (5 - 1) ** 2, rel=1e-9)
    # compare_gan's slope is sqrt(||g||^2 + 1e-4)
    assert pen("dragan", D, weight=2.0) == pytest.approx(2 * (np.sqrt(25 + 1e-4) - 1) ** 2, rel=1e-9)
    assert pen("dragan", D, weight=2.0, style="paper") == pytest.approx(2 * 16, rel=1e-9)


def test_r1_r2_on_linear_critic():
    D = Linear([3.0, 4.0])
    assert pen("r1", D, weight=10.0) == pytest.approx(0.5 * 10 * 25)
    assert pen("r2", D, weight=4.0) == pytest.approx(0.5 * 4 * 25)


def test_r1_r2_on_quadratic_critic():
    D = Quadratic()
    r1 = 0.5 * 2.0 * (REAL ** 2).sum(1).mean().item()
    r2 = 0.5 * 2.0 * (FAKE ** 2).sum(1).mean().item()
    assert pen("r1", D, weight=2.0) == pytest.approx(r1)
    assert pen("r2", D, weight=2.0) == pytest.approx(r2)


def test_gp_interpolates_per_example():
    D = Quadratic()
    torch.manual_seed(7)
    a = torch.rand(3, 1, dtype=torch.float64)
    x_hat = a * REAL + (1 - a) * FAKE
    expected = 10 * ((x_hat.norm(dim=1) - 1) ** 2).mean().item()
    torch.manual_seed(7)
    assert pen("gp", D, weight=10.0) == pytest.approx(expected, rel=1e-6)


# --- L2: compare_gan's penalty_lib.l2_penalty ------------------------------

class TinyD(nn.Module):
    """conv (2x1x2x2 kernel) -> batch norm -> spectral-normalized linear ->
    weight-normalized linear: every kind of parameter the L2 penalty must sort."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 2)
        self.bn = nn.BatchNorm2d(2)
        self.sn = parametrizations.spectral_norm(nn.Linear(2, 2))
        self.wn = parametrizations.weight_norm(nn.Linear(2, 1))
        with torch.no_grad():
            self.conv.weight.fill_(0.5)                      # ||W||^2 = 8 * 0.25 = 2
            self.conv.bias.fill_(7.0)                        # a bias: left alone
            self.bn.weight.fill_(3.0)                        # a norm scale: left alone
            self.bn.bias.fill_(5.0)
            self.sn.parametrizations.weight.original.copy_(torch.tensor([[3.0, 0.0], [0.0, 1.0]]))  # 10
            self.sn.bias.fill_(7.0)
            self.wn.parametrizations.weight.original0.fill_(9.0)                  # g: left alone
            self.wn.parametrizations.weight.original1.copy_(torch.tensor([[1.0, 2.0]]))  # v: 5

    def forward(self, x):
        h = self.bn(self.conv(x)).mean((2, 3))
        return self.wn(self.sn(h)).squeeze(1)


def test_l2_is_the_mean_of_half_squared_kernel_norms():
    D = TinyD()
    x = torch.zeros(2, 1, 3, 3)
    # tf.nn.l2_loss(W) = ||W||^2 / 2 for the conv kernel, the UNnormalized SN
    # kernel and the WN direction v; then the mean over the three kernels.
    expected = 0.1 * np.mean([2.0 / 2, 10.0 / 2, 5.0 / 2])
    assert PENALTIES.build("l2", {"weight": 0.1}, D, x, x).item() == pytest.approx(expected, rel=1e-6)
    # not the spectral-normalized weight W / sigma (sigma = 3 once the power
    # iteration has converged), whose squared norm is 10 / 9
    for _ in range(30):
        D(x)
    assert D.sn.weight.pow(2).sum().item() == pytest.approx(10.0 / 9.0, rel=1e-6)
    assert PENALTIES.build("l2", {"weight": 0.1}, D, x, x).item() == pytest.approx(expected, rel=1e-6)


def test_l2_kernels_of_a_packed_mlp_discriminator_with_minibatch_features():
    from ganscape.nets.mlp import MLPParams, mlp
    spec = NetSpec(role="discriminator", shape=(2,), z_dim=2, norm=Norm(), minibatch_features=3,
                   minibatch_kernel_dim=2, pack=2)
    D = mlp(MLPParams(width=4, depth=2), spec)
    kernels = discriminator_kernels(D)
    linears = [m.weight for m in D.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 3 and len(kernels) == 4  # two hidden layers, the head, T
    assert any(k is D.mbd.T for k in kernels)
    expected = 1e-3 * np.mean([0.5 * (k.detach().numpy() ** 2).sum() for k in linears + [D.mbd.T]])
    x = torch.randn(4, 2)
    assert PENALTIES.build("l2", {"weight": 1e-3}, D, x, x).item() == pytest.approx(expected, rel=1e-6)


def test_l2_needs_kernels():
    with pytest.raises(ValueError, match="no conv or linear"):
        PENALTIES.build("l2", {}, Quadratic(), REAL, FAKE)


# --- DRAGAN: the points the gradient is taken at ---------------------------

IMAGES = torch.tensor([[[[0.9, -0.95], [0.2, 1.0]]], [[[-1.0, 0.4], [0.97, -0.3]]]], dtype=torch.float64)


def test_dragan_compare_gan_style_on_images_clips_to_the_image_range():
    D = Quadratic()
    torch.manual_seed(3)
    u = torch.rand(IMAGES.shape, dtype=torch.float64).numpy()
    x = IMAGES.numpy()
    std = np.std(x)  # tf.nn.moments: the population variance over every element
    points = np.clip(x + std * (u - 0.5), -1.0, 1.0)
    torch.manual_seed(3)
    value = pen("dragan", D, real=IMAGES, fake=IMAGES, weight=3.0)
    np.testing.assert_allclose(D.seen.numpy(), points, rtol=0, atol=1e-12)
    assert not np.allclose(points, x + std * (u - 0.5))  # the clip acted
    assert value == pytest.approx(3.0 * unit_penalty(points, eps=1e-4), rel=1e-9)


def test_dragan_compare_gan_style_on_points_is_not_clipped():
    D = Quadratic()
    torch.manual_seed(3)
    u = torch.rand(REAL.shape, dtype=torch.float64).numpy()
    points = REAL.numpy() + np.std(REAL.numpy()) * (u - 0.5)
    torch.manual_seed(3)
    value = pen("dragan", D, weight=1.0)
    np.testing.assert_allclose(D.seen.numpy(), points, rtol=0, atol=1e-12)
    assert points.max() > 1.0
    assert value == pytest.approx(unit_penalty(points, eps=1e-4), rel=1e-9)


@pytest.mark.parametrize("pack", [1, 2])
def test_dragan_paper_style_interpolates_towards_the_perturbed_batch(pack):
    # kodalinaveen3/DRAGAN: x_p = x + 0.5 std(x) U[0,1]; x_hat = x + a (x_p - x),
    # a ~ U[0,1] per (packed) discriminator input.
    real = torch.cat([REAL, -REAL[:1]])  # 4 examples, 2 packed inputs of 2
    D = Quadratic(pack)
    torch.manual_seed(11)
    u = torch.rand(real.shape, dtype=torch.float64).numpy()
    a = torch.rand(4 // pack, 1, dtype=torch.float64).numpy()
    x = real.numpy()
    x_p = x + 0.5 * np.std(x) * u
    a = np.repeat(a, pack, axis=0)
    points = x + a * (x_p - x)
    torch.manual_seed(11)
    value = pen("dragan", D, real=real, fake=real, weight=2.0, style="paper")
    np.testing.assert_allclose(D.seen.numpy(), points, rtol=0, atol=1e-12)
    packed = points.reshape(4 // pack, -1)
    assert value == pytest.approx(2.0 * unit_penalty(packed), rel=1e-9)


# --- PacGAN: gradient penalties per packed discriminator input --------------

REAL4 = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5], [-0.5, 0.25]], dtype=torch.float64)
FAKE4 = torch.tensor([[0.5, 0.5], [-1.0, 1.0], [2.0, -2.0], [0.0, 0.75]], dtype=torch.float64)


def test_gp_per_packed_input():
    D = Quadratic(pack=2)
    torch.manual_seed(5)
    a = torch.rand(2, 1, dtype=torch.float64).numpy()  # one coefficient per packed input
    r, f = REAL4.numpy(), FAKE4.numpy()
    terms = []
    for k in range(2):
        x_hat = a[k] * r[2 * k:2 * k + 2] + (1 - a[k]) * f[2 * k:2 * k + 2]
        terms.append((np.sqrt((x_hat ** 2).sum()) - 1.0) ** 2)  # norm over both examples
    torch.manual_seed(5)
    value = pen("gp", D, real=REAL4, fake=FAKE4, weight=10.0)
    assert value == pytest.approx(10.0 * np.mean(terms), rel=1e-9)
    seen = D.seen.numpy()
    ratio = (seen - f) / (r - f)  # the coefficient of every coordinate
    np.testing.assert_allclose(ratio[:2], a[0, 0], rtol=1e-9)
    np.testing.assert_allclose(ratio[2:], a[1, 0], rtol=1e-9)


def test_r1_r2_per_packed_input():
    D = Quadratic(pack=2)
    # ||grad||^2 of packed input k is the sum over its two examples; mean over the 2 inputs
    r1 = 0.5 * 3.0 * (REAL4.numpy() ** 2).sum() / 2
    r2 = 0.5 * 3.0 * (FAKE4.numpy() ** 2).sum() / 2
    assert pen("r1", D, real=REAL4, fake=FAKE4, weight=3.0) == pytest.approx(r1, rel=1e-12)
    assert pen("r2", D, real=REAL4, fake=FAKE4, weight=3.0) == pytest.approx(r2, rel=1e-12)


def test_gp_per_packed_input_of_a_real_packed_discriminator():
    # An MLP PacGAN2 discriminator: the grad-norm helper's grouping against
    # per-input autograd (each packed input's own gradient, taken separately).
    from ganscape.nets.mlp import MLPParams, mlp
    torch.manual_seed(0)
    spec = NetSpec(role="discriminator", shape=(2,), z_dim=2, norm=Norm(), pack=2)
    D = mlp(MLPParams(width=8, depth=2), spec).double()
    torch.manual_seed(1)
    value = pen("r1", D, real=REAL4, fake=FAKE4, weight=2.0)
    sq = []
    for k in range(2):
        x = REAL4[2 * k:2 * k + 2].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(D(x).sum(), x)
        sq.append(g.pow(2).sum().item())
    assert value == pytest.approx(0.5 * 2.0 * np.mean(sq), rel=1e-9)


def test_penalties_backpropagate_to_the_critic():
    for name in PENALTIES.names():
        D = Linear([3.0, 4.0])
        PENALTIES.build(name, {}, D, REAL, FAKE).backward()
        assert D.fc.weight.grad is not None and torch.isfinite(D.fc.weight.grad).all(), name
        assert D.fc.weight.grad.abs().sum() > 0, name


def test_minibatch_discrimination_is_what_discriminator_kernels_find():
    spec = NetSpec(role="discriminator", shape=(2,), z_dim=2, norm=Norm(), minibatch_features=2)
    D = Discriminator(nn.Sequential(nn.Linear(2, 3)), 3, spec)
    kinds = [type(m) for m in D.modules() if isinstance(m, (nn.Linear, MinibatchDiscrimination))]
    assert len(discriminator_kernels(D)) == len(kinds) == 3
