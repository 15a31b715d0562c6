"""The validity mask M of a warp: 1 where the cache saw the surface, 0 for holes and unreliable pixels."""

from __future__ import annotations

import torch


def depth_spread(depth: torch.Tensor, depth_sq: torch.Tensor) -> torch.Tensor:
    """Std of the per-Gaussian z under the compositing weights: sqrt(E[z^2] - E[z]^2)."""
    return (depth_sq - depth * depth).clamp_min(0.0).sqrt()


def validity_mask(
    alpha: torch.Tensor, depth: torch.Tensor, depth_sq: torch.Tensor, *, alpha_threshold: float = 0.8,
    depth_tolerance: float = 0.2,
) -> torch.Tensor:
    """alpha >= alpha_threshold AND relative depth spread <= depth_tolerance.

    Where a disocclusion opens, a pixel's few remaining Gaussians are the tails of both the foreground
    edge and the background behind it: its colour is a blend of two surfaces and its alpha alone can look
    fine. Their z differ, so the weighted depth spread flags them. depth_tolerance = 0 disables this test
    (alpha only).
    """
    mask = alpha >= alpha_threshold
    if depth_tolerance > 0:
        rel = depth_spread(depth, depth_sq) / depth.clamp_min(1e-6)
        mask &= rel <= depth_tolerance
    return mask


def geometric_validity(
    depth: torch.Tensor, K: torch.Tensor, w2c: torch.Tensor, src_depth: torch.Tensor, src_K: torch.Tensor,
    src_w2c: torch.Tensor, *, tolerance: float = 0.1, min_views: int = 1, pixel_offset: float = 0.5,
) -> torch.Tensor:
    """Bool (N, H, W): the authors' geometric validity of N rendered views (expected depth (N, H, W), K, w2c).

    Each pixel is lifted with its rendered depth and projected into every source view (S of them, depth
    (S, Hs, Ws)); a source sees it when the projection lands inside the image, in front of the camera, on a
    pixel of positive depth, and |z_projected - z_source| / z_source < ``tolerance``. Valid = seen by at least
    ``min_views`` sources. The source pixel is the projection truncated toward zero (their ``.long()``): with
    ``pixel_offset`` 0.5 (centres at +0.5, the rasteriser's convention) that is the nearest pixel, with the
    authors' 0.0 it is up to a pixel off.
    """
    N, H, W = depth.shape
    S, Hs, Ws = src_depth.shape
    dev = depth.device
    v, u = torch.meshgrid(torch.arange(H, device=dev, dtype=torch.float32) + pixel_offset,
                          torch.arange(W, device=dev, dtype=torch.float32) + pixel_offset, indexing="ij")
    out = []
    for n in range(N):
        Kn, d = K[n].float(), depth[n].float()
        pc = torch.stack([(u - Kn[0, 2]) / Kn[0, 0] * d, (v - Kn[1, 2]) / Kn[1, 1] * d, d], -1).reshape(-1, 3)
        R, t = w2c[n, :3, :3].float(), w2c[n, :3, 3].float()
        world = (pc - t) @ R  # R^T (p - t): camera -> world for a rigid w2c
        seen = torch.zeros(H * W, device=dev)
        for s in range(S):
            ps = world @ src_w2c[s, :3, :3].float().T + src_w2c[s, :3, 3].float()
            z = ps[:, 2]
            Ks = src_K[s].float()
            x = Ks[0, 0] * ps[:, 0] / (z + 1e-8) + Ks[0, 2]  # the authors' + 1e-8: z = 0 does not divide by 0
            y = Ks[1, 1] * ps[:, 1] / (z + 1e-8) + Ks[1, 2]
            inside = (x >= 0) & (x < Ws) & (y >= 0) & (y < Hs) & (z > 0)
            zs = src_depth[s].float()[y.long().clamp(0, Hs - 1), x.long().clamp(0, Ws - 1)]
            agree = (z - zs).abs() / (zs + 1e-8) < tolerance
            seen += (inside & agree & (zs > 0)).float()
        out.append((seen >= min_views).view(H, W))
    return torch.stack(out)


def erode(mask: torch.Tensor, size: int) -> torch.Tensor:
    """Binary erosion of (N, H, W) with a size x size box and zero padding: a pixel stays True only if its
    whole box is True inside the image, so everything within size // 2 of the border turns False."""
    if size <= 1:
        return mask.bool()
    if size % 2 == 0:
        raise ValueError(f"erosion size must be odd, got {size}")
    box = torch.ones(1, 1, size, size, device=mask.device)
    count = torch.nn.functional.conv2d(mask.float()[:, None], box, padding=size // 2)[:, 0]
    return count >= size * size - 0.5  # integer counts held exactly in float32


def official_mask(alpha: torch.Tensor, geo_valid: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """alpha x geometric validity >= threshold (their confidence mask, then pose_control's binarisation)."""
    return alpha * geo_valid.to(alpha.dtype) >= threshold
