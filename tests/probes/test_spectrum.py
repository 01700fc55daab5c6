"""probe spectrum (issue 20, part 7): eigenvalues of a game's Jacobian from Hessian-vector products and
ARPACK's Arnoldi, against numpy's eig of a known Jacobian, the Dirac-GAN's and the LQG game's exact ones."""
import json

import numpy as np
import pytest
import torch

import ganscape
from ganscape.api import make_config
from ganscape.cli import main
from ganscape.config import apply_overrides
from ganscape.probes import convergence as conv
from ganscape.probes import spectrum as spc


def _quadratic_game(n1=50, n2=40, seed=0):
    """Players x, y with L1 = 1/2 x^T A x + x^T B y, L2 = 1/2 y^T C y + y^T E x: v = -(A x + B y, C y + E x),
    so J = -[[A, B], [E, C]] whatever the point."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n1, n1))
    A = A @ A.T / n1
    C = rng.standard_normal((n2, n2))
    C = C @ C.T / n2
    B, E = rng.standard_normal((n1, n2)), rng.standard_normal((n2, n1))
    x = torch.tensor(rng.standard_normal(n1), requires_grad=True)
    y = torch.tensor(rng.standard_normal(n2), requires_grad=True)
    t = lambda a: torch.tensor(a)  # noqa: E731
    L1 = 0.5 * x @ t(A) @ x + x @ t(B) @ y
    L2 = 0.5 * y @ t(C) @ y + y @ t(E) @ x
    v = -torch.cat([torch.autograd.grad(L1, x, create_graph=True)[0], torch.autograd.grad(L2, y, create_graph=True)[0]])
    return v, [x, y], -np.block([[A, B], [E, C]])


def test_arnoldi_on_a_quadratic_game_matches_numpy():
    v, params, J = _quadratic_game()
    scale = np.r_[np.full(50, 0.1), np.full(40, 0.3)]          # TTUR-like learning rates
    apply, n, _ = spc.transposed_operator(v, params, scale)
    s = spc.eigenvalues(apply, n, k=4)
    assert s.method == "arnoldi" and n == 90
    ev = np.linalg.eigvals(scale[:, None] * J)
    np.testing.assert_allclose(s.largest_magnitude, ev[np.argsort(-np.abs(ev))][:4], atol=1e-7)
    np.testing.assert_allclose(np.sort(s.largest_real.real)[::-1], np.sort(ev.real)[::-1][:4], atol=1e-7)
    # the operator's products are J^T's: one column of the transpose by hand
    np.testing.assert_allclose(apply(np.eye(n)[3]), (scale[:, None] * J).T[:, 3], atol=1e-12)


def test_dirac_run_spectrum_is_the_exact_jacobian(tmp_path):
    cfg = apply_overrides(make_config("dirac-gan"), ["penalties=[{name: r1, params: {weight: 0.3}}]",
                                                     "train.steps=6", "train.progress=false",
                                                     "train.latest_every=6"])
    run = ganscape.train(cfg, run_dir=tmp_path / "dirac")
    assert main(["probe", "spectrum", str(run), "-k", "2", "--out", str(tmp_path / "out")]) == 0
    rec = json.loads((tmp_path / "out" / "spectrum.json").read_text())
    ck = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    at = (float(ck["nets"]["G"]["theta"]), float(ck["nets"]["D"]["psi"]))
    exact = np.linalg.eigvals(conv.jacobian(cfg, at))
    got = np.array([complex(*p) for p in rec["largest_magnitude"]])
    np.testing.assert_allclose(np.sort_complex(got), np.sort_complex(exact), atol=1e-12)
    assert rec["parameters"] == 2 and rec["step"] == 6


def test_arnoldi_on_the_lqg_game_matches_its_exact_jacobian(monkeypatch):
    cfg = make_config("lqg-gan")
    K = conv._covariance(cfg)
    at = conv.lqg_equilibrium(cfg, K)
    x = torch.tensor(at, requires_grad=True)
    v = conv.lqg_field(cfg, x, K)
    scale = np.r_[np.full(8, 0.05), np.full(16, 0.05)]
    apply, n, _ = spc.transposed_operator(v, [x], scale)
    monkeypatch.setattr(spc, "DENSE_MAX", 4)                  # 24 parameters: Arnoldi, not the dense path
    s = spc.eigenvalues(apply, n, k=3)
    assert s.method == "arnoldi"
    ev = np.linalg.eigvals(conv.lqg_jacobian(cfg, K, at))
    np.testing.assert_allclose(np.abs(s.largest_magnitude), np.sort(np.abs(ev))[::-1][:3], atol=1e-9)
    np.testing.assert_allclose(s.largest_real.real, np.sort(ev.real)[::-1][:3], atol=1e-9)


def test_bad_requests_are_one_clear_line(tmp_path, capsys):
    with pytest.raises(ValueError, match="k must be >= 1"):
        spc.eigenvalues(lambda w: w, 3, k=0)
    assert main(["probe", "spectrum", str(tmp_path), "-k", "0"]) == 2
    assert "need -k >= 1" in capsys.readouterr().err
