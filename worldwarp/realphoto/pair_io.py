"""Your own rectified stereo pair: two images, the left view's disparity map and the rig's calibration, read and
checked into a ``StereoPair`` (docs/REAL_PHOTO.md, "Your own pair").

Files are read with OpenCV (``cv2.imread(..., IMREAD_UNCHANGED)``): it keeps 16-bit PNGs at 16 bits and reads
PFM, Middlebury 2014's disparity format, as float32 (rows in the image's order). Conversions, all documented:
- images: uint8 / 255 and uint16 / 65535 to float32 in [0, 1]; float images must already lie in [0, 1];
  grey is repeated to three channels; an alpha channel is dropped.
- disparity: one channel; stored value / ``disparity_scale`` = disparity in pixels of the stored image size.
  Non-finite values are never measured; ``unknown`` names the value that also means "no ground truth"
  ("0": Middlebury 2005/2006 PNGs; "inf": 2014 PFMs; "nan"). Unknown pixels become NaN.

Every refusal is a ``RealPhotoError``: one line naming the input and the problem (the CLI prints it, exit 2).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..io.images import InputImageError

if TYPE_CHECKING:
    from .stereo import StereoPair

UNKNOWN_VALUES = ("auto", "0", "inf", "nan")
MIN_INSIDE = 0.5  # a pair whose measured disparities mostly land outside the right image is not this rig's
MIN_MEASURED = 0.05  # fewer measured disparities than this fraction: the --unknown value is likely wrong


class RealPhotoError(InputImageError):
    """A stereo pair, disparity map or calibration that cannot be used; one line naming the input."""


def _imread(path: Path, what: str) -> np.ndarray:
    import cv2

    if path.is_dir():
        raise RealPhotoError(f"{what} {path}: is a directory, not an image file")
    if not path.is_file():
        raise RealPhotoError(f"{what} {path}: no such file")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise RealPhotoError(f"{what} {path}: not a readable image (PNG, JPEG, PFM, ...)")
    return img


def read_image(path: Path | str, what: str = "image") -> np.ndarray:
    """(H, W, 3) float32 in [0, 1], RGB (see the module doc for the conversions)."""
    import cv2

    path = Path(path)
    img = _imread(path, what)
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]  # alpha: a stereo rig's frames have none worth keeping
    if img.ndim == 2 or img.shape[2] == 1:
        img = np.repeat(img.reshape(img.shape[0], img.shape[1], 1), 3, axis=2)
    elif img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    else:
        raise RealPhotoError(f"{what} {path}: {img.shape[2]} channels, expected grey, RGB or RGBA")
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    if img.dtype.kind == "f":
        img = img.astype(np.float32)
        if not np.isfinite(img).all() or img.min() < 0 or img.max() > 1:
            raise RealPhotoError(f"{what} {path}: float image with values outside [0, 1] (or non-finite)")
        return img
    raise RealPhotoError(f"{what} {path}: pixel type {img.dtype} is not supported (uint8, uint16 or float in [0, 1])")


def default_unknown(path: Path | str) -> str:
    """Middlebury's conventions: PFM (2014) marks unknown with inf, PNG (2005/2006) with 0."""
    return "inf" if str(path).lower().endswith(".pfm") else "0"


def read_disparity(path: Path | str, scale: float = 1.0, unknown: str = "auto") -> np.ndarray:
    """(H, W) float32 disparity in pixels, NaN where unknown (see the module doc)."""
    path = Path(path)
    if not (math.isfinite(scale) and scale > 0):
        raise RealPhotoError(f"disparity scale {scale}: must be finite and positive")
    if unknown not in UNKNOWN_VALUES:
        raise RealPhotoError(f"--unknown {unknown!r}: expected one of {', '.join(UNKNOWN_VALUES)}")
    raw = _imread(path, "disparity")
    if raw.ndim == 3:
        if raw.shape[2] != 1 and not all(np.array_equal(raw[..., 0], raw[..., c]) for c in range(1, raw.shape[2])):
            raise RealPhotoError(f"disparity {path}: {raw.shape[2]} different channels, expected one")
        raw = raw[..., 0]
    if raw.dtype.kind not in "uif":
        raise RealPhotoError(f"disparity {path}: pixel type {raw.dtype} is not a number")
    d = raw.astype(np.float64)
    rule = default_unknown(path) if unknown == "auto" else unknown
    unknown_px = ~np.isfinite(d)  # never a measurement, whatever --unknown says
    if rule == "0":
        unknown_px |= d == 0
    return np.where(unknown_px, np.nan, d / scale).astype(np.float32)


