"""Penalties on discriminators whose input gradients are known in closed form."""

import pytest
import torch
from torch import nn

from ganscape.registry import PENALTIES


class Linear(nn.Module):
    """D(x) = w . x + b: the input gradient is w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(w, dtype=torch.float64))
        self.bias = nn.Parameter(torch.tensor(0.3, dtype=torch.float64))

    def forward(self, x):
        return x.flatten(1) @ self.weight + self.bias


class Quadratic(nn.Module):
    """D(x) = ||x||^2 / 2: the input gradient is x."""

    def forward(self, x):
        return 0.5 * x.flatten(1).pow(2).sum(1)


REAL = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]], dtype=torch.float64)
FAKE = torch.tensor([[0.5, 0.5], [-1.0, 1.0], [2.0, -2.0]], dtype=torch.float64)


def pen(name, D, **params):
    return PENALTIES.build(name, params, D, REAL, FAKE).item()


def test_gp_and_dragan_on_linear_critic():
    D = Linear([3.0, 4.0])  # ||w|| = 5
    assert pen("gp", D, weight=10.0) == pytest.approx(10 * (5 - 1) ** 2, rel=1e-9)
    assert pen("dragan", D, weight=2.0) == pytest.approx(2 * 16, rel=1e-9)
    assert pen("dragan", D, weight=2.0, style="paper") == pytest.approx(2 * 16, rel=1e-9)


def test_r1_r2_l2_on_linear_critic():
    D = Linear([3.0, 4.0])
    assert pen("r1", D, weight=10.0) == pytest.approx(0.5 * 10 * 25)
    assert pen("r2", D, weight=4.0) == pytest.approx(0.5 * 4 * 25)
    assert pen("l2", D, weight=0.1) == pytest.approx(0.1 * 25)  # biases are not decayed


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


def test_dragan_perturbation_compare_gan_style():
    D = Quadratic()
    torch.manual_seed(3)
    u = torch.rand(REAL.shape, dtype=torch.float64)
    x = REAL + REAL.std() * (u - 0.5)
    expected = 1.0 * ((x.norm(dim=1) - 1) ** 2).mean().item()
    torch.manual_seed(3)
    assert pen("dragan", D, weight=1.0) == pytest.approx(expected, rel=1e-6)


def test_penalties_backpropagate_to_the_critic():
    for name in PENALTIES.names():
        D = Linear([3.0, 4.0])
        PENALTIES.build(name, {}, D, REAL, FAKE).backward()
        assert D.weight.grad is not None and torch.isfinite(D.weight.grad).all(), name
        assert D.weight.grad.abs().sum() > 0, name
