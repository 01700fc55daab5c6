"""How many torch threads a run uses: `train.threads`, `--threads`, or a
measured choice.

Why this exists: torch starts with one thread per core. For the small nets
of the digits presets that gains nothing on an idle 2-core machine, and the
moment one other process is busy, OpenMP's threads wait at every barrier
for a sibling that is not scheduled: 2 threads fell to 8 steps/s against 92
at 1 thread (MLP), 3.9 against 8.2 (DCGAN-32). So the count is chosen per
run, by measurement:

- the candidates are 1 .. the CPUs this process may use (its affinity mask,
  capped by the cgroup CPU quota, v2 `cpu.max` or v1 `cpu.cfs_quota_us` /
  `cpu.cfs_period_us`) and by OMP_NUM_THREADS where it is set; above 8 CPUs
  only powers of two and the maximum;
- `AutoThreads` times the units of work it is given (training steps, AIS
  transitions) with each candidate in turn, two rounds (the second in
  reverse order, so that a drift of the machine's load favours no one), for
  0.3 s or one unit each (the very first unit, which pays for first-use
  allocations, not counted); a candidate more than 1.5x slower than the
  best after the first round is not tried again (a collapsed count costs one
  unit); the fewest threads whose median unit time is within 5% of the best
  wins (fewer threads leave CPUs to others and cannot collapse as far);
- counts above the CPUs no other process is using right now are not tried
  (the machine's CPUs less the other runnable threads of /proc/loadavg, a
  median of 5 readings): beside a busy process one step at 2 threads cost
  as much as 50 at 1 thread on a loaded 2-core machine. /proc/loadavg counts
  the whole machine, so in a container on a busy host this errs towards
  fewer threads, never towards a collapse;
- it then watches blocks of units (at least 3 units and 2 s): a block whose
  median is 1/0.7 times slower than the chosen count's measured time (a
  process started beside it), or 1.4 times faster (one stopped), measures
  again, no sooner than 10 times the last measurement's duration after it
  (20, 40, ... up to 160 times while measurements keep confirming the count:
  on a machine whose load flickers, measuring costs at most a few per cent);
- a choice capped by busy CPUs is looked at again: when the cooldown has
  passed and more CPUs are free than at the choice, it measures again
  ("more CPUs free"); when not, the next look backs off like a confirming
  measurement. Without this a process that started while another was
  briefly busy kept one thread for good on an idle machine (dcgan-digits32
  at 0.69 of two threads' speed, measured by benchmarks/bench_threads.py).

The measurement runs on the real units: nothing is repeated or thrown away,
and the thread count draws nothing from any random stream. It does change
float results in the last bits (torch splits reductions and matrix products
by thread; measured on all three benchmark presets), so with
`deterministic: true` "auto" means one thread, fixed: a count chosen by
timing would make two runs of the same config differ with the machine's
load. `train.threads: N` or `--threads N` fixes the count (precedence:
--threads, then train.threads, then auto). On a GPU "auto" leaves torch's
count alone (the step does not run on these threads).

Each choice is one JSON line in RUN/threads.jsonl: the step, the count, why
(start, slower, faster, "--threads", "train.threads", deterministic, ...)
and the measured units/s of every candidate. The facts about the CPUs come
from train/cpus.py.
"""
from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import torch

# the facts the choice is made from; re-exported here, the one module callers need
from .cpus import (available_cpus, candidates, cgroup_cpus, free_cpus, omp_limit,  # noqa: F401
                   runnable_others)

MARGIN = 0.05        # more threads must beat the fewest by more than this to be chosen
DROP = 0.7           # a block at < DROP x the chosen rate measures again
RISE = 1.4           # ... and so does one at > RISE x (a competitor went away)
SLOT_SECONDS = 0.3   # time each candidate gets in each round
BLOCK_SECONDS = 2.0  # a watched block spans at least this long (and 3 units)
COOLDOWN = 10.0      # no new measurement before COOLDOWN x the last one's duration has passed
GIVE_UP = 1.5        # after the first round, candidates this much slower than the best are dropped

# ---- the decision -------------------------------------------------------------------------------


