"""Similarity (Sim(3)) alignment of estimated cameras to reference cameras.

A Sim(3) here is (s, R, t) mapping a point of the ESTIMATED world to the REFERENCE world:

    x_ref = s R x_est + t            (s > 0, R in SO(3), t in R^3)

For a camera with estimated world-to-camera (R_e, t_e) and reference world-to-camera (R_r, t_r), the two
describe the same camera when its camera frame agrees up to the unit change s:
R_r x_ref + t_r = s (R_e x_est + t_e). Substituting x_ref gives

    R_e = R_r R                      (so R = R_r^T R_e, per camera)
    C_r = s R C_e + t                (camera centres C = -R^T t map like points)

and the estimated camera expressed in the reference world is

    w2c_aligned = [ R_e R^T | s t_e - R_e R^T t ]

whose z-depths are s times the estimated depths. Inputs may be numpy arrays or torch tensors;
results are float64 torch tensors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from .cameras import CameraError


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))


def umeyama(src, dst, with_scale: bool = True) -> tuple[float, torch.Tensor, torch.Tensor]:
    """(s, R (3, 3), t (3,)) minimising sum_i ||dst_i - (s R src_i + t)||^2 over points (N, 3).

    Closed form (Umeyama 1991): with centred points and the cross-covariance S = dst'^T src' / N = U D V^T,
    R = U diag(1, 1, sign det(U V^T)) V^T, s = trace(D diag(..)) / var(src), t = mean(dst) - s R mean(src).
    The rotation is unique only for >= 3 non-collinear points; about the line of collinear points it is
    arbitrary (``align_sim3`` avoids that by taking rotation from camera orientations).
    """
    a, b = _np(src), _np(dst)
    if a.ndim != 2 or a.shape[1] != 3 or a.shape != b.shape or len(a) == 0:
        raise CameraError(f"umeyama needs two (N, 3) point sets of equal shape, got {a.shape} and {b.shape}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    a0, b0 = a - mu_a, b - mu_b
    U, D, Vt = np.linalg.svd(b0.T @ a0 / len(a))
    d = np.ones(3)
    d[2] = np.sign(np.linalg.det(U @ Vt)) or 1.0
    R = U @ np.diag(d) @ Vt
    var_a = (a0**2).sum() / len(a)
    if with_scale:
        if var_a <= 1e-300:
            raise CameraError("umeyama: source points all coincide, the scale is undetermined")
        s = float((D * d).sum() / var_a)
    else:
        s = 1.0
    return s, _t(R), _t(mu_b - s * R @ mu_a)


def apply_sim3_to_points(points, s: float, R, t) -> torch.Tensor:
    """x_ref = s R x_est + t for points (..., 3)."""
    x = _np(points)
    return _t(s * x @ _np(R).T + _np(t))


def apply_sim3_to_w2c(w2c, s: float, R, t) -> torch.Tensor:
    """Estimated world-to-camera (..., 4, 4) -> the same cameras in the reference world (unit scale kept
    rigid): [R_e R^T | s t_e - R_e R^T t]."""
    W, R, t = _np(w2c), _np(R), _np(t)
    out = W.copy()
    Rn = W[..., :3, :3] @ R.T
    out[..., :3, :3] = Rn
    out[..., :3, 3] = s * W[..., :3, 3] - Rn @ t
    return _t(out)


def apply_sim3_to_depth(depth, s: float) -> torch.Tensor | np.ndarray:
    """z-depth seen by an aligned camera: s times the estimated depth (rotation and translation of the
    world do not change depth in the camera's own frame). Keeps the input's type and dtype."""
    return depth * s


@dataclass
class Sim3Result:
    """x_ref = s R x_est + t, the aligned estimated poses, and per-frame residuals against the reference."""

    s: float
    R: torch.Tensor  # (3, 3)
    t: torch.Tensor  # (3,)
    aligned_w2c: torch.Tensor  # (N, 4, 4): estimated cameras in the reference world and scale
    rot_err_deg: torch.Tensor  # (N,): geodesic angle between aligned and reference rotations
    trans_err: torch.Tensor  # (N,): distance between aligned and reference centres, reference units
    scale_observable: bool  # False: the centres barely moved, s is the fallback, not an estimate

    def apply_w2c(self, w2c) -> torch.Tensor:
        return apply_sim3_to_w2c(w2c, self.s, self.R, self.t)

    def apply_points(self, points) -> torch.Tensor:
        return apply_sim3_to_points(points, self.s, self.R, self.t)

    def apply_depth(self, depth):
        return apply_sim3_to_depth(depth, self.s)


def _centers(W: np.ndarray) -> np.ndarray:
    return -np.einsum("nji,nj->ni", W[:, :3, :3], W[:, :3, 3])


def _check_poses(name: str, W: np.ndarray) -> None:
    if W.ndim != 3 or W.shape[1:] != (4, 4) or len(W) == 0:
        raise CameraError(f"align_sim3: {name} poses must be (N, 4, 4) with N >= 1, got {W.shape}")
    if not np.isfinite(W).all():
        raise CameraError(f"align_sim3: {name} poses contain NaN or inf")


def align_sim3(
    est_w2c, ref_w2c, *, min_baseline: float = 1e-3, fallback_scale: float = 1.0, with_scale: bool = True
) -> Sim3Result:
    """Sim(3) bringing estimated cameras (N, 4, 4) into the reference cameras' world and scale.

    1. Rotation from orientations: each camera gives R_i = R_r,i^T R_e,i; R is their chordal L2 mean
       (scipy ``Rotation.mean``), i.e. argmin_R sum ||R - R_i||_F^2. This is well posed even when the
       centres are collinear or static, where Umeyama on centres leaves a rotation about the line free.
    2. Scale and translation from centres given R: with a_i = R C_e,i and b_i = C_r,i, centred,
       s = sum <a'_i, b'_i> / sum |a'_i|^2 and t = mean(b) - s mean(a).
    The scale is unobservable when the reference centres' RMS spread is below ``min_baseline``
    (reference units), the estimated spread is ~0, or the fit gives s <= 0: then s = ``fallback_scale``
    (e.g. the previous chunk's scale) and ``scale_observable`` is False. ``with_scale=False`` fixes
    s = ``fallback_scale`` (rigid alignment when 1).
    """
    E, F = _np(est_w2c), _np(ref_w2c)
    _check_poses("estimated", E)
    _check_poses("reference", F)
    if E.shape != F.shape:
        raise CameraError(f"align_sim3: {len(E)} estimated but {len(F)} reference poses")
    rel = np.swapaxes(F[:, :3, :3], 1, 2) @ E[:, :3, :3]
    R = Rotation.from_matrix(rel).mean().as_matrix()
    a, b = _centers(E) @ R.T, _centers(F)
    a0, b0 = a - a.mean(0), b - b.mean(0)
    var_a, spread_b = (a0**2).sum(), np.sqrt((b0**2).sum(1).mean())
    scale_of_a = max(1.0, float(np.abs(a).max()))
    s, observable = fallback_scale, False
    if with_scale and spread_b >= min_baseline and np.sqrt(var_a / len(a)) > 1e-9 * scale_of_a:
        s_fit = float((a0 * b0).sum() / var_a)
        if s_fit > 0:
            s, observable = s_fit, True
    t = b.mean(0) - s * a.mean(0)
    aligned = _np(apply_sim3_to_w2c(E, s, R, t))
    diff = np.swapaxes(aligned[:, :3, :3], 1, 2) @ F[:, :3, :3]
    rot_err = np.degrees(Rotation.from_matrix(diff).magnitude())  # precise near 0, unlike arccos of the trace
    trans_err = np.linalg.norm(_centers(aligned) - b, axis=1)
    return Sim3Result(s, _t(R), _t(t), _t(aligned), _t(rot_err), _t(trans_err), observable)
