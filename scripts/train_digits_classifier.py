#!/usr/bin/env python
"""Train the digits classifier that ganscape ships as its digits feature
extractor ("digits-cnn", see ganscape/metrics/features/digits_cnn.py).

Data: scikit-learn's 8x8 digits, ganscape's fixed split. Training uses only
the 1497 *train* images; the 300 *test* images are evaluated once, after
training, and only in the final run (without --val-fraction).

Training: Adam with a cosine learning-rate decay, cross-entropy, dropout, and
on-the-fly augmentation so that the classifier generalizes from 1497 images
and tolerates the small geometric jitter of generated digits:
  - a random affine map per image (rotation, isotropic scale, translation of
    up to +-1 pixel), sampled with affine_grid / grid_sample on a black
    background;
  - with some probability, a round trip through 16x16 or 32x32 (bilinear
    upsampling as the ``digits`` data set does it, then the extractor's own
    antialiased downsampling), so the 16/32 input path of the extractor sees
    images like those during training.
Everything random draws from one seeded torch.Generator and deterministic
algorithms are enforced, so a given seed, thread count and torch build
reproduce the same weights bit for bit.

Hyper-parameter tuning mode: --val-fraction F holds out a stratified fraction
F of the train split, reports accuracy on it and never touches the test split
or writes weights.

Examples:
  # the shipped weights
  python scripts/train_digits_classifier.py --out src/ganscape/weights/ --seed 0
  # tune on a validation split carved from train
  python scripts/train_digits_classifier.py --val-fraction 0.15 --epochs 60 --dropout 0.3
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ganscape.data.base import resize_images  # noqa: E402
from ganscape.data.digits import digits_arrays  # noqa: E402
from ganscape.metrics.features.digits_cnn import (  # noqa: E402
    WEIGHTS_FILE, DigitsCnn, sha256_file, to_native)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=None,
                   help=f"folder to write {WEIGHTS_FILE} and its .json into (required unless --val-fraction)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=120)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3, help="peak Adam learning rate (cosine decay to 0)")
    p.add_argument("--dropout", type=float, default=0.25)
    p.add_argument("--max-rotation", type=float, default=10.0, help="degrees, uniform in +-this")
    p.add_argument("--max-scale", type=float, default=0.1, help="scale uniform in 1 +- this")
    p.add_argument("--max-shift", type=float, default=1.0, help="pixels, uniform in +-this per axis")
    p.add_argument("--p-resize", type=float, default=0.3,
                   help="probability of a 16x16/32x32 round trip per image")
    p.add_argument("--val-fraction", type=float, default=0.0,
                   help="tuning mode: hold out this fraction of train as validation; no test, no output")
    p.add_argument("--val-seed", type=int, default=0,
                   help="seed of the validation hold-out (fixed apart from --seed, so settings compare on one split)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (fixed so that float summation order is reproducible)")
    args = p.parse_args(argv)
    if not 0.0 <= args.val_fraction < 1.0:
        p.error(f"--val-fraction must be in [0, 1), got {args.val_fraction}")
    if args.val_fraction == 0.0 and args.out is None:
        p.error("--out is required for a final run (or pass --val-fraction to tune)")
    if not 0.0 <= args.p_resize <= 1.0:
        p.error(f"--p-resize must be in [0, 1], got {args.p_resize}")
    if args.epochs < 1 or args.batch_size < 1:
        p.error("--epochs and --batch-size must be positive")
    return args


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int):
    """Indices (keep, held_out): `fraction` of every class held out, seeded."""
    rng = np.random.RandomState(seed)
    keep, held = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(fraction * len(idx)))
        held.extend(idx[:k])
        keep.extend(idx[k:])
    return np.sort(np.array(keep)), np.sort(np.array(held))


def augment(x01: torch.Tensor, args: argparse.Namespace, gen: torch.Generator) -> torch.Tensor:
    """Random affine jitter and resize round trips.

    x01 (B, 1, 8, 8) in [0, 1] (background 0, so grid_sample's zero padding is
    background) -> (B, 1, 8, 8) in [-1, 1].
    """
    b = x01.shape[0]

    def uniform(lo, hi):
        return lo + (hi - lo) * torch.rand(b, generator=gen)

    angle = uniform(-1, 1) * math.radians(args.max_rotation)
    scale = 1.0 + uniform(-1, 1) * args.max_scale
    # affine_grid maps output coordinates to input coordinates in [-1, 1]
    # units (align_corners=False: one 8-pixel image spans 2, so 1 px = 0.25).
    shift = torch.stack([uniform(-1, 1), uniform(-1, 1)], dim=1) * args.max_shift * (2.0 / 8)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x01.shape), align_corners=False)
    x = F.grid_sample(x01, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    x = x * 2.0 - 1.0

    # Round trips through the data set's larger sizes, exactly as data and
    # extractor do them (resize_images up, to_native down).
    draw = torch.rand(b, generator=gen)
    big = torch.rand(b, generator=gen) < 0.5
    for size, mask in ((16, (draw < args.p_resize) & ~big), (32, (draw < args.p_resize) & big)):
        if mask.any():
            x[mask] = to_native(resize_images(x[mask], size).clamp(-1, 1))
    return x


@torch.no_grad()
def accuracy(net: DigitsCnn, images01: np.ndarray, labels: np.ndarray, size: int = 8) -> float:
    """Top-1 accuracy on images (N, 8, 8) in [0, 1], optionally upsampled to
    `size` first (as the digits data set does) and passed through the
    extractor's downsampling."""
    net.eval()
    x = torch.from_numpy(images01)[:, None] * 2.0 - 1.0
    x = to_native(resize_images(x, size).clamp(-1, 1))
    _, logits = net(x)
    return float((logits.argmax(1).numpy() == labels).mean())


