"""Which history pixels an earlier observation already holds: in world mode the cache is fitted to the retrieved
frames and the history frames together, and where both see one surface their colours need not agree (each chunk's
generator invents its holes anew). An earlier observation that saw the surface at least as closely wins: the history
pixel is left out of the fit (memory.earlier_wins, docs/MEMORY.md), so a revisit shows what the first visit showed
instead of a blend of the two."""

from __future__ import annotations

import numpy as np


def _lift(depth: np.ndarray, K: np.ndarray, w2c: np.ndarray, pixel_offset: float) -> np.ndarray:
    """(H W, 3) world points of one frame's pixels at its depth (NaN where it has none)."""
    H, W = depth.shape
    v, u = np.meshgrid(np.arange(H) + pixel_offset, np.arange(W) + pixel_offset, indexing="ij")
    d = np.where(np.isfinite(depth) & (depth > 0), depth, np.nan).astype(np.float64).ravel()
    cam = np.stack([(u.ravel() - K[0, 2]) / K[0, 0] * d, (v.ravel() - K[1, 2]) / K[1, 1] * d, d], 1)
    c2w = np.linalg.inv(w2c.astype(np.float64))
    return cam @ c2w[:3, :3].T + c2w[:3, 3]


def held_by_earlier(hist_depth: np.ndarray, hist_K: np.ndarray, hist_w2c: np.ndarray, mem_depth: np.ndarray,
                    mem_K: np.ndarray, mem_w2c: np.ndarray, mem_trusted: np.ndarray, *, tolerance: float = 0.05,
                    closer: float = 1.1, pixel_offset: float = 0.5) -> np.ndarray:
    """(S, H, W) bool: history pixels whose surface a retrieved frame saw (its trusted depth at the pixel it lands
    on within ``tolerance`` of the point's depth there: visible, not occluded) from at most ``closer`` times the
    history frame's distance. Retrieved frames: depth (R, H, W), K, w2c, ``mem_trusted`` (R, H, W) where their depth
    was observed, not hole-filled."""
    S, H, W = hist_depth.shape
    out = np.zeros((S, H * W), bool)
    for s in range(S):
        pts = _lift(hist_depth[s], hist_K[s], hist_w2c[s], pixel_offset)
        own = hist_depth[s].ravel()
        for r in range(len(mem_depth)):
            cam = pts @ mem_w2c[r, :3, :3].T.astype(np.float64) + mem_w2c[r, :3, 3]
            z = cam[:, 2]
            with np.errstate(invalid="ignore", divide="ignore"):
                u = cam[:, 0] / z * mem_K[r, 0, 0] + mem_K[r, 0, 2] - pixel_offset
                v = cam[:, 1] / z * mem_K[r, 1, 1] + mem_K[r, 1, 2] - pixel_offset
                ok = (z > 1e-6) & (u > -0.5) & (u < W - 0.5) & (v > -0.5) & (v < H - 0.5)
            i = np.flatnonzero(ok)
            q = np.rint(v[i]).astype(np.int64) * W + np.rint(u[i]).astype(np.int64)
            seen = mem_depth[r].ravel()[q]
            good = mem_trusted[r].ravel()[q] & (np.abs(seen - z[i]) <= tolerance * z[i]) & (z[i] <= closer * own[i])
            out[s, i[good]] = True
    return out.reshape(S, H, W)
