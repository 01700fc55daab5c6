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
run's own sec_per_step. Modes with compile include the compilation in their
first steps (the warm-up), not in the figure.

Then (unless --skip-extras): the time to extract FID features (InceptionV3,
2048-d pool3, batch 200) of --fid-n images on the device (the network's
compute does not depend on its weights, so random weights stand in when the
published ones are not cached: no network is needed), and torchrun's
1-process vs 2-process equivalence (gloo on the CPU, since two processes
cannot share one GPU under nccl): the largest weight difference after 4
steps of a WGAN-GP with global batch 64, and whether it is within 1e-5.
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
         "bf16+channels_last": ["train.precision=bf16", "train.channels_last=true"],
         "bf16+compile": ["train.precision=bf16", "train.compile=true"],
         "bf16+compile+channels_last": ["train.precision=bf16", "train.compile=true", "train.channels_last=true"]}


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


def fid_extraction(n: int, device: str) -> str:
    from ganscape.metrics.features.base import extract
    from ganscape.metrics.features.inception import InceptionParams, InceptionV3FID, build_inception_v3_fid
    try:
        ext, which = build_inception_v3_fid(InceptionParams()), "published weights"
    except Exception:  # noqa: BLE001 (not cached, no network: time the same network with random weights)
        ext, which = InceptionV3FID(None), "random weights"
    ext = ext.to(device).eval()
    g = torch.Generator().manual_seed(0)
    imgs = torch.rand(min(n, 1000), 3, 64, 64, generator=g) * 2 - 1

    class Repeat:  # n images without holding n: the same 1000 decoded again, as a stream would
        def __len__(self):
            return n

        def batches(self, b):
            for i in range(0, n, b):
                yield imgs[:min(b, n - i)]
    t = time.time()
    with torch.no_grad():
        f = extract(ext, Repeat(), batch_size=200, device=device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    sec = time.time() - t
    return (f"FID feature extraction ({which}, 64 px images resized to 299): {n} images in {sec:.1f} s "
            f"({n / sec:.0f} images/s; 50000 would take {50000 / (n / sec):.0f} s); features {f.features.shape}")


def torchrun_equivalence() -> str:
    import os
    import subprocess
    import sys

    import yaml
    tree = {"name": "eq", "data": {"name": "digits"}, "loss": "wasserstein",
            "penalties": [{"name": "gp", "params": {"weight": 10.0}}],
            "model": {"z_dim": 8, "generator": {"arch": {"name": "mlp", "params": {"width": 32, "depth": 2}},
                                                "norm": {"name": "none"}},
                      "discriminator": {"arch": {"name": "mlp", "params": {"width": 32, "depth": 2}}}},
            "optim": {"generator": {"name": "adam", "params": {"eps": 1e-6}},
                      "discriminator": {"name": "adam", "params": {"eps": 1e-6}}},
            "train": {"steps": 4, "batch_size": 64, "n_disc": 2, "log_every": 1, "sample_every": 0,
                      "checkpoint_every": 0, "latest_every": 4, "threads": 1, "progress": False},
            "device": "cpu", "eval": {"metrics": []}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "eq.yaml").write_text(yaml.safe_dump(tree))
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        subprocess.run([sys.executable, "-m", "ganscape", "train", "--no-progress", "--config", "eq.yaml",
                        "--run-dir", "one"], cwd=tmp, env=env, check=True, capture_output=True)
        subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                        "29561", "-m", "ganscape", "train", "--no-progress", "--config", "eq.yaml", "--run-dir",
                        "two"], cwd=tmp, env=env, check=True, capture_output=True)
        a, b = (torch.load(tmp / r / "checkpoints" / "latest.pt", weights_only=True)["nets"] for r in ("one", "two"))
        worst = max(float((a[n][k].double() - b[n][k].double()).abs().max()) for n in a for k in a[n]
                    if a[n][k].is_floating_point())
    return (f"torchrun equivalence (gloo, CPU): 2 processes x 32 vs 1 process x 64, WGAN-GP, 4 steps: largest "
            f"weight difference {worst:.2e} ({'within' if worst < 1e-5 else 'NOT within'} 1e-5)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--archs", default=",".join(ARCHS))
    ap.add_argument("--device", default="auto", help="auto (cuda when available), cpu or cuda")
    ap.add_argument("--modes", default=",".join(MODES), help=f"of {', '.join(MODES)}")
    ap.add_argument("--fid-n", type=int, default=None, help="images for the FID extraction time (default: "
                    "50000 on a GPU, 400 on a CPU)")
    ap.add_argument("--skip-extras", action="store_true", help="only the throughput table")
    a = ap.parse_args(argv)
    modes = ["fp32"] + [m for m in a.modes.split(",") if m in MODES and m != "fp32"]
    device = ("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads"
    print(f"# device: {name}; torch {torch.__version__}; batch {a.batch}; {a.steps} steps per run, "
          f"median of {a.repeats}")
    print("| architecture | mode | steps/s | ratio to fp32 | peak MiB |")
    print("|---|---|---|---|---|")
    t0 = time.time()
    for arch in a.archs.split(","):
        got = {m: [] for m in modes}
        peaks = {m: None for m in modes}
        for _ in range(a.repeats):   # interleaved: a slow moment of the machine hits every mode alike
            for mode in modes:
                r = _run(arch, mode, a, device)
                got[mode].append(r["steps_per_s"])
                peaks[mode] = r["peak_mib"] if peaks[mode] is None else max(peaks[mode], r["peak_mib"])
        base = statistics.median(got["fp32"])
        for mode in modes:
            s = statistics.median(got[mode])
            peak = f"{peaks[mode]:.0f}" if peaks[mode] is not None else "n/a"
            print(f"| {arch} | {mode} | {s:.2f} | {s / base:.2f} | {peak} |", flush=True)
    if not a.skip_extras:
        print()
        print(fid_extraction(a.fid_n or (50000 if device.startswith("cuda") else 400), device), flush=True)
        print(torchrun_equivalence(), flush=True)
    print(f"\n{time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
