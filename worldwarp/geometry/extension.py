"""Making a camera path longer: a trajectory file shorter than the longshot.

The four ways to go past the end are the authors' (gradio_demo.py of qbhan/WorldWarp@0396b80):
- extrapolate: keep the mean per-frame motion of the last window (10 frames: 9 steps), expressed in the moving
  camera's own frame (so a turning camera keeps turning);
- loop: start the path again from its first pose (a cut back to the start);
- pingpong: run it backwards to the start, then forwards again, never repeating an end pose;
- slowdown: like extrapolate, but the k-th new step is scaled by max(0.95**k, 0.1), so it decelerates and
  never fully stops.
Intrinsics follow the same frame indices (loop, pingpong) or repeat the last one (extrapolate, slowdown).
All poses here are world-to-camera (N, 4, 4); the motion is measured in camera coordinates, so the
world-to-camera / camera-to-world choice does not change it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.spatial.transform import Rotation

Extend = Literal["error", "extrapolate", "loop", "pingpong", "slowdown"]
WINDOW = 10  # frames whose motion the extrapolating modes continue
DECAY, FLOOR = 0.95, 0.1  # slowdown: per-frame decay of the speed, and the fraction it never drops below


def _local_steps(w2c: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean per-frame step over the last ``window`` frames: translation and rotation vector in the camera's frame."""
    c2w = np.linalg.inv(w2c[-window:])
    R, t = c2w[:, :3, :3], c2w[:, :3, 3]
    lin = np.einsum("nji,nj->ni", R[:-1], t[1:] - t[:-1])  # R^T (t_next - t): the step seen by the camera
    ang = Rotation.from_matrix(np.swapaxes(R[:-1], 1, 2) @ R[1:]).as_rotvec()
    return lin.mean(axis=0), ang.mean(axis=0)


def _continue(w2c: np.ndarray, n_new: int, scales: np.ndarray) -> np.ndarray:
    """``n_new`` poses after the last, each step the window's mean step times ``scales[k]``."""
    window = max(2, min(len(w2c), WINDOW))
    lin, ang = _local_steps(w2c, window)
    c2w = np.linalg.inv(w2c[-1])
    R, t = c2w[:3, :3], c2w[:3, 3]
    out = np.empty((n_new, 4, 4))
    for k in range(n_new):
        t = t + R @ (lin * scales[k])
        R = R @ Rotation.from_rotvec(ang * scales[k]).as_matrix()
        step = np.eye(4)
        step[:3, :3], step[:3, 3] = R, t
        out[k] = np.linalg.inv(step)
    return out


def extend_path(K: np.ndarray, w2c: np.ndarray, n_frames: int, mode: Extend) -> tuple[np.ndarray, np.ndarray]:
    """(K, w2c) with exactly ``n_frames`` frames: the first ones unchanged, then continued by ``mode``."""
    n = len(w2c)
    if n >= n_frames:
        return K[:n_frames], w2c[:n_frames]
    n_new = n_frames - n
    if mode in ("loop", "pingpong"):
        order = np.arange(n) if mode == "loop" or n < 3 else np.r_[np.arange(n), np.arange(n - 2, 0, -1)]
        idx = order[np.arange(n_frames) % len(order)]
        return K[idx], w2c[idx]
    if mode == "extrapolate":
        scales = np.ones(n_new)
    elif mode == "slowdown":
        scales = np.maximum(DECAY ** np.arange(n_new), FLOOR)
    else:
        raise ValueError(f"unknown extension mode {mode!r}")
    if n < 2:  # a single pose has no motion to continue: hold it
        return np.repeat(K[:1], n_frames, 0), np.repeat(w2c[:1], n_frames, 0)
    new = _continue(w2c, n_new, scales)
    return np.concatenate([K, np.repeat(K[-1:], n_new, 0)]), np.concatenate([w2c, new])
