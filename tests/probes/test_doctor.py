"""The training doctor's rules (probes/doctor.py) on constructed series with a known answer: each failure
named, with its step, and nothing said about a healthy run's series."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ganscape.probes import doctor as dr
from ganscape.probes.doctor_checks import covered, mean_pairwise_distance

CFG = {"loss": {"name": "ns", "params": {}}, "penalties": [],
       "model": {"discriminator": {"norm": {"name": "none"}, "minibatch_features": 0, "pack": 1}},
       "optim": {"generator": {"name": "adam", "params": {"lr": 2e-4}},
                 "discriminator": {"name": "adam", "params": {"lr": 2e-4}}},
       "train": {"ema_decay": 0.0, "n_disc": 1}}


def healthy_stats(n=60, seed=0):
    """Noisy but settled: D near chance on both sides, losses around log 4, gradient norms steady."""
    r = np.random.default_rng(seed)
    return [{"step": 50 * (i + 1), "d_real": 0.3 + 0.2 * r.standard_normal(), "d_fake": -0.3 + 0.2 * r.standard_normal(),
             "d_loss": 1.3 + 0.1 * r.standard_normal(), "g_loss": 0.9 + 0.1 * r.standard_normal(),
             "d_grad_norm": 1.0 + 0.2 * r.random(), "g_grad_norm": 0.5 + 0.1 * r.random()} for i in range(n)]


def healthy_checks(k=10, modes=10):
    return [{"step": 300 * (i + 1), "diversity": 0.6 + 0.04 * i if i < 5 else 0.85, "modes": list(range(modes)),
             "real_modes": modes, "memorized": 0.04} for i in range(k)]


def kinds(findings):
    return [f.finding for f in findings]


def test_a_healthy_runs_series_gets_no_finding():
    for seed in range(5):
        assert dr.diagnose(healthy_stats(seed=seed), healthy_checks(), CFG) == []


def test_divergence_names_the_net_whose_statistics_blew_up_and_the_step():
    stats = healthy_stats()
    for r in stats[40:]:
        r["d_grad_norm"] = 1e6 * (r["step"] / 2000.0)
        r["d_loss"] = 5e4
    out = dr.diagnose(stats, healthy_checks(), CFG)
    assert kinds(out) == ["divergence"]
    assert out[0].net == "D" and out[0].step == stats[40]["step"]
    assert "d_grad_norm" in out[0].evidence
    # the same blow-up in G's statistics names G
    stats = healthy_stats()
    for r in stats[40:]:
        r["g_grad_norm"] = 1e7
        r["g_loss"] = 1e5
    assert dr.diagnose(stats, healthy_checks(), CFG)[0].net == "G"
    # a spike that heals is not divergence
    stats = healthy_stats()
    stats[30]["d_grad_norm"] = 1e7
    assert dr.diagnose(stats, healthy_checks(), CFG) == []


def test_a_run_stopped_as_diverged_or_nan_samples_is_divergence():
    out = dr.diagnose(healthy_stats(20), [], CFG, {"status": "diverged", "step": 1234, "reason": "a loss became NaN"})
    assert kinds(out) == ["divergence"] and out[0].step == 1234
    out = dr.diagnose(healthy_stats(20), [{"step": 700, "nonfinite": True}], CFG)
    assert kinds(out) == ["divergence"] and out[0].step == 700 and out[0].net == "G"


def test_d_overpowering_from_sigmoid_outputs_and_vanishing_g_gradient():
    stats = healthy_stats()
    for r in stats[30:]:
        r["d_real"], r["d_fake"], r["g_grad_norm"] = 4.0, -5.0, 0.01   # sigmoid: 0.982 and 0.0067
    out = dr.diagnose(stats, healthy_checks(), CFG)
    assert kinds(out) == ["d-overpowering"] and out[0].step == stats[30]["step"] and out[0].net == "D"
    assert "vanishing" in out[0].evidence
    # D(fake) 0.1 (logit -2.2) is not overpowering: the threshold is 0.05
    for r in stats[30:]:
        r["d_fake"] = -2.2
    assert dr.diagnose(stats, healthy_checks(), CFG) == []
    # two records are a moment, not a state (SUSTAIN = 3)
    stats = healthy_stats()
    for r in stats[30:32]:
        r["d_real"], r["d_fake"] = 4.0, -5.0
    assert dr.diagnose(stats, healthy_checks(), CFG) == []


def test_d_overpowering_under_hinge_reads_the_saturated_loss_and_wasserstein_is_not_judged():
    stats = healthy_stats()
    for r in stats[20:]:
        r["d_loss"] = 0.01
    hinge = {**CFG, "loss": "hinge"}
    assert kinds(dr.diagnose(stats, healthy_checks(), hinge)) == ["d-overpowering"]
    stats = healthy_stats()
    for r in stats[20:]:
        r["d_real"], r["d_fake"] = 40.0, -50.0
    assert dr.diagnose(stats, healthy_checks(), {**CFG, "loss": "wasserstein"}) == []


def test_mode_collapse_when_diversity_falls_and_stays_low():
    checks = healthy_checks()
    for c in checks[6:]:
        c["diversity"] = 0.1
    out = dr.diagnose(healthy_stats(), checks, CFG)
    assert kinds(out) == ["mode-collapse"] and out[0].step == checks[6]["step"]
    checks[7]["diversity"] = 0.9   # one low check then recovery: no finding from a single moment
    checks[8]["diversity"] = checks[9]["diversity"] = 0.9
    assert dr.diagnose(healthy_stats(), checks, CFG) == []


def test_mode_dropping_when_coverage_stays_below_the_datas():
    checks = healthy_checks(modes=8)
    for c in checks[4:]:
        c["modes"] = [0, 1, 2, 3, 4]
    out = dr.diagnose(healthy_stats(), checks, CFG)
    assert kinds(out) == ["mode-dropping"] and out[0].step == checks[4]["step"]
    assert "[5, 6, 7]" in out[0].evidence
    # 8 of 8 in the end: training was still spreading out
    checks[-1]["modes"] = list(range(8))
    assert dr.diagnose(healthy_stats(), checks, CFG) == []


def test_mode_hopping_when_the_covered_modes_move_but_their_number_stays_flat():
    checks = healthy_checks(modes=8)
    sets = [[0, 1], [2, 3], [4, 5], [6, 7], [0, 1], [2, 3], [4, 5], [6, 7], [0, 1], [2, 3]]
    for c, m in zip(checks, sets):
        c["modes"] = m
    out = dr.diagnose(healthy_stats(), checks, CFG)
    assert "mode-hopping" in kinds(out)
    hop = next(f for f in out if f.finding == "mode-hopping")
    assert hop.step == checks[1]["step"]
    # the same coverage without moving is dropping, not hopping
    for c in checks:
        c["modes"] = [0, 1]
    assert kinds(dr.diagnose(healthy_stats(), checks, CFG)) == ["mode-dropping"]
    # growing coverage (2, 4, 6, 8 modes) is not hopping: the number does not stay flat
    for c, m in zip(checks, [[0, 1], [0, 1, 2, 3], [0, 1, 2, 3, 4, 5]] + [list(range(8))] * 7):
        c["modes"] = m
    assert dr.diagnose(healthy_stats(), checks, CFG) == []


def test_memorization_from_the_memorized_share():
    checks = healthy_checks()
    for c in checks[7:]:
        c["memorized"] = 0.8
    out = dr.diagnose(healthy_stats(), checks, CFG)
    assert kinds(out) == ["memorization"] and out[0].step == checks[7]["step"]
    checks[-1]["memorized"] = 0.5   # at the threshold: not above it
    checks[-2]["memorized"] = 0.2
    assert dr.diagnose(healthy_stats(), checks, CFG) == []


def test_oscillation_is_a_periodic_swing_not_noise_or_drift():
    stats = healthy_stats(80)
    for i, r in enumerate(stats):
        r["d_real"] = 2.0 * math.sin(2 * math.pi * i / 8) + 0.1 * math.cos(i)
    out = dr.diagnose(stats, healthy_checks(), CFG)
    assert kinds(out) == ["oscillation"]
    assert "about 400 steps" in out[0].evidence   # period 8 records of 50 steps
    # a swing on top of a steep drift is still found: the drift is removed first
    for i, r in enumerate(stats):
        r["d_real"] = 0.3 * i + 1.0 * math.sin(2 * math.pi * i / 8)
    assert kinds(dr.diagnose(stats, healthy_checks(), CFG)) == ["oscillation"]
    # a slow drift alone is not oscillation; white noise has no periodic autocorrelation
    stats = healthy_stats(80)
    for i, r in enumerate(stats):
        r["d_real"] = 0.05 * i
    assert dr.diagnose(stats, healthy_checks(), CFG) == []


def test_advice_leaves_out_what_the_config_already_uses():
    adv = dr.advice("mode-collapse", CFG)
    assert any("minibatch_features" in a for a in adv) and any("pack" in a for a in adv)
    assert any("ema_decay" in a for a in adv)
    used = json.loads(json.dumps(CFG))
    used["model"]["discriminator"].update(minibatch_features=16, pack=4)
    used["train"]["ema_decay"] = 0.999
    used["penalties"] = [{"name": "r1", "params": {"weight": 1}}]
    adv = dr.advice("mode-collapse", used)
    assert not any("minibatch_features" in a or "pack=" in a or "ema_decay" in a or "penalty" in a for a in adv)
    assert dr.advice("divergence", {**CFG, "loss": "wasserstein"})[0].startswith("the wasserstein loss needs")
    assert any("loss=ns" in a for a in dr.advice("d-overpowering", {**CFG, "loss": "minimax"}))


def test_findings_serialize_with_net_only_where_one_applies():
    out = dr.diagnose(healthy_stats(20), [], CFG, {"status": "diverged", "step": 5})
    d = out[0].to_json()
    assert set(d) == {"finding", "step", "evidence", "advice"}
    assert json.loads(json.dumps([f.to_json() for f in out]))[0]["finding"] == "divergence"


def test_check_primitives_against_hand_computed_values():
    # three points on a line at 0, 1, 3: distances 1, 3, 2 -> mean 2
    assert mean_pairwise_distance(np.array([[0.0], [1.0], [3.0]])) == pytest.approx(2.0)
    a = np.array([0, 0, 0, 0, 1, 1, 1, 2, -1, -1])   # 10 samples, 4 modes: fair share 2.5, covered at >= 0.625
    assert covered(a, 4).tolist() == [0, 1, 2]
    assert covered(a, 4, share=1.2).tolist() == [0, 1]   # at least 3 samples: not mode 2 with 1


def test_a_wide_gap_under_a_probability_loss_is_d_winning_not_divergence():
    stats = healthy_stats()
    for r in stats[30:]:
        r["d_real"], r["d_fake"] = 60.0, -60.0
    assert kinds(dr.diagnose(stats, healthy_checks(), CFG)) == ["d-overpowering"]
    # the same gap under the hinge loss's unbounded outputs, growing past 30x its start: divergence
    for r in stats[30:]:
        r["d_real"], r["d_fake"] = 600.0, -600.0
    assert "divergence" in kinds(dr.diagnose(stats, healthy_checks(), {**CFG, "loss": "hinge"}))


def test_the_never_covered_modes_are_named_by_id_and_non_gans_get_no_gan_remedies():
    checks = healthy_checks(modes=10)
    for c in checks:
        c["num_modes"], c["real_modes"] = 10, 8   # (range(8) would miss mode 8)
    for c in checks[4:]:
        c["modes"] = [0, 1, 2, 3, 4, 9]
    out = dr.diagnose(healthy_stats(), checks, CFG)
    assert kinds(out) == ["mode-dropping"] and "[5, 6, 7, 8]" in out[0].evidence
    vae = dr.advice("mode-collapse", {**CFG, "method": {"name": "vae", "params": {}}})
    assert len(vae) == 1 and "not a GAN" in vae[0]
    wgan = dr.advice("divergence", {**CFG, "loss": "wasserstein"})
    assert not any("r1" in a for a in wgan)
