"""Metrics of a whole video against ground truth: per-frame table, summary JSON, plot PNG."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .camera import relative_pose_errors
from .image import LpipsUnavailable, lpips_scorer, psnr, ssim

Frames = Callable[[int, int], np.ndarray]  # (start, stop) -> (n, H, W, 3) float in [0, 1]


def evaluate_video(pred: Frames, n_frames: int, K: np.ndarray, w2c: np.ndarray, *, gt: Frames | None = None,
                   pose_stride: int = 4, lpips_weights: str | None = None, batch: int = 16,
                   progress: bool = False) -> tuple[dict[str, np.ndarray], list[str]]:
    """Per-frame metrics (columns of equal length n_frames, NaN where undefined) and notices.

    Image metrics need ground truth ``gt``; camera metrics need only the frames and the commanded poses.
    """
    notices: list[str] = []
    cols: dict[str, np.ndarray] = {"frame": np.arange(n_frames)}
    if gt is not None:
        cols.update(_image_metrics(pred, gt, n_frames, lpips_weights, batch, notices, progress))
    else:
        notices.append("image metrics skipped: the input has no ground truth (a photo)")
    frames = np.concatenate([pred(i, min(i + batch, n_frames)) for i in range(0, n_frames, batch)])
    pe = relative_pose_errors(frames, K, w2c, stride=pose_stride)
    for name, values in (("rot_err_deg", pe.rotation_deg), ("trans_err_deg", pe.translation_deg)):
        col = np.full(n_frames, np.nan)
        col[pe.frames] = values
        cols[name] = col
    return cols, notices


def _image_metrics(pred: Frames, gt: Frames, n: int, lpips_weights: str | None, batch: int,
                   notices: list[str], progress: bool) -> dict[str, np.ndarray]:
    try:
        lp = lpips_scorer(lpips_weights)
    except LpipsUnavailable as e:
        lp = None
        notices.append(str(e))
    out: dict[str, list[np.ndarray]] = {"psnr": [], "ssim": [], **({"lpips": []} if lp else {})}
    starts = range(0, n, batch)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="evaluate", unit="batch")
    for i in starts:
        p = torch.from_numpy(np.asarray(pred(i, min(i + batch, n)), np.float32))
        g = torch.from_numpy(np.asarray(gt(i, min(i + batch, n)), np.float32))
        out["psnr"].append(psnr(p, g).numpy())
        out["ssim"].append(ssim(p, g).numpy())
        if lp:
            out["lpips"].append(lp(p, g).numpy())
    return {k: np.concatenate(v).astype(float) for k, v in out.items()}


def summarize(cols: dict[str, np.ndarray], segments: int = 4) -> dict[str, Any]:
    """Means over the video, and over its first and last quarter (drift shows as their difference)."""
    n = len(cols["frame"])
    q = max(1, n // segments)
    out: dict[str, Any] = {"frames": n}
    for name, v in cols.items():
        if name == "frame":
            continue
        out[name] = _mean(v)
        out[f"{name}_first"] = _mean(v[:q])
        out[f"{name}_last"] = _mean(v[-q:])
    return out


def _mean(v: np.ndarray) -> float | None:
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else None


def write_report(out_dir: Path | str, cols: dict[str, np.ndarray], notices: list[str],
                 meta: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> dict[str, Path]:
    """metrics.json (summary + ``extra`` + notices), per_frame.csv, metrics.png (metrics vs frame index)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "metrics.json", "csv": out / "per_frame.csv", "png": out / "metrics.png"}
    summary = {**summarize(cols), **(extra or {}), **({"meta": meta} if meta else {}), "notices": notices}
    paths["json"].write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    names = list(cols)
    with paths["csv"].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        for row in zip(*(cols[n] for n in names)):
            w.writerow([_cell(x) for x in row])
    plot_metrics(cols, paths["png"], title=(meta or {}).get("name", ""))
    return paths


def _cell(x: float) -> str:
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return "" if not math.isfinite(x) else f"{x:.6g}"


def plot_metrics(cols: dict[str, np.ndarray], path: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in cols if n != "frame"]
    fig, axes = plt.subplots(len(names), 1, figsize=(8, 1.9 * len(names)), sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        v = cols[name]
        ok = np.isfinite(v)
        ax.plot(cols["frame"][ok], v[ok], marker="." if ok.sum() < 60 else None, lw=1)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("frame")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
