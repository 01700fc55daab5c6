"""The thread count (train/threads.py): which CPUs count, the decision on
injected timings (never on this machine's speed), when it measures again,
who overrides whom, and that choosing never changes a run's results."""
import json

import pytest
import torch

from ganscape.config import from_dict
from ganscape.registry import ConfigError
from ganscape.train import threads as thr
from ganscape.train.loop import run


@pytest.fixture(autouse=True)
def _no_hold_leaks(monkeypatch):
    """The tuners driven by hand below begin() without close(): their hold on the count ends with the test."""
    monkeypatch.setattr(thr, "_held", 0)


# ---- CPUs available: affinity capped by the cgroup quota (fixture files) ----------------------------

def _tree(tmp_path, files, proc):
    for rel, text in files.items():
        p = tmp_path / "cg" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    (tmp_path / "proc_cgroup").write_text(proc)
    return tmp_path / "cg", tmp_path / "proc_cgroup"


def test_cgroup_v2_quota_in_the_process_cgroup(tmp_path):
    root, proc = _tree(tmp_path, {"cpu.max": "max 100000\n", "user/job/cpu.max": "150000 100000\n"},
                       "0::/user/job\n")
    assert thr.cgroup_cpus(root, proc) == 1.5
    assert thr.available_cpus(affinity=range(8), quota=1.5) == 2     # 1.5 CPUs let two threads run
    assert thr.available_cpus(affinity=range(8), quota=0.5) == 1


def test_cgroup_v2_a_parent_quota_limits_too(tmp_path):
    root, proc = _tree(tmp_path, {"cpu.max": "max 100000", "a/cpu.max": "300000 100000",
                                  "a/b/cpu.max": "max 100000"}, "0::/a/b\n")
    assert thr.cgroup_cpus(root, proc) == 3.0


def test_cgroup_v2_no_limit(tmp_path):
    root, proc = _tree(tmp_path, {"cpu.max": "max 100000"}, "0::/\n")
    assert thr.cgroup_cpus(root, proc) is None


def test_cgroup_v1_quota_over_period(tmp_path):
    # a container: /proc/self/cgroup names a path that its mount does not show, the mount's own files hold the quota
    root, proc = _tree(tmp_path, {"cpu,cpuacct/cpu.cfs_quota_us": "250000", "cpu,cpuacct/cpu.cfs_period_us": "100000"},
                       "12:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n")
    assert thr.cgroup_cpus(root, proc) == 2.5
    root, proc = _tree(tmp_path / "x", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"},
                       "2:cpu:/\n")
    assert thr.cgroup_cpus(root, proc) is None


def test_no_cgroup_files_at_all(tmp_path):
    assert thr.cgroup_cpus(tmp_path / "nothing", tmp_path / "nofile") is None


def test_affinity_caps_and_candidates():
    assert thr.available_cpus(affinity=[3], quota=None) == 1
    assert thr.available_cpus(affinity=range(6), quota=4.0) == 4
    assert thr.candidates(1) == [1] and thr.candidates(3) == [1, 2, 3]
    assert thr.candidates(24) == [1, 2, 4, 8, 16, 24]


# ---- the decision on injected timings ----------------------------------------------------------------

def test_choose_prefers_the_fewest_threads_within_the_margin():
    # 92 vs 87 steps/s idle (the MLP): 1 thread
    assert thr.choose({1: [1 / 92] * 3, 2: [1 / 87] * 3}) == 1
    # two threads 4% faster: still 1 (inside the 5% margin); 10% faster: 2
    assert thr.choose({1: [1.0], 2: [0.96]}) == 1
    assert thr.choose({1: [1.0], 2: [0.9]}) == 2
    assert thr.choose({1: [1.0], 2: [0.6], 3: [0.58]}) == 2     # 2 is within 5% of 3, the fastest
    assert thr.choose({1: [1.0, 5.0, 1.0], 2: [2.0, 2.0, 2.0]}) == 1   # the median, not the mean


class Fake:
    """Drives an AutoThreads with unit times from a table {threads: seconds}."""

    def __init__(self, available=2, free=None, **kw):
        self.calls = []
        self.decisions = []
        self.free = free          # CPUs no one else uses (None: unknown, every candidate is tried)
        self.t = thr.AutoThreads(available, set_threads=self.calls.append, on_decision=self.decisions.append,
                                 free=lambda: self.free, **kw)

    def units(self, speed, n):
        for _ in range(n):
            self.t.record(speed[self.t.current])


