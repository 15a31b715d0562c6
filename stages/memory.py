"""memory.mode=world inside the gaussians stage: index the chunk's own history frames, retrieve the stored frames
of earlier chunks that see what the chunk's cameras will see, and hand both to the 3DGS fit (docs/MEMORY.md).

The index of chunk j's history frames lives in chunk j's gaussians group (``memory_xyz``, ``memory_z``), so
retrieval reads a few kB per earlier chunk, never their images; the frames it picks are read from the geometry
groups that already hold them (rgb, depth, K, w2c, confidence). Everything read is upstream of the chunk's key,
so a resumed run retrieves the very same frames."""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from worldwarp.config import WorldWarpConfig
from worldwarp.memory import FrameIndex, frame_index, index_stride, retrieve

from .common import span
from .inputs import chunk_cameras

GROUP = "gaussians"
SOURCE_FIELDS = ("rgb", "depth", "K", "w2c", "confidence")


class Recall(NamedTuple):
    frames: dict[str, np.ndarray]  # the retrieved frames' SOURCE_FIELDS, stacked (R, ...)
    index: FrameIndex  # of the chunk's own history frames: stored in its gaussians group
    attrs: dict  # what inspect and tracking show


def video_frame(cfg: WorldWarpConfig, j: int, i: int) -> int:
    """The video frame that history frame i of chunk j is (chunk 0's only one is the input image)."""
    return span(cfg, j).start + i


def index_of(geo: dict[str, np.ndarray], cfg: WorldWarpConfig) -> FrameIndex:
    depth = np.asarray(geo["depth"])
    stride = index_stride(*depth.shape[1:], cfg.memory.index_points)
    return frame_index(depth, np.asarray(geo["K"]), np.asarray(geo["w2c"]), np.asarray(geo["confidence"]),
                       stride=stride, pixel_offset=cfg.splat.pixel_offset)


def _candidates(store, k: int) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], list[tuple[int, int]]]:
    xyz, z, age, ids = [], [], [], []
    for j in range(k):
        xyz.append(np.asarray(store.read_array(j, GROUP, "memory_xyz")))
        z.append(np.asarray(store.read_array(j, GROUP, "memory_z")))
        age += [j] * len(z[-1])
        ids += [(j, i) for i in range(len(z[-1]))]
    if not ids:
        return (np.zeros((0, 0, 3), np.float32), np.zeros((0, 0), np.float32), np.zeros(0)), []
    return (np.concatenate(xyz), np.concatenate(z), np.asarray(age)), ids


def recall(store, k: int, cfg: WorldWarpConfig, geo: dict[str, np.ndarray]) -> Recall:
    t0 = time.perf_counter()
    own = index_of(geo, cfg)
    cand, ids = _candidates(store, k)
    sp = span(cfg, k)
    cams = chunk_cameras(store.read_input(), sp)
    new = slice(sp.history, None)
    hist = (own.xyz, own.z, np.full(len(own.z), k))
    if ids:
        r = retrieve(cand, hist, cams.K[new].numpy(), cams.w2c[new].numpy(), cams.width, cams.height, cfg.memory)
        picked = [ids[c] for c in r.chosen]
    else:
        r, picked = None, []
    frames = {n: [] for n in SOURCE_FIELDS}
    for j, i in picked:
        for n in SOURCE_FIELDS:
            frames[n].append(np.asarray(store.read_array(j, "geometry", n, slice(i, i + 1))))
    stacked = {n: np.concatenate(v) if v else np.zeros((0,) + np.asarray(geo[n]).shape[1:], np.float32)
               for n, v in frames.items()}
    attrs = {"memory_mode": "world",
             "retrieved": [{"chunk": j, "frame": i, "video_frame": video_frame(cfg, j, i), "gain": round(g, 4)}
                           for (j, i), g in zip(picked, r.gains if r else [])],
             "memory_candidates": len(ids), "memory_index_bytes": own.nbytes,
             "coverage_history": round(r.history_coverage, 4) if r else None,
             "coverage_retrieved": round(r.coverage, 4) if r else None,
             "retrieval_seconds": round(time.perf_counter() - t0, 4)}
    return Recall(stacked, own, attrs)
