"""The device check of issue 19 (part 6), on whatever device it finds (CPU here, a
GPU when one is lent): training-step throughput of DCGAN-32, ResNet-32 and
ResNet19-128 in fp32, bf16 (autocast) and bf16 + channels_last, as ratios to
fp32, all modes of one architecture interleaved in one process (median of
--repeats), and the peak device memory of each mode on CUDA.

    python benchmarks/bench_device.py [--steps 20] [--repeats 3] [--archs dcgan-32,resnet-32,resnet19-128]
                                      [--batch 64] [--device auto]

Each measurement trains a fresh run of `--steps` steps on the synthetic
`shapes` data at the architecture's size (no files needed) and times the
steps after the first few (warm-up: allocator, kernels, autotuning) from the
run's own sec_per_step. Not built yet, so not measured here: train.compile,
torchrun's 1- vs 2-process equivalence and FID-50k extraction (issue 19).
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

import ganscape

ARCHS = {  # name: (data size, architecture, its params)
    "dcgan-32": (32, "dcgan", {}),
    "resnet-32": (32, "resnet", {}),
    "resnet19-128": (128, "resnet19", {}),
}
MODES = {"fp32": [], "bf16": ["train.precision=bf16"],
         "bf16+channels_last": ["train.precision=bf16", "train.channels_last=true"]}


def _run(arch: str, mode: str, a, device: str) -> dict:
    size, name, params = ARCHS[arch]
    over = ["data.name=shapes", f"data.params.size={size}", f"device={device}",
            f"model.generator.arch={{name: {name}, params: {json.dumps(params)}}}",
            f"model.discriminator.arch={{name: {name}, params: {json.dumps(params)}}}",
            f"train.steps={a.steps}", f"train.batch_size={a.batch}", "train.log_every=1", "train.sample_every=0",
            "train.checkpoint_every=0", f"train.latest_every={a.steps}", "train.progress=false", "eval.metrics=[]",
            *MODES[mode]]
    if device == "cpu":
        over.append("train.threads=0")
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as tmp:
        run = ganscape.train("digits", overrides=over, run_dir=Path(tmp) / "run")
        rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines() if line.strip()]
    warm = min(3, len(rows) - 1)
    sec = statistics.median(r["sec_per_step"] for r in rows[warm:])
    peak = torch.cuda.max_memory_allocated() / 2 ** 20 if device.startswith("cuda") else None
    return {"steps_per_s": 1.0 / sec, "peak_mib": peak}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--archs", default=",".join(ARCHS))
    ap.add_argument("--device", default="auto", help="auto (cuda when available), cpu or cuda")
    a = ap.parse_args(argv)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"# device: {name}; torch {torch.__version__}; batch {a.batch}; {a.steps} steps per run, "
          f"median of {a.repeats}")
    print("| architecture | mode | steps/s | ratio to fp32 | peak MiB |")
    print("|---|---|---|---|---|")
    t0 = time.time()
    for arch in a.archs.split(","):
        got = {m: [] for m in MODES}
        peaks = {m: None for m in MODES}
        for _ in range(a.repeats):   # interleaved: a slow moment of the machine hits every mode alike
            for mode in MODES:
                r = _run(arch, mode, a, device)
                got[mode].append(r["steps_per_s"])
                peaks[mode] = r["peak_mib"] if peaks[mode] is None else max(peaks[mode], r["peak_mib"])
        base = statistics.median(got["fp32"])
        for mode in MODES:
            s = statistics.median(got[mode])
            peak = f"{peaks[mode]:.0f}" if peaks[mode] is not None else "n/a"
            print(f"| {arch} | {mode} | {s:.2f} | {s / base:.2f} | {peak} |", flush=True)
    print(f"\n{time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
