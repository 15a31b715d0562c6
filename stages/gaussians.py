"""Stage 2, 3DGS optimize: build chunk k's Gaussian cache from its history frames."""

from __future__ import annotations

import time

import numpy as np
import torch

from worldwarp.config import WorldWarpConfig
from worldwarp.splat import Gaussians, build_cache
from worldwarp.splat.init import DEDUP_TOLERANCE

from .common import once, resolve_device, to_np

GROUP = "gaussians"
FIELDS = ("means", "quats", "scales", "opacities", "sh")


def load_gaussians(store, k: int) -> Gaussians:
    arrays = store.read_stage(k, GROUP)
    return Gaussians(**{f: torch.from_numpy(np.asarray(arrays[f])) for f in FIELDS})


def _compute(store, k: int, cfg: WorldWarpConfig) -> tuple[dict[str, np.ndarray], dict]:
    geo = store.read_stage(k, "geometry")
    device = resolve_device(cfg)
    extra: dict[str, np.ndarray] = {}
    attrs: dict = {}
    valid = None
    tolerance: float | list[float] = DEDUP_TOLERANCE
    budgeted = None
    if cfg.memory.mode == "world":
        geo, valid, tolerance, budgeted, extra, attrs = _with_memory(store, k, cfg, geo)
    t = {n: torch.from_numpy(np.asarray(geo[n])).to(device) for n in ("rgb", "depth", "K", "w2c")}
    init = None
    if k > 0 and cfg.memory.mode == "append":
        init = load_gaussians(store, k - 1).to(device)
    t0 = time.perf_counter()
    seeds: dict = {}
    g, losses = build_cache(t["rgb"], t["depth"], t["K"], t["w2c"], cfg.splat, backend=cfg.splat.backend,
                            progress=True, seed=cfg.seed + k, init=init, dedup_tolerance=tolerance,
                            budget=cfg.memory.seed_budget or 0.0, budgeted=budgeted, stats=seeds,
                            valid=None if valid is None else torch.from_numpy(valid).to(device))
    if cfg.memory.mode == "world":  # what the memory added to the cache, and what memory.seed_budget left of it
        attrs = {**attrs, "retrieved_seeds": seeds["budgeted_seeds"],
                 "retrieved_seeds_unthinned": seeds["budgeted_seeds_unthinned"]}
    arrays = {f: to_np(getattr(g, f)).astype(np.float32) for f in FIELDS}
    arrays["loss"] = np.asarray(losses, np.float32)
    return {**arrays, **extra}, {"count": len(g), "final_loss": float(losses[-1]) if losses else None,
                                 "fit_seconds": round(time.perf_counter() - t0, 4), **attrs}


def _with_memory(store, k: int, cfg: WorldWarpConfig, geo: dict
                 ) -> tuple[dict, np.ndarray, list[float], list[bool], dict, dict]:
    """The fit's frames in world mode, in ``memory.seed_order``: a frame's pixel seeds nothing where an earlier
    frame's seed lands (within ``memory.retrieved_tolerance`` of its depth for a retrieved frame), so retrieved
    first seeds a well-seen surface from its best observation, history first only adds what the history frames
    lack. Retrieved frames seed only where their depth was observed, not hole-filled; they are the frames
    ``memory.seed_budget`` thins."""
    from .memory import SOURCE_FIELDS, recall

    r = recall(store, k, cfg, geo)
    n_hist, n_ret = len(np.asarray(geo["depth"])), len(r.frames["depth"])
    parts = [({n: r.frames[n] for n in SOURCE_FIELDS}, r.frames["confidence"] >= 0.5,
              [cfg.memory.retrieved_tolerance] * n_ret, [True] * n_ret),
             ({n: np.asarray(geo[n]) for n in SOURCE_FIELDS}, np.ones(np.asarray(geo["depth"]).shape, bool),
              [DEDUP_TOLERANCE] * n_hist, [False] * n_hist)]
    if cfg.memory.seed_order == "history_first":
        parts.reverse()
    frames = {n: np.concatenate([p[0][n] for p in parts]).astype(np.float32) for n in SOURCE_FIELDS}
    valid = np.concatenate([p[1] for p in parts])
    tolerance = parts[0][2] + parts[1][2]
    budgeted = parts[0][3] + parts[1][3]
    return frames, valid, tolerance, budgeted, {"memory_xyz": r.index.xyz, "memory_z": r.index.z}, r.attrs


def retrieved_sources(store, k: int) -> dict[str, np.ndarray] | None:
    """depth, K, w2c of the frames chunk k's world-mode cache retrieved (None for other modes): the official mask
    checks warped pixels against every frame the cache was fitted to."""
    got = store.stage_attrs(k, GROUP).get("retrieved")
    if not got:
        return None
    return {n: np.stack([np.asarray(store.read_array(r["chunk"], "geometry", n, r["frame"])) for r in got])
            for n in ("depth", "K", "w2c")}


def run(store, k: int, cfg: WorldWarpConfig, key: str):
    return once(store, k, GROUP, key, lambda: _compute(store, k, cfg))