def choose(times: Dict[int, Sequence[float]], margin: float = MARGIN) -> int:
    """The fewest threads whose median unit time is within `margin` of the
    fastest candidate's. times: {threads: unit seconds measured}."""
    med = {k: statistics.median(v) for k, v in times.items() if v}
    if not med:
        raise ValueError("choose: no candidate has a timed unit")
    best = min(med.values())
    return min(k for k, m in med.items() if m <= best * (1 + margin))


class _Holds:
    """begin() notes torch's count and holds it for this work (a long
    operation inside, such as AIS during a training run's evaluation, then
    leaves it alone); close() gives the count back and the hold up."""
    _before: Optional[int] = None
    _holding = False

    def _hold(self) -> None:
        global _held
        _held += 1
        self._holding = True
        self._before = torch.get_num_threads()

    def release(self) -> None:
        """Keep the count but let work inside choose its own (settle's choice is a start, not a rule)."""
        global _held
        if self._holding:
            _held -= 1
            self._holding = False

    def close(self) -> None:
        self.release()
        if self._before is not None:
            self._set(self._before)
            self._before = None


class AutoThreads(_Holds):
    """Chooses the thread count by timing the units of work it is told
    about (see the module docstring). Call `begin()` before the first unit,
    then `record(seconds)` after each unit: it sets the count for the next
    one. `clock` is only used for the cooldown between measurements.

    on_decision(record) receives each choice: {"threads", "why",
    "units_per_s": {count: rate}, "available"}."""

    def __init__(self, available: int, set_threads: Callable[[int], None] = torch.set_num_threads,
                 on_decision: Optional[Callable[[Dict[str, Any]], None]] = None, slot_seconds: float = SLOT_SECONDS,
                 block_seconds: float = BLOCK_SECONDS, rounds: int = 2,
                 free: Optional[Callable[[], Optional[int]]] = None):
        self.available = available
        self.candidates = candidates(available)
        self._set = set_threads
        self.on_decision = on_decision
        self._free = free if free is not None else (lambda: free_cpus(runnable_others()))
        self.slot_seconds, self.block_seconds, self.rounds = slot_seconds, block_seconds, rounds
        self.current: Optional[int] = None
        self.chosen: Optional[int] = None
        self.reference: Optional[float] = None   # the chosen count's median unit time
        self.decisions: List[Dict[str, Any]] = []
        self._since_probe = 0.0                   # unit seconds since the last measurement ended
        self._probe_cost = 0.0                    # how long the last measurement took
        self._cooldown = COOLDOWN
        self._block: List[float] = []
        self._probe: Optional[Dict[str, Any]] = None
        self._capped: Optional[int] = None        # free CPUs when the candidates were last cut by them

    # -- applying a count
    def _apply(self, k: int) -> bool:
        changed = k != self.current
        if changed:
            self._set(k)
            self.current = k
        return changed

    def begin(self) -> None:
        """Start measuring (before the first unit)."""
        self._hold()
        self._start_probe("start")

    def _start_probe(self, why: str) -> None:
        # counts above the CPUs that no one else is using are not tried: on a busy machine a
        # second thread collapses (one such step can cost as much as 50 good ones)
        free = self._free() if len(self.candidates) > 1 else None
        cands = [c for c in self.candidates if free is None or c <= free]
        self._capped = free if len(cands) < len(self.candidates) else None
        if len(cands) == 1:
            note = f"{why}; {free} CPU free of {self.available}" if free is not None else why
            self._decide({cands[0]: []}, note, cands[0])
            self._probe_cost = max(self._probe_cost, self.block_seconds)  # so that re-checks back off too
            return
        order: List[int] = []
        for r in range(self.rounds):
            order += cands if r % 2 == 0 else cands[::-1]
        self._probe = {"why": why, "order": order, "slot": 0, "times": {k: [] for k in self.candidates},
                       "spent": 0.0, "slot_spent": 0.0, "warm": why == "start"}
        self._apply(order[0])

    def record(self, seconds: float) -> int:
        """A unit took `seconds`; returns (and sets) the count for the next one."""
        if self._probe is not None:
            self._probe_step(seconds)
        elif self.chosen is not None:
            self._watch(seconds)
        return self.current if self.current is not None else 0

    def _probe_step(self, seconds: float) -> None:
        p = self._probe
        p["spent"] += seconds
        k = p["order"][p["slot"]]
        if p["warm"]:  # the first unit of all pays for first-use allocations
            p["warm"] = False
            return
        p["times"][k].append(seconds)
        p["slot_spent"] += seconds
        if p["slot_spent"] < self.slot_seconds:
            return
        # next slot, skipping candidates already clearly beaten after the first round
        p["slot_spent"] = 0.0
        p["slot"] += 1
        n = len(set(p["order"]))
        while p["slot"] < len(p["order"]):
            nxt = p["order"][p["slot"]]
            if p["slot"] >= n:
                done = {c: statistics.median(v) for c, v in p["times"].items() if v}
                if done and nxt in done and done[nxt] > GIVE_UP * min(done.values()):
                    p["slot"] += 1
                    continue
            break
        if p["slot"] < len(p["order"]):
            self._apply(p["order"][p["slot"]])
            return
        self._probe = None
        self._probe_cost = p["spent"]
        self._decide(p["times"], p["why"], choose(p["times"]))

    def _decide(self, times: Dict[int, Sequence[float]], why: str, k: int) -> None:
        # back off while measurements confirm the count; start over when it changes
        self._cooldown = min(self._cooldown * 2, 16 * COOLDOWN) if k == self.chosen else COOLDOWN
        self._apply(k)
        self.chosen = k
        self.reference = statistics.median(times[k]) if times.get(k) else None
        self._since_probe, self._block = 0.0, []
        rates = {str(c): round(len(v) / sum(v), 3) for c, v in sorted(times.items()) if v and sum(v) > 0}
        rec = {"threads": k, "why": why, "units_per_s": rates, "available": self.available}
        self.decisions.append(rec)
        if self.on_decision is not None:
            self.on_decision(rec)

    def _watch(self, seconds: float) -> None:
        self._since_probe += seconds
        self._block.append(seconds)
        if len(self._block) < 3 or sum(self._block) < self.block_seconds:
            return
        med = statistics.median(self._block)
        self._block = []
        if self.reference is None:  # a choice with nothing measured (one candidate): adopt the first block
            self.reference = med
            return
        if len(self.candidates) == 1 or self._since_probe < self._cooldown * self._probe_cost:
            return
        if med > self.reference / DROP:
            self._start_probe("slower")
        elif med < self.reference / RISE:
            self._start_probe("faster")
        elif self._capped is not None:
            free = self._free()
            if free is not None and free > self._capped:
                self._start_probe("more CPUs free")
            else:  # still busy: look again later, less often each time
                self._since_probe = 0.0
                self._cooldown = min(self._cooldown * 2, 16 * COOLDOWN)

    def finish(self) -> None:
        """The work ended during a measurement: decide on what was measured (for the record)."""
        p, self._probe = self._probe, None
        if p is not None and any(p["times"].values()):
            self._decide({k: v for k, v in p["times"].items() if v}, p["why"] + ", cut short",
                         choose(p["times"]))

    def new_phase(self) -> None:
        """The units change size (another batch size, another kind of work):
        forget the reference (the next block sets it again); a measurement
        under way starts over (candidates are compared on units of one size)."""
        self._block = []
        if self._probe is not None:
            self._start_probe(self._probe["why"])
        else:
            self.reference = None


