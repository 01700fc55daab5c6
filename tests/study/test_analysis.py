"""Study analysis against hand-checked numbers and brute-force enumeration."""
import csv
import itertools
import math
import random

import numpy as np
import pytest

from ganscape.study import analysis as A


def trial(number, value, state="complete", seconds=None, **params):
    return {"number": number, "state": state, "params": params, "value": value,
            "seed_values": [] if value is None else [value], "reason": None, "run_dirs": [],
            "seconds": seconds, "steps": 100, "examples_seen": 6400, "curve": []}


# ----------------------------------------------------------------------------- budget curve

POOL = [3.0, 1.0, 4.0, 2.0]


def exact_best(pool, k, best=min):
    """Every ordered draw of k values with replacement, equally likely: the
    exact mean and standard deviation of the best of a draw."""
    outcomes = [best(d) for d in itertools.product(pool, repeat=k)]
    assert len(outcomes) == len(pool) ** k
    return float(np.mean(outcomes)), float(np.std(outcomes))


@pytest.mark.parametrize("direction,best", [("minimize", min), ("maximize", max)])
def test_budget_curve_matches_enumeration(direction, best):
    n_boot = 200_000
    c = A.budget_curve(POOL, ks=[1, 2, 3], n_boot=n_boot, seed=1, direction=direction)
    assert list(c["k"]) == [1, 2, 3] and c["n"] == 4
    for i, k in enumerate([1, 2, 3]):
        mean, sd = exact_best(POOL, k, best)
        se = sd / math.sqrt(n_boot)
        assert abs(c["mean"][i] - mean) < 5 * se, (k, c["mean"][i], mean, se)
    # k = 1 is one plain draw: the pool mean
    assert abs(c["mean"][0] - np.mean(POOL)) < 5 * np.std(POOL) / math.sqrt(n_boot)
    # k = 2 by hand: min of two draws from {1,2,3,4} is 1 w.p. 7/16, 2: 5/16, 3: 3/16, 4: 1/16
    if direction == "minimize":
        assert exact_best(POOL, 2)[0] == pytest.approx((7 * 1 + 5 * 2 + 3 * 3 + 1 * 4) / 16)
        # P(min <= 3) = 15/16 < 0.975, so the 95% interval of k=2 spans [1, 4]
        assert (c["lo"][1], c["hi"][1]) == (1.0, 4.0)


def test_budget_curve_shape_monotone_deterministic():
    rng = np.random.default_rng(3)
    pool = rng.normal(30, 8, size=40)
    c = A.budget_curve(pool, n_boot=500, seed=7)
    assert list(c["k"]) == list(range(1, 41))  # by default every budget up to the pool size
    assert np.all(np.diff(c["mean"]) <= 1e-12)  # more settings never do worse
    assert np.all(c["lo"] <= c["mean"]) and np.all(c["mean"] <= c["hi"])
    assert c["hi"][-1] <= c["hi"][0] and c["lo"][0] >= pool.min() - 1e-12
    again = A.budget_curve(pool, n_boot=500, seed=7)
    for key in ("mean", "lo", "hi"):
        assert np.array_equal(c[key], again[key])
    other = A.budget_curve(pool, n_boot=500, seed=8)
    assert not np.array_equal(c["mean"], other["mean"])
    up = A.budget_curve(pool, n_boot=500, seed=7, direction="maximize")
    assert np.all(np.diff(up["mean"]) >= -1e-12)
    # large pools get ~40 log-spaced budgets, ending at the pool size
    big = A.budget_curve(rng.normal(size=500), n_boot=50)
    assert big["k"][0] == 1 and big["k"][-1] == 500 and len(big["k"]) <= 40


def test_budget_curve_edge_cases():
    c = A.budget_curve([], ks=[1, 2])
    assert c["n"] == 0 and np.isnan(c["mean"]).all() and list(c["k"]) == [1, 2]
    c = A.budget_curve([2.0, float("nan"), None, 5.0], ks=[1], n_boot=20_000)  # non-finite values dropped
    assert c["n"] == 2 and c["mean"][0] == pytest.approx(3.5, abs=0.1)
    assert A.budget_curve([7.0], ks=[1], n_boot=10)["mean"].tolist() == [7.0]
    with pytest.raises(ValueError, match="at least 1"):
        A.budget_curve(POOL, ks=[0, 1])
    with pytest.raises(ValueError, match="direction"):
        A.budget_curve(POOL, direction="min")
    with pytest.raises(ValueError, match="level"):
        A.budget_curve(POOL, level=95)