def check_calibration(focal: float, baseline: float, doffs: float, cx: float, cy: float, width: int,
                      height: int) -> None:
    for name, v in (("--focal", focal), ("--baseline", baseline)):
        if not (math.isfinite(v) and v > 0):
            raise RealPhotoError(f"{name} {v}: must be finite and positive")
    if not math.isfinite(doffs) or doffs < 0:
        raise RealPhotoError(f"--doffs {doffs}: must be finite and >= 0 (cx_right - cx_left in pixels)")
    for name, v, side in (("--cx", cx, width), ("--cy", cy, height)):
        if not (math.isfinite(v) and 0 <= v <= side):
            raise RealPhotoError(f"{name} {v}: must lie inside the image (0..{side} px at the files' size)")


def check_disparity(disparity: np.ndarray, doffs: float, where: str) -> None:
    """Enough measured pixels, positive depth on all of them, and mostly landing inside the right image."""
    ok = np.isfinite(disparity)
    if ok.mean() < MIN_MEASURED:
        raise RealPhotoError(f"disparity {where}: only {ok.mean():.1%} of the pixels are measured "
                             "(is --unknown right for this file?)")
    d = disparity[ok]
    if (d + doffs <= 0).any():
        raise RealPhotoError(f"disparity {where}: {(d + doffs <= 0).mean():.1%} of the measured values give a "
                             "depth <= 0 (d + doffs <= 0): wrong sign, scale or --doffs?")
    x_right = (np.nonzero(ok)[1] + 0.5) - d
    inside = float(((x_right >= 0) & (x_right < disparity.shape[1])).mean())
    if inside < MIN_INSIDE:
        raise RealPhotoError(f"disparity {where}: only {inside:.0%} of the measured pixels land inside the right "
                             "image (x_right = x_left - d): wrong --disparity-scale or sign?")


def load_pair(rp) -> StereoPair:
    """The pair ``rp`` (a RealPhotoConfig) names, read, checked and downscaled; Motorcycle when it names none."""
    from .stereo import load_motorcycle, make_pair

    if rp.left is None:
        return load_motorcycle(rp.downscale)
    left, right = read_image(rp.left, "left image"), read_image(rp.right, "right image")
    disparity = read_disparity(rp.disparity, rp.disparity_scale, rp.unknown)
    if right.shape != left.shape:
        raise RealPhotoError(f"right image {rp.right}: {right.shape[1]}x{right.shape[0]}, but the left image is "
                             f"{left.shape[1]}x{left.shape[0]}")
    if disparity.shape != left.shape[:2]:
        raise RealPhotoError(f"disparity {rp.disparity}: {disparity.shape[1]}x{disparity.shape[0]}, but the images "
                             f"are {left.shape[1]}x{left.shape[0]}")
    H, W = disparity.shape
    cx = (W - 1) / 2 if rp.cx is None else rp.cx  # the centre, pixel centres at integers
    cy = (H - 1) / 2 if rp.cy is None else rp.cy
    check_calibration(rp.focal, rp.baseline, rp.doffs, cx, cy, W, H)
    check_disparity(disparity, rp.doffs, str(rp.disparity))
    try:
        pair = make_pair(left, right, disparity, focal=rp.focal, cx=cx, cy=cy, doffs=rp.doffs, baseline=rp.baseline,
                         downscale=rp.downscale)
    except ValueError as e:
        raise RealPhotoError(f"left image {rp.left}: {e}") from None
    if not np.isfinite(pair.disparity).any():
        raise RealPhotoError(f"disparity {rp.disparity}: no measured pixel left after downscale {rp.downscale}")
    return pair
