"""The paper's evaluation protocol: metrics at given generated-frame indices (50 and 200 by default), camera
accuracy relative to the first frame (R_dist, T_dist), and FID/KID of frame sets.

Frame k of a video is the k-th generated frame: frame 0 is the input view. R_dist at frame k is the rotation
error in degrees between the relative pose (frame 0 -> frame k) estimated from the two frames and the commanded
one; T_dist is the angle in degrees between the estimated and commanded translation directions (a monocular
pair has no scale). The estimate is classical: SIFT matches, essential matrix (RANSAC) and cheirality
(``metrics.camera``), in the commanded intrinsics; no learned pose estimator.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

from .camera import relative_pose_errors

Frames = Callable[[int, int], np.ndarray]  # (start, stop) -> (n, H, W, 3) float in [0, 1]
IMAGE_METRICS = ("psnr", "ssim", "lpips")


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def pose_from_first(frames: Frames, K: np.ndarray, w2c: np.ndarray, k: int) -> tuple[float | None, float | None]:
    """(R_dist, T_dist) in degrees of frame k against frame 0; None where the estimate is undefined
    (too few matches, or a commanded baseline too small for a direction)."""
    pair = np.concatenate([frames(0, 1), frames(k, k + 1)])
    pe = relative_pose_errors(pair, K[[0, k]], w2c[[0, k]], stride=1)
    return _finite(pe.rotation_deg[0]), _finite(pe.translation_deg[0])


def metrics_at(cols: dict[str, np.ndarray], frames: Frames, K: np.ndarray, w2c: np.ndarray, n_frames: int,
               at: Sequence[int], notices: list[str], what: str = "the run") -> dict[str, dict[str, Any] | None]:
    """{"50": {"psnr", "ssim", "lpips", "R_dist", "T_dist"}, ...}; an index past the video is None and noted."""
    out: dict[str, dict[str, Any] | None] = {}
    for k in at:
        if k >= n_frames:
            out[str(k)] = None
            notices.append(f"frame {k}: beyond {what}'s {n_frames} frames (0..{n_frames - 1}); reported as null")
            continue
        row: dict[str, Any] = {m: _finite(cols[m][k]) for m in IMAGE_METRICS if m in cols}
        row["R_dist"], row["T_dist"] = pose_from_first(frames, K, w2c, k)
        if row["R_dist"] is None:
            notices.append(f"frame {k}: no pose estimate against frame 0 (too few SIFT matches); R_dist/T_dist null")
        elif row["T_dist"] is None:
            notices.append(f"frame {k}: commanded baseline to frame 0 too small for a direction; T_dist null")
        out[str(k)] = row
    return out


def features_of(frames: Frames, indices: Sequence[int], batch: int = 16, device: str = "cpu") -> np.ndarray:
    """Inception features (len(indices), 2048) of the given frames, read and scored ``batch`` at a time."""
    from .fid import FEATURE_DIM, inception_features

    idx = list(indices)
    out = []
    for i in range(0, len(idx), batch):
        stack = np.concatenate([frames(j, j + 1) for j in idx[i:i + batch]])
        out.append(inception_features(stack, batch, device))
    return np.concatenate(out) if out else np.empty((0, FEATURE_DIM))


def set_scores(feats_gen: np.ndarray, feats_ref: np.ndarray, notices: list[str], label: str = "") -> dict[str, Any]:
    """{"fid", "kid", "kid_std", "fid_n"}: FID and KID of generated vs reference features, N stated;
    None with a notice when a set has fewer than 2 frames."""
    from .fid import fid_from_features, kid_from_features

    n = min(len(feats_gen), len(feats_ref))
    if n < 2:
        notices.append(f"FID/KID{label}: need at least 2 frames per set, have {n}; reported as null")
        return {"fid": None, "kid": None, "kid_std": None, "fid_n": n}
    k = kid_from_features(feats_gen, feats_ref)
    return {"fid": fid_from_features(feats_gen, feats_ref).value, "kid": k.mean, "kid_std": k.std, "fid_n": n,
            "kid_subset_size": k.subset_size}


def protocol_summary(cols: dict[str, np.ndarray], pred: Frames, n_frames: int, K: np.ndarray, w2c: np.ndarray, *,
                     gt: Frames | None, at: Sequence[int], fid: bool, batch: int, notices: list[str],
                     what: str = "the run") -> dict[str, Any]:
    """What metrics.json adds for the protocol: ``at_frames`` (metrics at each index) and FID/KID of every
    generated frame vs its reference (N = frames), or a notice saying why not."""
    extra: dict[str, Any] = {"at_frames": metrics_at(cols, pred, K, w2c, n_frames, at, notices, what)}
    if not fid:
        notices.append("FID/KID skipped: eval.fid is false")
    elif gt is None:
        notices.append("FID/KID skipped: no reference frames")
    else:
        idx = range(n_frames)
        extra.update(set_scores(features_of(pred, idx, batch), features_of(gt, idx, batch), notices))
    return extra