def test_measures_each_candidate_then_keeps_the_best():
    f = Fake()
    f.t.begin()
    assert f.t.current == 1
    f.units({1: 0.025, 2: 0.02}, 200)          # 1.25x: both get a second round
    assert f.t.chosen == 2 and f.t.current == 2
    d = f.decisions[0]
    assert d["why"] == "start" and d["threads"] == 2 and d["available"] == 2
    assert d["units_per_s"] == {"1": 40.0, "2": 50.0}
    assert f.calls == [1, 2, 1, 2]              # rounds 1, 2 | 2, 1 (reversed), then the choice
    f.units({1: 0.025, 2: 0.02}, 5000)
    assert len(f.decisions) == 1                # steady speed: no new measurement, however long
    f.units({1: 0.03, 2: 0.025}, 5000)
    assert len(f.decisions) == 1                # 0.8x the measured rate: above the 0.7 that measures again


def test_a_collapsed_candidate_is_not_tried_a_second_time():
    f = Fake()
    f.t.begin()
    f.units({1: 0.01, 2: 1.0}, 300)
    assert f.t.chosen == 1
    # 2 threads ran once for warm-up and once timed, never in round two
    assert f.calls == [1, 2, 1]


def test_measures_again_when_throughput_drops_then_backs_off():
    f = Fake()
    f.t.begin()
    f.units({1: 0.011, 2: 0.01}, 300)            # idle: 2 threads 10% faster (beyond the 5% margin)
    first = f.t.chosen
    assert first == 2
    # a busy process starts: 2 threads collapse (0.01 -> 0.125 s), 1 thread halves
    f.units({1: 0.022, 2: 0.125}, 400)
    assert [d["why"] for d in f.decisions][:2] == ["start", "slower"]
    assert f.decisions[1]["threads"] == 1 and f.t.current == 1
    # the process stops: 1 thread is back to 0.011 s, faster than measured under load -> measure again
    f.units({1: 0.011, 2: 0.01}, 3000)
    assert f.decisions[2]["why"] == "faster" and f.decisions[2]["threads"] == 2


def test_no_new_measurement_before_the_cooldown():
    f = Fake()
    f.t.begin()
    f.units({1: 0.01, 2: 0.05}, 100)
    assert len(f.decisions) == 1
    cost = f.t._probe_cost
    # slower at once: the cooldown (10x the measurement) must pass first
    f.units({1: 0.05, 2: 0.25}, int(9 * cost / 0.05))
    assert len(f.decisions) == 1
    f.units({1: 0.05, 2: 0.25}, 200)
    assert len(f.decisions) == 2 and f.decisions[1]["why"] == "slower"


def test_a_measurement_cut_short_still_decides_on_what_it_has():
    f = Fake()
    f.t.begin()
    f.units({1: 0.01, 2: 0.05}, 35)           # round one of 1 done, 2 barely started
    assert f.decisions == []
    f.t.finish()
    assert f.decisions[0]["threads"] == 1 and f.decisions[0]["why"] == "start, cut short"


def test_counts_above_the_free_cpus_are_not_tried():
    f = Fake(available=4, free=1)            # a busy machine: not one step at 2+ threads
    f.t.begin()
    f.units({1: 0.01, 2: 1.0, 3: 1.0, 4: 1.0}, 400)      # its first blocks set the reference
    assert f.calls == [1] and f.decisions[0]["threads"] == 1
    assert f.decisions[0]["why"] == "start; 1 CPU free of 4" and f.decisions[0]["units_per_s"] == {}
    f2 = Fake(available=4, free=2)
    f2.t.begin()
    f2.units({1: 0.02, 2: 0.01, 3: 0.001, 4: 0.001}, 300)
    assert set(f2.calls) == {1, 2} and f2.t.chosen == 2
    # the load goes away: faster than under load, a new measurement tries every count
    f.free = 4
    f.units({1: 0.001, 2: 0.0004, 3: 0.0006, 4: 0.0006}, 40000)
    assert f.decisions[-1]["why"] == "faster" and f.decisions[-1]["threads"] == 2


def test_a_choice_capped_by_busy_cpus_is_looked_at_again_when_they_free_up():
    # at the start another process is briefly busy: one thread, and 1 thread runs at the same speed
    # whether or not the other process is there, so no "faster" or "slower" would ever measure again
    f = Fake(available=2, free=1, block_seconds=0.5)
    f.t.begin()
    speed = {1: 0.01, 2: 0.006}
    f.units(speed, 2000)                                   # 20 s at 1 thread, the CPU still busy
    assert [d["threads"] for d in f.decisions] == [1] and f.calls == [1]
    looks = f.t._cooldown
    assert looks > thr.COOLDOWN                            # looked, found it busy, backed off
    f.free = 2                                             # the other process is gone
    f.units(speed, 8000)
    assert f.decisions[-1]["why"] == "more CPUs free" and f.decisions[-1]["threads"] == 2 and f.t.current == 2
    assert set(f.calls) == {1, 2}
    # uncapped choices are never looked at again for free CPUs
    g = Fake(available=2, free=2, block_seconds=0.5)
    g.t.begin()
    g.units(speed, 10000)
    assert len(g.decisions) == 1 and g.t._capped is None


