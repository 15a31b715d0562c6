"""Stage 3, render (forward warp): chunk k's cache seen from the chunk's commanded cameras; the validity mask is
the one cfg.splat.mask selects (longshot or the authors' official), eroded by cfg.splat.mask_erosion.

The render (rgb, depth, alpha) goes to its own group, ``render`` (same key), written before ``warp``'s mark, which
keeps the validity mask: the rgb is the denoiser's input, and nothing needs any of it once the chunk is finished,
so a finished chunk drops it (``store.keep_renders``) and a resume that must denoise the chunk again renders it
again (stages/runner.heal)."""

from __future__ import annotations

import numpy as np
import torch

from worldwarp.config import WorldWarpConfig
from worldwarp.splat import Sources, warp
from worldwarp.store import StoreError

from .common import once, resolve_device, span, to_np
from .gaussians import load_gaussians, retrieved_sources
from .inputs import chunk_cameras

GROUP = "warp"
RENDER = "render"


def _render_group(store, k: int, key: str | None) -> str | None:
    """The group holding chunk k's warped rgb for the warp key ``key`` (stores made before the render group keep
    it in the warp group), or None when it was dropped after the chunk finished."""
    if store.is_complete(k, GROUP, key) and "rgb" in (store.stage_attrs(k, GROUP).get("arrays") or []):
        return GROUP
    return RENDER if store.is_complete(k, RENDER, key) else None


def read_render(store, k: int) -> np.ndarray | None:
    """Chunk k's warped rgb (history frames included), or None when it was dropped after the chunk finished."""
    group = _render_group(store, k, store.stage_status(k, GROUP).key)
    return None if group is None else store.read_array(k, group, "rgb")


def read_render_geometry(store, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Chunk k's warped z-depth and opacity (F, H, W) beside read_render's rgb (a depth-aware filler needs them)."""
    group = _render_group(store, k, store.stage_status(k, GROUP).key)
    if group is None:
        raise StoreError(f"{store.path}: chunk {k}'s warped render was dropped; run `worldwarp resume` on the store")
    try:
        return store.read_array(k, group, "depth"), store.read_array(k, group, "alpha")
    except (KeyError, FileNotFoundError, StoreError):
        raise StoreError(f"{store.path}: chunk {k}'s render has no depth/alpha (a store older than the render group): "
                         "rerun the warp stage, or set diffusion.classical_fill=pushpull") from None


def has_render(store, k: int, key: str) -> bool:
    """Whether the denoiser's input of chunk k is there for the warp key ``key``."""
    return _render_group(store, k, key) is not None


def warp_chunk(store, k: int, cfg: WorldWarpConfig, device: torch.device | str = "cpu", geo: dict | None = None):
    """Chunk k's cache rendered at the chunk's cameras, with the run's mask (the render of every frame, history
    included): what the stage stores, and what an analysis of a finished run re-computes. ``geo``: chunk k's
    geometry group when the caller has it already."""
    cams = chunk_cameras(store.read_input(), span(cfg, k)).to(device)
    geo = store.read_stage(k, "geometry") if geo is None else geo
    # the frames the cache was fitted to: the official mask checks every warped pixel against their depth
    src = {n: np.asarray(geo[n]) for n in ("depth", "K", "w2c")}
    extra = retrieved_sources(store, k)
    if extra:  # world memory: the retrieved frames were fitted to as well
        src = {n: np.concatenate([extra[n], src[n]]) for n in src}
    sources = Sources(*(torch.from_numpy(src[n]) for n in ("depth", "K", "w2c")))
    return warp(load_gaussians(store, k).to(device), cams, cfg.splat, sources, backend=cfg.splat.backend,
                budget=cfg.render_budget)


def _compute(store, k: int, cfg: WorldWarpConfig, key: str) -> tuple[dict[str, np.ndarray], dict]:
    sp = span(cfg, k)
    geo = store.read_stage(k, "geometry")
    out = warp_chunk(store, k, cfg, resolve_device(cfg), geo)
    rgb, depth, alpha, mask = (to_np(x) for x in (out.rgb, out.depth, out.alpha, out.mask))
    # the history frames are known exactly: they replace their renders and count as valid
    h = sp.history
    rgb[:h], depth[:h], mask[:h] = geo["rgb"][-h:], geo["depth"][-h:], True
    mask = mask.astype(np.uint8)
    new = mask[h:]
    store.write_stage(k, RENDER, key, {"rgb": rgb.astype(np.float32), "depth": depth.astype(np.float32),
                                       "alpha": alpha.astype(np.float32)}, {"history": h})
    return ({"mask": mask},
            {"hole_fraction": float(1 - new.mean()) if new.size else 0.0, "history": h})


def run(store, k: int, cfg: WorldWarpConfig, key: str):
    return once(store, k, GROUP, key, lambda: _compute(store, k, cfg, key))


def render_kept(store, k: int) -> bool:
    """Whether chunk k's render group is on disk (complete or not)."""
    return store.stage_dir(k, RENDER).exists()
