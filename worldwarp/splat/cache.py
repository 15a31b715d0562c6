"""The online cache: build (or extend) Gaussians from RGB-D frames, and warp them into new cameras."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from ..config.splat import SplatConfig
from ..geometry.cameras import Cameras
from .gaussians import Gaussians
from .init import DEDUP_TOLERANCE, init_from_rgbd, init_kwargs
from .mask import erode, geometric_validity, official_mask, validity_mask
from .optimize import optimize
from .rasterize import Backend, rasterize


class RenderOut(NamedTuple):
    rgb: torch.Tensor  # (N, H, W, 3): the render, partial where mask is False
    depth: torch.Tensor  # (N, H, W) expected z-depth
    alpha: torch.Tensor  # (N, H, W)
    mask: torch.Tensor  # (N, H, W) bool: True = geometry seen and reliable


class Sources(NamedTuple):
    """The frames a cache was fitted to, which the official mask checks each pixel against."""

    depth: torch.Tensor  # (S, H, W)
    K: torch.Tensor  # (S, 3, 3)
    w2c: torch.Tensor  # (S, 4, 4)


def build_cache(
    rgb: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, w2c: torch.Tensor, cfg: SplatConfig, *,
    backend: Backend = "auto", progress: bool = False, seed: int = 0, init: Gaussians | None = None,
    valid: torch.Tensor | None = None, dedup_tolerance: float | Sequence[float] = DEDUP_TOLERANCE,
    budget: float = 0.0, budgeted: Sequence[bool] | None = None, stats: dict | None = None,
) -> tuple[Gaussians, list[float]]:
    """Seed Gaussians from the frames (see init_from_rgbd and the cfg knobs) and optimise cfg.steps steps on
    them; ``seed`` drives both the random pixel draw and the view order. With ``init`` (continue mode) the new
    frames' Gaussians are appended to it before optimising; ``dedup_tolerance``, ``budget``, ``budgeted``,
    ``stats``: init_from_rgbd's."""
    g = init_from_rgbd(rgb, depth, K, w2c, valid=valid, seed=seed, dedup_tolerance=dedup_tolerance,
                       budget=budget, budgeted=budgeted, stats=stats, **init_kwargs(cfg))
    if init is not None:
        g = Gaussians.cat([init.detach().to(g.device), g])
    return optimize(g, rgb, K, w2c, steps=cfg.steps, cfg=cfg, backend=backend, progress=progress, seed=seed,
                    depth=depth)


@torch.no_grad()
def render(
    g: Gaussians, cams: Cameras, *, backend: Backend = "auto", alpha_threshold: float = 0.8,
    depth_tolerance: float = 0.2, batch: int = 8, sources: Sources | None = None, mask_threshold: float = 0.5,
    geo_depth_tolerance: float = 0.1, geo_min_views: int = 1, pixel_offset: float = 0.5, erosion: int = 1,
    budget: int | None = None,
) -> RenderOut:
    """Warp the cache into every camera, ``batch`` cameras at a time, fewer where ``budget`` (Gaussians x cameras
    per call) says so: the rasteriser's buffers grow with both. Each camera's output is the same whatever the
    batch. M is mask.validity_mask (alpha and depth spread) or, given ``sources``, the authors' alpha x geometric
    validity >= mask_threshold; then eroded with an ``erosion`` x ``erosion`` box."""
    cams = cams.to(g.device)
    if budget is not None:
        batch = max(1, min(batch, budget // max(len(g), 1)))
    outs = []
    for s in range(0, len(cams), batch):
        K, w2c = cams.K[s : s + batch], cams.w2c[s : s + batch]
        o = rasterize(g, K, w2c, cams.width, cams.height, backend=backend)
        if sources is None:
            m = validity_mask(o.alpha, o.depth, o.depth_sq, alpha_threshold=alpha_threshold,
                              depth_tolerance=depth_tolerance)
        else:
            src = Sources(*(t.to(g.device) for t in sources))
            geo = geometric_validity(o.depth, K, w2c, *src, tolerance=geo_depth_tolerance, min_views=geo_min_views,
                                     pixel_offset=pixel_offset)
            m = official_mask(o.alpha, geo, mask_threshold)
        outs.append((o.rgb.clamp(0, 1), o.depth, o.alpha, erode(m, erosion)))
    return RenderOut(*(torch.cat(t) for t in zip(*outs)))


def warp(g: Gaussians, cams: Cameras, cfg: SplatConfig, sources: Sources, *, backend: Backend = "auto",
         budget: int | None = None) -> RenderOut:
    """render() with the mask the config selects (cfg.mask); ``sources`` are the frames the cache was fitted to;
    ``budget``: render()'s (the run's ``render_budget``)."""
    official = cfg.mask == "official"
    return render(g, cams, backend=backend, alpha_threshold=cfg.alpha_threshold, depth_tolerance=cfg.depth_tolerance,
                  sources=sources if official else None, mask_threshold=cfg.mask_threshold,
                  geo_depth_tolerance=cfg.geo_depth_tolerance, geo_min_views=cfg.geo_min_views,
                  pixel_offset=cfg.pixel_offset, erosion=cfg.mask_erosion, budget=budget)
