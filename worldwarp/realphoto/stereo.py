"""A rectified stereo pair as WorldWarp cameras: Middlebury 2014 "Motorcycle" as scikit-image ships it.

Middlebury's calibration (per view: f, cx, cy; the pair: baseline B, doffs = cx_right - cx_left): a left pixel
with disparity d lies at z-depth Z = f * B / (d + doffs) and its match in the right image is x_right = x_left - d
(the left image's disparity; rows are rectified). In WorldWarp's OpenCV world-to-camera convention, with the left
camera at the origin, the right camera sits at +B along x: w2c_right = [I | (-B, 0, 0)], and its principal point is
cx + doffs. Then a left point projects to x_left - f B / Z + doffs = x_left - d in the right view.

scikit-image's copy is Middlebury's image down-sampled 4x (500 x 741) with the calibration and disparity scaled to
match; its disparity holds inf where Middlebury has no ground truth (its docstring says NaN; 0.26 ships inf). The
docstring's principal point is read as OpenCV-style (pixel centres at integers), so cx + 0.5 in WorldWarp's
convention (centres at integer + 0.5); the same offset applies to both views, so x_right = x_left - d holds either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from skimage.transform import downscale_local_mean

from ..geometry.cameras import Cameras

# skimage.data.stereo_motorcycle's docstring (valid for its 4x down-sampled images)
FOCAL_PX = 994.978
CX, CY = 311.193, 254.877
DOFFS_PX = 31.086
BASELINE_M = 0.193001
SIZE_MULTIPLE = 16  # the project's resolutions are multiples of 16 (VAE 8x times patch 2x)


@dataclass
class StereoPair:
    """Two rectified views; disparity of the left view in pixels (NaN: no ground truth)."""

    left: np.ndarray  # (H, W, 3) float32 in [0, 1]
    right: np.ndarray  # (H, W, 3) float32 in [0, 1]
    disparity: np.ndarray  # (H, W) float32, left view: x_right = x_left - d
    focal: float  # px
    cx: float  # px, left view, WorldWarp's convention (pixel centres at integer + 0.5)
    cy: float
    doffs: float  # px: cx_right - cx_left
    baseline: float  # metres

    @property
    def height(self) -> int:
        return self.left.shape[0]

    @property
    def width(self) -> int:
        return self.left.shape[1]

    def K(self, view: str = "left") -> torch.Tensor:
        cx = self.cx + (self.doffs if view == "right" else 0.0)
        return torch.tensor([[self.focal, 0, cx], [0, self.focal, self.cy], [0, 0, 1]], dtype=torch.float32)

    def w2c(self, view: str = "left") -> torch.Tensor:
        """The left camera is the world origin; the right one is B to its right (+x in OpenCV)."""
        w2c = torch.eye(4)
        if view == "right":
            w2c[0, 3] = -self.baseline
        return w2c

    def depth(self, disparity: np.ndarray | None = None) -> np.ndarray:
        """Z = f B / (d + doffs) in metres, NaN where the disparity is unknown."""
        return disparity_to_depth(self.disparity if disparity is None else disparity, self.focal, self.baseline, self.doffs)


def disparity_to_depth(disparity: np.ndarray, focal: float, baseline: float, doffs: float) -> np.ndarray:
    d = np.where(np.isfinite(disparity), disparity, np.nan).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = focal * baseline / (d + doffs)
    return np.where(z > 0, z, np.nan).astype(np.float32)


def _downscale_disparity(d: np.ndarray, f: int) -> np.ndarray:
    """Mean of each f x f block's measured disparities, divided by f; unknown (NaN) unless at least half of
    the block is measured."""
    H, W = (d.shape[0] // f) * f, (d.shape[1] // f) * f
    ok = np.isfinite(d[:H, :W])
    frac = downscale_local_mean(ok.astype(np.float64), (f, f))
    total = downscale_local_mean(np.where(ok, d[:H, :W], 0.0).astype(np.float64), (f, f))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / frac
    return np.where(frac >= 0.5, mean / f, np.nan).astype(np.float32)


def make_pair(left: np.ndarray, right: np.ndarray, disparity: np.ndarray, *, focal: float, cx: float, cy: float,
              doffs: float, baseline: float, downscale: int = 1) -> StereoPair:
    """A pair at full size (images (H, W, 3) in [0, 1], disparity NaN where unknown, principal point OpenCV-style:
    pixel centres at integers, as Middlebury's calib.txt) area-downscaled by an integer factor and centre-cropped
    to multiples of 16; calibration scaled and shifted to match."""
    f = int(downscale)
    if f < 1:
        raise ValueError(f"downscale must be a positive integer, got {downscale}")
    H, W = (left.shape[0] // f) * f, (left.shape[1] // f) * f
    if H // f < SIZE_MULTIPLE or W // f < SIZE_MULTIPLE:
        raise ValueError(f"a {left.shape[1]}x{left.shape[0]} pair downscaled {f}x is smaller than "
                         f"{SIZE_MULTIPLE}x{SIZE_MULTIPLE} px")
    imgs = [(downscale_local_mean(x[:H, :W].astype(np.float32), (f, f, 1))) for x in (left, right)]
    d = _downscale_disparity(np.where(np.isfinite(disparity), disparity, np.nan).astype(np.float32), f)
    # OpenCV-style principal point to centres-at-+0.5, then through an f x f box average
    cx, cy = (cx + 0.5) / f, (cy + 0.5) / f
    h, w = d.shape
    ch, cw = (h // SIZE_MULTIPLE) * SIZE_MULTIPLE, (w // SIZE_MULTIPLE) * SIZE_MULTIPLE
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    crop = (slice(y0, y0 + ch), slice(x0, x0 + cw))
    return StereoPair(imgs[0][crop].astype(np.float32), imgs[1][crop].astype(np.float32), d[crop],
                      focal / f, cx - x0, cy - y0, doffs / f, baseline)


def load_motorcycle(downscale: int = 1) -> StereoPair:
    """The Motorcycle pair, area-downscaled by an integer factor (as scikit-image made its copy) and centre-cropped
    to multiples of 16; calibration scaled and shifted to match."""
    from skimage.data import stereo_motorcycle

    if downscale < 1:
        raise ValueError(f"downscale must be a positive integer, got {downscale}")
    left, right, disp = stereo_motorcycle()
    return make_pair(left.astype(np.float32) / 255.0, right.astype(np.float32) / 255.0, disp.astype(np.float32),
                     focal=FOCAL_PX, cx=CX, cy=CY, doffs=DOFFS_PX, baseline=BASELINE_M, downscale=downscale)


def stereo_trajectory(pair: StereoPair, frames: int) -> Cameras:
    """``frames`` cameras from the left view to the right one: centre moved linearly along the baseline and the
    principal point shifted linearly by doffs, so the last camera is exactly the right view."""
    if frames < 2:
        raise ValueError(f"the trajectory needs at least 2 frames (left and right), got {frames}")
    t = torch.linspace(0, 1, frames)
    K = pair.K("left").repeat(frames, 1, 1)
    K[:, 0, 2] += t * pair.doffs
    w2c = torch.eye(4).repeat(frames, 1, 1)
    w2c[:, 0, 3] = -t * pair.baseline
    return Cameras(K, w2c, pair.width, pair.height)