# ----------------------------------------------------------------------------- per level

def hand_table():
    return [
        trial(0, 30.0, loss="ns", norm="sn"),
        trial(1, 20.0, loss="ns", norm="none"),
        trial(2, 20.0, loss="ns", norm="sn"),  # ties trial 1: the lower number wins
        trial(3, 50.0, loss="wgan", norm="sn", clip=0.01),
        trial(4, None, state="failed", loss="wgan", norm="none", clip=0.1),
        trial(5, None, state="pruned", loss="ls", norm="none"),  # a level with no completed trial
        trial(6, 40.0, loss="wgan", norm="none", clip=0.1),
        trial(7, 10.0, state="running", loss="ns", norm="sn"),  # not complete: never counted
        trial(8, float("nan"), loss="ns", norm="sn"),  # not finite: never counted
    ]


def test_completed_and_levels():
    t = hand_table()
    assert [x["number"] for x in A.completed(t)] == [0, 1, 2, 3, 6]
    assert A.factor_levels(t, "loss") == ["ls", "ns", "wgan"]
    assert A.factor_levels(t, "clip") == [0.01, 0.1]  # absent where inactive; numbers sort as numbers
    assert A.factor_levels([trial(0, 1.0, n=10), trial(1, 1.0, n=5), trial(2, 1.0, n=1)], "n") == [1, 5, 10]
    assert A.factor_levels(t, "nope") == []


def test_values_and_best_per_level():
    t = hand_table()
    assert A.values_per_level(t, "loss") == {"ls": [], "ns": [30.0, 20.0, 20.0], "wgan": [50.0, 40.0]}
    assert A.values_per_level(t, "clip") == {0.01: [50.0], 0.1: [40.0]}
    assert A.best_per_level(t, "loss") == {"ns": (20.0, 1), "wgan": (40.0, 6)}
    assert A.best_per_level(t, "norm") == {"none": (20.0, 1), "sn": (20.0, 2)}
    assert A.best_per_level(t, "loss", direction="maximize") == {"ns": (30.0, 0), "wgan": (50.0, 3)}
    rows = {r["level"]: r for r in A.level_summary(t, "loss")}
    assert rows["ls"]["n_trials"] == 1 and rows["ls"]["n_pruned"] == 1 and rows["ls"]["best"] is None
    assert rows["wgan"]["n_failed"] == 1 and rows["wgan"]["median"] == 45.0 and rows["wgan"]["worst"] == 50.0
    assert rows["ns"]["n_trials"] == 5 and rows["ns"]["n_complete"] == 3 and rows["ns"]["best_trial"] == 1


def test_budget_k_stops_at_the_pool_size():
    # the README's table once read k = 20 off pools of 3 to 18 trials
    c = A.budget_curve(POOL, ks=[1, 4, 5, 20], n_boot=100)
    assert np.isfinite(c["mean"][:2]).all() and np.isnan(c["mean"][2:]).all()
    assert np.isnan(c["lo"][2:]).all() and np.isnan(c["hi"][2:]).all()
    assert np.isnan(A.budget_curve([7.0], ks=[1, 5], n_boot=10)["mean"][1])
    assert np.isnan(A.budget_curve(POOL, ks=[5], n_boot=10)["mean"]).all()


def test_budget_pools_count_failed_as_the_worst_and_pruned_as_their_last_value():
    t = hand_table()
    t[5]["curve"] = [[10, 80.0], [20, 45.0]]  # pruned at step 20 with 45
    t.append(trial(9, None, state="failed", loss="ls", norm="sn"))
    t[-1]["reason"] = "diverged: loss is nan"
    t.append(trial(10, None, state="failed", loss="ls", norm="sn"))
    t[-1]["reason"] = "invalid config: spectral norm is not offered"  # never a setting: left out
    # the worst outcome: completed values 30, 20, 20, 50, 40 and the pruned trial's last value 45
    assert A.worst_outcome(t) == 50.0 and A.worst_outcome(t, "maximize") == 20.0
    pools = A.budget_pools(t, "loss")
    # ns: 30, 20, 20 and trial 8's non-finite value as a failure (50); running trial 7 left out
    assert pools == {"ls": [45.0, 50.0], "ns": [30.0, 20.0, 20.0, 50.0], "wgan": [50.0, 50.0, 40.0]}
    assert A.budget_pools(t, "loss", "maximize")["wgan"] == [50.0, 20.0, 40.0]
    # the curve draws from that pool: the exact mean best of k against enumeration
    curves = A.budget_curves_per_level(t, "loss", n_boot=100_000, seed=0)
    for lv, pool in pools.items():
        assert list(curves[lv]["k"]) == list(range(1, len(pool) + 1))  # each level up to its own pool
        for i, k in enumerate(curves[lv]["k"]):
            mean, sd = exact_best(pool, int(k))
            assert abs(curves[lv]["mean"][i] - mean) < 5 * sd / math.sqrt(100_000) + 1e-12, (lv, k)
    # completed trials alone would make wgan look better: 45 at k = 1, not 46.67
    assert curves["wgan"]["mean"][0] == pytest.approx(140 / 3, abs=0.3)
    assert A.budget_pools([trial(0, None, state="failed", loss="ns")], "loss") == {"ns": []}


