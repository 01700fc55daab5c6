"""Which CPUs a process may use, and how many of them are free right now:
the facts the thread count (train/threads.py) is chosen from.

- available_cpus: the affinity mask capped by the cgroup CPU quota (v2
  `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`), rounded up;
- omp_limit: OMP_NUM_THREADS where it is set (someone chose at most that);
- runnable_others / free_cpus: the other threads that want a CPU now
  (/proc/loadavg less our own), so the CPUs no one else is using;
- candidates: the counts worth measuring.
"""
from __future__ import annotations

import math
import os
import statistics
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence


def _read(path: Path) -> Optional[str]:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _quota_v2(text: Optional[str]) -> Optional[float]:
    """CPUs from a cgroup v2 cpu.max line "QUOTA PERIOD" ("max PERIOD": no limit)."""
    if not text:
        return None
    parts = text.split()
    if len(parts) != 2 or parts[0] == "max":
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _quota_v1(quota: Optional[str], period: Optional[str]) -> Optional[float]:
    """CPUs from cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us (quota -1: no limit)."""
    try:
        q, p = int(quota or ""), int(period or "")
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def _chain(root: Path, rel: str) -> List[Path]:
    """root/rel and each folder above it up to root (a quota anywhere on the way limits us)."""
    parts = [p for p in rel.split("/") if p]
    return [root.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]


def cgroup_cpus(cgroup_root: Path = Path("/sys/fs/cgroup"), proc_cgroup: Path = Path("/proc/self/cgroup")
                ) -> Optional[float]:
    """The CPU quota of this process's cgroup in CPUs (e.g. 1.5), or None
    when there is none. Reads /proc/self/cgroup for the cgroup's path (v2:
    the "0::PATH" line; v1: the line whose controllers include cpu), then
    the quota files along that path under the mount (inside a container the
    path is often not visible under the mount: then the mount's own files)."""
    root = Path(cgroup_root)
    found: List[float] = []
    for line in (_read(Path(proc_cgroup)) or "").splitlines():
        hid, _, rest = line.partition(":")
        controllers, _, rel = rest.partition(":")
        if hid == "0" and controllers == "":
            for d in _chain(root, rel):
                q = _quota_v2(_read(d / "cpu.max"))
                if q is not None:
                    found.append(q)
        elif "cpu" in controllers.split(","):
            for mount in (root / controllers, root / "cpu", root / "cpu,cpuacct"):
                for d in _chain(mount, rel):
                    q = _quota_v1(_read(d / "cpu.cfs_quota_us"), _read(d / "cpu.cfs_period_us"))
                    if q is not None:
                        found.append(q)
    return min(found) if found else None


def available_cpus(affinity: Optional[Sequence[int]] = None, quota: Optional[float] = -1.0) -> int:
    """CPUs this process may use: its affinity mask capped by the cgroup
    quota rounded up (a quota of 1.5 CPUs lets 2 threads run, for 3/4 of
    the time). `affinity` and `quota` default to this process's."""
    if affinity is None:
        try:
            affinity = os.sched_getaffinity(0)
        except AttributeError:  # macOS, Windows: no affinity masks
            affinity = range(os.cpu_count() or 1)
    n = max(1, len(affinity))
    if quota == -1.0:
        quota = cgroup_cpus()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota - 1e-9)))
    return n


def runnable_others(proc: Path = Path("/proc"), samples: int = 5, pause: float = 0.02) -> Optional[int]:
    """How many threads of other processes want a CPU right now: the
    runnable count of /proc/loadavg less this process's own runnable
    threads (/proc/self/task/*/stat), the median of a few readings (it
    flickers). None where there is no /proc (macOS, Windows)."""
    vals = []
    for i in range(samples):
        text = _read(Path(proc) / "loadavg")
        try:
            running = int(text.split()[3].split("/")[0])
            own = 0
            for t in (Path(proc) / "self" / "task").iterdir():
                stat = _read(t / "stat") or ""
                own += stat[stat.rfind(")") + 2:][:1] == "R"   # the state follows the command name's ")"
        except (AttributeError, IndexError, ValueError, OSError):
            return None
        vals.append(max(0, running - own))
        if i + 1 < samples:
            time.sleep(pause)
    return int(statistics.median(vals))


def free_cpus(others: Optional[int], cpus: Optional[int] = None) -> Optional[int]:
    """CPUs no other process is using: the machine's CPUs less the other
    runnable threads, at least 1 (None when `others` is unknown)."""
    if others is None:
        return None
    return max(1, (cpus or os.cpu_count() or 1) - others)


def candidates(n: int) -> List[int]:
    """1..n; above 8, powers of two and n (measuring 64 counts would cost more than it gains)."""
    if n <= 8:
        return list(range(1, n + 1))
    out = [1 << i for i in range(n.bit_length()) if (1 << i) < n]
    return out + [n]


def omp_limit(env: Optional[Dict[str, str]] = None) -> Optional[int]:
    """OMP_NUM_THREADS when it is set to a positive integer: someone chose
    at most that many threads for this process (torch honours it too), so
    auto measures no more."""
    text = (os.environ if env is None else env).get("OMP_NUM_THREADS", "").strip()
    try:
        v = int(text.split(",")[0])  # OpenMP allows a list per nesting level; the outer one is ours
    except ValueError:
        return None
    return v if v >= 1 else None
