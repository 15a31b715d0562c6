"""Stage 3, render (forward warp): chunk k's cache seen from the chunk's commanded cameras."""

from __future__ import annotations

import numpy as np

from worldwarp.config import WorldWarpConfig
from worldwarp.splat import render

from .common import once, resolve_device, span, to_np
from .gaussians import load_gaussians
from .inputs import chunk_cameras

GROUP = "warp"


def _compute(store, k: int, cfg: WorldWarpConfig) -> tuple[dict[str, np.ndarray], dict]:
    sp = span(cfg, k)
    device = resolve_device(cfg)
    cams = chunk_cameras(store.read_input(), sp).to(device)
    out = render(load_gaussians(store, k).to(device), cams, backend=cfg.splat.backend,
                 alpha_threshold=cfg.splat.alpha_threshold, depth_tolerance=cfg.splat.depth_tolerance)
    rgb, depth, alpha, mask = (to_np(x) for x in (out.rgb, out.depth, out.alpha, out.mask))
    # the history frames are known exactly: they replace their renders and count as valid
    geo = store.read_stage(k, "geometry")
    h = sp.history
    rgb[:h], depth[:h], mask[:h] = geo["rgb"][-h:], geo["depth"][-h:], True
    mask = mask.astype(np.uint8)
    new = mask[h:]
    return ({"rgb": rgb.astype(np.float32), "depth": depth.astype(np.float32), "alpha": alpha.astype(np.float32),
             "mask": mask},
            {"hole_fraction": float(1 - new.mean()) if new.size else 0.0, "history": h})


def run(store, k: int, cfg: WorldWarpConfig, key: str):
    return once(store, k, GROUP, key, lambda: _compute(store, k, cfg))
