"""Stage 5, history handoff: chunk k's new frames join the video; its last frames become k+1's history."""

from __future__ import annotations

import numpy as np

from worldwarp.config import WorldWarpConfig
from worldwarp.io.video import to_uint8
from worldwarp.store import ArrayLink

from .common import once, span

GROUP = "handoff"


def add_to_video(store, cfg: WorldWarpConfig, k: int) -> None:
    """Chunk k's new frames join the video: a view records where they are in the frames group (docs/STORE.md);
    a store made before video views gets its pixel copy. Also what resume uses to refill a video."""
    sp = span(cfg, k)
    skip = sp.new_start - sp.start
    store.add_video_frames(sp.new_start, k, skip, sp.stop - sp.new_start,
                           lambda: to_uint8(np.asarray(store.read_array(k, "frames", "rgb", slice(skip, None)))))


def _compute(store, k: int, cfg: WorldWarpConfig) -> tuple[dict[str, np.ndarray | ArrayLink], dict]:
    sp = span(cfg, k)
    n, h = sp.stop - sp.start, cfg.chunk.history
    add_to_video(store, cfg, k)
    inp = store.read_input()
    last = slice(sp.stop - h, sp.stop)
    # the history handed over is the frames group's own last frames: linked, not copied
    return ({"rgb": ArrayLink(k, "frames", "rgb", n - h, n), "K": np.asarray(inp["K"][last]),
             "w2c": np.asarray(inp["w2c"][last])},
            {"video_frames": [sp.new_start, sp.stop]})


def run(store, k: int, cfg: WorldWarpConfig, key: str):
    return once(store, k, GROUP, key, lambda: _compute(store, k, cfg))
