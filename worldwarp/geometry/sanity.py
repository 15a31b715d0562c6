"""What a camera path does (turn, travel, zoom) and whether a run can follow it, checked before any compute.

Bounds per frame (consecutive cameras), relative to the scene, so a path in the wrong units is refused rather
than rendered as black frames (a trajectory scaled by 1e30 is finite but leaves the scene at frame 1):
- translation at most ``MAX_STEP_DEPTHS`` (0.5) times the scene's depth scale D: a camera that moves half the
  depth of the view between two frames has left most of the cached geometry behind within two frames. D is the
  median depth of the first view for a procedural scene, and ``scene.constant_depth`` (3 m by default) for a
  photo, whose depth model's scale is not known before it runs (relative models are scaled to about that, metric
  ones give metres);
- rotation at most half the horizontal field of view of the first camera: consecutive views then still share
  half their content, which the warp needs;
- focal length changing by at most a factor 2.
The bounds sit far above any path this project ships: the demo moves 2 m over 53 frames, 0.038 m per frame,
against D = 6.1 m (room) and 9.5 m (garden), bounds of 3.1 m and 4.7 m per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from .cameras import CameraError

MAX_STEP_DEPTHS = 0.5
MAX_ZOOM_STEP = 2.0


@dataclass(frozen=True)
class PathSummary:
    frames: int
    turn_deg: float  # rotation from the first camera to the last
    turn_path_deg: float  # the per-frame rotations added up
    travel: float  # length of the centres' path, scene units
    net: float  # distance from the first centre to the last
    zoom: float  # focal length of the last camera / the first
    max_step: float  # largest translation between consecutive frames
    max_turn_deg: float  # largest rotation between consecutive frames
    max_zoom_step: float  # largest focal ratio between consecutive frames (>= 1)
    fov_deg: float  # horizontal field of view of the first camera


def summarize(K: np.ndarray, w2c: np.ndarray, width: int) -> PathSummary:
    """The path's totals and per-frame maxima from intrinsics (N, 3, 3) and world-to-camera (N, 4, 4)."""
    K, w2c = np.asarray(K, np.float64), np.asarray(w2c, np.float64)
    R = w2c[:, :3, :3]
    C = -np.einsum("nji,nj->ni", R, w2c[:, :3, 3])  # centres: -R^T t
    rel = np.einsum("nij,nkj->nik", R[1:], R[:-1])  # R_{i+1} R_i^T
    steps = np.linalg.norm(np.diff(C, axis=0), axis=1)
    turns = _angles(rel)
    f = K[:, 0, 0]
    ratio = np.abs(np.log(f[1:] / f[:-1])) if len(f) > 1 else np.zeros(0)
    return PathSummary(
        frames=len(w2c), turn_deg=float(_angles((R[-1] @ R[0].T)[None])[0]), turn_path_deg=float(turns.sum()),
        travel=float(steps.sum()), net=float(np.linalg.norm(C[-1] - C[0])), zoom=float(f[-1] / f[0]),
        max_step=float(steps.max(initial=0.0)), max_turn_deg=float(turns.max(initial=0.0)),
        max_zoom_step=float(np.exp(ratio.max(initial=0.0))), fov_deg=math.degrees(2 * math.atan(width / (2 * f[0]))))


def _angles(R: np.ndarray) -> np.ndarray:
    if len(R) == 0:
        return np.zeros(0)
    return np.degrees(Rotation.from_matrix(R).magnitude())


def check_path(s: PathSummary, depth_scale: float, what: str) -> None:
    """CameraError naming the bound a path exceeds (module docstring); ``what`` names the path in the message."""
    limit = MAX_STEP_DEPTHS * depth_scale
    if not math.isfinite(s.max_step) or s.max_step > limit:
        raise CameraError(f"{what}: moves {s.max_step:.3g} in one frame, more than {MAX_STEP_DEPTHS:g} x the scene's depth "
                          f"scale {depth_scale:.3g} = {limit:.3g} (wrong units, or a path too fast; trajectory.speed "
                          "or trajectory.distance slow it down)")
    if s.max_turn_deg > s.fov_deg / 2:
        raise CameraError(f"{what}: turns {s.max_turn_deg:.1f} degrees in one frame, more than half the field of view "
                          f"({s.fov_deg / 2:.1f}); consecutive frames would share too little to warp")
    if not math.isfinite(s.max_zoom_step) or s.max_zoom_step > MAX_ZOOM_STEP:
        raise CameraError(f"{what}: its focal length changes by x{s.max_zoom_step:.3g} in one frame (at most "
                          f"x{MAX_ZOOM_STEP:g})")


def describe(kind: str, name: str, s: PathSummary, units: str = "m") -> str:
    """One line for the run log and preview-trajectory: what was resolved and what it does."""
    zoom = f", zoom x{s.zoom:.3g}" if abs(s.zoom - 1) > 1e-6 else ""
    return (f"trajectory: {kind} {name}: {s.frames} frames, turns {s.turn_deg:.1f} deg (first to last; "
            f"{s.turn_path_deg:.1f} deg summed per frame), travels {s.travel:.3g} {units} (net {s.net:.3g} {units}){zoom}")
