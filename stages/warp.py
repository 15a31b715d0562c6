"""Stage 3, render (forward warp): chunk k's cache seen from the chunk's commanded cameras; the validity mask is
the one cfg.splat.mask selects (longshot or the authors' official), eroded by cfg.splat.mask_erosion."""

from __future__ import annotations

import numpy as np
import torch

from worldwarp.config import WorldWarpConfig
from worldwarp.splat import Sources, warp

from .common import once, resolve_device, span, to_np
from .gaussians import load_gaussians
from .inputs import chunk_cameras

GROUP = "warp"


def _compute(store, k: int, cfg: WorldWarpConfig) -> tuple[dict[str, np.ndarray], dict]:
    sp = span(cfg, k)
    device = resolve_device(cfg)
    cams = chunk_cameras(store.read_input(), sp).to(device)
    geo = store.read_stage(k, "geometry")
    # the frames the cache was fitted to: the official mask checks every warped pixel against their depth
    sources = Sources(*(torch.from_numpy(np.asarray(geo[n])) for n in ("depth", "K", "w2c")))
    out = warp(load_gaussians(store, k).to(device), cams, cfg.splat, sources, backend=cfg.splat.backend)
    rgb, depth, alpha, mask = (to_np(x) for x in (out.rgb, out.depth, out.alpha, out.mask))
    # the history frames are known exactly: they replace their renders and count as valid
    h = sp.history
    rgb[:h], depth[:h], mask[:h] = geo["rgb"][-h:], geo["depth"][-h:], True
    mask = mask.astype(np.uint8)
    new = mask[h:]
    return ({"rgb": rgb.astype(np.float32), "depth": depth.astype(np.float32), "alpha": alpha.astype(np.float32),
             "mask": mask},
            {"hole_fraction": float(1 - new.mean()) if new.size else 0.0, "history": h})


def run(store, k: int, cfg: WorldWarpConfig, key: str):
    return once(store, k, GROUP, key, lambda: _compute(store, k, cfg))
