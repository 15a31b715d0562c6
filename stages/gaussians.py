"""Stage 2, 3DGS optimize: build chunk k's Gaussian cache from its history frames."""

from __future__ import annotations

import numpy as np
import torch

from worldwarp.config import WorldWarpConfig
from worldwarp.splat import Gaussians, build_cache

from .common import once, resolve_device, to_np

GROUP = "gaussians"
FIELDS = ("means", "quats", "scales", "opacities", "sh")


def load_gaussians(store, k: int) -> Gaussians:
    arrays = store.read_stage(k, GROUP)
    return Gaussians(**{f: torch.from_numpy(np.asarray(arrays[f])) for f in FIELDS})


def _compute(store, k: int, cfg: WorldWarpConfig) -> tuple[dict[str, np.ndarray], dict]:
    geo = store.read_stage(k, "geometry")
    device = resolve_device(cfg)
    t = {n: torch.from_numpy(np.asarray(geo[n])).to(device) for n in ("rgb", "depth", "K", "w2c")}
    init = None
    if k > 0 and not cfg.splat.fresh:
        init = load_gaussians(store, k - 1).to(device)
    g, losses = build_cache(t["rgb"], t["depth"], t["K"], t["w2c"], cfg.splat, backend=cfg.splat.backend,
                            progress=True, seed=cfg.seed + k, init=init)
    arrays = {f: to_np(getattr(g, f)).astype(np.float32) for f in FIELDS}
    arrays["loss"] = np.asarray(losses, np.float32)
    return arrays, {"count": len(g), "final_loss": float(losses[-1]) if losses else None}


def run(store, k: int, cfg: WorldWarpConfig, key: str):
    return once(store, k, GROUP, key, lambda: _compute(store, k, cfg))
