"""Ground-truth geometry: from a procedural scene (any ``render(cams) -> (rgb, depth)`` callable) or from
RGB-D + pose folders on disk.

Folder layouts
- TUM RGB-D: ``rgb.txt`` and ``depth.txt`` ("timestamp path" lines), ``groundtruth.txt``
  ("timestamp tx ty tz qx qy qz qw": camera-to-world of the colour camera's optical frame, which is
  OpenCV's x right y down z forward); depth PNGs are 16-bit, metres * 5000, 0 = no reading. Frames are
  associated to the nearest depth and pose timestamps within ``max_dt`` seconds. Intrinsics: the
  ``K`` argument, else ``calibration.txt`` ("fx fy cx cy", OpenCV's integer pixel centres), else TUM's
  default (525, 525, 319.5, 239.5). Either way cx, cy move by +0.5 to our pixel-centre convention.
- Simple: ``cameras.npz`` (``worldwarp.geometry.trajectory_io``), ``rgb/*.png`` and ``depth/*.png``
  (16-bit millimetres, 0 = no reading), matched by sorted file name.
Every problem with a folder is an RGBDFolderError whose one-line message names the path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
from scipy.spatial.transform import Rotation

from ..geometry.cameras import CameraError, Cameras, invert_rigid
from ..geometry.trajectory_io import load_cameras_npz
from .types import GeometryEstimate, check_frames

TUM_DEPTH_FACTOR = 5000.0
TUM_DEFAULT_INTRINSICS = (525.0, 525.0, 319.5, 239.5)
Render = Callable[[Cameras], tuple[torch.Tensor, torch.Tensor]]


class RGBDFolderError(FileNotFoundError):
    """A malformed RGB-D folder (a FileNotFoundError, so command lines print it as one line)."""


@dataclass
class RGBDSequence:
    rgb: torch.Tensor  # (N, H, W, 3) float in [0, 1]
    depth: torch.Tensor  # (N, H, W) metres, 0 = no reading
    K: torch.Tensor  # (N, 3, 3)
    w2c: torch.Tensor  # (N, 4, 4)
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)


class SceneGroundTruth:
    """GeometryEstimator reading exact depth from a renderable scene at the given (required) cameras."""

    def __init__(self, render: Render) -> None:
        self.render = render

    def estimate(self, frames: torch.Tensor, *, K: torch.Tensor | None = None,
                 w2c: torch.Tensor | None = None) -> GeometryEstimate:
        frames = check_frames(frames)
        if K is None or w2c is None:
            raise ValueError("ground truth from a scene needs the frames' intrinsics K and poses w2c")
        V, H, W, _ = frames.shape
        K = torch.as_tensor(K, dtype=torch.float32).expand(V, 3, 3).clone()
        w2c = torch.as_tensor(w2c, dtype=torch.float32).clone()
        _, depth = self.render(Cameras(K, w2c, W, H))
        return _exact(depth, K, w2c)


class SequenceGroundTruth:
    """GeometryEstimator returning a loaded RGB-D sequence's depth and poses for frames ``start``, ``start+1``, ..."""

    def __init__(self, seq: RGBDSequence, start: int = 0) -> None:
        self.seq, self.start = seq, start

    def estimate(self, frames: torch.Tensor, *, K: torch.Tensor | None = None,
                 w2c: torch.Tensor | None = None) -> GeometryEstimate:
        V = check_frames(frames).shape[0]
        sl = slice(self.start, self.start + V)
        if self.start + V > len(self.seq):
            raise ValueError(f"sequence has {len(self.seq)} frames, asked for {self.start}..{self.start + V - 1}")
        if tuple(frames.shape[1:3]) != tuple(self.seq.depth.shape[1:]):
            raise ValueError(f"frames are {tuple(frames.shape[1:3])}, the sequence is {tuple(self.seq.depth.shape[1:])}")
        return _exact(self.seq.depth[sl], self.seq.K[sl], self.seq.w2c[sl])


def _exact(depth: torch.Tensor, K: torch.Tensor, w2c: torch.Tensor) -> GeometryEstimate:
    ok = torch.isfinite(depth) & (depth > 0)
    return GeometryEstimate(torch.where(ok, depth, torch.zeros_like(depth)).float(), K.float(), w2c.float(),
                            ok.float(), {}, torch.ones(len(depth)))


# ---- folders -------------------------------------------------------------------------------------------

def _read_png(path: Path, root: Path, depth: bool) -> np.ndarray:
    if not path.is_file():
        raise RGBDFolderError(f"{root}: listed image {path} does not exist")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise RGBDFolderError(f"{root}: {path} is not a readable image")
    if depth:
        if img.ndim != 2 or img.dtype != np.uint16:
            raise RGBDFolderError(f"{root}: depth {path} must be a single-channel 16-bit PNG, got {img.dtype} "
                                  f"with shape {img.shape}")
        return img
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)
    return img.astype(np.float32) / (65535.0 if img.dtype == np.uint16 else 255.0)