def _proc(tmp_path, loadavg, states):
    (tmp_path / "loadavg").write_text(loadavg)
    for i, st in enumerate(states):
        d = tmp_path / "self" / "task" / str(100 + i)
        d.mkdir(parents=True)
        (d / "stat").write_text(f"{100 + i} (python (x) y) {st} 1 2 3 4\n")
    return tmp_path


def test_runnable_others_from_proc(tmp_path):
    # 5 runnable on the machine, 2 of them our own threads (one sleeping): 3 others
    p = _proc(tmp_path, "3.10 2.00 1.00 5/219 29046\n", ["R", "R", "S"])
    assert thr.runnable_others(p, samples=3, pause=0) == 3
    assert thr.free_cpus(3, cpus=2) == 1 and thr.free_cpus(0, cpus=2) == 2 and thr.free_cpus(None) is None
    assert thr.runnable_others(tmp_path / "none", samples=1) is None


def test_one_cpu_means_one_thread_and_no_measurement():
    f = Fake(available=1)
    f.t.begin()
    f.units({1: 0.01}, 500)
    assert f.calls == [1] and f.t.chosen == 1 and len(f.decisions) == 1


def test_new_phase_resets_the_reference():
    f = Fake()
    f.t.begin()
    f.units({1: 0.01, 2: 0.05}, 100)
    f.t.new_phase()
    f.units({1: 0.5, 2: 2.5}, 20)      # a 50x bigger unit in a new phase is not a slowdown
    assert len(f.decisions) == 1 and f.t.reference == 0.5


# ---- precedence: --threads, then train.threads, then auto ----------------------------------------------

def test_omp_num_threads_caps_auto(monkeypatch):
    assert thr.omp_limit({"OMP_NUM_THREADS": "1"}) == 1 and thr.omp_limit({"OMP_NUM_THREADS": "4,2"}) == 4
    assert thr.omp_limit({}) is None and thr.omp_limit({"OMP_NUM_THREADS": "x"}) is None
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert thr.tuner(0, False, "cpu", available=8).candidates == [1]


