"""Stage 5, history handoff: append chunk k's new frames to the video; its last frames become k+1's history."""

from __future__ import annotations

import numpy as np

from worldwarp.config import WorldWarpConfig
from worldwarp.io.video import to_uint8

from .common import once, span

GROUP = "handoff"


def _compute(store, k: int, cfg: WorldWarpConfig) -> tuple[dict[str, np.ndarray], dict]:
    sp = span(cfg, k)
    frames = np.asarray(store.read_stage(k, "frames")["rgb"])
    skip = sp.new_start - sp.start
    store.add_video_frames(sp.new_start, k, skip, len(frames) - skip, lambda: to_uint8(frames[skip:]))
    inp = store.read_input()
    h = cfg.chunk.history
    last = slice(sp.stop - h, sp.stop)
    return ({"rgb": frames[-h:], "K": np.asarray(inp["K"][last]), "w2c": np.asarray(inp["w2c"][last])},
            {"video_frames": [sp.new_start, sp.stop]})


def run(store, k: int, cfg: WorldWarpConfig, key: str):
    return once(store, k, GROUP, key, lambda: _compute(store, k, cfg))
