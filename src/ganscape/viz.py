"""Pictures: image grids (Pillow) and 2-D scatter plots (matplotlib, Agg)."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .data.base import float_to_uint8


def image_grid(images: torch.Tensor, nrow: Optional[int] = None, pad: int = 1, scale: int = 0) -> np.ndarray:
    """(N, C, H, W) in [-1, 1] -> uint8 (H', W', C) grid with `pad` px gaps.

    Small images are upscaled by an integer nearest-neighbour factor (`scale`,
    default: so that each tile is at least 32 px) so 8x8 digits stay visible.
    """
    x = float_to_uint8(images)
    n, c, h, w = x.shape
    nrow = nrow or int(math.ceil(math.sqrt(n)))
    ncol = int(math.ceil(n / nrow))
    scale = scale or max(1, 32 // max(h, w))
    if scale > 1:
        x = x.repeat(scale, axis=2).repeat(scale, axis=3)
        h, w = h * scale, w * scale
    grid = np.full((ncol * (h + pad) + pad, nrow * (w + pad) + pad, c), 40, dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, nrow)
        y0, x0 = pad + r * (h + pad), pad + q * (w + pad)
        grid[y0:y0 + h, x0:x0 + w] = x[i].transpose(1, 2, 0)
    return grid


def _save_atomic(path: Path, write) -> Path:
    """write(tmp_path) then rename over `path`: a full disk or a kill never
    leaves a truncated picture, and no temp file stays behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    return path


def save_figure(fig, path, dpi=None) -> Path:
    """A matplotlib figure written as PNG atomically (_save_atomic), then closed whatever happened: the one
    way every instrument and plot of ganscape saves a figure."""
    import matplotlib.pyplot as plt
    try:
        return _save_atomic(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    finally:
        plt.close(fig)


def save_image_grid(images: torch.Tensor, path: Path, nrow: Optional[int] = None) -> Path:
    from PIL import Image

    grid = image_grid(images, nrow)
    mode = "L" if grid.shape[2] == 1 else "RGB"
    img = Image.fromarray(grid[:, :, 0] if mode == "L" else grid, mode=mode)
    return _save_atomic(path, lambda tmp: img.save(tmp, format="PNG"))


def save_scatter(fake: torch.Tensor, path: Path, real: Optional[torch.Tensor] = None,
                 centers: Optional[np.ndarray] = None, title: str = "") -> Path:
    """2-D samples (N, 2) as a scatter plot, real data in grey underneath (1-D samples: along a line,
    spread vertically by a fixed jitter)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def xy(t: torch.Tensor) -> np.ndarray:
        a = t.detach().cpu().numpy().reshape(len(t), -1)
        if a.shape[1] == 1:  # 1-D points (the Dirac-GAN): a strip, real below, generated above
            return np.concatenate([a, np.linspace(-0.5, 0.5, len(a))[:, None]], 1)
        return a

    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    if real is not None:
        r = xy(real)
        ax.scatter(r[:, 0], r[:, 1], s=2, c="0.75", label="real")
    f = xy(fake)
    ax.scatter(f[:, 0], f[:, 1], s=2, c="tab:blue", alpha=0.6, label="generated")
    if centers is not None:
        ax.scatter(centers[:, 0], centers[:, 1], s=25, marker="x", c="tab:red", label="modes")
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    fig.tight_layout()
    return save_figure(fig, path)


def save_stats_plot(records, path: Path, title: str = "") -> Optional[Path]:
    """Training curves from stats.jsonl records: losses, D outputs, gradient
    norms, one panel each; for a run that acts (records with env_steps) the
    episodes' return and success rate against environment steps, its losses
    and D's outputs. Returns None when there is nothing to plot."""
    if not records:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    acting = any("env_steps" in r for r in records)
    if acting:
        panels = [("return of the training episodes", ("return",)), ("success rate", ("success_rate",)),
                  ("losses", ("d_loss", "v_loss", "pi_loss", "bnn_loss")), ("discriminator outputs", ("d_real", "d_fake"))]
        panels = [(n, ks) for n, ks in panels if any(k in r for r in records for k in ks)]
        steps = [r.get("env_steps", float("nan")) for r in records]
        xlabel = "environment steps"
    else:
        panels = [("losses", ("d_loss", "g_loss")), ("discriminator outputs", ("d_real", "d_fake")),
                  ("gradient norms", ("d_grad_norm", "g_grad_norm"))]
        steps = [r["step"] for r in records]
        xlabel = "generator step"
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.2), dpi=100, squeeze=False)
    axes = axes[0]
    for ax, (name, keys) in zip(axes, panels):
        for k in keys:
            ys = [r.get(k) for r in records]
            if any(isinstance(y, (int, float)) for y in ys):
                ax.plot(steps, [y if isinstance(y, (int, float)) else float("nan") for y in ys], label=k)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        if ax.get_legend_handles_labels()[0]:  # a method may log none of this panel's keys
            ax.legend(fontsize=7)
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