def test_precedence(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert isinstance(thr.tuner(0, False, "cpu", available=2), thr.AutoThreads)
    t = thr.tuner(0, True, "cpu", available=2)
    assert isinstance(t, thr.FixedThreads) and t.chosen == 1 and t.why.startswith("deterministic")
    t = thr.tuner(3, True, "cpu", available=2)
    assert t.chosen == 3 and t.why == "train.threads"
    with thr.using(threads=2):
        t = thr.tuner(3, False, "cpu", available=4)
        assert t.chosen == 2 and t.why == "--threads"
    assert thr.tuner(3, False, "cpu", available=2).chosen == 3     # the override ended with the block
    with thr.using(cap=1):
        assert thr.tuner(0, False, "cpu", available=8).candidates == [1]
    assert isinstance(thr.tuner(0, False, "cuda:0", available=2), thr.LeaveAlone)


def test_bad_counts_are_refused_with_the_key():
    with pytest.raises(ConfigError, match="--threads: must be an integer >= 0"):
        with thr.using(threads=-1):
            pass
    with pytest.raises(ConfigError, match="train.threads: must be >= 0"):
        from ganscape.config import load_config
        load_config("digits", None, ["train.threads=-2"])


# ---- in the training loop ------------------------------------------------------------------------------

def _cfg(tiny_tree, **train):
    tiny_tree["train"].update(train)
    return from_dict(tiny_tree)


def test_train_threads_is_applied_and_recorded(tiny_tree, tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)   # it would cap "available"
    seen = []
    from ganscape.methods import gan
    orig = gan.GAN.step

    def spy(self, *a, **k):
        seen.append(torch.get_num_threads())
        return orig(self, *a, **k)

    monkeypatch.setattr(gan.GAN, "step", spy)
    before = torch.get_num_threads()
    (tmp_path / "r").mkdir()
    run(_cfg(tiny_tree, threads=2), tmp_path / "r")
    assert set(seen) == {2}
    assert torch.get_num_threads() == before          # the caller's count is given back
    lines = [json.loads(x) for x in (tmp_path / "r" / "threads.jsonl").read_text().splitlines()]
    assert lines == [{"step": 0, "threads": 2, "why": "train.threads", "units_per_s": {},
                      "available": thr.available_cpus()}]


def test_auto_measurement_changes_nothing_in_the_run(tiny_tree, tmp_path, monkeypatch, same_checkpoints):
    """A run whose auto tuner measures and switches several times (timings
    injected: which count is fast flips every 12 steps) equals a run at a
    fixed count, bit for bit, with determinism on: the tuner draws from no
    random stream and touches no state. (torch's count itself is left alone
    here: a different count may change the last float bits, which is why
    deterministic auto is one thread.)"""
    tiny_tree["deterministic"] = True
    switches, units = [], iter(range(10 ** 6))

    class Injected(thr.AutoThreads):
        def record(self, seconds):
            fast = 1 if (next(units) // 12) % 2 == 0 else 2
            return super().record(0.01 if self.current == fast else 0.05)

    monkeypatch.setattr(thr, "COOLDOWN", 0.0)
    use = {"injected": True}
    real = thr.tuner

    def fake(configured, deterministic, device, on_decision):
        if not use["injected"]:
            return real(configured, deterministic, device, on_decision)
        return Injected(2, set_threads=switches.append, on_decision=on_decision, slot_seconds=0.015,
                        block_seconds=0.03, free=lambda: None)

    monkeypatch.setattr(thr, "tuner", fake)
    (tmp_path / "a").mkdir()
    run(_cfg(tiny_tree, steps=40), tmp_path / "a")
    use["injected"] = False
    (tmp_path / "b").mkdir()
    run(_cfg(tiny_tree, steps=40, threads=1), tmp_path / "b")
    lines = [json.loads(x) for x in (tmp_path / "a" / "threads.jsonl").read_text().splitlines()]
    assert len(lines) >= 2 and lines[0]["why"] == "start" and lines[1]["why"] == "slower"
    assert len(set(switches)) == 2 and len(switches) >= 4          # it measured, and more than once
    same_checkpoints(tmp_path / "a", tmp_path / "b")


def test_deterministic_auto_runs_at_one_thread(tiny_tree, tmp_path, same_checkpoints):
    tiny_tree["deterministic"] = True
    (tmp_path / "a").mkdir()
    run(_cfg(tiny_tree), tmp_path / "a")
    (tmp_path / "b").mkdir()
    run(_cfg(tiny_tree, threads=1), tmp_path / "b")
    rec = json.loads((tmp_path / "a" / "threads.jsonl").read_text().splitlines()[0])
    assert rec["threads"] == 1 and rec["why"].startswith("deterministic")
    same_checkpoints(tmp_path / "a", tmp_path / "b")


def test_describe_is_one_line():
    line = thr.describe({"threads": 1, "why": "start", "units_per_s": {"1": 91.04, "2": 0.548}, "available": 2})
    assert line == "threads 1 of 2 CPUs (start; units/s 1: 91.04, 2: 0.548)"


def test_settle_measures_on_throwaway_work_and_lets_inner_work_choose(monkeypatch):
    calls, sets = [], []
    made = []

    def fake(configured=0, deterministic=False, device="cpu", on_decision=None):
        t = thr.AutoThreads(2, set_threads=sets.append, free=lambda: None, slot_seconds=0.0)
        made.append(t)
        return t

    real = thr.tuner
    monkeypatch.setattr(thr, "tuner", fake)
    t = thr.settle(lambda: calls.append(1))
    assert t is made[0] and t.chosen in (1, 2) and t.decisions[0]["why"] == "start"
    assert 3 <= len(calls) <= 200                 # the first (not timed), then both counts twice
    assert thr._held == 0                         # released: AIS inside may measure its own count
    t.close()
    assert sets[-1] == torch.get_num_threads()    # the count from before is given back
    monkeypatch.setattr(thr, "tuner", real)
    with thr.using(threads=1):
        calls.clear()
        t = thr.settle(lambda: calls.append(1))
        assert calls == [] and t.chosen == 1 and t.why == "--threads"
        t.close()


def test_a_failed_probe_holds_nothing_afterwards(monkeypatch):
    """settle() whose throwaway work raises (a NaN generator in `eval`) must give the
    hold and torch's count back; a leaked hold froze every later choice in the process."""
    # two CPUs, both free: the probe runs whatever else the machine is doing
    monkeypatch.setattr(thr, "available_cpus", lambda *a, **k: 2)
    monkeypatch.setattr(thr, "omp_limit", lambda *a, **k: None)
    monkeypatch.setattr(thr, "free_cpus", lambda *a, **k: 2)
    before = (thr._held, torch.get_num_threads())

    def boom():
        raise RuntimeError("probe failed")

    with pytest.raises(RuntimeError, match="probe failed"):
        thr.settle(boom)
    assert (thr._held, torch.get_num_threads()) == before