class FixedThreads(_Holds):
    """A count that does not change: --threads, train.threads, or deterministic auto."""

    def __init__(self, k: int, why: str, available: int,
                 on_decision: Optional[Callable[[Dict[str, Any]], None]] = None,
                 set_threads: Callable[[int], None] = torch.set_num_threads):
        self.chosen = self.current = k
        self.why, self.available = why, available
        self._set, self.on_decision = set_threads, on_decision
        self.decisions: List[Dict[str, Any]] = []

    def begin(self) -> None:
        self._hold()
        self._set(self.chosen)
        rec = {"threads": self.chosen, "why": self.why, "units_per_s": {}, "available": self.available}
        self.decisions.append(rec)
        if self.on_decision is not None:
            self.on_decision(rec)

    def record(self, seconds: float) -> int:
        return self.chosen

    def finish(self) -> None:
        pass

    def new_phase(self) -> None:
        pass


class LeaveAlone(FixedThreads):
    """Auto on a GPU, or work inside work that holds the count: torch's count stays as it is."""

    def __init__(self, available: int, on_decision=None, why: str = "gpu (left as torch set it)"):
        super().__init__(torch.get_num_threads(), why, available, on_decision, set_threads=lambda k: None)


# ---- who decides: --threads, then train.threads, then auto ----------------------------------------