def test_budget_curves_per_level_cap_given_budgets():
    curves = A.budget_curves_per_level(hand_table(), "loss", ks=[1, 2, 3], n_boot=100)
    assert set(curves) == {"ls", "ns", "wgan"}  # the pruned "ls" trial counts (as the worst: no curve)
    assert curves["ls"]["n"] == 1 and np.isnan(curves["ls"]["mean"][1:]).all()
    assert curves["wgan"]["n"] == 3 and np.isfinite(curves["wgan"]["mean"]).all()


# ----------------------------------------------------------------------------- Pareto

def test_pareto_front_by_hand_with_ties():
    t = [trial(0, 10.0, seconds=1.0), trial(1, 5.0, seconds=2.0), trial(2, 5.0, seconds=2.0),
         trial(3, 7.0, seconds=2.0),   # same cost as 1, worse value: dominated
         trial(4, 5.0, seconds=3.0),   # same value as 1, dearer: dominated
         trial(5, 1.0, seconds=4.0), trial(6, 10.0, seconds=1.0),  # ties trial 0: both on the front
         trial(7, 12.0, seconds=0.5, state="pruned"), trial(8, 0.5, seconds=None)]
    assert [x["number"] for x in A.pareto_front(t)] == [0, 6, 1, 2, 5]
    # higher is better: the cheapest trial with the highest value at its cost, then nothing beats 10
    assert [x["number"] for x in A.pareto_front(t, direction="maximize")] == [0, 6]
    assert A.pareto_front([]) == []


def test_pareto_front_against_the_definition():
    rng = random.Random(0)
    for _ in range(20):
        t = [trial(i, float(rng.randint(0, 6)), seconds=float(rng.randint(0, 6))) for i in range(25)]

        def dominated(a):
            return any(b["seconds"] <= a["seconds"] and b["value"] <= a["value"]
                       and (b["seconds"] < a["seconds"] or b["value"] < a["value"]) for b in t)

        want = sorted((x for x in t if not dominated(x)), key=lambda x: (x["seconds"], x["value"], x["number"]))
        assert A.pareto_front(t) == want


# ----------------------------------------------------------------------------- seeds, pruning

