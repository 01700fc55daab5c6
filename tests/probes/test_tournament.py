"""Tournaments and Glicko-2 (issue 20, part 2): the rating update against
Glickman's worked example, wins decided by a D's accuracy, ratings that order
generators by the matches they won, and the command on a short run."""
import json

import numpy as np
import pytest
import torch

import ganscape
from ganscape.cli import main
from ganscape.probes.glicko2 import Rating, update
from ganscape.probes import tournament as tm
from ganscape.probes.tournament import Player, Tournament, play, rate
from ganscape.registry import ConfigError


def test_glicko2_reproduces_glickmans_worked_example():
    # "Example of the Glicko-2 system" (Glickman 2013): 1500 / 200 / 0.06 beats a 1400 (RD 30), loses to a
    # 1550 (RD 100) and a 1700 (RD 300), tau 0.5 -> 1464.06 / 151.52 / 0.05999
    r = update(Rating(1500, 200, 0.06), [(Rating(1400, 30), 1.0), (Rating(1550, 100), 0.0),
                                         (Rating(1700, 300), 0.0)], tau=0.5)
    assert r.rating == pytest.approx(1464.06, abs=0.01)
    assert r.rd == pytest.approx(151.52, abs=0.01)
    assert r.vol == pytest.approx(0.05999, abs=1e-5)
    idle = update(Rating(1500, 200, 0.06), [])          # no games: only the deviation grows (step 6)
    assert idle.rating == 1500 and idle.rd == pytest.approx(173.7178 * np.hypot(200 / 173.7178, 0.06))


class _G(torch.nn.Module):
    z_dim = 2

    def __init__(self, value):
        super().__init__()
        self.v = torch.nn.Parameter(torch.tensor(float(value)))

    def forward(self, z):
        return self.v.expand(len(z), 1, 2, 2)


class _D(torch.nn.Module):
    def __init__(self, cut):
        super().__init__()
        self.cut = torch.nn.Parameter(torch.tensor(float(cut)))

    def forward(self, x):
        return x.flatten(1).mean(1) - self.cut       # logit > 0: "real"


def test_a_d_wins_only_with_accuracy_above_the_threshold_and_ratings_follow_the_wins():
    real = torch.ones(64, 1, 2, 2)
    # G0 draws -1 (easy to tell from real +1), G1 draws +1 (indistinguishable); both Ds cut at 0
    players = [Player("r", 0, None, _G(-1.0), _D(0.0)), Player("r", 1, None, _G(1.0), _D(0.0))]
    t = play(players, real, n=16, games=3)
    # D vs G0: accuracy 1 -> D wins; D vs G1: real right, fakes all called real -> 0.5, not above 0.5
    np.testing.assert_array_equal(t.wins, [[3, 0], [3, 0]])
    np.testing.assert_allclose(t.g_win_rate(), [0.0, 1.0])
    rated = rate(t, periods=5)
    assert rated.g_ratings[1].rating > 1500 > rated.g_ratings[0].rating
    # a constructed table: G2 beats every D, G0 loses to every D, G1 in between
    wins = np.array([[4, 2, 0], [4, 2, 0], [4, 2, 0]])
    g = rate(Tournament([None] * 3, wins, 4), periods=10).g_ratings
    assert g[0].rating < g[1].rating < g[2].rating
    assert g[1].rating == pytest.approx(1500, abs=1e-6)   # half its games: the middle, by symmetry


def test_the_tournament_command_rates_a_runs_checkpoints(tmp_path, capsys):
    run = ganscape.train("digits", overrides=["train.steps=40", "train.checkpoint_every=20", "train.progress=false",
                                              "eval.metrics=[]", "train.sample_every=0"], run_dir=tmp_path / "a")
    assert main(["tournament", str(run), "--n", "64", "--games", "2", "--out", str(tmp_path / "t")]) == 0
    out = json.loads((tmp_path / "t" / "tournament.json").read_text())
    assert [p["step"] for p in out["players"]] == [20, 40] and np.array(out["wins"]).shape == (2, 2)
    assert (tmp_path / "t" / "ratings.png").exists()
    assert main(["tournament", str(run), "--n", "1", "--out", str(tmp_path / "t")]) == 2
    # the metric skill-rating: the run's latest generator (the same net as a@40's, the same latents) joins
    # the tournament as one more column: it wins exactly the matches a@40's generator won
    rec = ganscape.evaluate(run, metrics=["skill-rating"], n=64, metric_params={"skill-rating": {"n": 64, "games": 2}})
    res = rec["results"]
    assert set(res) >= {"skill_rating", "skill_rating_rd", "skill_win_rate"}
    assert res["skill_win_rate"] == pytest.approx(1.0 - np.array(out["wins"])[:, 1].sum() / 4)
    from ganscape.registry import ConfigError
    with pytest.raises(ConfigError, match="evaluate a run folder"):
        ganscape.evaluate_arrays(-torch.ones(8, 1, 8, 8), -torch.ones(8, 1, 8, 8), ["skill-rating"],
                                 extractor="digits-cnn")


def test_skill_rating_is_refused_during_training_and_generators_of_other_latent_sizes_play(tmp_path):
    from ganscape.registry import ConfigError
    with pytest.raises(ConfigError, match="cannot run during training"):
        ganscape.train("digits", overrides=["train.steps=2", "eval.metrics=[skill-rating]", "eval.every=1",
                                            "eval.best=skill_rating"],
                       run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()
    class Strict(_G):   # takes only latents of its own size
        z_dim = 5

        def forward(self, z):
            assert z.shape[1] == self.z_dim, z.shape
            return super().forward(z)

    small = Strict(1.0)   # a generator of another latent size plays the same matches
    t = play([Player("r", 0, None, _G(-1.0), _D(0.0))], torch.ones(16, 1, 2, 2), n=8, games=2, generators=[small])
    np.testing.assert_array_equal(t.wins, [[2, 0]])


def test_runs_of_the_same_name_stay_apart(tmp_path):
    a, b, c = tmp_path / "x" / "a" / "digits-001", tmp_path / "y" / "a" / "digits-001", tmp_path / "digits-002"
    labels = tm.run_labels([a, b, c])
    assert labels == {a: "x/a/digits-001", b: "y/a/digits-001", c: "digits-002"}
    with pytest.raises(ConfigError, match="named twice"):
        tm.run_labels([c, tmp_path / "." / "digits-002"])
