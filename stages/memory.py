"""memory.mode=world inside the gaussians stage: index the chunk's own history frames, retrieve the stored frames
of earlier chunks that see what the chunk's cameras will see, hand both to the 3DGS fit, and merge the chunk's
frames into the world map (docs/MEMORY.md).

The index of chunk j's history frames lives in chunk j's gaussians group (``memory_xyz``, ``memory_z``), and the
world map after chunk j (the frames still worth retrieving) in its attrs (``memory_map``: [chunk, frame] pairs), so
retrieval reads the index rows of the map's frames only, never their images; the frames it picks are read from the
geometry groups that already hold them (rgb, depth, K, w2c, confidence). Everything read is upstream of the chunk's
key, so a resumed run retrieves the very same frames."""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from worldwarp.config import WorldWarpConfig
from worldwarp.memory import FrameIndex, WorldMap, empty_map, frame_index, index_stride, merge, retrieve

from .common import span
from .inputs import chunk_cameras

GROUP = "gaussians"
SOURCE_FIELDS = ("rgb", "depth", "K", "w2c", "confidence")


class Recall(NamedTuple):
    frames: dict[str, np.ndarray]  # the retrieved frames' SOURCE_FIELDS, stacked (R, ...)
    index: FrameIndex  # of the chunk's own history frames: stored in its gaussians group
    world: WorldMap  # the map with those frames merged in: its frames listed in the group's attrs
    attrs: dict  # what inspect and tracking show


def video_frame(cfg: WorldWarpConfig, j: int, i: int) -> int:
    """The video frame that history frame i of chunk j is (chunk 0's only one is the input image)."""
    return span(cfg, j).start + i


def index_of(geo: dict[str, np.ndarray], cfg: WorldWarpConfig) -> FrameIndex:
    depth = np.asarray(geo["depth"])
    stride = index_stride(*depth.shape[1:], cfg.memory.index_points)
    return frame_index(depth, np.asarray(geo["K"]), np.asarray(geo["w2c"]), np.asarray(geo["confidence"]),
                       stride=stride, pixel_offset=cfg.splat.pixel_offset)


def read_map(store, j: int, points: int) -> WorldMap:
    """The world map chunk j left: its frames' index rows, read from the groups of the chunks that stored them."""
    if j < 0:
        return empty_map(points)
    attrs = store.stage_attrs(j, GROUP)
    frames = np.asarray(attrs["memory_map"], np.int64).reshape(-1, 2)
    xyz, z = np.zeros((len(frames), points, 3), np.float32), np.zeros((len(frames), points), np.float32)
    for c in np.unique(frames[:, 0]):
        rows = np.flatnonzero(frames[:, 0] == c)
        xyz[rows] = np.asarray(store.read_array(int(c), GROUP, "memory_xyz"))[frames[rows, 1]]
        z[rows] = np.asarray(store.read_array(int(c), GROUP, "memory_z"))[frames[rows, 1]]
    edge = attrs.get("memory_voxel")
    return WorldMap(frames, xyz, z, float("nan") if edge is None else float(edge))


def recall(store, k: int, cfg: WorldWarpConfig, geo: dict[str, np.ndarray]) -> Recall:
    t0 = time.perf_counter()
    own = index_of(geo, cfg)
    before = read_map(store, k - 1, own.z.shape[1])
    sp = span(cfg, k)
    cams = chunk_cameras(store.read_input(), sp)
    new = slice(sp.history, None)
    hist = (own.xyz, own.z, np.full(len(own.z), k))
    r = None
    if len(before.frames):
        cand = (before.xyz, before.z, before.frames[:, 0])
        r = retrieve(cand, hist, cams.K[new].numpy(), cams.w2c[new].numpy(), cams.width, cams.height, cfg.memory)
    picked = [(int(before.frames[c, 0]), int(before.frames[c, 1])) for c in (r.chosen if r else [])]
    seconds = time.perf_counter() - t0
    after = merge(before, own, k, voxel=cfg.memory.voxel, redundancy=cfg.memory.redundancy,
                  age_decay=cfg.memory.age_decay)
    frames = {n: [] for n in SOURCE_FIELDS}
    for j, i in picked:
        for n in SOURCE_FIELDS:
            frames[n].append(np.asarray(store.read_array(j, "geometry", n, slice(i, i + 1))))
    stacked = {n: np.concatenate(v) if v else np.zeros((0,) + np.asarray(geo[n]).shape[1:], np.float32)
               for n, v in frames.items()}
    attrs = {"memory_mode": "world",
             "retrieved": [{"chunk": j, "frame": i, "video_frame": video_frame(cfg, j, i), "gain": round(g, 4)}
                           for (j, i), g in zip(picked, r.gains if r else [])],
             "memory_candidates": len(before.frames), "memory_map": after.frames.tolist(),
             "memory_voxel": after.voxel if np.isfinite(after.voxel) else None,
             "memory_index_bytes": own.nbytes, "memory_map_bytes": after.nbytes,
             "coverage_history": round(r.history_coverage, 4) if r else None,
             "coverage_retrieved": round(r.coverage, 4) if r else None,
             "retrieval_seconds": round(seconds, 4), "map_seconds": round(time.perf_counter() - t0 - seconds, 4)}
    return Recall(stacked, own, after, attrs)
