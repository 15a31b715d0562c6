"""Classical poses for history frames: match features against a reference view whose depth is known (the
3DGS cache's render), lift the reference keypoints to 3D with that depth, and solve PnP with RANSAC.

Conventions: OpenCV keypoints put pixel centres at integers; ours (``worldwarp.geometry.cameras``) at +0.5,
so keypoints are shifted by +0.5 before they meet K. A keypoint's depth is read at its pixel and refused
near depth edges (a 3x3 spread above ``edge_tol`` of its depth), where a render mixes foreground and background.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
import torch

from ..geometry.cameras import unproject


@dataclass
class PnPSettings:
    features: Literal["sift", "orb"] = "sift"
    max_features: int = 4000
    ratio: float = 0.75  # Lowe's ratio test
    reprojection_px: float = 2.0  # RANSAC inlier threshold
    iterations: int = 1000
    min_inliers: int = 12  # fewer: the frame's pose is not trusted (confidence 0, fallback pose)
    good_inliers: int = 100  # this many inliers (all matches inliers) gives confidence 1
    edge_tol: float = 0.05


@dataclass
class PnPResult:
    w2c: torch.Tensor  # (V, 4, 4)
    confidence: torch.Tensor  # (V,) in [0, 1]: inlier ratio * min(1, inliers / good_inliers)
    inliers: list[int] = field(default_factory=list)
    matches: list[int] = field(default_factory=list)
    solved: list[bool] = field(default_factory=list)


def _gray(rgb: torch.Tensor) -> np.ndarray:
    a = (rgb.detach().float().clamp(0, 1).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    return cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)


def _detector(s: PnPSettings):
    if s.features == "sift":
        return cv2.SIFT_create(nfeatures=s.max_features), cv2.NORM_L2
    return cv2.ORB_create(nfeatures=s.max_features), cv2.NORM_HAMMING


def _match(d_ref, d_img, norm: int, ratio: float) -> list:
    if d_ref is None or d_img is None or len(d_ref) < 2 or len(d_img) < 2:
        return []
    pairs = cv2.BFMatcher(norm).knnMatch(d_img, d_ref, k=2)
    return [p[0] for p in pairs if len(p) == 2 and p[0].distance < ratio * p[1].distance]


def _depth_at(depth: np.ndarray, valid: np.ndarray, pts: np.ndarray, edge_tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Depth at OpenCV keypoints (N, 2) and which of them are usable (valid, away from depth edges)."""
    H, W = depth.shape
    ij = np.floor(pts + 0.5).astype(int)  # OpenCV centre x -> our pixel index floor(x + 0.5)
    i, j = ij[:, 1].clip(1, H - 2), ij[:, 0].clip(1, W - 2)
    z = depth[i, j]
    win = np.stack([depth[i + di, j + dj] for di in (-1, 0, 1) for dj in (-1, 0, 1)])
    ok = valid[i, j] & np.isfinite(z) & (z > 0) & ((win.max(0) - win.min(0)) <= edge_tol * np.abs(z))
    return z, ok


def _to_w2c(rvec: np.ndarray, tvec: np.ndarray) -> torch.Tensor:
    w2c = np.eye(4)
    w2c[:3, :3] = cv2.Rodrigues(rvec)[0]
    w2c[:3, 3] = tvec.ravel()
    return torch.from_numpy(w2c).float()


