"""Pictures for people: a chunk's contact sheet and a top-down plot of the trajectory."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .video import to_uint8

COLUMNS = ("history", "warped", "mask", "output")
NOISE_COLUMNS = ("history", "warped", "mask", "noise level", "output")


def _viridis(levels: np.ndarray) -> np.ndarray:
    from matplotlib import colormaps

    return colormaps["viridis"](np.clip(levels, 0, 1))[..., :3].astype(np.float32)


def contact_sheet(history: np.ndarray, warped: np.ndarray, mask: np.ndarray, output: np.ndarray,
                  rows: int = 4, noise: np.ndarray | None = None) -> np.ndarray:
    """(H', W', 3) uint8: per row, history | warped | mask | output of evenly spaced new frames.

    history (h, H, W, 3); warped, output (F, H, W, 3) of the whole chunk (history first); mask (F, H, W).
    ``noise`` (F, H, W) in [0, 1], when given, adds a viridis "noise level" column before the output.
    """
    h = len(history)
    new = np.arange(h, len(warped)) if len(warped) > h else np.arange(len(warped))
    picks = new[np.linspace(0, len(new) - 1, min(rows, len(new))).round().astype(int)]
    lines = []
    for r, f in enumerate(picks):
        m = np.repeat(mask[f][..., None].astype(np.float32), 3, axis=-1)
        cells = [history[min(r, h - 1)], warped[f], m, *([] if noise is None else [_viridis(noise[f])]), output[f]]
        lines.append(np.concatenate([to_uint8(np.asarray(c, np.float32)) for c in cells], axis=1))
    sheet = np.concatenate(lines, axis=0)
    return _with_header(sheet, warped.shape[2], COLUMNS if noise is None else NOISE_COLUMNS)


def _with_header(sheet: np.ndarray, cell_w: int, columns: tuple[str, ...] = COLUMNS) -> np.ndarray:
    bar = np.full((22, sheet.shape[1], 3), 255, np.uint8)
    for i, name in enumerate(columns):
        cv2.putText(bar, name, (i * cell_w + 4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, sheet], axis=0)


def _frustum(c2w: np.ndarray, K: np.ndarray, depth: float, axes: tuple[int, int], side: bool) -> np.ndarray:
    """A camera's view cone cut at ``depth``, projected on the plot plane: centre, one edge ray, the other."""
    cx, cy, fx, fy = K[0, 2], K[1, 2], K[0, 0], K[1, 1]
    edges = ([0.0, -cy / fy, 1.0], [0.0, cy / fy, 1.0]) if side else ([-cx / fx, 0.0, 1.0], [cx / fx, 0.0, 1.0])
    pts = [c2w[:3, 3]] + [c2w[:3, 3] + depth * (c2w[:3, :3] @ np.array(e)) for e in edges]
    return np.array(pts)[:, list(axes)]


def plot_trajectory(w2c: np.ndarray, path: str | Path, chunk_starts: list[int] | None = None,
                    labels: list[str] | None = None, K: np.ndarray | None = None) -> Path:
    """Top-down (x-z) and side (z-y) views of the camera path as a PNG: one colour per chunk (``chunk_starts``:
    the first frame of each), view cones (``K``, default 60 degrees) or heading arrows, ``labels`` per chunk."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c2w = np.linalg.inv(w2c)
    c, fwd = c2w[:, :3, 3], c2w[:, :3, 2]
    starts = sorted(set([0, *(chunk_starts or [])]))
    bounds = [*starts[1:], len(c)]
    if K is None:  # a 60 degree, 4:3 camera
        f = 1.0 / np.tan(np.pi / 6)
        K = np.array([[f, 0, 1.0], [0, f, 0.75], [0, 0, 1]])
    extent = float(np.ptp(c, axis=0).max())
    depth = max(0.15 * extent, 0.05)
    colors = plt.get_cmap("tab10").colors
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
    for ax, (a, b), names in zip(axes, ((0, 2), (2, 1)), (("x", "z"), ("z", "y"))):
        for k, (s, e) in enumerate(zip(starts, bounds)):
            col = colors[k % len(colors)]
            seg = slice(max(s - 1, 0), e)  # join each chunk to the previous one
            name = f"chunk {k}" + (f": {labels[k]}" if labels and k < len(labels) else "")
            ax.plot(c[seg, a], c[seg, b], "-", lw=1.5, color=col, label=name if a == 0 else None)
            for i in np.unique(np.linspace(s, e - 1, 4).round().astype(int)):
                tri = _frustum(c2w[i], K, depth, (a, b), side=a == 2)
                ax.fill(tri[:, 0], tri[:, 1], color=col, alpha=0.15, lw=0)
                ax.plot(tri[[1, 0, 2], 0], tri[[1, 0, 2], 1], "-", lw=0.6, color=col)
            ax.quiver(c[s, a], c[s, b], fwd[s, a], fwd[s, b], angles="xy", width=0.005, color=col)
        ax.plot(c[0, a], c[0, b], "ko", ms=4)
        ax.set_xlabel(f"{names[0]} (m)"), ax.set_ylabel(f"{names[1]} (m)")
        ax.set_aspect("equal", adjustable="datalim"), ax.grid(alpha=0.3)
    axes[1].invert_yaxis()  # OpenCV y points down
    axes[0].set_title("top down"), axes[1].set_title("side (up is up)")
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle("camera path: one colour per chunk, view cones, black dot = first frame", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