_override: Optional[int] = None   # --threads (or an API caller's threads=): beats the config
_cap: Optional[int] = None        # a share of the CPUs (a study worker among several)
_held = 0                         # work in progress that holds the count (a training run)


def check_count(n: Any, where: str) -> int:
    """n must be an int >= 0 (0: auto)."""
    from ..registry import ConfigError
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ConfigError(f"{where}: must be an integer >= 0 (0: choose by measuring), got {n!r}")
    return n


@contextmanager
def using(threads: Optional[int] = None, cap: Optional[int] = None) -> Iterator[None]:
    """Within the block, `threads` (>= 1; None or 0: no override) beats
    train.threads, and auto chooses among at most `cap` CPUs."""
    global _override, _cap
    old = (_override, _cap)
    if threads:
        _override = check_count(threads, "--threads")
    if cap:
        _cap = max(1, int(cap))
    try:
        yield
    finally:
        _override, _cap = old


def set_process(threads: Optional[int] = None, cap: Optional[int] = None) -> None:
    """For the rest of this process (a study worker): as `using`."""
    global _override, _cap
    if threads:
        _override = check_count(threads, "--threads")
    if cap:
        _cap = max(1, int(cap))


def tuner(configured: int = 0, deterministic: bool = False, device: str = "cpu",
          on_decision: Optional[Callable[[Dict[str, Any]], None]] = None, available: Optional[int] = None):
    """The controller for one run or one long operation, by precedence:
    --threads (using / set_process), then `configured` (train.threads), then
    auto: one thread under `deterministic`, torch's own count on a GPU, else
    AutoThreads; inside work that already holds the count (AIS in a training
    run's evaluation), the count is left alone. Call .begin() on it,
    .record(seconds) per unit, .finish() when the work ends normally and
    .close() always (it gives torch's previous count back)."""
    n = available if available is not None else available_cpus()
    if _cap:
        n = min(n, _cap)
    n = min(n, omp_limit() or n)
    if _held:
        return LeaveAlone(n, on_decision, "held by the work around it")
    if _override:
        return FixedThreads(_override, "--threads", n, on_decision)
    if configured:
        return FixedThreads(configured, "train.threads", n, on_decision)
    if str(device).startswith("cuda"):
        return LeaveAlone(n, on_decision)
    if deterministic:
        return FixedThreads(1, "deterministic (auto means 1: a measured count would make runs differ)", n,
                            on_decision)
    return AutoThreads(n, on_decision=on_decision)


def settle(work: Callable[[], Any], device: str = "cpu", max_units: int = 200):
    """For work that is not a loop of like units (sampling, feature
    extraction in `eval` and `compare`): measure the count on a throwaway
    `work()` (e.g. one forward pass of a batch under no_grad; it must change
    nothing), as the training loop does on its steps, and keep it. Work
    inside (AIS) may still measure its own. Returns the tuner: close() it at
    the end (torch's count is given back)."""
    t = tuner(device=device)
    t.begin()
    try:
        for _ in range(max_units):
            if getattr(t, "_probe", None) is None:
                break
            t0 = time.perf_counter()
            work()
            t.record(time.perf_counter() - t0)
    except BaseException:
        t.close()  # a failed probe (a NaN generator) must not leave the process's count held for good
        raise
    t.finish()
    t.release()
    return t


def describe(rec: Dict[str, Any]) -> str:
    """One line for a person: "threads 1 of 2 CPUs (start; units/s 1: 91.0, 2: 85.2)"."""
    rates = ", ".join(f"{k}: {v:.4g}" for k, v in rec.get("units_per_s", {}).items())
    return (f"threads {rec['threads']} of {rec['available']} CPUs ({rec['why']}"
            + (f"; units/s {rates}" if rates else "") + ")")


class Timer:
    """Feeds a tuner from a callback called once per unit (AIS transitions):
    each call records the time since the previous call."""

    def __init__(self, t, clock: Callable[[], float] = time.perf_counter):
        self.tuner, self.clock = t, clock
        self.last: Optional[float] = None

    def phase(self) -> None:
        self.tuner.new_phase()
        self.last = self.clock()

    def __call__(self, *_: Any) -> None:
        now = self.clock()
        if self.last is not None:
            self.tuner.record(now - self.last)
        self.last = self.clock()
