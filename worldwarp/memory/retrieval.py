"""Geometry-indexed retrieval: which stored frames see most of what a chunk's cameras will see, and see it best.

Every indexed point of every stored frame is projected into each new camera (at most ``cameras`` of them, evenly
spaced); the camera's image is cut into a
``grid`` of cells. A cell is covered by a frame if one of the frame's points lands in it in front of the camera and
is not hidden (its depth within ``occlusion_tolerance`` of the nearest indexed point in that cell: a coarse z-buffer
over everything the memory holds). A frame's quality in a cell is the best of its points' quality:
``age_decay ** age`` (age = the chunk that stored it: earlier observations passed through fewer re-fits) times
``min(1, z_new / z_seen)`` (seen from farther away than now = fewer pixels on it). Frames are then picked greedily:
each pick is the frame that raises the best available quality summed over all cells the most, starting from what
the chunk's own history frames already give, until K frames or a gain below ``min_gain`` of the cells. So a later,
worse re-observation never displaces a closer, earlier one, and a frame that adds nothing is not taken.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..config.memory import MemoryConfig


class Retrieval(NamedTuple):
    chosen: list[int]  # indices into the candidates, in the order picked
    gains: list[float]  # share of the cells each pick improved, weighted by how much
    history_coverage: float  # share of cells the history frames cover
    coverage: float  # share of cells covered after retrieval


def _cells(width: int, height: int, grid: int) -> tuple[int, int]:
    return grid, max(1, round(grid * height / width))


def coverage(xyz: np.ndarray, z_seen: np.ndarray, age: np.ndarray, K: np.ndarray, w2c: np.ndarray, width: int,
             height: int, cfg: MemoryConfig) -> np.ndarray:
    """Quality (F, C * cells) of F indexed frames (xyz (F, P, 3), z_seen (F, P), age (F,)) in C cameras: 0 where a
    frame does not see a cell."""
    gx, gy = _cells(width, height, cfg.grid)
    F, P = z_seen.shape
    C = len(K)
    X, Y, Z = xyz.reshape(-1, 3).astype(np.float64).T
    R, t = w2c[:, :3, :3].astype(np.float64), w2c[:, :3, 3].astype(np.float64)

    def row(i: int) -> np.ndarray:  # elementwise, not BLAS: the same bits whatever the thread count
        return R[:, i, 0, None] * X + R[:, i, 1, None] * Y + R[:, i, 2, None] * Z + t[:, i, None]

    x, y, z = row(0), row(1), row(2)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = K[:, None, 0, 0] * x / z + K[:, None, 0, 2]
        v = K[:, None, 1, 1] * y / z + K[:, None, 1, 2]
        inside = np.isfinite(z) & (z > 1e-6) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    cx = np.clip(np.floor(np.where(inside, u, 0) * gx / width), 0, gx - 1).astype(np.int64)
    cy = np.clip(np.floor(np.where(inside, v, 0) * gy / height), 0, gy - 1).astype(np.int64)
    cell = np.arange(C)[:, None] * (gx * gy) + cy * gx + cx  # (C, F*P) flat index over every camera's cells
    zmin = np.full(C * gx * gy, np.inf)
    zi = z[inside]
    if zi.size:  # the min of z = the max of 1 - z / (1.01 max z), a value in (0, 1]
        top = 1.01 * float(zi.max())
        _reduce_max(zmin, cell[inside], 1 - zi / top)
        hit = np.isfinite(zmin)
        zmin[hit] = (1 - zmin[hit]) * top
    visible = inside & (z <= zmin[cell] * (1 + cfg.occlusion_tolerance))
    seen = np.broadcast_to(z_seen.reshape(1, -1).astype(np.float64), z.shape)
    age_w = np.broadcast_to(np.repeat(cfg.age_decay ** age.astype(np.float64), P)[None], z.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.where(visible, age_w * np.minimum(1.0, z / seen), 0.0)
    frame = np.broadcast_to(np.repeat(np.arange(F), P)[None], z.shape)
    out = np.zeros((F, C * gx * gy))
    _reduce_max(out.reshape(-1), frame[visible] * (C * gx * gy) + cell[visible], q[visible])
    return out


def _reduce_max(out: np.ndarray, idx: np.ndarray, val: np.ndarray) -> None:
    """out[i] = max(val at i) for every i in idx, for val in [0, 1] (np.maximum.at by one sort of idx * 2 + val)."""
    if not len(idx):
        return
    order = np.argsort(idx * 2.0 + val, kind="stable")
    idx, val = idx[order], val[order]
    last = np.r_[idx[1:] != idx[:-1], True]
    out[idx[last]] = val[last]


def scored_cameras(n: int, most: int) -> np.ndarray:
    """Indices of at most ``most`` of ``n`` cameras, evenly spaced, the first and the last included."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, most)).astype(np.int64))


