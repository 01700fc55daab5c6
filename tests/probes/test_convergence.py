"""The Dirac-GAN convergence probe (issue 20, part 7): the Jacobian from the
registered losses and penalties equals Mescheder et al.'s closed form, and
training converges exactly where its eigenvalues have negative real parts."""
import json

import numpy as np
import pytest

from ganscape.api import make_config
from ganscape.cli import main
from ganscape.config import apply_overrides
from ganscape.probes import convergence as conv


@pytest.fixture(scope="module")
def base():
    return make_config("dirac-gan")


def _sorted(ev):
    return np.sort_complex(np.asarray(ev, dtype=complex))


@pytest.mark.parametrize("variant,expected", [
    ("none", [-0.05j, 0.05j]),                                      # h = 0.1: 0.1 x (+-i/2)
    ("r1", [-0.05, -0.05]),                                         # g = 1: -h g/2 double
    ("r1-weak", [-0.015 - 0.0477e0j, -0.015 + 0.0477e0j]),          # g = 0.3: -0.015 +- 0.1 sqrt(1/4 - 0.0225) i
    ("wgan", [-0.1j, 0.1j]),                                        # WGAN: +-i
])
def test_the_jacobian_at_the_equilibrium_has_the_papers_eigenvalues(base, variant, expected):
    cfg = apply_overrides(base, conv.VARIANTS[variant])
    ev = _sorted(np.linalg.eigvals(conv.jacobian(cfg)))
    np.testing.assert_allclose(ev, _sorted(expected), atol=2e-4)
    np.testing.assert_allclose(ev, _sorted(conv.closed_form(cfg)), atol=1e-9)
    # by hand for r1 at g = 1, lr 0.1: J = 0.1 [[0, 1/2], [-1/2, -1]]
    if variant == "r1":
        np.testing.assert_allclose(conv.jacobian(cfg), [[0.0, 0.05], [-0.05, -0.1]], atol=1e-12)


def test_training_circles_without_a_zero_centred_penalty_and_converges_with_one(base):
    none = conv.trajectory(apply_overrides(base, conv.VARIANTS["none"]), 400)
    r1 = conv.trajectory(apply_overrides(base, conv.VARIANTS["r1"]), 400)
    assert np.allclose(none[0], [1.0, 1.0]) and np.allclose(r1[0], [1.0, 1.0])
    radius = np.hypot(none[:, 0], none[:, 1])
    assert radius.min() > 1.3 and radius.max() < 1.5          # on its circle of radius sqrt(2)
    assert np.hypot(*r1[-1]) < 1e-4                             # at the equilibrium


def test_the_probe_command_writes_its_table_and_figure(tmp_path, capsys):
    assert main(["probe", "convergence", "--variants", "none,r1", "--steps", "300", "--out", str(tmp_path)]) == 0
    out = json.loads((tmp_path / "convergence.json").read_text())
    verdict = {r["variant"]: r["converged"] for r in out["results"]}
    assert verdict == {"none": False, "r1": True}
    assert (tmp_path / "trajectories.png").stat().st_size > 10_000
    assert "does not converge" in capsys.readouterr().out
    assert main(["probe", "convergence", "--variants", "r3", "--steps", "5", "--out", str(tmp_path)]) == 2
    assert "unknown variant 'r3'; choose from none, r1" in capsys.readouterr().err
