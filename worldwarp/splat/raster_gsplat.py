"""gsplat backend (CUDA): the same per-camera feature splatting through ``gsplat.rasterization``."""

from __future__ import annotations

import torch


def gsplat_available() -> bool:
    try:
        import gsplat  # noqa: F401
    except Exception:  # an import can fail in many ways (no CUDA toolkit, ABI mismatch)
        return False
    return torch.cuda.is_available()


def rasterize_features_gsplat(
    means: torch.Tensor, quats: torch.Tensor, scales: torch.Tensor, opacities: torch.Tensor, feats: torch.Tensor,
    w2c: torch.Tensor, K: torch.Tensor, width: int, height: int, *, near: float = 0.01, far: float = 1e10,
    eps2d: float = 0.3, tile: int = 16,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-camera features (C, N, D) -> (C, H, W, D) and alpha (C, H, W); LINEAR scales, opacities in [0, 1].
    Colours are evaluated by the caller (SH already applied), so gsplat only composites plain features."""
    from gsplat import rasterization

    out, alpha, _ = rasterization(
        means, quats, scales, opacities, feats, w2c, K, width, height,
        near_plane=near, far_plane=far, eps2d=eps2d, tile_size=tile, sh_degree=None,
        render_mode="RGB", rasterize_mode="classic", packed=True,
    )
    return out, alpha[..., 0]
