"""Pictures for people: a chunk's contact sheet and a top-down plot of the trajectory."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .video import to_uint8

COLUMNS = ("history", "warped", "mask", "output")


def contact_sheet(history: np.ndarray, warped: np.ndarray, mask: np.ndarray, output: np.ndarray,
                  rows: int = 4) -> np.ndarray:
    """(H', W', 3) uint8: per row, history | warped | mask | output of evenly spaced new frames.

    history (h, H, W, 3); warped, output (F, H, W, 3) of the whole chunk (history first); mask (F, H, W).
    """
    h = len(history)
    new = np.arange(h, len(warped)) if len(warped) > h else np.arange(len(warped))
    picks = new[np.linspace(0, len(new) - 1, min(rows, len(new))).round().astype(int)]
    lines = []
    for r, f in enumerate(picks):
        m = np.repeat(mask[f][..., None].astype(np.float32), 3, axis=-1)
        cells = [history[min(r, h - 1)], warped[f], m, output[f]]
        lines.append(np.concatenate([to_uint8(np.asarray(c, np.float32)) for c in cells], axis=1))
    sheet = np.concatenate(lines, axis=0)
    return _with_header(sheet, warped.shape[2])


def _with_header(sheet: np.ndarray, cell_w: int) -> np.ndarray:
    bar = np.full((22, sheet.shape[1], 3), 255, np.uint8)
    for i, name in enumerate(COLUMNS):
        cv2.putText(bar, name, (i * cell_w + 4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, sheet], axis=0)


def plot_trajectory(w2c: np.ndarray, path: str | Path, chunk_starts: list[int] | None = None) -> Path:
    """Top-down (x-z) and side (z-y) views of camera centres with viewing directions, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c2w = np.linalg.inv(w2c)
    c, fwd = c2w[:, :3, 3], c2w[:, :3, 2]
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, (a, b), names in zip(axes, ((0, 2), (2, 1)), (("x", "z"), ("z", "y"))):
        ax.plot(c[:, a], c[:, b], "-", lw=1, color="tab:blue")
        step = max(1, len(c) // 25)
        ax.quiver(c[::step, a], c[::step, b], fwd[::step, a], fwd[::step, b], angles="xy", width=0.004,
                  color="tab:orange")
        for s in chunk_starts or []:
            ax.plot(c[s, a], c[s, b], "o", ms=4, color="tab:red")
        ax.set_xlabel(f"{names[0]} (m)"), ax.set_ylabel(f"{names[1]} (m)")
        ax.set_aspect("equal", adjustable="datalim"), ax.grid(alpha=0.3)
    axes[1].invert_yaxis()  # OpenCV y points down
    fig.suptitle("camera path (red: chunk starts)")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
