"""Instance noise, consensus optimization and the LQG game in the convergence probe (issue 20, part 7):
the exact Jacobians against Mescheder et al.'s closed forms worked by hand, consensus's step-size
condition, and the LQG equilibrium against an independent numpy field."""
import json

import numpy as np
import pytest

from ganscape.api import make_config
from ganscape.cli import main
from ganscape.config import apply_overrides
from ganscape.probes import convergence as conv


@pytest.fixture(scope="module")
def dirac():
    return make_config("dirac-gan")


@pytest.fixture(scope="module")
def lqg():
    return make_config("lqg-gan")


def _sorted(ev):
    return np.sort_complex(np.asarray(ev, dtype=complex))


def test_instance_noise_gives_the_papers_eigenvalues(dirac):
    # sigma 1, lr 0.1, GAN loss (f'(0) = 1/2, f''(0) = -1/4): J = [[0, 1/2], [-1/2, 2 f''(0) sigma^2]]
    cfg = apply_overrides(dirac, conv.VARIANTS["instance-noise"])
    np.testing.assert_allclose(conv.jacobian(cfg), 0.1 * np.array([[0.0, 0.5], [-0.5, -0.5]]), atol=1e-12)
    # f''(0) sigma^2 +- sqrt(f''(0)^2 sigma^4 - f'(0)^2) = -1/4 +- i sqrt(3)/4, times lr 0.1
    expected = 0.1 * np.array([-0.25 + 0.25j * 3 ** 0.5, -0.25 - 0.25j * 3 ** 0.5])
    np.testing.assert_allclose(_sorted(np.linalg.eigvals(conv.jacobian(cfg))), _sorted(expected), atol=1e-12)
    np.testing.assert_allclose(_sorted(conv.closed_form(cfg)), _sorted(expected), atol=1e-12)
    # sigma 2 quadruples the damping: the quadrature is exact for the field's second moments
    cfg2 = apply_overrides(cfg, ["method.params.instance_noise=2.0"])
    assert conv.jacobian(cfg2)[1, 1] == pytest.approx(0.1 * -2.0, abs=1e-12)
    # WGAN's f''(0) = 0: instance noise does nothing to its circling
    w = apply_overrides(cfg, ["loss=wasserstein"])
    np.testing.assert_allclose(conv.jacobian(w), [[0.0, 0.1], [-0.1, 0.0]], atol=1e-12)


def test_consensus_gives_j_minus_gamma_jtj_and_its_step_condition(dirac):
    cfg = apply_overrides(dirac, conv.VARIANTS["consensus"])       # gamma 1, lr 0.1
    # J = [[0, 1/2], [-1/2, 0]], J^T J = I/4: J - J^T J = [[-1/4, 1/2], [-1/2, -1/4]]
    np.testing.assert_allclose(conv.jacobian(cfg), 0.1 * np.array([[-0.25, 0.5], [-0.5, -0.25]]), atol=1e-12)
    # -gamma f'(0)^2 +- i f'(0)
    np.testing.assert_allclose(_sorted(conv.closed_form(cfg)), _sorted([-0.025 + 0.05j, -0.025 - 0.05j]), atol=1e-12)
    # simultaneous steps converge iff |1 + h lambda| < 1: h < 2 |Re l| / |l|^2 = 2 (1/4) / (1/16 + 1/4) = 1.6
    def run(lr, steps):
        c = apply_overrides(cfg, [f"optim.generator.params.lr={lr}", f"optim.discriminator.params.lr={lr}"])
        rho = np.abs(np.linalg.eigvals(np.eye(2) + conv.jacobian(c))).max()
        return rho, np.hypot(*conv.trajectory(c, steps)[-1])
    rho, dist = run(1.2, 100)
    assert rho < 1 and dist < 1e-3
    rho, dist = run(2.0, 40)
    assert rho > 1 and dist > 2.0


def test_consensus_and_noise_trajectories_reach_the_equilibrium(dirac):
    for name in ("consensus", "instance-noise"):
        path = conv.trajectory(apply_overrides(dirac, conv.VARIANTS[name]), 300)
        assert np.hypot(*path[-1]) < 0.1, name


def _numpy_lqg_field(x, K, r, lam):
    """By hand: L_D = tr(W (A A^T - K)) + lam/2 ||W||^2, L_G = -tr(A^T W A); v = (-dL_G/dA, -dL_D/dW)."""
    d = len(K)
    A, W = x[:d * r].reshape(d, r), x[d * r:].reshape(d, d)
    return np.concatenate([((W + W.T) @ A).ravel(), (K - A @ A.T - lam * W).ravel()])


def test_lqg_equilibrium_is_pca_and_its_jacobian_matches_an_independent_field(lqg):
    K = conv._covariance(lqg)
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(K)), [0.125, 0.25, 0.5, 1.0], atol=1e-12)
    A, P = conv.pca_solution(K, 2)
    at = conv.lqg_equilibrium(lqg, K)
    np.testing.assert_allclose(at[8:].reshape(4, 4), K - P, atol=1e-10)       # W* = (K - P) / lambda, lambda 1
    np.testing.assert_allclose(_numpy_lqg_field(at, K, 2, 1.0), 0, atol=1e-10)
    # central differences of the hand field (it is quadratic: exact up to rounding), rows times lr 0.05
    n, e = len(at), 1e-4
    J = np.stack([(_numpy_lqg_field(at + e * u, K, 2, 1.0) - _numpy_lqg_field(at - e * u, K, 2, 1.0)) / (2 * e)
                  for u in np.eye(n)], 1) * 0.05
    np.testing.assert_allclose(conv.lqg_jacobian(lqg, K, at), J, atol=1e-9)
    ev = np.linalg.eigvals(J)
    assert (np.abs(ev) < 1e-9).sum() == 1                    # the rotation A* R of the rank-2 generator
    assert ev.real[np.abs(ev) > 1e-9].max() < -1e-3


def test_lqg_variants(lqg):
    K = conv._covariance(lqg)
    assert conv.lqg_equilibrium(apply_overrides(lqg, conv.LQG_VARIANTS["none"]), K) is None
    r1 = apply_overrides(lqg, conv.LQG_VARIANTS["r1"])
    ev = np.linalg.eigvals(conv.lqg_jacobian(r1, K, conv.lqg_equilibrium(r1, K)))
    assert (np.abs(ev) < 1e-9).sum() == 7                    # + W's 6 antisymmetric directions, which R1 ignores


def test_the_probe_command_plays_lqg(tmp_path, capsys):
    assert main(["probe", "convergence", "--preset", "lqg-gan", "--variants", "none,l2", "--steps", "300",
                 "--out", str(tmp_path)]) == 0
    out = json.loads((tmp_path / "convergence.json").read_text())
    verdict = {r["variant"]: r["converged"] for r in out["results"]}
    assert verdict == {"none": False, "l2": True}
    assert out["results"][1]["final_distance"] < 0.15
    assert "no equilibrium" in capsys.readouterr().out
