"""How much memory and disk there is, so that a request that cannot fit
(`sample -n 100000000000`, `eval --n ...`) is refused in one line before it
grows until the machine dies."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"


def _cgroup_room() -> Optional[int]:
    """What the cgroup (v2) memory limit leaves, if one is set."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
    except (OSError, ValueError):
        return None
    return None if limit == "max" else max(int(limit) - used, 0)


def available_memory() -> Optional[int]:
    """Bytes of memory a new allocation can still get without swapping
    (MemAvailable, or what a cgroup limit leaves if that is less); None
    where the platform does not say."""
    avail = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            avail = None
    room = _cgroup_room()
    if room is not None:
        avail = room if avail is None else min(avail, room)
    return avail


def check_memory(need: int, what: str, fix: str) -> None:
    """ValueError (one line) when `need` bytes are more than the memory available."""
    avail = available_memory()
    if avail is not None and need > avail:
        raise ValueError(f"{what} would take {format_bytes(need)} of memory, more than the "
                         f"{format_bytes(avail)} available; {fix}")


def check_disk(folder: Path, need: int, what: str, fix: str) -> None:
    """ValueError (one line) when `need` bytes are more than the free space
    of the file system that holds `folder` (or its nearest existing parent)."""
    p = Path(folder).resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        free = shutil.disk_usage(p).free
    except OSError:
        return
    if need > free:
        raise ValueError(f"{what} would take at least {format_bytes(need)} of disk, more than the "
                         f"{format_bytes(free)} free on {p}; {fix}")


def block_size(folder: Path) -> int:
    """The smallest space a file takes on the file system of `folder`."""
    p = Path(folder).resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return max(os.statvfs(p).f_frsize, 1)
    except (OSError, AttributeError):
        return 512