def test_seed_spread():
    a = trial(0, 2.0)
    a["seed_values"] = [1.0, 2.0, 3.0]
    b = trial(1, 5.0)  # one seed: no spread
    c = trial(2, 4.0)
    c["seed_values"] = [4.0, None, float("nan"), 6.0]  # missing seeds are skipped
    out = A.seed_spread([c, b, a])
    assert [s["number"] for s in out] == [0, 2]
    assert out[0] == {"number": 0, "params": {}, "n": 3, "mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0}
    assert out[1]["n"] == 2 and out[1]["mean"] == 5.0 and out[1]["std"] == pytest.approx(math.sqrt(2))


def test_pruning_savings_by_hand():
    t = [trial(0, 10.0, seconds=100.0), trial(1, 8.0, seconds=120.0), trial(2, None, state="pruned", seconds=30.0),
         trial(3, None, state="pruned"), trial(4, None, state="failed")]
    t[0]["steps"] = t[1]["steps"] = 1000  # the full budget; 0.1 s and 0.12 s per step
    t[2]["steps"] = 250                   # 0.12 s per step of its own
    t[3]["steps"] = None
    t[3]["curve"] = [[100, 20.0], [500, 15.0]]  # no steps: its curve's last step
    t[4]["steps"] = 50
    s = A.pruning_savings(t)
    assert s["n_pruned"] == 2 and s["full_steps"] == 1000 and s["steps_trained"] == 750
    assert s["steps_if_not_pruned"] == 2000 and s["steps_saved"] == 1250
    assert s["fraction_saved"] == pytest.approx(1250 / (1000 + 1000 + 250 + 500 + 50 + 1250))
    # trial 2: 750 steps at its own 0.12 s; trial 3: 500 steps at the median of 0.1 and 0.12
    assert s["seconds_saved"] == pytest.approx(750 * 0.12 + 500 * 0.11)
    assert s["seconds_trained"] == 30.0 and (s["best_value"], s["best_number"]) == (8.0, 1)
    assert s["pruned"] == [{"number": 2, "steps": 250.0, "last_value": None},
                           {"number": 3, "steps": 500.0, "last_value": 15.0}]
    none_done = A.pruning_savings([t[2]])
    assert none_done["steps_saved"] is None and none_done["best_value"] is None


# ----------------------------------------------------------------------------- CSV

def test_csv_round_trip(tmp_path):
    t = hand_table()
    t[4]["reason"] = 'diverged: "NaN", at step 3,\nsee log'
    t[0]["seed_values"] = [30.0, 31.25]
    t[0]["run_dirs"] = ["/s/trials/trial-0000", "/s/trials/trial-0000-seed1"]
    path = A.to_csv(t, tmp_path / "trials.csv")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:len(A.CSV_COLUMNS)] == list(A.CSV_COLUMNS)
    assert list(rows[0])[len(A.CSV_COLUMNS):] == ["params.clip", "params.loss", "params.norm"]
    assert len(rows) == len(t)
    for row, tr in zip(rows, sorted(t, key=lambda x: x["number"])):
        assert int(row["number"]) == tr["number"] and row["state"] == tr["state"]
        v = tr["value"]
        assert (row["value"] == "") if v is None else (
            math.isnan(float(row["value"])) if math.isnan(v) else float(row["value"]) == v)
        assert [float(x) for x in row["seed_values"].split(";") if x] == pytest.approx(tr["seed_values"], nan_ok=True)
        assert row["reason"] == (tr["reason"] or "")
        assert row["run_dirs"].split(";") == (tr["run_dirs"] or [""])
        for p in ("loss", "norm", "clip"):
            want = tr["params"].get(p)
            got = row[f"params.{p}"]
            assert got == "" if want is None else (float(got) == want if p == "clip" else got == want)

    paths = A.write_csvs(t, tmp_path / "csv", ["loss", "a/b c"])
    assert paths["trials"].read_text() == path.read_text()
    assert paths["a/b c"].name == "levels-a_b_c.csv"
    with open(paths["loss"], newline="") as f:
        levels = list(csv.DictReader(f))
    assert [r["level"] for r in levels] == ["ls", "ns", "wgan"]
    assert levels[1]["best"] == "20.0" and levels[1]["best_trial"] == "1" and levels[0]["best"] == ""


# ----------------------------------------------------------------------------- importance

def test_importance_on_a_real_study():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(t):  # depends on x only; y is noise-free and irrelevant
        x, _ = t.suggest_float("x", -1, 1), t.suggest_float("y", -1, 1)
        return (x - 0.3) ** 2

    study.optimize(objective, n_trials=30)
    imp = A.importance(study)
    assert imp.reason is None and set(imp) == {"x", "y"}
    assert imp["x"] > 0.9 > imp["y"] and sum(imp.values()) == pytest.approx(1.0)
    assert all(type(v) is float for v in imp.values())
    assert A.importance(study) == imp  # seed 0: the same forest every time


def test_importance_says_why_it_is_empty():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    assert A.importance(study) == {} and "at least 2 completed" in A.importance(study).reason
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    assert "the study has 1" in A.importance(study).reason

    disjoint = optuna.create_study()
    disjoint.optimize(lambda t: t.suggest_float("a" if t.number % 2 else "b", 0, 1), n_trials=4)
    imp = A.importance(disjoint)
    assert imp == {} and "share no parameter" in imp.reason

    flat = optuna.create_study()
    flat.optimize(lambda t: 0 * t.suggest_float("x", 0, 1) + 1.0, n_trials=4)
    imp = A.importance(flat)
    assert imp == {} and "same objective value" in imp.reason

    multi = optuna.create_study(directions=["minimize", "minimize"])
    multi.optimize(lambda t: (t.suggest_float("x", 0, 1), 1.0), n_trials=3)
    assert "several objectives" in A.importance(multi).reason