def _guess(w2c: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    W = w2c.double().cpu().numpy()
    return cv2.Rodrigues(W[:3, :3])[0], W[:3, 3].reshape(3, 1).copy()


def estimate_poses_pnp(frames: torch.Tensor, K: torch.Tensor, ref_rgb: torch.Tensor, ref_depth: torch.Tensor,
                       ref_K: torch.Tensor, ref_w2c: torch.Tensor, *, ref_valid: torch.Tensor | None = None,
                       init_w2c: torch.Tensor | None = None, settings: PnPSettings | None = None) -> PnPResult:
    """World-to-camera of each frame (V, H, W, 3) with intrinsics K (V, 3, 3) or (3, 3), in the reference
    view's world. ``init_w2c`` (V, 4, 4), e.g. the commanded poses, seeds the solver and is the fallback for
    frames that cannot be solved (then confidence 0); without it the fallback is the reference pose."""
    s = settings or PnPSettings()
    V = frames.shape[0]
    Ks = torch.as_tensor(K, dtype=torch.float64).expand(V, 3, 3) if torch.as_tensor(K).ndim == 2 else torch.as_tensor(K, dtype=torch.float64)
    det, norm = _detector(s)
    kp_ref, d_ref = det.detectAndCompute(_gray(ref_rgb), None)
    depth_np = ref_depth.detach().double().cpu().numpy()
    valid_np = np.ones_like(depth_np, bool) if ref_valid is None else ref_valid.detach().cpu().numpy().astype(bool)
    world = unproject(ref_depth.detach().double().cpu(), torch.as_tensor(ref_K, dtype=torch.float64),
                      torch.as_tensor(ref_w2c, dtype=torch.float64)).numpy()  # (H, W, 3)
    fallback = init_w2c if init_w2c is not None else torch.as_tensor(ref_w2c).float().expand(V, 4, 4)
    out, conf, n_in, n_m, solved = [], [], [], [], []
    for v in range(V):
        pose, c, ni, nm, ok = _solve_one(frames[v], Ks[v], kp_ref, d_ref, det, norm, depth_np, valid_np, world,
                                         None if init_w2c is None else init_w2c[v], s)
        out.append(pose if ok else torch.as_tensor(fallback[v]).float())
        conf.append(c), n_in.append(ni), n_m.append(nm), solved.append(ok)
    return PnPResult(torch.stack(out), torch.tensor(conf, dtype=torch.float32), n_in, n_m, solved)


def _solve_one(frame, K, kp_ref, d_ref, det, norm, depth_np, valid_np, world, init, s: PnPSettings):
    kp, d = det.detectAndCompute(_gray(frame), None)
    matches = _match(d_ref, d, norm, s.ratio)
    if len(matches) < s.min_inliers:
        return None, 0.0, 0, len(matches), False
    p_ref = np.array([kp_ref[m.trainIdx].pt for m in matches], dtype=np.float64)
    p_img = np.array([kp[m.queryIdx].pt for m in matches], dtype=np.float64) + 0.5  # to our pixel convention
    _, usable = _depth_at(depth_np, valid_np, p_ref, s.edge_tol)
    if usable.sum() < s.min_inliers:
        return None, 0.0, 0, len(matches), False
    u = p_ref[usable] + 0.5
    ij = np.floor(u).astype(int)
    obj = world[ij[:, 1].clip(0, world.shape[0] - 1), ij[:, 0].clip(0, world.shape[1] - 1)]
    # the depth is per pixel: re-lift at the exact sub-pixel keypoint position along that pixel's depth
    obj = _lift_subpixel(obj, u, ij, world)
    img = p_img[usable]
    Kn = K.cpu().numpy()
    use_guess = init is not None
    rvec, tvec = _guess(init) if use_guess else (None, None)
    ok, rvec, tvec, inl = cv2.solvePnPRansac(obj, img, Kn, None, rvec=rvec, tvec=tvec, useExtrinsicGuess=use_guess,
                                            iterationsCount=s.iterations, reprojectionError=s.reprojection_px,
                                            confidence=0.999, flags=cv2.SOLVEPNP_ITERATIVE)
    n_in = 0 if inl is None else len(inl)
    if not ok or n_in < s.min_inliers:
        return None, 0.0, n_in, len(matches), False
    idx = inl.ravel()
    rvec, tvec = cv2.solvePnPRefineLM(obj[idx], img[idx], Kn, None, rvec, tvec)
    conf = (n_in / len(img)) * min(1.0, n_in / s.good_inliers)
    return _to_w2c(rvec, tvec), float(conf), n_in, len(matches), True


def _lift_subpixel(obj: np.ndarray, u: np.ndarray, ij: np.ndarray, world: np.ndarray) -> np.ndarray:
    """World point at the keypoint's sub-pixel position: the pixel-centre point shifted by the local
    world-space gradient (finite differences to the right/lower neighbours)."""
    H, W = world.shape[:2]
    i, j = ij[:, 1].clip(0, H - 2), ij[:, 0].clip(0, W - 2)
    du = (u[:, 0] - (ij[:, 0] + 0.5))[:, None]
    dv = (u[:, 1] - (ij[:, 1] + 0.5))[:, None]
    gx = world[i, j + 1] - world[i, j]
    gy = world[i + 1, j] - world[i, j]
    return obj + du * gx + dv * gy
