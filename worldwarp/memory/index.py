"""The retrieval index of stored frames: every ``stride``-th pixel of a frame's depth, back-projected to world
points, with the depth it was seen at (how close the observation was)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class FrameIndex(NamedTuple):
    xyz: np.ndarray  # (S, P, 3) float32 world points; NaN where the pixel's depth was not trusted
    z: np.ndarray  # (S, P) float32: the depth each point was seen at in its own frame; NaN likewise
    step: float = float("nan")  # the angle between neighbouring index points (stride / focal length, radians)

    @property
    def nbytes(self) -> int:
        return int(self.xyz.nbytes + self.z.nbytes)


def index_stride(height: int, width: int, points: int) -> int:
    """The pixel stride that indexes about ``points`` pixels of an image."""
    return max(1, int(np.ceil(np.sqrt(height * width / points))))


def frame_index(depth: np.ndarray, K: np.ndarray, w2c: np.ndarray, confidence: np.ndarray | None = None, *,
                stride: int = 8, min_confidence: float = 0.5, pixel_offset: float = 0.5) -> FrameIndex:
    """Index S frames (depth (S, H, W), K (S, 3, 3), w2c (S, 4, 4)). Pixels with confidence below
    ``min_confidence`` (hole-filled depth: a guess, not an observation) or without a finite positive depth are NaN."""
    S, H, W = depth.shape
    ys, xs = np.arange(stride // 2, H, stride), np.arange(stride // 2, W, stride)
    v, u = np.meshgrid(ys + pixel_offset, xs + pixel_offset, indexing="ij")
    d = depth[:, ys][:, :, xs].astype(np.float64)
    ok = np.isfinite(d) & (d > 0)
    if confidence is not None:
        ok &= confidence[:, ys][:, :, xs] >= min_confidence
    K, w2c = K.astype(np.float64), w2c.astype(np.float64)
    x = (u[None] - K[:, 0, 2, None, None]) / K[:, 0, 0, None, None] * d
    y = (v[None] - K[:, 1, 2, None, None]) / K[:, 1, 1, None, None] * d
    cam = np.stack([x, y, d], -1).reshape(S, -1, 3)
    c2w = np.linalg.inv(w2c)
    world = np.einsum("sij,spj->spi", c2w[:, :3, :3], cam) + c2w[:, None, :3, 3]
    ok = ok.reshape(S, -1)
    world[~ok] = np.nan
    z = np.where(ok, d.reshape(S, -1), np.nan)
    step = float(np.median(stride / K[:, 0, 0])) if S else float("nan")
    return FrameIndex(world.astype(np.float32), z.astype(np.float32), step)
