"""Training-step throughput: ganscape's loop on the digits preset against a
plain PyTorch loop with the same networks, batch, loss and optimizer, side by
side in one process.

    python benchmarks/bench_throughput.py [--steps 1000] [--repeats 3] [--preset digits]

Both sides do the same work per step: one D update on a real batch and a fresh
fake batch, one G update on another fresh fake batch, the EMA update, and
(ganscape only) its bookkeeping: stats every log_every steps, NaN checks,
latest checkpoint every latest_every steps. Printed: steps/s of each and the
ratio (goal: ganscape at least as fast, ratio >= 1).
"""
from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import ganscape
from ganscape.train import rundir
from ganscape.train.state import build_state, load_data


def plain_loop(cfg, steps: int) -> float:
    """The reference: the loop anyone would write by hand."""
    torch.manual_seed(cfg.seed)
    data = load_data(cfg)
    x = data.floats()
    state, _ = build_state(cfg, data.shape, torch.device("cpu"))
    G, D = state.nets["G"], state.nets["D"]
    G_ema = copy.deepcopy(G).eval()
    og = torch.optim.Adam(G.parameters(), lr=cfg.optim.generator.params["lr"],
                          betas=tuple(cfg.optim.generator.params["betas"]))
    od = torch.optim.Adam(D.parameters(), lr=cfg.optim.discriminator.params["lr"],
                          betas=tuple(cfg.optim.discriminator.params["betas"]))
    b = cfg.train.batch_size
    t0 = time.perf_counter()
    perm, pos = torch.randperm(len(x)), 0
    for _ in range(steps):
        if pos + b > len(x):
            perm, pos = torch.randperm(len(x)), 0
        real = x[perm[pos:pos + b]]
        pos += b
        fake = G(torch.randn(b, cfg.model.z_dim))
        d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
        od.zero_grad()
        d_loss.backward()
        od.step()
        fake = G(torch.randn(b, cfg.model.z_dim))
        g_loss = F.softplus(-D(fake)).mean()
        og.zero_grad()
        g_loss.backward()
        og.step()
        with torch.no_grad():
            for pe, p in zip(G_ema.parameters(), G.parameters()):
                pe.mul_(cfg.train.ema_decay).add_(p, alpha=1 - cfg.train.ema_decay)
            for be, b_ in zip(G_ema.buffers(), G.buffers()):
                be.copy_(b_)
        if not torch.isfinite(d_loss):
            break
    return steps / (time.perf_counter() - t0)


def ganscape_loop(cfg, steps: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        ganscape.train(cfg, run_dir=Path(tmp) / "run", progress=False)
        stats = rundir.read_jsonl(Path(tmp) / "run" / "stats.jsonl")
    # sec_per_step is measured between log steps: training only, no set-up
    sec = statistics.mean(r["sec_per_step"] for r in stats[1:])
    return 1.0 / sec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="digits")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = ganscape.make_config(a.preset, overrides=[f"train.steps={a.steps}", "train.sample_every=0",
                                                     "train.checkpoint_every=0", "train.progress=false"])
    print(f"preset {a.preset}: {cfg.model.generator.arch.name}/{cfg.model.discriminator.arch.name}, "
          f"batch {cfg.train.batch_size}, {a.steps} steps x {a.repeats} repeats, torch threads {torch.get_num_threads()}")
    plain, ours = [], []
    for r in range(a.repeats):  # interleaved, so machine noise hits both alike
        plain.append(plain_loop(cfg, a.steps))
        ours.append(ganscape_loop(cfg, a.steps))
        print(f"  repeat {r + 1}: plain {plain[-1]:7.1f} steps/s   ganscape {ours[-1]:7.1f} steps/s")
    p, o = statistics.median(plain), statistics.median(ours)
    print(f"median: plain PyTorch {p:.1f} steps/s, ganscape {o:.1f} steps/s, ratio ganscape/plain = {o / p:.2f}")


if __name__ == "__main__":
    main()
