"""A camera path from a reference video, as the authors' demo makes one: frames scaled to cover the output size
(Lanczos) and centre-cropped to it, at most ``max_frames`` of them, TTT3R's camera-to-world poses, and one
intrinsic matrix for the whole path (the per-frame estimates averaged, principal point at the image centre).
Translations stay in the model's units (roughly metres); nothing is rescaled."""

from __future__ import annotations

import math
import sys

import numpy as np
import torch

from ...geometry.cameras import Cameras, intrinsics_from_fov


def cameras_from_frames(estimator, frames: np.ndarray, fallback_fov_deg: float) -> tuple[Cameras, dict]:
    """TTT3R over the frames -> Cameras with one shared K, and a report (frames, focal, source, path length)."""
    V, H, W, _ = frames.shape
    out = estimator.run(torch.from_numpy(frames))
    focal = float(out.K[:, 0, 0].mean())
    source = "ttt3r"
    if not (math.isfinite(focal) and focal > 0):
        K = intrinsics_from_fov(W, H, fallback_fov_deg).float()
        print(f"warning: TTT3R's focal estimate is {focal:.4g} (not a usable focal); using trajectory.fov_deg = "
              f"{fallback_fov_deg:g} instead", file=sys.stderr)
        source = "fov_fallback"
    else:
        K = torch.tensor([[focal, 0, W / 2], [0, focal, H / 2], [0, 0, 1]], dtype=torch.float32)
    w2c = out.w2c
    centres = out.c2w[:, :3, 3].double()
    report = {"frames": V, "focal_px": float(K[0, 0]), "intrinsics": source,
              "path_length": float((centres[1:] - centres[:-1]).norm(dim=-1).sum())}
    return Cameras(K.expand(V, 3, 3).clone(), w2c, W, H), report
