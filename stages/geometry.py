"""Stage 1, pose estimate: depth, K, poses and confidence of chunk k's history frames.

Chunk 0: the input image with its scene depth (or the photo's fallback depth) at the first camera.
Chunk k >= 1: the history frames handed over by chunk k-1 at their commanded poses, with depth
re-estimated by rendering chunk k-1's cache there (holes filled toward the background).
"""

from __future__ import annotations

import numpy as np
import torch

from worldwarp.config import WorldWarpConfig
from worldwarp.geometry.cameras import Cameras
from worldwarp.geometry.depth_fill import fill_depth_holes
from worldwarp.splat import render

from .common import once, resolve_device, to_np
from .gaussians import load_gaussians

GROUP = "geometry"


def _first(store) -> tuple[dict[str, np.ndarray], dict]:
    inp = store.read_input()
    depth = np.asarray(inp["depth"])[None]
    return ({"rgb": np.asarray(inp["image"])[None], "depth": depth, "K": np.asarray(inp["K"][:1]),
             "w2c": np.asarray(inp["w2c"][:1]), "confidence": np.ones_like(depth)},
            {"source": "input"})


def _from_cache(store, k: int, cfg: WorldWarpConfig) -> tuple[dict[str, np.ndarray], dict]:
    hand = store.read_stage(k - 1, "handoff")
    device = resolve_device(cfg)
    g = load_gaussians(store, k - 1).to(device)
    h, w = hand["rgb"].shape[1:3]
    cams = Cameras(torch.from_numpy(hand["K"]), torch.from_numpy(hand["w2c"]), w, h).to(device)
    out = render(g, cams, backend=cfg.splat.backend, alpha_threshold=cfg.splat.alpha_threshold,
                 depth_tolerance=cfg.splat.depth_tolerance)
    depth, mask = to_np(out.depth), to_np(out.mask)
    filled = np.stack([fill_depth_holes(d, m) for d, m in zip(depth, mask)])
    return ({"rgb": hand["rgb"], "depth": filled.astype(np.float32), "K": hand["K"], "w2c": hand["w2c"],
             "confidence": mask.astype(np.float32)},
            {"source": "cache-render", "hole_fraction": float(1 - mask.mean())})


def run(store, k: int, cfg: WorldWarpConfig, key: str):
    return once(store, k, GROUP, key, lambda: _first(store) if k == 0 else _from_cache(store, k, cfg))
