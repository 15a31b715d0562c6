"""Camera trajectories: preset motions, named movements (``movements``), key-pose interpolation, files played
at a speed and extended (``extension``), and the run's trajectory from its config.

Every preset is a motion of the camera expressed in the FIRST camera's own frame (OpenCV: x right,
y down, z forward; "up" is -y). Progress along the path is p in [0, 1], p_i = i / (N - 1):
with easing 'linear' the camera moves at constant speed along the path (constant metres per frame
for translations, constant degrees per frame for orbits and pans, constant focal RATIO per frame for
zooms, constant speed along the helix for the spiral); 'smooth' eases in and out (p -> 3p^2 - 2p^3).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from scipy.interpolate import CubicSpline
from scipy.spatial.transform import Rotation, RotationSpline, Slerp

from ..config.camera import Preset, TrajectoryConfig
from ..config.chunk import ChunkConfig
from .cameras import Cameras, CameraError, intrinsics_from_fov
from .extension import extend_path
from .movements import chunk_steps, movement_path, parse, per_chunk
from .trajectory_io import load_trajectory

Easing = Literal["linear", "smooth"]
UP = np.array([0.0, -1.0, 0.0])  # camera up in OpenCV camera coordinates


def _as_np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def progress(n_frames: int, easing: Easing = "linear") -> np.ndarray:
    """Path progress p (N,) from 0 to 1; a single frame sits at p = 0 (the start pose)."""
    if n_frames < 1:
        raise CameraError(f"n_frames must be >= 1, got {n_frames}")
    p = np.linspace(0.0, 1.0, n_frames) if n_frames > 1 else np.zeros(1)
    if easing == "smooth":
        return p * p * (3 - 2 * p)
    if easing != "linear":
        raise CameraError(f"unknown easing {easing!r} (expected 'linear' or 'smooth')")
    return p


def _rigid(R: np.ndarray, center: np.ndarray) -> np.ndarray:
    """Camera-to-reference 4x4 (N, 4, 4) from rotations (N, 3, 3) whose columns are camera axes, and centres."""
    T = np.tile(np.eye(4), (len(R), 1, 1))
    T[:, :3, :3], T[:, :3, 3] = R, center
    return T


def _yaw(angles_rad: np.ndarray) -> np.ndarray:
    """Rotations (N, 3, 3) about camera-up (-y) by +angle, which turns the +z axis toward -x (left)."""
    return Rotation.from_rotvec(angles_rad[:, None] * UP).as_matrix()


def _relative_motion(
    preset: str, p: np.ndarray, distance: float, angle_deg: float, pivot_depth: float,
    spiral_radius: float, spiral_turns: float,
) -> np.ndarray:
    """Pose of camera i in the first camera's frame, as camera-to-first-camera 4x4 (N, 4, 4)."""
    n, eye = len(p), np.tile(np.eye(3), (len(p), 1, 1))
    axis = {"forward": (2, 1), "backward": (2, -1), "truck_left": (0, -1), "truck_right": (0, 1)}
    if preset in axis:
        k, sign = axis[preset]
        c = np.zeros((n, 3))
        c[:, k] = sign * distance * p
        return _rigid(eye, c)
    ang = np.deg2rad(angle_deg) * p
    if preset in ("pan_left", "pan_right"):
        return _rigid(_yaw(ang if preset == "pan_left" else -ang), np.zeros((n, 3)))
    if preset in ("orbit_left", "orbit_right"):
        # rigidly rotate the camera about the vertical line through the pivot: the pivot stays on the
        # optical axis; a negative yaw swings the centre toward -x (left) while the view turns right
        R = _yaw(-ang if preset == "orbit_left" else ang)
        pivot = np.array([0.0, 0.0, pivot_depth])
        return _rigid(R, pivot + R @ -pivot)
    if preset in ("zoom_in", "zoom_out"):
        return _rigid(eye, np.zeros((n, 3)))
    if preset == "spiral":
        # helix through the start: circle of radius r in the image plane (starting upward), moving forward
        phi = 2 * np.pi * spiral_turns * p
        c = np.stack([spiral_radius * (np.cos(phi) - 1), -spiral_radius * np.sin(phi), distance * p], axis=1)
        return _rigid(eye, c)
    raise CameraError(f"unknown trajectory preset {preset!r}")


