"""Camera accuracy of generated frames: re-estimate relative poses from the pixels alone (SIFT matches +
essential matrix, OpenCV) and compare them with the commanded trajectory.

For a frame pair (i, j) the commanded relative pose is T_ij = w2c_j @ inv(w2c_i). We report the rotation
error, the angle of R_est^T R_cmd in degrees, and the translation direction error, the angle between
the estimated and commanded unit translations in degrees (monocular pairs have no scale). Pairs whose
commanded baseline is too small for a direction, or with too few matches, are NaN, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class PoseErrors:
    frames: np.ndarray  # (P,) index j of each pair (i = j - stride)
    rotation_deg: np.ndarray  # (P,)
    translation_deg: np.ndarray  # (P,)
    inliers: np.ndarray  # (P,)


def _gray(img: np.ndarray) -> np.ndarray:
    u8 = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    return cv2.cvtColor(u8, cv2.COLOR_RGB2GRAY)


def _matches(a: np.ndarray, b: np.ndarray, sift) -> tuple[np.ndarray, np.ndarray]:
    ka, da = sift.detectAndCompute(a, None)
    kb, db = sift.detectAndCompute(b, None)
    if da is None or db is None or len(ka) < 8 or len(kb) < 8:
        return np.empty((0, 2)), np.empty((0, 2))
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(da, db, k=2)
    good = [m for m, n in (p for p in pairs if len(p) == 2) if m.distance < 0.75 * n.distance]
    pa = np.float64([ka[m.queryIdx].pt for m in good]).reshape(-1, 2)
    pb = np.float64([kb[m.trainIdx].pt for m in good]).reshape(-1, 2)
    return pa, pb


def _angle_deg(R: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1.0, 1.0))))


def _normalise(p: np.ndarray, K: np.ndarray) -> np.ndarray:
    # OpenCV keypoints have their origin at a pixel corner, like our K (centres at +0.5).
    return (p - K[:2, 2]) / np.diag(K)[:2]


def _estimate(pa: np.ndarray, pb: np.ndarray, Ka: np.ndarray, Kb: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, int] | None:
    if len(pa) < 8:
        return None
    # normalised coordinates, so zoom (a K per frame) is handled; the RANSAC threshold stays ~1 px
    na, nb = _normalise(pa, Ka), _normalise(pb, Kb)
    eye = np.eye(3)
    try:
        E, inl = cv2.findEssentialMat(na, nb, eye, method=cv2.RANSAC, prob=0.999, threshold=1.0 / Kb[0, 0])
    except cv2.error:  # degenerate matches (e.g. all on one point) fail the 5-point solver: no estimate for this pair
        return None
    if E is None or E.shape != (3, 3):
        return None
    n, R, t, _ = cv2.recoverPose(E, na, nb, eye, mask=inl)
    return R, t.ravel(), int(n)


def relative_pose_errors(frames: np.ndarray, K: np.ndarray, w2c: np.ndarray, stride: int = 4,
                         min_baseline: float = 1e-3) -> PoseErrors:
    """Errors for pairs (j - stride, j) of frames (N, H, W, 3) in [0, 1] with intrinsics K (N, 3, 3)."""
    sift = cv2.SIFT_create(nfeatures=2000)
    grays = [_gray(f) for f in frames]
    js, rot, trans, inl = [], [], [], []
    for j in range(stride, len(frames), stride):
        i = j - stride
        T = w2c[j] @ np.linalg.inv(w2c[i])
        R_cmd, t_cmd = T[:3, :3], T[:3, 3]
        est = _estimate(*_matches(grays[i], grays[j], sift), K[i].astype(np.float64), K[j].astype(np.float64))
        js.append(j)
        if est is None:
            rot.append(np.nan), trans.append(np.nan), inl.append(0)
            continue
        R, t, n = est
        rot.append(_angle_deg(R.T @ R_cmd))
        if np.linalg.norm(t_cmd) < min_baseline:
            trans.append(np.nan)
        else:
            c = np.dot(t, t_cmd) / (np.linalg.norm(t) * np.linalg.norm(t_cmd))
            trans.append(float(np.degrees(np.arccos(np.clip(c, -1, 1)))))
        inl.append(n)
    return PoseErrors(np.array(js, int), np.array(rot, float), np.array(trans, float), np.array(inl, int))