def _stack(root: Path, rgbs: list[Path], depths: list[Path], scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    rgb = [_read_png(p, root, False) for p in rgbs]
    dep = [_read_png(p, root, True).astype(np.float32) / scale for p in depths]
    shapes = {a.shape[:2] for a in rgb} | {a.shape for a in dep}
    if len(shapes) != 1:
        raise RGBDFolderError(f"{root}: images differ in size: {sorted(shapes)}")
    return torch.from_numpy(np.stack(rgb)), torch.from_numpy(np.stack(dep))


def _read_list(path: Path, root: Path, ncols: int) -> list[list[str]]:
    if not path.is_file():
        raise RGBDFolderError(f"{root}: missing {path.name} (expected a TUM RGB-D folder: rgb.txt, depth.txt, groundtruth.txt)")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != ncols:
            raise RGBDFolderError(f"{path}:{n}: expected {ncols} columns, got {len(parts)}")
        try:
            float(parts[0])
            if ncols > 2:
                [float(p) for p in parts[1:]]
        except ValueError:
            raise RGBDFolderError(f"{path}:{n}: not a number in {line!r}") from None
        rows.append(parts)
    if not rows:
        raise RGBDFolderError(f"{path} lists no entries")
    return rows


def _nearest(ts: np.ndarray, t: float, max_dt: float) -> int | None:
    i = int(np.argmin(np.abs(ts - t)))
    return i if abs(ts[i] - t) <= max_dt else None


def _tum_K(root: Path, K) -> torch.Tensor:
    if K is not None:
        return torch.as_tensor(K, dtype=torch.float32)
    fx, fy, cx, cy = TUM_DEFAULT_INTRINSICS
    calib = root / "calibration.txt"
    if calib.is_file():
        try:
            fx, fy, cx, cy = [float(x) for x in calib.read_text().split()[:4]]
        except ValueError:
            raise RGBDFolderError(f"{calib}: expected 'fx fy cx cy'") from None
    return torch.tensor([[fx, 0, cx + 0.5], [0, fy, cy + 0.5], [0, 0, 1]], dtype=torch.float32)


def _c2w_from_tum(row: list[str]) -> np.ndarray:
    tx, ty, tz, qx, qy, qz, qw = (float(x) for x in row[1:])
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat([qx, qy, qz, qw]).as_matrix()  # scipy: scalar-last, as TUM writes it
    T[:3, 3] = (tx, ty, tz)
    return T


def load_tum_rgbd(folder: str | Path, *, K=None, max_frames: int | None = None, stride: int = 1,
                  max_dt: float = 0.02) -> RGBDSequence:
    root = Path(folder)
    if not root.is_dir():
        raise RGBDFolderError(f"RGB-D folder not found: {root}")
    rgb_rows = _read_list(root / "rgb.txt", root, 2)
    depth_rows = _read_list(root / "depth.txt", root, 2)
    gt_rows = _read_list(root / "groundtruth.txt", root, 8)
    d_ts = np.array([float(r[0]) for r in depth_rows])
    g_ts = np.array([float(r[0]) for r in gt_rows])
    picked = []
    for r in rgb_rows[::stride]:
        t = float(r[0])
        i, j = _nearest(d_ts, t, max_dt), _nearest(g_ts, t, max_dt)
        if i is not None and j is not None:
            picked.append((r[1], depth_rows[i][1], gt_rows[j]))
        if max_frames is not None and len(picked) >= max_frames:
            break
    if not picked:
        raise RGBDFolderError(f"{root}: no rgb frame has a depth image and a pose within {max_dt} s")
    rgb, depth = _stack(root, [root / p[0] for p in picked], [root / p[1] for p in picked], TUM_DEPTH_FACTOR)
    w2c = invert_rigid(torch.from_numpy(np.stack([_c2w_from_tum(p[2]) for p in picked]))).float()
    Kt = _tum_K(root, K)
    return RGBDSequence(rgb, depth, Kt.expand(len(picked), 3, 3).clone(), w2c, [p[0] for p in picked])


def load_rgbd_folder(folder: str | Path) -> RGBDSequence:
    """The simple layout: cameras.npz + rgb/*.png + depth/*.png (16-bit millimetres)."""
    root = Path(folder)
    if not root.is_dir():
        raise RGBDFolderError(f"RGB-D folder not found: {root}")
    for need in ("cameras.npz", "rgb", "depth"):
        if not (root / need).exists():
            raise RGBDFolderError(f"{root}: missing {need} (expected cameras.npz, rgb/*.png, depth/*.png)")
    try:
        cams = load_cameras_npz(root / "cameras.npz")
    except CameraError as e:
        raise RGBDFolderError(str(e)) from None
    rgbs, depths = sorted((root / "rgb").glob("*.png")), sorted((root / "depth").glob("*.png"))
    if not (len(rgbs) == len(depths) == len(cams)):
        raise RGBDFolderError(f"{root}: {len(rgbs)} rgb, {len(depths)} depth PNGs and {len(cams)} cameras; "
                              "expected the same number of each")
    rgb, depth = _stack(root, rgbs, depths, 1000.0)
    if (depth.shape[2], depth.shape[1]) != (cams.width, cams.height):
        raise RGBDFolderError(f"{root}: images are {depth.shape[2]}x{depth.shape[1]} but cameras.npz says "
                              f"{cams.width}x{cams.height}")
    return RGBDSequence(rgb, depth, cams.K.clone(), cams.w2c.clone(), [p.name for p in rgbs])
