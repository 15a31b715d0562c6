"""Frames to standard files: mp4 (H.264 through imageio-ffmpeg's bundled ffmpeg) and PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def to_uint8(frames: np.ndarray) -> np.ndarray:
    if frames.dtype == np.uint8:
        return frames
    return (np.clip(frames, 0, 1) * 255 + 0.5).astype(np.uint8)


def write_mp4(path: str | Path, frames: np.ndarray, fps: int = 16, quality: int = 8) -> Path:
    """Write (N, H, W, 3) frames; yuv420p so every player (and the MLflow UI) can show it."""
    import imageio.v3 as iio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = to_uint8(np.asarray(frames))
    h, w = frames.shape[1:3]
    # yuv420p needs even sizes; pad by one pixel rather than rescale
    pad_h, pad_w = h % 2, w % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    iio.imwrite(path, frames, extension=".mp4", plugin="FFMPEG", fps=fps,
                codec="libx264", quality=quality, pixelformat="yuv420p", macro_block_size=1)
    return path


def write_png(path: str | Path, image: np.ndarray) -> Path:
    import imageio.v3 as iio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, to_uint8(np.asarray(image)))
    return path
