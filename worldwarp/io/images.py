"""Load a user's photo into the pipeline's RGB float format, with clear errors for bad input."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

MIN_SIDE = 32
MAX_PIXELS = 64_000_000  # larger than any camera we expect; guards against decompression bombs


class InputImageError(ValueError):
    """The input image cannot be used; the message is one line naming the file and the problem."""


ORIENTATION = 0x0112  # the EXIF tag of the camera's orientation
# what ImageOps.exif_transpose does for each EXIF orientation value, in words for the run's attrs
ORIENTATION_DONE = {2: "mirrored", 3: "rotated 180", 4: "flipped", 5: "transposed", 6: "rotated 90 clockwise",
                    7: "transversed", 8: "rotated 90 counter-clockwise"}


def _read(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    from PIL import Image  # Pillow ships with imageio/matplotlib

    if path.is_dir():
        raise InputImageError(f"{path}: is a directory, not an image file")
    if not path.is_file():
        raise InputImageError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InputImageError(f"{path}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise InputImageError(f"{path}: image is {w}x{h}, more than {MAX_PIXELS // 1_000_000} MP")
                im.load()
                notes: dict[str, Any] = {"file": path.name, "format": im.format, "mode": im.mode, "size": [w, h]}
                if getattr(im, "n_frames", 1) > 1:
                    notes["frames"] = f"first of {im.n_frames}"
                im = _orient(im, notes)
                return _to_array(im, path, notes), notes
    except InputImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputImageError(f"{path}: image is too large (decompression bomb guard)") from None
    except PermissionError:
        raise InputImageError(f"{path}: permission denied") from None
    except Exception as e:  # PIL raises many types for undecodable or truncated files
        raise InputImageError(f"{path}: not a readable image ({type(e).__name__})") from None


def _orient(im, notes: dict[str, Any]):
    """Apply the EXIF orientation: phones store portrait photos as landscape pixels plus this tag."""
    from PIL import ImageOps

    value = im.getexif().get(ORIENTATION, 1)
    if value in ORIENTATION_DONE:
        notes["exif_orientation"] = int(value)
        notes["oriented"] = ORIENTATION_DONE[value]
        return ImageOps.exif_transpose(im)
    return im


def _to_array(im, path: Path, notes: dict[str, Any]) -> np.ndarray:
    """Any PIL mode -> float32 RGB in [0, 1]. 16-bit and float images keep their range; alpha is composited on
    white; CMYK, YCbCr, palette and bilevel images go through PIL's RGB conversion; others are refused."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        full = 65535.0 if mode != "I" or a.max() > 255 else 255.0  # "I" may hold 8-bit data
        notes["converted"] = f"{mode} grey / {full:.0f} -> RGB"
        return np.repeat((a / full)[..., None], 3, axis=2).astype(np.float32)
    if mode == "F":
        notes["converted"] = "F grey clipped to [0, 1] -> RGB"
        a = np.clip(np.asarray(im, dtype=np.float32), 0, 1)
        return np.repeat(a[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info):
        notes["converted"] = f"{mode} -> RGB, alpha composited on white"
        a = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        # a transparent background is not scene content
        rgb, alpha = a[..., :3], a[..., 3:]
        return (rgb * alpha + (1 - alpha)).astype(np.float32)
    if mode not in ("RGB", "L", "P", "1", "CMYK", "YCbCr"):
        raise InputImageError(f"{path}: colour mode {mode} is not supported (use RGB, grey, palette, CMYK or 16-bit)")
    if mode != "RGB":
        notes["converted"] = f"{mode} -> RGB"
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def read_image(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Float32 (H, W, 3) in [0, 1] and what was done to the file (format, mode, EXIF orientation, conversion).
    Greyscale, palette, RGBA, CMYK and 16-bit files are converted; too small, huge or non-finite images are refused."""
    path = Path(path)
    img, notes = _read(path)
    h, w = img.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise InputImageError(f"{path}: image is {w}x{h}; each side must be at least {MIN_SIDE} px")
    if not np.isfinite(img).all():
        raise InputImageError(f"{path}: image holds NaN or inf values")
    return img, notes


def load_image(path: str | Path) -> np.ndarray:
    """Float32 (H, W, 3) in [0, 1]; see read_image."""
    return read_image(path)[0]


def crop_box(h: int, w: int, height: int, width: int) -> tuple[int, int, int, int]:
    """(y0, x0, rows, cols) of the centred crop of an h x w image to the aspect ratio width / height."""
    target = width / height
    if w / h > target:
        cw = round(h * target)
        return 0, (w - cw) // 2, h, cw
    ch = round(w / target)
    return (h - ch) // 2, 0, ch, w


def fit_notes(h: int, w: int, height: int, width: int) -> dict[str, Any]:
    """How fit_to_resolution changes an h x w image, for the run's attrs."""
    y0, x0, ch, cw = crop_box(h, w, height, width)
    return {"crop": [y0, x0, ch, cw] if (ch, cw) != (h, w) else None,
            "resize": [ch, cw, height, width] if (ch, cw) != (height, width) else None}


def fit_to_resolution(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-crop to the target aspect ratio, then resize (area filter when shrinking)."""
    import cv2

    y0, x0, ch, cw = crop_box(*img.shape[:2], height, width)
    img = img[y0 : y0 + ch, x0 : x0 + cw]
    interp = cv2.INTER_AREA if img.shape[0] > height else cv2.INTER_CUBIC
    out = cv2.resize(np.ascontiguousarray(img), (width, height), interpolation=interp)
    return np.clip(out, 0, 1).astype(np.float32)
