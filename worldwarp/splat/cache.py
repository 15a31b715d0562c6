"""The online cache: build (or extend) Gaussians from RGB-D frames, and warp them into new cameras."""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..config.splat import SplatConfig
from ..geometry.cameras import Cameras
from .gaussians import Gaussians
from .init import init_from_rgbd
from .mask import validity_mask
from .optimize import optimize
from .rasterize import Backend, rasterize


class RenderOut(NamedTuple):
    rgb: torch.Tensor  # (N, H, W, 3): the render, partial where mask is False
    depth: torch.Tensor  # (N, H, W) expected z-depth
    alpha: torch.Tensor  # (N, H, W)
    mask: torch.Tensor  # (N, H, W) bool: True = geometry seen and reliable


def build_cache(
    rgb: torch.Tensor, depth: torch.Tensor, K: torch.Tensor, w2c: torch.Tensor, cfg: SplatConfig, *,
    backend: Backend = "auto", progress: bool = False, seed: int = 0, init: Gaussians | None = None,
    valid: torch.Tensor | None = None,
) -> tuple[Gaussians, list[float]]:
    """Seed Gaussians from the frames (every cfg.subsample-th pixel) and optimise cfg.steps steps on them.
    With ``init`` (continue mode) the new frames' Gaussians are appended to it before optimising."""
    g = init_from_rgbd(rgb, depth, K, w2c, subsample=cfg.subsample, init_opacity=cfg.init_opacity,
                       sh_degree=cfg.sh_degree, valid=valid)
    if init is not None:
        g = Gaussians.cat([init.detach().to(g.device), g])
    return optimize(g, rgb, K, w2c, steps=cfg.steps, cfg=cfg, backend=backend, progress=progress, seed=seed)


@torch.no_grad()
def render(
    g: Gaussians, cams: Cameras, *, backend: Backend = "auto", alpha_threshold: float = 0.8,
    depth_tolerance: float = 0.2, batch: int = 8,
) -> RenderOut:
    """Warp the cache into every camera, ``batch`` cameras at a time; see mask.validity_mask for M."""
    cams = cams.to(g.device)
    outs = []
    for s in range(0, len(cams), batch):
        o = rasterize(g, cams.K[s : s + batch], cams.w2c[s : s + batch], cams.width, cams.height, backend=backend)
        m = validity_mask(o.alpha, o.depth, o.depth_sq, alpha_threshold=alpha_threshold, depth_tolerance=depth_tolerance)
        outs.append((o.rgb.clamp(0, 1), o.depth, o.alpha, m))
    return RenderOut(*(torch.cat(t) for t in zip(*outs)))
