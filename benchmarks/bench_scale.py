"""Issue 19's benchmarks: memory, streaming throughput, distributed overhead.

    python benchmarks/bench_scale.py --parts memory,big,stream,ddp [--big-gb 20] [--out docs/bench_scale.txt]

(a) memory: resident memory (peak VmRSS, sampled every 0.1 s) of 30 DCGAN-32
    steps on CIFAR-10-shaped data (50000 x 3 x 32 x 32; synthetic, no files
    needed) held as float32 (what every data set was before issue 19) and as
    uint8 (now), each in a fresh process; the data's share is the difference
    from a run on 64 images.
(big) a pack of --big-gb GB (synthetic 3 x 64 x 64, written to --workdir and
    deleted after) trained on with DCGAN-64, streamed (train.data_memory_mb
    4096 < the pack): the resident memory of the training process and of its
    DataLoader workers sampled over the run; goal flat, under 2 GB.
(stream) DCGAN-64 steps per second from a 20000-image pack read into memory
    vs streamed through 1 worker, interleaved in one process (goal >= 0.95x).
(ddp) 2 gloo processes x 1 thread vs 1 process x 2 threads, same global
    batch, under torchrun (a figure, not a goal: CPUs are not where it pays).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _tree_rss(pid: int, field: str = "VmRSS:") -> tuple:
    """(memory of pid, summed memory of its descendants) in bytes, from /proc: VmRSS, or with
    field="Pss:" the proportional set size (shared pages split among the processes sharing them, so
    that forked workers do not count the parent's libraries again)."""
    def rss(p):
        try:
            with open(f"/proc/{p}/status" if field == "VmRSS:" else f"/proc/{p}/smaps_rollup") as f:
                return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field))
        except (OSError, StopIteration):
            return 0

    def children(p):
        try:
            out = []
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    out += [int(c) for c in f.read().split()]
            return out
        except OSError:
            return []
    kids, todo = [], children(pid)
    while todo:
        c = todo.pop()
        kids.append(c)
        todo += children(c)
    return rss(pid), sum(rss(c) for c in kids)


