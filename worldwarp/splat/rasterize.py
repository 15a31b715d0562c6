"""One rasterisation entry point with two backends: gsplat (CUDA) and the PyTorch reference (anywhere)."""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch

from ..geometry.cameras import camera_centers
from .gaussians import Gaussians
from .raster_gsplat import gsplat_available, rasterize_features_gsplat
from .raster_torch import rasterize_features_torch
from .sh import eval_colors

Backend = Literal["auto", "gsplat", "torch"]


class BackendError(RuntimeError):
    """The requested rasterisation backend cannot run here."""


class RasterOut(NamedTuple):
    rgb: torch.Tensor  # (C, H, W, 3), background composited where alpha < 1
    depth: torch.Tensor  # (C, H, W) expected z-depth, normalised by alpha (0 where alpha == 0)
    depth_sq: torch.Tensor  # (C, H, W) expected squared z-depth, normalised by alpha
    alpha: torch.Tensor  # (C, H, W)


def resolve_backend(backend: str, device: torch.device) -> str:
    """'auto' -> gsplat on CUDA when it imports, else torch; 'gsplat' off CUDA is an error.

    Under torch.use_deterministic_algorithms(True) 'auto' picks torch: gsplat's backward accumulates gradients
    with atomic adds (their order varies run to run), the torch reference then uses deterministic kernels.
    """
    if backend == "torch":
        return "torch"
    if backend == "gsplat":
        if torch.are_deterministic_algorithms_enabled():
            raise BackendError("backend 'gsplat' is not deterministic (atomic adds in its backward); use 'torch' or 'auto'")
        if device.type != "cuda":
            raise BackendError(f"backend 'gsplat' needs CUDA tensors, got tensors on {device}; use backend='torch' or 'auto'")
        if not gsplat_available():
            raise BackendError("backend 'gsplat' requested but gsplat cannot be imported (or CUDA is unavailable)")
        return "gsplat"
    if backend == "auto":
        use_gsplat = device.type == "cuda" and not torch.are_deterministic_algorithms_enabled()
        return "gsplat" if use_gsplat and gsplat_available() else "torch"
    raise BackendError(f"unknown backend {backend!r} (expected 'auto', 'gsplat' or 'torch')")


def rasterize(
    g: Gaussians, K: torch.Tensor, w2c: torch.Tensor, width: int, height: int, *,
    backend: Backend = "auto", background: torch.Tensor | None = None, with_depth: bool = True,
) -> RasterOut:
    """Render C cameras (K (C, 3, 3), w2c (C, 4, 4)); differentiable w.r.t. every Gaussian parameter.

    ``with_depth=False`` (the optimisation loop) skips the two depth channels; depth outputs are then zeros.
    """
    name = resolve_backend(backend, g.device)
    K, w2c = K.to(g.means), w2c.to(g.means)
    # each Gaussian's camera-space z rides along as two extra channels: expected depth and its spread
    z = (g.means @ w2c[:, :3, :3].transpose(1, 2)[:, :, 2:3]).squeeze(-1) + w2c[:, 2, 3:4]  # (C, N)
    rgb = eval_colors(g.sh, g.means, camera_centers(w2c))
    feats = torch.cat([rgb, z.unsqueeze(-1), (z * z).unsqueeze(-1)], dim=-1) if with_depth else rgb
    fn = rasterize_features_gsplat if name == "gsplat" else rasterize_features_torch
    out, alpha = fn(g.means, g.quats, torch.exp(g.scales), torch.sigmoid(g.opacities), feats, w2c, K, width, height)
    safe = alpha.clamp_min(1e-10)
    color = out[..., :3]
    if background is not None:
        color = color + (1.0 - alpha).unsqueeze(-1) * background.to(color)
    if not with_depth:
        return RasterOut(color, torch.zeros_like(alpha), torch.zeros_like(alpha), alpha)
    return RasterOut(color, out[..., 3] / safe, out[..., 4] / safe, alpha)