def test_wallclock_at_by_hand():
    stats = [{"step": 10, "sec_per_step": 0.5},            # 10 steps x 0.5 = 5 s
             {"step": 30, "sec_per_step": 0.25},           # + 20 x 0.25 = 10 s
             {"step": 30, "sec_per_step": 9.0},            # a resumed run's repeat: ignored
             {"step": 40, "d_loss": 1.0},                  # no rate: skipped
             {"step": 50, "sec_per_step": 1.0}]            # + 20 x 1 = 30 s
    got = A.wallclock_at(stats, [0, 5, 10, 20, 30, 40, 50, 51, -1])
    assert got[:7] == pytest.approx([0.0, 2.5, 5.0, 7.5, 10.0, 20.0, 30.0])
    assert got[7] is None and got[8] is None  # past the data, or nonsense: unknown
    assert A.wallclock_at([], [0, 10]) == [None, None]
    # the order of the records does not matter
    assert A.wallclock_at([stats[i] for i in (4, 0, 3, 1)], [50]) == pytest.approx([30.0])


def test_objective_by_cost():
    table = [trial(2, 20.0, bs=64), trial(1, 30.0, bs=16), trial(3, None, state="failed", bs=32)]
    table[0].update(curve=[[100, 40.0], [200, 20.0], ["x", 1.0]], steps=200, examples_seen=200 * 64 * 2)
    table[1].update(curve=[[100, 35.0]], steps=100, examples_seen=1600)
    table[2].update(curve=[], steps=0, examples_seen=0)
    stats = {2: [{"step": 100, "sec_per_step": 0.1}, {"step": 200, "sec_per_step": 0.3}]}
    rows = A.objective_by_cost(table, stats, "bs")
    assert [r["number"] for r in rows] == [1, 2]  # trial order; no curve, no row
    r1, r2 = rows
    assert r1 == {"number": 1, "state": "complete", "level": 16, "steps": [100.0], "values": [35.0],
                  "examples": [1600.0], "seconds": [None]}
    assert r2["examples"] == [12800.0, 25600.0] and r2["values"] == [40.0, 20.0]
    assert r2["seconds"] == pytest.approx([10.0, 40.0])
    assert A.objective_by_cost(table, stats)[0]["level"] is None


def test_rerun_summary():
    data = {"metric": "fid", "direction": "minimize", "reruns": [
        {"label": "loss=ns", "number": 4, "params": {"loss": "ns"}, "search_values": [9.0],
         "values": [10.0, 12.0, None]},
        {"label": "loss=wgan", "number": 7, "params": {"loss": "wgan"}, "search_values": [5.0], "values": [None, None]},
        {"label": "loss=hinge", "number": 2, "params": {"loss": "hinge"}, "search_values": [7.0, 8.0],
         "values": [8.0, 9.0, 13.0]}]}
    rows = A.rerun_summary(data)
    assert [r["label"] for r in rows] == ["loss=hinge", "loss=ns", "loss=wgan"]  # mean 10 < 11; failed last
    hinge, ns, wgan = rows
    assert ns["n"] == 2 and ns["failed"] == 1 and ns["mean"] == 11.0 and ns["search"] == 9.0
    assert ns["std"] == pytest.approx(np.sqrt(2.0)) and (ns["min"], ns["max"]) == (10.0, 12.0)
    assert hinge["mean"] == 10.0 and hinge["std"] == pytest.approx(np.std([8, 9, 13], ddof=1))
    assert hinge["search"] == 7.5  # the search's two seeds, apart from the fresh ones
    assert wgan["mean"] is None and wgan["std"] is None and wgan["failed"] == 2 and wgan["search"] == 5.0
    data["direction"] = "maximize"
    assert [r["label"] for r in A.rerun_summary(data)] == ["loss=ns", "loss=hinge", "loss=wgan"]
    data["reruns"][0]["values"] = [20.0]
    rows = A.rerun_summary(data)
    assert rows[0]["label"] == "loss=ns" and rows[0]["std"] is None
    assert A.rerun_summary({}) == []


def test_rerun_summary_keeps_the_winning_value_out_of_old_files():
    # reruns.json from before the split: seed 0 (the search's winner) and the fresh seeds in one list
    old = {"direction": "minimize", "reruns": [
        {"label": "best overall", "number": 3, "params": {}, "seeds": [0, 1, 2], "values": [5.0, 9.0, 11.0],
         "run_dirs": ["/s/trials/trial-0003", "/s/reruns/trial-0003-seed1", "/s/reruns/trial-0003-seed2"]}]}
    (row,) = A.rerun_summary(old)
    assert row["search"] == 5.0 and row["values"] == [9.0, 11.0]
    assert row["mean"] == 10.0 and row["std"] == pytest.approx(np.sqrt(2.0))  # not 8.33 with the winner
