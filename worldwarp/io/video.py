"""Frames to and from standard files: mp4 (H.264 through imageio-ffmpeg's bundled ffmpeg), PNG, and reading a
reference video into frames of a given size."""

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


class VideoError(ValueError):
    """A video that cannot be read as frames; the message names the file."""


def cover_crop(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale (Lanczos) so the frame covers width x height, then crop the centre."""
    import cv2

    h, w = frame.shape[:2]
    s = max(width / w, height / h)
    hr, wr = max(height, int(h * s)), max(width, int(w * s))
    r = cv2.resize(frame, (wr, hr), interpolation=cv2.INTER_LANCZOS4)
    y, x = (hr - height) // 2, (wr - width) // 2
    return r[y:y + height, x:x + width]


def check_video_file(path: str | Path) -> Path:
    """``path`` as a Path, after refusing one that is no file (before anything costlier is checked or read)."""
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{path}: no such video file")
    return path


def read_video(path: str | Path, width: int, height: int, *, max_frames: int = 600, stride: int = 1) -> np.ndarray:
    """(N, height, width, 3) float32 frames in [0, 1]: every ``stride``-th frame, at most ``max_frames``."""
    import imageio.v3 as iio

    path = check_video_file(path)
    frames = []
    try:
        for i, f in enumerate(iio.imiter(path, plugin="FFMPEG")):
            if i % stride == 0:
                frames.append(cover_crop(np.asarray(f)[..., :3], width, height))
                if len(frames) >= max_frames:
                    break
    except (OSError, RuntimeError, ValueError, StopIteration) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise VideoError(f"{path}: not a readable video ({first[:160]})") from None
    if not frames:
        raise VideoError(f"{path}: the video has no frames")
    return np.stack(frames).astype(np.float32) / 255.0
