"""Adversarial examples of D and the accidental-attack measure (issue 20,
part 4): PGD's flip budgets for a linear D against the closed form, the
measure on moves along and across D's gradient, and the command on a run."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import ganscape
from ganscape.cli import main
from ganscape.probes.attack import accidental_attack, flip_budget, success_rate


class _Linear(torch.nn.Module):
    def __init__(self, w, b):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(w))
        self.b = torch.nn.Parameter(torch.tensor(b))

    def forward(self, x):
        return x.flatten(1) @ self.w + self.b


@pytest.mark.parametrize("norm,dual", [("linf", 1), ("l2", 2)])
def test_the_budget_that_flips_a_linear_d_is_its_margin_over_the_dual_norm(norm, dual):
    D = _Linear([0.5, -2.0, 1.0], 0.3)
    x = torch.tensor([[0.1, 0.2, 0.3], [-0.4, 0.1, 0.0], [0.3, -0.2, 0.5]])
    margin = (x @ D.w + D.b).abs().detach().numpy()
    want = margin / np.linalg.norm(D.w.detach().numpy(), ord=dual)
    got = flip_budget(D, x, norm, eps_max=2.0, iters=14)
    np.testing.assert_allclose(got, want, atol=2.0 / 2 ** 13)
    assert success_rate(D, x, float(want.max()) * 1.01, norm) == 1.0
    assert success_rate(D, x, float(want.min()) * 0.99, norm) == 0.0


class _Point(torch.nn.Module):   # G(z) = a for every z
    z_dim = 2

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.zeros(3))

    def forward(self, z):
        return self.a.expand(len(z), 3)


@pytest.mark.parametrize("direction,cos,ratio", [([0.5, -2.0, 1.0], 1.0, 1.0), ([2.0, 0.5, 0.0], 0.0, 0.0)])
def test_a_move_along_ds_gradient_is_an_attack_and_one_across_it_is_not(direction, cos, ratio):
    G, D = _Point(), _Linear([0.5, -2.0, 1.0], 0.3)
    state = SimpleNamespace(nets={"G": G, "D": D}, sampler_name="G")

    def step(state, batches, log):          # a "training step" that moves G by 0.1 along `direction`
        with torch.no_grad():
            G.a += 0.1 * torch.tensor(direction)
    acc = accidental_attack(state, SimpleNamespace(step=step), [], n=8)
    assert acc.cosine == pytest.approx(cos, abs=1e-6) and acc.ratio == pytest.approx(ratio, abs=1e-6)
    assert acc.move == pytest.approx(0.1 * np.linalg.norm(direction), rel=1e-6)


def test_the_attack_command_reports_each_checkpoint(tmp_path, capsys):
    run = ganscape.train("digits", overrides=["train.steps=40", "train.checkpoint_every=20", "train.progress=false",
                                              "eval.metrics=[]", "train.sample_every=0"], run_dir=tmp_path / "a")
    assert main(["probe", "attack", str(run), "-n", "32", "--budgets", "0.05,0.5", "--out", str(tmp_path / "o")]) == 0
    rec = json.loads((tmp_path / "o" / "attack.json").read_text())
    assert [c["step"] for c in rec["checkpoints"]] == [20, 40]
    for c in rec["checkpoints"]:
        s = c["fake"]["success"]
        assert 0 <= s["0.05"] <= s["0.5"] <= 1                 # a larger budget flips at least as many
        assert -1 <= c["accidental"]["cosine"] <= 1
    assert main(["probe", "attack", str(run), "--budgets", "x", "--out", str(tmp_path / "o")]) == 2
