"""Load a user's photo into the pipeline's RGB float format, with clear errors for bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

MIN_SIDE = 32
MAX_PIXELS = 64_000_000  # larger than any camera we expect; guards against decompression bombs


class InputImageError(ValueError):
    """The input image cannot be used; the message is one line naming the file and the problem."""


def _read(path: Path) -> np.ndarray:
    from PIL import Image  # Pillow ships with imageio/matplotlib

    if not path.is_file():
        raise InputImageError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise InputImageError(f"{path}: image is {w}x{h}, more than {MAX_PIXELS // 1_000_000} MP")
                im.load()
                return _to_array(im)
    except InputImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputImageError(f"{path}: image is too large (decompression bomb guard)") from None
    except Exception as e:  # PIL raises many types for undecodable files
        raise InputImageError(f"{path}: not a readable image ({type(e).__name__})") from None


def _to_array(im) -> np.ndarray:
    """Any PIL mode -> float32 RGB in [0, 1]. 16-bit and float images keep their range; alpha is dropped."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        a = a / (65535.0 if a.max() > 255 else 255.0)
        return np.repeat(a[..., None], 3, axis=2).astype(np.float32)
    if im.mode == "F":
        a = np.clip(np.asarray(im, dtype=np.float32), 0, 1)
        return np.repeat(a[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        a = np.asarray(im, dtype=np.float32) / 255.0
        # composite on white: a transparent background is not scene content
        rgb, alpha = a[..., :3], a[..., 3:]
        return (rgb * alpha + (1 - alpha)).astype(np.float32)
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def load_image(path: str | Path) -> np.ndarray:
    """Float32 (H, W, 3) in [0, 1]. Greyscale, palette, RGBA and 16-bit files are converted."""
    path = Path(path)
    img = _read(path)
    h, w = img.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise InputImageError(f"{path}: image is {w}x{h}; each side must be at least {MIN_SIDE} px")
    if not np.isfinite(img).all():
        raise InputImageError(f"{path}: image holds NaN or inf values")
    return img


def fit_to_resolution(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-crop to the target aspect ratio, then resize (area filter when shrinking)."""
    import cv2

    h, w = img.shape[:2]
    target = width / height
    if w / h > target:
        cw = round(h * target)
        x0 = (w - cw) // 2
        img = img[:, x0 : x0 + cw]
    else:
        ch = round(w / target)
        y0 = (h - ch) // 2
        img = img[y0 : y0 + ch]
    interp = cv2.INTER_AREA if img.shape[0] > height else cv2.INTER_CUBIC
    out = cv2.resize(np.ascontiguousarray(img), (width, height), interpolation=interp)
    return np.clip(out, 0, 1).astype(np.float32)