def preset_trajectory(
    preset: Preset,
    n_frames: int,
    start_w2c: torch.Tensor,
    K: torch.Tensor,
    *,
    distance: float = 1.0,
    angle_deg: float = 60.0,
    zoom: float = 2.0,
    pivot_depth: float = 3.0,
    spiral_radius: float = 0.25,
    spiral_turns: float = 1.0,
    easing: Easing = "linear",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Intrinsics (N, 3, 3) and world-to-camera (N, 4, 4), float32, of a preset camera motion.

    Frame 0 is exactly ``start_w2c`` / ``K``. Motions, relative to the first camera (see module docstring):
    forward/backward: centre moves ``distance`` along +z/-z, orientation fixed.
    truck_left/right: centre moves ``distance`` along -x/+x, orientation fixed.
    pan_left/right: centre fixed, camera yaws ``angle_deg`` about its up axis, view turning toward -x/+x.
    orbit_left/right: the camera turns ``angle_deg`` about the vertical axis through the pivot at
    ``pivot_depth`` along +z, its centre moving toward -x/+x, always looking at the pivot.
    zoom_in/out: pose fixed, focal lengths multiplied by zoom**p / zoom**-p (principal point fixed).
    spiral: forward by ``distance`` while the centre makes ``spiral_turns`` circles of ``spiral_radius``
    in the image plane (a helix through the start, first moving up).
    """
    p = progress(n_frames, easing)
    start = _as_np(start_w2c)
    K0 = _as_np(K)
    if start.shape != (4, 4) or K0.shape != (3, 3):
        raise CameraError(f"start_w2c must be (4, 4) and K (3, 3), got {start.shape} and {K0.shape}")
    rel = _relative_motion(preset, p, distance, angle_deg, pivot_depth, spiral_radius, spiral_turns)
    # w2c_i = (camera i -> first camera)^-1 @ (world -> first camera); rel[0] = I keeps frame 0 exact
    w2c = np.linalg.inv(rel) @ start
    w2c[0] = start
    Ks = np.repeat(K0[None], n_frames, axis=0)
    if preset in ("zoom_in", "zoom_out"):
        # geometric interpolation: the image magnifies by the same ratio every frame
        f = zoom ** (p if preset == "zoom_in" else -p)
        Ks[:, 0, 0] *= f
        Ks[:, 1, 1] *= f
        Ks[:, 0, 1] *= f  # skew scales with focal, so the pixel grid stays consistent
    return torch.from_numpy(Ks).float(), torch.from_numpy(w2c).float()


def interpolate_poses(
    key_w2c: torch.Tensor,
    key_times: torch.Tensor | np.ndarray,
    times: torch.Tensor | np.ndarray,
    method: Literal["linear", "spline"] = "linear",
) -> torch.Tensor:
    """World-to-camera (N, 4, 4) at ``times`` from key poses (M, 4, 4) at strictly increasing ``key_times``.

    'linear': rotations are slerped and camera CENTRES (not t) are interpolated linearly between the
    neighbouring keys, so the camera moves straight between key positions at constant speed per segment.
    'spline': a C2 rotation spline and cubic splines of the centres (smooth through the keys).
    Both pass through the key poses exactly at the key times; times outside the keys are clamped.
    """
    W = _as_np(key_w2c)
    kt, t = _as_np(key_times).reshape(-1), _as_np(times).reshape(-1)
    if W.ndim != 3 or W.shape[1:] != (4, 4) or len(W) != len(kt) or len(W) == 0:
        raise CameraError(f"key poses (M, 4, 4) and key times (M,) must match, got {W.shape} and {kt.shape}")
    if len(kt) > 1 and not (np.diff(kt) > 0).all():
        raise CameraError("key times must be strictly increasing")
    R_c2w = np.swapaxes(W[:, :3, :3], 1, 2)
    centers = -np.einsum("nij,nj->ni", R_c2w, W[:, :3, 3])
    if len(kt) == 1:
        return torch.from_numpy(np.repeat(W, len(t), axis=0)).to(torch.as_tensor(key_w2c).dtype)
    tc = np.clip(t, kt[0], kt[-1])
    rots = Rotation.from_matrix(R_c2w)
    if method == "spline" and len(kt) > 2:
        R = RotationSpline(kt, rots)(tc).as_matrix()
        C = CubicSpline(kt, centers, axis=0)(tc)
    elif method in ("linear", "spline"):
        R = Slerp(kt, rots)(tc).as_matrix()
        C = np.stack([np.interp(tc, kt, centers[:, k]) for k in range(3)], axis=1)
    else:
        raise CameraError(f"unknown interpolation method {method!r}")
    out = np.linalg.inv(_rigid(R, C))
    hit = np.searchsorted(kt, tc).clip(0, len(kt) - 1)
    exact = kt[hit] == tc
    out[exact] = W[hit[exact]]  # bit-exact at the keys
    return torch.from_numpy(out).to(torch.as_tensor(key_w2c).dtype)


def anchor_to(w2c: torch.Tensor, start_w2c: torch.Tensor) -> torch.Tensor:
    """Re-express poses (N, 4, 4) relative to their first camera, placed at ``start_w2c``:
    w2c'_i = w2c_i @ w2c_0^-1 @ start, so w2c'_0 = start and every relative motion is kept."""
    W, S = _as_np(w2c), _as_np(start_w2c)
    out = W @ np.linalg.inv(W[0]) @ S
    out[0] = S
    return torch.from_numpy(out).float()


def resample_speed(K: np.ndarray, w2c: np.ndarray, speed: float) -> tuple[np.ndarray, np.ndarray]:
    """The path played ``speed`` times as fast (the authors' speed multiplier): frame i is the path at time
    i * speed, a C2 spline between its frames, up to its last frame; speed 1 returns it unchanged."""
    if speed == 1.0 or len(w2c) < 2:
        return K, w2c
    keys = np.arange(len(w2c), dtype=np.float64)
    times = np.arange(0.0, keys[-1] + 1e-9, speed)
    Ks = np.stack([np.interp(times, keys, K[:, r, c]) for r in range(3) for c in range(3)], -1).reshape(-1, 3, 3)
    return Ks, interpolate_poses(w2c, keys, times, method="spline").numpy()


def _file_trajectory(cfg: TrajectoryConfig, n_frames: int, width: int, height: int, start_w2c: torch.Tensor) -> Cameras:
    cams = load_trajectory(cfg.file, width, height)
    K, w2c = resample_speed(cams.K.double().numpy(), cams.w2c.double().numpy(), cfg.speed)
    if len(w2c) < n_frames and cfg.extend == "error":
        raise CameraError(f"{cfg.file}: trajectory has {len(w2c)} frames at speed {cfg.speed:g} but the longshot "
                          f"needs {n_frames} (set trajectory.extend to extrapolate, loop, pingpong or slowdown)")
    K, w2c = extend_path(K, w2c, n_frames, cfg.extend)
    w2c_t = torch.from_numpy(w2c).float()
    if cfg.anchor_file:
        w2c_t = anchor_to(w2c_t, start_w2c)
    return Cameras(torch.from_numpy(K).float(), w2c_t, width, height)


def movement_trajectory(
    movements: list[str], steps: list[int], start_w2c: torch.Tensor, pivot_depth: float = 3.0, speed: float = 1.0
) -> torch.Tensor:
    """World-to-camera (1 + sum(steps), 4, 4): chunk k moves by ``movements[k]`` (see geometry.movements) over
    ``steps[k]`` frames, every magnitude times ``speed``; frame 0 is exactly ``start_w2c``."""
    motions = [parse(e).scaled(speed) for e in movements]
    rel = movement_path(motions, steps, pivot_depth)
    w2c = np.linalg.inv(rel) @ _as_np(start_w2c)
    w2c[0] = _as_np(start_w2c)
    return torch.from_numpy(w2c).float()


def make_trajectory(
    cfg: TrajectoryConfig, n_frames: int, width: int, height: int, start_w2c: torch.Tensor,
    chunk: ChunkConfig | None = None,
) -> Cameras:
    """The longshot's N cameras: ``cfg.file``, else ``cfg.movements`` (one per ``chunk``; the whole path is one
    chunk when ``chunk`` is None), else the preset. K from ``cfg.fov_deg`` unless the file has its own.

    A file's intrinsics are refitted to ``width`` x ``height``; it is played at ``cfg.speed`` and, when shorter
    than ``n_frames``, continued as ``cfg.extend`` says; with ``cfg.anchor_file`` its poses are re-expressed so
    that its first camera sits at ``start_w2c`` (files live in their own world frame).
    """
    if cfg.file is not None:
        return _file_trajectory(cfg, n_frames, width, height, start_w2c)
    K = intrinsics_from_fov(width, height, cfg.fov_deg)
    if cfg.movements is not None:
        if chunk is not None and chunk.total_frames != n_frames:
            raise CameraError(f"{n_frames} frames asked but the chunks cover {chunk.total_frames}")
        steps = chunk_steps(chunk.frames, chunk.history, chunk.count) if chunk is not None else [n_frames - 1]
        w2c = movement_trajectory(per_chunk(cfg.movements, len(steps)), steps, start_w2c, cfg.pivot_depth, cfg.speed)
        return Cameras(K.expand(n_frames, 3, 3), w2c, width, height)
    s = cfg.speed
    Ks, w2c = preset_trajectory(
        cfg.preset, n_frames, start_w2c, K, distance=cfg.distance * s, angle_deg=cfg.angle_deg * s,
        zoom=cfg.zoom ** s, pivot_depth=cfg.pivot_depth, spiral_radius=cfg.spiral_radius,
        spiral_turns=cfg.spiral_turns * s, easing=cfg.easing,
    )
    return Cameras(Ks, w2c, width, height)