def retrieve(cand: tuple[np.ndarray, np.ndarray, np.ndarray], hist: tuple[np.ndarray, np.ndarray, np.ndarray],
             K: np.ndarray, w2c: np.ndarray, width: int, height: int, cfg: MemoryConfig, *, cull: bool = True) -> Retrieval:
    """Pick at most ``cfg.retrieve`` of the candidate frames for cameras (K, w2c); ``cand`` and ``hist`` are
    (xyz, z_seen, age) of the stored candidates and of the chunk's own history frames. Depends only on its
    arguments (ties go to the earlier candidate), so a resumed run retrieves exactly what the first one did.
    ``cull`` skips candidates out of every scored camera's view unscored (``in_view``; the picks are the same)."""
    pick = scored_cameras(len(K), cfg.cameras)
    K, w2c = K[pick], w2c[pick]
    # frames whose points all lie outside every camera's frustum add nothing and hide nothing: skip them unscored
    seen = np.flatnonzero(in_view(cand[0], K, w2c, width, height) if cull else np.ones(len(cand[0]), bool))
    nc = len(seen)
    both = [np.concatenate([c[seen], h]) for c, h in zip(cand, hist)]
    q = coverage(*both, K, w2c, width, height, cfg)
    qc, best = q[:nc], q[nc:].max(0) if len(q) > nc else np.zeros(q.shape[1])
    cells = q.shape[1]
    hist_cov = float((best > 0).mean())
    chosen, gains = [], []
    for _ in range(min(cfg.retrieve, nc)):
        gain = np.maximum(qc - best, 0).sum(1) / cells
        gain[chosen] = -1
        f = int(np.argmax(gain))
        if gain[f] < cfg.min_gain or gain[f] <= 0:
            break
        chosen.append(f)
        gains.append(float(gain[f]))
        best = np.maximum(best, qc[f])
    return Retrieval([int(seen[f]) for f in chosen], gains, hist_cov, float((best > 0).mean()))


def in_view(xyz: np.ndarray, K: np.ndarray, w2c: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bool (F,): whether the bounding box of each frame's finite points (xyz (F, P, 3)) may reach into any of the
    cameras' views. Conservative: a box that lies wholly on the outer side of one of a camera's five frustum planes
    (behind it, or past an image edge) is out of that camera; a frame is out of view only if it is out of all."""
    F = len(xyz)
    finite = np.isfinite(xyz).all(-1)
    has = finite.any(1)
    lo = np.where(finite[..., None], xyz, np.inf).min(1)  # (F, 3); +-inf rows where nothing is finite
    hi = np.where(finite[..., None], xyz, -np.inf).max(1)
    lo, hi = np.where(has[:, None], lo, 0), np.where(has[:, None], hi, 0)
    corners = np.stack([np.where(np.array([(i >> a) & 1 for a in range(3)], bool), hi, lo) for i in range(8)], 1)
    cam = np.einsum("cij,fkj->cfki", w2c[:, :3, :3].astype(np.float64), corners) + w2c[:, None, None, :3, 3]
    x, y, z = cam[..., 0], cam[..., 1], cam[..., 2]
    fx, fy, cx, cy = (K[:, None, None, i, j].astype(np.float64) for i, j in ((0, 0), (1, 1), (0, 2), (1, 2)))
    # the frustum's planes as linear tests on camera coordinates: u = fx x / z + cx in [0, width] <=> ...
    outside = [z <= 0, fx * x + cx * z < 0, fx * x + (cx - width) * z > 0, fy * y + cy * z < 0,
               fy * y + (cy - height) * z > 0]
    out_of_cam = np.any([o.all(-1) for o in outside], 0)  # (C, F): every corner beyond one plane
    return has & ~out_of_cam.all(0) if F else np.zeros(0, bool)
