"""The world map: the stored frames retrieval still chooses from, those that no other stored frame makes redundant.

Each chunk's history frames are indexed (``frame_index``: a regular grid of their depth, back-projected) and merged
into the map the chunk before left. Retrieval scores an observation made by chunk j at depth z_seen as
``age_decay**j * min(1, z_new / z_seen)`` for a camera now at depth z_new (retrieval.py), so an observation (j2, z2)
with j2 >= j1 is never better than (j1, z1) for any camera unless ``z2 / age_decay**j2 < z1 / age_decay**j1``. A
frame leaves the map when the other frames of the map, between them, saw at least ``redundancy`` of its voxels at
least that well: what it would add to any camera's cells they hold already (a place seen again later, the way back
of an out-and-back, the second lap of an orbit). Frames are merged in order, earliest first; a new frame that, with
the rest, covers an older one so replaces it.

So the map holds the distinct views of the space a run has seen, not every frame it stored: retrieval's cost stops
growing once a path comes back over known ground; on new ground it grows with the ground, as the world does. The
voxel edge is ``voxel`` times the spacing of the first indexed observations' points at their median depth (the
index's angular step times that depth), fixed for the run; the map is a function of the store alone."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .index import FrameIndex
from .voxels import voxel_keys


class WorldMap(NamedTuple):
    frames: np.ndarray  # (F, 2) int64 (chunk, frame among the chunk's history frames), earliest first
    xyz: np.ndarray  # (F, P, 3) float32: their index points
    z: np.ndarray  # (F, P) float32: the depth each point was seen at
    voxel: float  # edge of a voxel in world units (NaN until the first observation)

    @property
    def nbytes(self) -> int:
        return int(self.xyz.nbytes + self.z.nbytes)


def empty_map(points: int = 0) -> WorldMap:
    return WorldMap(np.zeros((0, 2), np.int64), np.zeros((0, points, 3), np.float32), np.zeros((0, points), np.float32),
                    float("nan"))


def merge(m: WorldMap, index: FrameIndex, chunk: int, *, voxel: float, redundancy: float,
          age_decay: float) -> WorldMap:
    """``m`` with chunk ``chunk``'s indexed history frames merged in; ``voxel`` in units of the index's point
    spacing (sets the edge on the first merge that has a point)."""
    S, P = index.z.shape
    if len(m.frames) and m.z.shape[1] != P:
        raise ValueError(f"world map: {P} index points per frame, the map holds {m.z.shape[1]}")
    frames = np.concatenate([m.frames, np.stack([np.full(S, chunk), np.arange(S)], 1)]).astype(np.int64)
    xyz = np.concatenate([m.xyz.reshape(-1, P, 3), index.xyz])
    z = np.concatenate([m.z.reshape(-1, P), index.z])
    edge = m.voxel
    if not np.isfinite(edge) and np.isfinite(z).any():
        edge = voxel * float(np.nanmedian(z)) * index.step
        if not np.isfinite(edge) or edge <= 0:
            raise ValueError(f"world map: the index's point spacing must be known and positive, got {index.step!r}")
    if not np.isfinite(edge):  # nothing observed yet: every frame stays (they have no points to be judged by)
        return WorldMap(frames, xyz, z, edge)
    keep = _kept(_visits(xyz, z, frames[:, 0], edge, age_decay), len(m.frames), redundancy)
    return WorldMap(frames[keep], xyz[keep], z[keep], float(edge))


def _visits(xyz: np.ndarray, z: np.ndarray, chunk: np.ndarray, edge: float, age_decay: float) -> np.ndarray:
    """(F, V) per frame and voxel the best figure ``z / age_decay**chunk`` among the frame's points in the voxel
    (lower is better for every camera), inf where the frame has no point in it."""
    F, P = z.shape
    ok = np.isfinite(z) & np.isfinite(xyz).all(-1)
    vid = np.unique(voxel_keys(xyz[ok], edge), return_inverse=True)[1].reshape(-1)
    owner = np.repeat(np.arange(F), P)[ok.reshape(-1)]
    s = z[ok].astype(np.float64) / age_decay ** chunk[owner].astype(np.float64)
    out = np.full((F, int(vid.max()) + 1 if len(vid) else 0), np.inf)
    np.minimum.at(out, (owner, vid), s)
    return out


def _kept(s: np.ndarray, old: int, redundancy: float) -> np.ndarray:
    """Bool (F,): which frames stay. Frames ``old:`` are new, taken in order: one leaves if the other frames still in
    the map (the older ones kept so far and the new ones not yet judged or kept) are, between them, at least as good
    on ``redundancy`` of its voxels; else it stays, and then every older frame the others now cover so leaves, the
    latest first."""
    F = len(s)
    seen = np.isfinite(s)
    n = seen.sum(1)
    keep = np.ones(F, bool)
    best = _two_best(s, keep)

    def covered(f: int) -> bool:
        first, second, arg = best
        other = np.where(arg == f, second, first)  # the best of the map's frames other than f, per voxel
        return bool(((other <= s[f]) & seen[f]).sum() >= redundancy * n[f])

    for f in range(old, F):
        if not n[f] or covered(f):
            keep[f] = False
            best = _two_best(s, keep)
            continue
        for g in range(f - 1, -1, -1):
            if keep[g] and covered(g):
                keep[g] = False
                best = _two_best(s, keep)
    return keep


def _two_best(s: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per voxel, over the kept frames: the lowest figure, the second lowest, and which frame has the lowest."""
    t = np.where(keep[:, None], s, np.inf)
    if len(t) < 2:
        t = np.concatenate([t, np.full((2 - len(t), t.shape[1]), np.inf)])
    arg = np.argmin(t, 0)
    first = np.take_along_axis(t, arg[None], 0)[0]
    np.put_along_axis(t, arg[None], np.inf, 0)
    return first, t.min(0), arg