def _train(args: list, env_extra=None, sample_every: float = 0.1, cwd=None, field: str = "VmRSS:") -> dict:
    """Run `python -m ganscape train ARGS` and sample its resident memory; returns peaks and the series."""
    env = {**os.environ, **(env_extra or {})}
    p = subprocess.Popen([sys.executable, "-m", "ganscape", "train", "--no-progress", *args], env=env, cwd=cwd,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    series = []
    t0 = time.monotonic()

    def poll():
        while p.poll() is None:
            main, workers = _tree_rss(p.pid, field)
            series.append((time.monotonic() - t0, main, workers))
            time.sleep(sample_every)
    th = threading.Thread(target=poll, daemon=True)
    th.start()
    out = p.communicate()[0]
    th.join()
    if p.returncode != 0:
        raise RuntimeError(f"train {' '.join(args)} failed:\n{out[-2000:]}")
    return {"peak_main": max(s[1] for s in series), "peak_total": max(s[1] + s[2] for s in series),
            "series": series, "seconds": time.monotonic() - t0}


def _sec_per_step(run: Path, skip: int = 3) -> float:
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    return statistics.median(r["sec_per_step"] for r in rows[skip:])


def _dcgan(size: int, width: int = 32) -> list:
    return ["--set", "model.generator.arch.name=dcgan", "--set", "model.discriminator.arch.name=dcgan",
            "--set", f"model.generator.arch.params.width={width}",
            "--set", f"model.discriminator.arch.params.width={width}",
            "--set", "model.generator.norm.name=batch", "--set", "model.discriminator.norm.name=none",
            "--set", "eval.metrics=[]", "--set", "train.sample_every=0", "--set", "train.checkpoint_every=0",
            "--set", "train.latest_every=100000", "--set", "train.log_every=1", "--threads", "1"]


MEMORY_BENCH_DATA = '''
import sys, numpy as np, torch, ganscape
from ganscape.registry import DATASETS
from ganscape.data.base import ArrayDataset
n, as_float = int(sys.argv[1]), sys.argv[2] == "float"
codes = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8))
@DATASETS.register("bench-cifar-shaped")
def _bench(params, split, seed=0):
    x = codes.float() / 127.5 - 1.0 if as_float else codes
    return ArrayDataset(x=x, kind="image")
del_codes = None
from ganscape.cli import main
sys.exit(main(["train", "--no-progress", *sys.argv[3:]]))
'''


def part_memory(work: Path, log) -> None:
    script = work / "memory_run.py"
    script.write_text(MEMORY_BENCH_DATA)
    res = {}
    for label, n, kind in (("base", 64, "uint8"), ("float32", 50000, "float"), ("uint8", 50000, "uint8")):
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        p = subprocess.Popen([sys.executable, str(script), str(n), kind, "--set", "data.name=bench-cifar-shaped",
                              "--set", "train.steps=30", "--set", "train.batch_size=64",
                              "--run-dir", str(work / f"mem-{label}"), *_dcgan(32)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        peak = 0
        while p.poll() is None:
            peak = max(peak, _tree_rss(p.pid)[0])
            time.sleep(0.05)
        out = p.communicate()[0]
        if p.returncode:
            raise RuntimeError(out[-2000:])
        res[label] = peak
    f32, u8 = res["float32"] - res["base"], res["uint8"] - res["base"]
    log(f"(a) memory, CIFAR-10-shaped data (50000 x 3 x 32 x 32), 30 DCGAN-32 steps, peak resident memory:")
    log(f"    64 images: {res['base'] / 2**20:.0f} MiB; float32 storage: {res['float32'] / 2**20:.0f} MiB; "
        f"uint8 storage: {res['uint8'] / 2**20:.0f} MiB")
    log(f"    the data's share (minus the 64-image run): float32 {f32 / 2**20:.0f} MiB, uint8 {u8 / 2**20:.0f} MiB: "
        f"{f32 / max(u8, 1):.2f}x less (goal >= 3.5x; the arrays alone: 614.4 MB vs 153.6 MB, 4x)")


def _write_pack(path: Path, n: int, size: int, log) -> None:
    from tqdm.auto import tqdm

    from ganscape.data.pack import pack_arrays
    rng = np.random.default_rng(0)
    chunk = 4096
    base = rng.integers(0, 256, (chunk, 3, size, size), dtype=np.uint8)

    def chunks():
        for a in tqdm(range(0, n, chunk), desc=f"writing {path.name}", unit="chunk", leave=False):
            b = min(a + chunk, n)
            yield np.roll(base[:b - a], a // chunk, axis=0)   # cheap, not all identical
    t = time.monotonic()
    pack_arrays(path, chunks(), n, (3, size, size))
    log(f"    wrote {path} ({n} images, {n * 3 * size * size / 1e9:.1f} GB) in {time.monotonic() - t:.0f} s")


def part_big(work: Path, gb: float, steps: int, log) -> None:
    n = int(gb * 1e9 // (3 * 64 * 64))
    pack = work / "big-pack"
    _write_pack(pack, n, 64, log)
    try:
        r = _train(["--set", "data.name=packed", "--set", f"data.params.path={pack}", "--set",
                    "data.params.test_fraction=0.0", "--set", f"train.steps={steps}", "--set", "train.batch_size=64",
                    "--set", "train.data_workers=2", "--run-dir", str(work / "big-run"), *_dcgan(64, 16)],
                   {"OMP_NUM_THREADS": "1"}, sample_every=0.5, field="Pss:")
        s = r["series"]
        q = [s[int(i * (len(s) - 1) / 4)] for i in range(5)]
        log(f"(big) streamed DCGAN-64 on a {gb:g} GB pack, {steps} steps of 64 (train.data_memory_mb 4096): "
            f"proportional resident memory (PSS) over the run (training process + its 2 workers):")
        log("    " + "; ".join(f"{t:.0f} s: {m / 2**20:.0f} + {w / 2**20:.0f} MiB" for t, m, w in q))
        log(f"    peak: training process {r['peak_main'] / 2**20:.0f} MiB, with workers {r['peak_total'] / 2**20:.0f} "
            f"MiB (goal: flat, under 2 GB); {r['seconds']:.0f} s")
    finally:
        shutil.rmtree(pack, ignore_errors=True)


def part_stream(work: Path, steps: int, repeats: int, log) -> None:
    pack = work / "pack20k"
    if not pack.exists():
        _write_pack(pack, 20000, 64, log)
    import ganscape
    res = {"memory": [], "streamed": []}
    common = ["data.name=packed", f"data.params.path={pack}", "data.params.test_fraction=0.0", f"train.steps={steps}",
              "train.batch_size=64", "model.generator.arch.name=dcgan", "model.discriminator.arch.name=dcgan",
              "model.generator.arch.params.width=16", "model.discriminator.arch.params.width=16",
              "model.discriminator.norm.name=none", "eval.metrics=[]", "train.sample_every=0",
              "train.checkpoint_every=0", "train.latest_every=100000", "train.log_every=1", "train.progress=false",
              "train.threads=1"]
    for rep in range(repeats):
        for mode, extra in (("memory", []), ("streamed", ["train.data_memory_mb=0", "train.data_workers=1"])):
            run = ganscape.train(None, overrides=common + extra, run_dir=work / f"stream-{mode}-{rep}")
            res[mode].append(_sec_per_step(run))
    m, s = statistics.median(res["memory"]), statistics.median(res["streamed"])
    log(f"(stream) DCGAN-64 (width 16, 1 training thread), 20000-image pack, median of {repeats} interleaved runs "
        f"of {steps} steps: in memory {1 / m:.2f} steps/s, streamed through 1 worker {1 / s:.2f} steps/s: "
        f"{m / s:.3f}x (goal >= 0.95x)")


def part_ddp(work: Path, steps: int, log) -> None:
    cfg = ["--set", "data.name=shapes", "--set", "data.params.size=32", "--set", f"train.steps={steps}",
           "--set", "train.batch_size=64", *_dcgan(32)[:-2]]
    one = work / "ddp-1"
    subprocess.run([sys.executable, "-m", "ganscape", "train", "--no-progress", "--threads", "2", "--run-dir",
                    str(one), *cfg], check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "2"})
    two = work / "ddp-2"
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29555",
                    "-m", "ganscape", "train", "--no-progress", "--threads", "1", "--run-dir", str(two), *cfg],
                   check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    a, b = _sec_per_step(one), _sec_per_step(two)
    log(f"(ddp) DCGAN-32 on shapes, global batch 64, {steps} steps: 1 process x 2 threads {1 / a:.2f} steps/s, "
        f"2 gloo processes x 1 thread {1 / b:.2f} steps/s: {a / b:.2f}x")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="memory,stream,ddp,big")
    ap.add_argument("--big-gb", type=float, default=20.0)
    ap.add_argument("--big-steps", type=int, default=400)
    ap.add_argument("--stream-steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ddp-steps", type=int, default=30)
    ap.add_argument("--workdir", default=None, help="where packs and runs go (default: a temporary folder)")
    ap.add_argument("--out", default=None, help="also append the figures to this file")
    a = ap.parse_args(argv)
    work = Path(a.workdir or tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)

    def log(line: str) -> None:
        print(line, flush=True)
        if a.out:
            with open(a.out, "a") as f:
                f.write(line + "\n")
    log(f"# bench_scale {time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    parts = a.parts.split(",")
    try:
        if "memory" in parts:
            part_memory(work, log)
        if "stream" in parts:
            part_stream(work, a.stream_steps, a.repeats, log)
        if "ddp" in parts:
            part_ddp(work, a.ddp_steps, log)
        if "big" in parts:
            part_big(work, a.big_gb, a.big_steps, log)
    finally:
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