def train(args: argparse.Namespace, x01: np.ndarray, y: np.ndarray) -> DigitsCnn:
    """Train DigitsCnn on images x01 (N, 8, 8) in [0, 1] with labels y (N,)."""
    torch.manual_seed(args.seed)  # the network's initialization
    gen = torch.Generator().manual_seed(args.seed + 1)  # shuffling and augmentation
    net = DigitsCnn(dropout=args.dropout)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    n = len(x01)
    steps_per_epoch = math.ceil(n / args.batch_size)
    total = args.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    xt = torch.from_numpy(x01)[:, None]
    yt = torch.from_numpy(y)
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(n, generator=gen)
        loss_sum = 0.0
        for i in range(0, n, args.batch_size):
            idx = perm[i:i + args.batch_size]
            _, logits = net(augment(xt[idx], args, gen))
            loss = F.cross_entropy(logits, yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
        if (epoch + 1) % 10 == 0 or epoch == 0:
            print(f"epoch {epoch + 1:3d}/{args.epochs}  loss {loss_sum / n:.4f}", flush=True)
    net.eval()
    return net


def save(net: DigitsCnn, out_dir: Path, record: dict) -> Path:
    """Write <out>/digits_cnn.safetensors and <out>/digits_cnn.json atomically."""
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / WEIGHTS_FILE
    state = {k: v.detach().contiguous().float() for k, v in net.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".tmp")
    os.close(fd)
    save_file(state, tmp, metadata={"format": "pt", "model": "ganscape DigitsCnn"})
    os.chmod(tmp, 0o644)  # mkstemp makes files owner-only; these are package data
    os.replace(tmp, target)
    record = {"file": WEIGHTS_FILE, "sha256": sha256_file(target),
              "bytes": target.stat().st_size, **record}
    sidecar = target.with_suffix(".json")
    fd, tmp = tempfile.mkstemp(dir=out_dir, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, sidecar)
    return target


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    x_train, y_train = digits_arrays("train")

    t0 = time.perf_counter()
    if args.val_fraction > 0:
        keep, held = stratified_holdout(y_train, args.val_fraction, args.val_seed)
        net = train(args, x_train[keep], y_train[keep])
        print(f"trained in {time.perf_counter() - t0:.1f} s")
        for size in (8, 16, 32):
            print(f"validation accuracy ({len(held)} images, size {size}): "
                  f"{accuracy(net, x_train[held], y_train[held], size):.4f}")
        return

    net = train(args, x_train, y_train)
    seconds = time.perf_counter() - t0
    x_test, y_test = digits_arrays("test")
    record = {
        "seed": args.seed,
        "train_accuracy": accuracy(net, x_train, y_train),
        "test_accuracy": accuracy(net, x_test, y_test),
        "test_accuracy_16": accuracy(net, x_test, y_test, 16),
        "test_accuracy_32": accuracy(net, x_test, y_test, 32),
        "n_train": int(len(x_train)),
        "n_test": int(len(x_test)),
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "hyperparameters": {k: getattr(args, k) for k in (
            "epochs", "batch_size", "lr", "dropout", "max_rotation", "max_scale",
            "max_shift", "p_resize", "threads")},
        "train_seconds": round(seconds, 1),
        "torch_version": torch.__version__,
        "command": "python scripts/train_digits_classifier.py "
                   + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)),
    }
    target = save(net, args.out, record)
    rec = json.loads(target.with_suffix(".json").read_text())
    print(f"trained in {seconds:.1f} s; train acc {rec['train_accuracy']:.4f}, "
          f"test acc {rec['test_accuracy']:.4f} (16x16 {rec['test_accuracy_16']:.4f}, "
          f"32x32 {rec['test_accuracy_32']:.4f})")
    print(f"wrote {target} ({rec['bytes']} bytes), sha256 {rec['sha256']}")
    print("if this replaces the shipped weights, set WEIGHTS_SHA256 in "
          "src/ganscape/metrics/features/digits_cnn.py to this digest")


if __name__ == "__main__":
    main()
