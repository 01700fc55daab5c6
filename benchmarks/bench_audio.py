#!/usr/bin/env python
"""Benchmark (b) of issue 21: WaveGAN vs SpecGAN on the synthetic notes, short CPU runs.

Each preset (wavegan-notes, specgan-notes) is trained for --steps generator steps as shipped otherwise
(WGAN-GP, 5 critic steps, batch 64, d=8), then its generator is scored on --n clips: pitch and
instrument accuracy by the notes' exact estimators, the audio FID and the inception score of the
shipped notes classifier (SpecGAN's spectrograms turned into sound by Griffin-Lim first). For scale:
real held-out notes, real notes through SpecGAN's representation and Griffin-Lim (what a perfect SpecGAN
could score) and white noise. Donahue et al. 2019's SC09 inception scores are printed for context only:
a speech-digit classifier on SC09 is a different scale from the notes classifier here.

Writes the table (--out, default docs/bench_audio.txt) and a figure of spectrograms (--figure, default
docs/audio_spectrograms.png): real notes, WaveGAN's samples and SpecGAN's (after Griffin-Lim).

  python benchmarks/bench_audio.py --steps 150
"""
from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch

import ganscape
from ganscape.data.audio_files import as_waves, display_spectrograms
from ganscape.metrics.audio import inversion_ceiling, reference_waves, score_waves

METRICS = ["pitch-accuracy", "instrument-accuracy", "fid", "is"]
KEYS = ["pitch_accuracy", "instrument_accuracy", "note_accuracy", "notes_classes_covered", "fid", "is"]
# Donahue et al. 2019 on SC09 (their classifier, 50k samples; real data: the SC09 training set).
PAPER = [("real SC09 (train), Donahue et al. 2019", "9.18 +- 0.04",
          "github.com/chrisdonahue/wavegan README, 'Evaluation': 'our paper results (9.18 +- 0.04) for the SC09 "
          "training dataset'"),
         ("WaveGAN / SpecGAN on SC09 (Table 1)", "not retrieved",
          "Table 1 of arXiv:1802.04208 could not be read in this environment (the stored copies of the paper "
          "are cut before it); the numbers are left out rather than quoted from memory")]


def row(name: str, res: dict, extra: str = "") -> str:
    cells = [f"{res[k]:.3f}" if k in res else "-" for k in KEYS]
    return f"{name:<34} " + " ".join(f"{c:>10}" for c in cells) + (f"  {extra}" if extra else "")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--n", type=int, default=400, help="generated clips scored per model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/bench_audio.txt")
    ap.add_argument("--figure", default="docs/audio_spectrograms.png")
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    lines = [f"# benchmark (b): WaveGAN vs SpecGAN on notes, {a.steps} generator steps each (5 critic steps, "
             f"batch 64, d=8), {a.n} clips scored; seed {a.seed}; {platform.processor() or platform.machine()}, "
             f"torch {torch.__version__}",
             f"# command: python benchmarks/bench_audio.py --steps {a.steps} --n {a.n} --seed {a.seed}",
             "# fid, is: the shipped notes classifier (audio-cnn; 32 classes, so IS <= 32); accuracies: the "
             "notes' exact estimators",
             f"{'':<34} " + " ".join(f"{k[:10]:>10}" for k in ["pitch_acc", "instr_acc", "note_acc", "classes",
                                                             "fid", "is"])]
    samples = {}
    with tempfile.TemporaryDirectory() as tmp:
        for preset in ("wavegan-notes", "specgan-notes"):
            over = [f"train.steps={a.steps}", f"train.sample_every={a.steps}", "train.checkpoint_every=0",
                    f"train.latest_every={a.steps}", f"seed={a.seed}"]
            t0 = time.perf_counter()
            run = ganscape.train(preset, overrides=over, run_dir=Path(tmp) / preset, progress=True)
            train_s = time.perf_counter() - t0
            rec = ganscape.evaluate(run, metrics=METRICS, n=a.n, record=False)
            lines.append(row(preset, rec["results"], f"(train {train_s:.0f} s)"))
            x = ganscape.sample(run, n=6, seed=1)
            samples[preset] = as_waves(x, ganscape.api.data_info(run))
        cfg = ganscape.load_run(Path(tmp) / "wavegan-notes")
    params = dict(cfg.data.params)
    real_test, info, _ = reference_waves("notes", params, "test", a.seed)
    real_train, _, _ = reference_waves("notes", params, "train", a.seed)
    lines.append(row("real notes (test split)", score_waves(real_test[:a.n], real_train, METRICS, info)["results"]))
    lines.append(row("real -> spectrogram -> Griffin-Lim", inversion_ceiling(params, METRICS, n=a.n,
                                                                             seed=a.seed)["results"]))
    noise = (0.3 * torch.randn(a.n, 1, real_train.shape[-1], generator=torch.Generator().manual_seed(a.seed)))
    lines.append(row("white noise (std 0.3)", score_waves(noise.clamp(-1, 1), real_train, METRICS, info)["results"]))
    lines.append("")
    lines.append("# context, not comparable (SC09 speech digits, a 10-class speech classifier):")
    for name, value, source in PAPER:
        lines.append(f"#   {name}: IS {value}  [{source}]")
    text = "\n".join(lines) + "\n"
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(text)
    print(text)
    figure(real_test[:6], samples, Path(a.figure))
    print(f"wrote {a.out} and {a.figure}")


def figure(real: torch.Tensor, samples: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [("real notes", real), ("WaveGAN", samples["wavegan-notes"]), ("SpecGAN (Griffin-Lim)",
                                                                          samples["specgan-notes"])]
    fig, axes = plt.subplots(len(rows), 6, figsize=(12, 6.4))
    for r, (name, waves) in enumerate(rows):
        pics = display_spectrograms(waves)
        for c in range(6):
            ax = axes[r, c]
            ax.imshow(pics[c, 0].numpy(), cmap="magma", aspect="auto", vmin=-1, vmax=1, extent=(0, 1.024, 0, 8))
            ax.set_xticks([])
            ax.set_yticks([0, 4, 8] if c == 0 else [])
            if c == 0:
                ax.set_ylabel(f"{name}\nkHz")
    fig.suptitle("log-magnitude spectrograms (top 80 dB of each clip), 1.024 s at 16 kHz")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
