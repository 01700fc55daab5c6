#!/usr/bin/env python
"""Train the notes classifier that ganscape ships as its audio feature extractor ("audio-cnn",
ganscape/metrics/features/audio_cnn.py): the feature space of the audio FID and the classifier of the
audio inception score.

Data: the notes data set (data/notes.py), seed 0: --n training clips (the *train* split) and the test
split (n // 5 clips), evaluated once after training. Labels: 32 classes, pitch index * 4 + instrument.

Training: Adam with a cosine learning-rate decay, cross-entropy, dropout; each clip's gain is scaled by
a factor in [0.5, 1.2] and white noise of standard deviation up to 0.02 added (drawn per clip), so the
classifier holds for quieter or noisier clips than the data's. Everything random draws from one seeded
torch.Generator and deterministic algorithms are enforced (one thread), so a seed and torch build give
the same weights bit for bit.

Example (the shipped weights):
  python scripts/train_audio_classifier.py --out src/ganscape/weights/ --seed 0
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ganscape.data.notes import NotesParams, notes
from ganscape.metrics.features.audio_cnn import WEIGHTS_FILE, AudioCnn
from ganscape.fetch import sha256_file


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help=f"folder to write {WEIGHTS_FILE} and its .json into")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n", type=int, default=3000, help="training clips (default 3000)")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--dropout", type=float, default=0.2)
    return p.parse_args(argv)


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    gain = 0.5 + 0.7 * torch.rand(len(x), 1, 1, generator=g)
    noise = 0.02 * torch.rand(len(x), 1, 1, generator=g) * torch.randn(x.shape, generator=g)
    return (x * gain + noise).clamp(-1, 1)


@torch.no_grad()
def accuracy(net: AudioCnn, x: torch.Tensor, y: torch.Tensor):
    net.eval()
    pred = torch.cat([net(x[i:i + 256])[1].argmax(1) for i in range(0, len(x), 256)])
    return (float((pred == y).float().mean()), float((pred // 4 == y // 4).float().mean()),
            float((pred % 4 == y % 4).float().mean()))


def main(argv=None) -> None:
    a = parse(argv)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    g = torch.Generator().manual_seed(a.seed)
    torch.manual_seed(a.seed)
    t0 = time.perf_counter()
    train, test = notes(NotesParams(n=a.n), "train", 0), notes(NotesParams(n=a.n), "test", 0)
    net = AudioCnn(dropout=a.dropout)
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    steps = a.epochs * math.ceil(len(train) / a.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    bar = tqdm(total=steps, desc="audio-cnn", unit="step")
    for _ in range(a.epochs):
        net.train()
        order = torch.randperm(len(train), generator=g)
        for i in range(0, len(order), a.batch_size):
            idx = order[i:i + a.batch_size]
            loss = F.cross_entropy(net(augment(train.x[idx], g))[1], train.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            bar.update()
            bar.set_postfix(loss=f"{float(loss):.3f}")
    bar.close()
    train_acc = accuracy(net, train.x, train.y)
    test_acc = accuracy(net, test.x, test.y)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / WEIGHTS_FILE
    from safetensors.torch import save_file
    tmp = target.with_name(f".{target.name}.tmp")
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp),
              metadata={"format": "pt", "model": "ganscape AudioCnn"})
    os.replace(tmp, target)
    record = {"file": WEIGHTS_FILE, "sha256": sha256_file(target), "bytes": target.stat().st_size, "seed": a.seed,
              "data": {"name": "notes", "params": {"n": a.n}, "seed": 0},
              "train_accuracy": train_acc[0], "test_accuracy": test_acc[0], "test_pitch_accuracy": test_acc[1],
              "test_instrument_accuracy": test_acc[2], "n_train": len(train), "n_test": len(test),
              "parameters": sum(p.numel() for p in net.parameters()),
              "hyperparameters": {"epochs": a.epochs, "batch_size": a.batch_size, "lr": a.lr, "dropout": a.dropout,
                                  "gain": [0.5, 1.2], "noise_std_max": 0.02, "threads": 1},
              "train_seconds": round(time.perf_counter() - t0, 1), "torch_version": torch.__version__,
              "command": "python scripts/train_audio_classifier.py " + shlex.join(sys.argv[1:] if argv is None
                                                                                  else argv)}
    target.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {target} ({record['bytes']} bytes), sha256 {record['sha256']}; test accuracy {test_acc[0]:.4f} "
          f"(pitch {test_acc[1]:.4f}, instrument {test_acc[2]:.4f})")


if __name__ == "__main__":
    main()
